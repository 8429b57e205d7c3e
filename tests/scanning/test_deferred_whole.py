"""A scan of logs read whole (legacy .evt, XML and text exports) locates their context and
decodes it again near symptoms (as EVTX's), and gives what decoding and keeping every
record gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evtxscan.results.scan_result import ScanResult
from evtxscan.scanning.api import chosen_signatures
from evtxscan.scanning.local_engine import LocalEngine
from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
from evtxscan.scanning.units import plan_units
from evtxscan.sources.inputs import expand_paths
from evtxscan.synth.scenarios import standard_collection

TABLES = ("diagnoses", "timeline", "hosts", "daily", "integrity")


@pytest.fixture(scope="module")
def evt_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario suite (seed incidents, variants, near misses, noise) as .evt logs."""
    root = tmp_path_factory.mktemp("evt-scenarios")
    standard_collection(noise=6).write_evt(root)
    return root


@pytest.fixture(scope="module")
def export_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario suite as XML exports (each log's records as pyevtx-rs renders them),
    and an NT 4.0 Event Viewer text export with service changes around a Q175529 story."""
    from evtx import PyEvtxParser

    evtx_root = tmp_path_factory.mktemp("evtx-scenarios")
    root = tmp_path_factory.mktemp("export-scenarios")
    for path in standard_collection(noise=4).write(evtx_root):
        parts = [r["data"] for r in PyEvtxParser(str(path)).records()]
        texts = [t[t.index("?>") + 2 :] if t.startswith("<?xml") else t for t in parts]
        target = root / path.parent.name / f"{path.stem}.xml"
        target.parent.mkdir(parents=True)
        target.write_text("".join(texts), encoding="utf-8")
    lines = []
    for minute in range(0, 240, 3):  # service changes all morning, warnings now and then
        when = f"3/1/99\t{8 + minute // 60}:{minute % 60:02d}:10 AM"
        lines.append(f"{when}\tService Control Manager\tInformation\tNone\t7036\tN/A\t"
                     "TEXTHOST\tThe Spooler service entered the running state.")  # fmt: skip
        if minute % 30 == 0:
            lines.append(f"{when}\tSrv\tWarning\tNone\t2013\tN/A\tTEXTHOST\tThe C: disk "
                         "is at or near capacity.")  # fmt: skip
    lines += [
        "3/1/99\t10:00:30 AM\tService Control Manager\tError\tNone\t7023\tN/A\tTEXTHOST\t"
        "The Server service terminated with the following error: More data is available.",
        "3/1/99\t10:00:40 AM\tService Control Manager\tError\tNone\t7001\tN/A\tTEXTHOST\t"
        "The Net Logon service depends on the Server service which failed to start because "
        "of the following error: More data is available.",
    ]
    text = root / "texthost" / "system.txt"
    text.parent.mkdir(parents=True)
    text.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return root


def _scan(
    root: Path, *, select: bool, workers: int, tz: str = "UTC", **window: pd.Timestamp
) -> ScanResult:
    settings = ScanSettings(select=select, input_tz=tz, **window)  # type: ignore[arg-type]
    pipeline = ScanPipeline(chosen_signatures(None), settings)
    return pipeline.scan(root, engine=LocalEngine(workers))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", ["evt", "exports"])
def test_a_scan_of_logs_read_whole_gives_what_decoding_every_record_gives(
    evt_collection: Path, export_collection: Path, kind: str, workers: int
) -> None:
    root = evt_collection if kind == "evt" else export_collection
    tz = "UTC" if kind == "evt" else "America/New_York"  # (text exports' local times)
    chosen = _scan(root, select=True, workers=workers, tz=tz)
    every = _scan(root, select=False, workers=1, tz=tz)
    assert len(chosen.diagnoses) >= 5
    assert set(chosen.integrity["format"]) == ({"evt"} if kind == "evt" else {"xml", "text"})
    for fmt in ("evt",) if kind == "evt" else ("xml", "text"):
        shown = chosen.timeline[chosen.timeline["source_format"] == fmt]
        assert shown["event_id"].isin([7036, 2013]).sum() > 0, fmt  # context read again
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(chosen, name), getattr(every, name), obj=name)


def test_evt_context_is_located_not_kept(evt_collection: Path) -> None:
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    LocalEngine(1).read(pipeline, plan_units(expand_paths(evt_collection)), None)
    kept = pd.concat(pipeline.scanner.kept, ignore_index=True)
    assert not kept["event_id"].isin([7036]).any()  # service changes: located only
    assert set(kept["source_format"].astype(str)) == {"evt"}
    located = pd.concat([rows.table() for _s, rows in pipeline.located], ignore_index=True)
    assert (located["event_id"] == 7036).sum() > 0
    assert {s.display.rsplit("/", 1)[-1] for s, _r in pipeline.located} >= {"SysEvent.Evt"}


@pytest.fixture(scope="module")
def evtx_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evtx-scenarios")
    standard_collection(noise=6).write(root)
    return root


WINDOWS = [
    {"since": pd.Timestamp("2000-02-07 08:20", tz="UTC")},  # inside the first day
    {"until": pd.Timestamp("2000-02-08 09:10", tz="UTC")},
    {"since": pd.Timestamp("2000-02-07 10:00", tz="UTC"),
     "until": pd.Timestamp("2000-02-09 03:00", tz="UTC")},
]  # fmt: skip


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("kind", ["evtx", "evt"])
def test_a_time_window_counts_only_the_records_inside_it(
    evtx_collection: Path, evt_collection: Path, kind: str, window: dict[str, pd.Timestamp]
) -> None:
    """``--since``/``--until`` inside a day: records not decoded are counted per host and
    day only inside the window, as the decoded ones are (not the whole day)."""
    root = evtx_collection if kind == "evtx" else evt_collection
    chosen = _scan(root, select=True, workers=1, **window)
    every = _scan(root, select=False, workers=1, **window)
    whole = _scan(root, select=False, workers=1)
    assert 0 < chosen.hosts["records"].sum() < whole.hosts["records"].sum()
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(chosen, name), getattr(every, name), obj=name)


def test_records_without_a_time_count_for_their_host_whichever_are_decoded(
    tmp_path: Path,
) -> None:
    """Records timed after 2100 (typed without a time) count for their host, whether the
    scan decodes them (an error) or not (information), as when every record is decoded."""
    from datetime import UTC, datetime

    from evtxscan.synth import EventSpec, write_evtx

    when = datetime(2021, 3, 1, 8, tzinfo=UTC)
    late = datetime(2150, 1, 1, tzinfo=UTC)
    events = [
        EventSpec("EventLog", 6005, when, computer="ws1"),
        EventSpec("Print", 10, when, computer="ws1"),
        EventSpec("Print", 10, late, computer="ws1"),  # not decoded
        EventSpec("Service Control Manager", 7000, late, computer="ws1", level=2),  # decoded
    ]
    write_evtx(tmp_path / "ws1" / "System.evtx", events)
    chosen = _scan(tmp_path, select=True, workers=1)
    every = _scan(tmp_path, select=False, workers=1)
    assert chosen.hosts["records"].tolist() == every.hosts["records"].tolist() == [4]
    assert chosen.daily["records"].sum() == every.daily["records"].sum() == 2
