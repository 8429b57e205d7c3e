"""Nightly runs over dated copies of growing logs: only new records are read, diagnoses equal a
full scan of everything, and new, resolved and stale are right night by night."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nightly_scenario import (
    GENERIC,
    Q138713,
    Q217215,
    at,
    pairs,
    run_at,
    same_diagnoses,
    story,
    write_night,
)

from evtxscan.nightly import NightlyOutcome
from evtxscan.outputs.report_dir import write_report
from evtxscan.scanning import scan
from evtxscan.synth.evtx_writer import write_evtx

NIGHTS = 4


def _rechunked(night: int) -> int:
    """Odd nights pack 8 records per chunk, even nights 11: no old chunk is byte-identical,
    so only the watermarks (chunk record numbers) can skip them."""
    return 8 if night % 2 else 11


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, NightlyOutcome]]:
    root = tmp_path_factory.mktemp("nightly")
    done = []
    for night in range(1, NIGHTS + 1):
        folder = write_night(root / "collected", night, records_per_chunk=_rechunked(night))
        done.append((folder, run_at([folder], root / "state.db", root / "out", night)))
    return done


def _new_events(night: int) -> int:
    low = at(night - 1) if night > 1 else at(-100)
    return sum(low <= e.time < at(night) for events in story().values() for e in events)


def test_only_new_records_are_decoded(nights: list[tuple[Path, NightlyOutcome]]) -> None:
    for night, (_, outcome) in enumerate(nights, start=1):
        stats = outcome.stats
        assert stats.records_new == _new_events(night)
        if night == 1:
            assert stats.records_decoded == stats.records_new
            continue
        assert stats.chunks_below_watermark > 0
        # Old records are read only from the chunk that holds each watermark record.
        grown = stats.files - stats.files_known
        assert stats.records_decoded - stats.records_new <= grown * _rechunked(night)


def test_diagnoses_equal_a_full_scan_of_everything(
    nights: list[tuple[Path, NightlyOutcome]],
) -> None:
    for night in range(1, NIGHTS + 1):
        folders = [folder for folder, _ in nights[:night]]
        assert same_diagnoses(nights[night - 1][1].result.diagnoses, scan(folders).diagnoses)


def test_new_resolved_and_stale_each_night(nights: list[tuple[Path, NightlyOutcome]]) -> None:
    new = [pairs(o.new, "change") for _, o in nights]
    assert new[0] == {("app", GENERIC, "new"), ("cross", GENERIC, "new"), ("srv-a", Q138713, "new")}
    assert new[1] == {("cross", Q138713, "new"), ("exch", Q217215, "new")}
    assert new[2] == new[3] == set()
    resolved = [
        {(h, s, r.split(":")[0]) for h, s, r in pairs(o.resolved, "reason")} for _, o in nights
    ]
    assert resolved[0] == resolved[2] == set()
    assert resolved[1] == {("cross", GENERIC, "withdrawn"), ("srv-a", Q138713, "recovered")}
    assert resolved[3] == {("app", GENERIC, "quiet")}  # 3 runs with data, no new occurrence
    assert [list(o.stale["host"]) for _, o in nights] == [[], ["gone"], ["gone"], ["gone"]]
    assert list(nights[3][1].stale["runs_without_data"]) == [3]
    assert [o.exit_code for _, o in nights] == [1, 1, 0, 0]


def test_cross_night_incident_is_found(nights: list[tuple[Path, NightlyOutcome]]) -> None:
    """Popup on night 1, Server 2508 + 7023 after midnight on night 2: one incident, with the
    popup (carried from night 1) raising its confidence, as a full scan finds it."""
    table = nights[1][1].result.diagnoses.set_index(["host", "signature_id"])
    row = table.loc[("cross", Q138713)]
    assert row["confidence"] == pytest.approx(0.95)
    evidence = list(row["evidence"])  # typed: one dict per record key
    assert [e["event_id"] for e in evidence] == [26, 2508, 7023]
    assert evidence[0]["time"] < at(1) < evidence[1]["time"]
    assert evidence[0]["source_file"].startswith(str(nights[0][0]))  # read on night 1
    assert ("cross", GENERIC) not in table.index  # the generic finding gave way to the KB one


def test_reports_and_tables_on_disk(nights: list[tuple[Path, NightlyOutcome]]) -> None:
    out = nights[-1][1].written.directory
    for name in ("new", "resolved", "stale", "diagnoses", "timeline", "hosts", "integrity"):
        assert (out / f"{name}.csv").is_file()
        assert (out / "current" / f"{name}.csv").is_file()
    assert "quiet" in (out / "resolved.csv").read_text(encoding="utf-8-sig")


def test_chunks_read_before_are_skipped_in_a_log_of_many_hosts(tmp_path: Path) -> None:
    """A forwarded-events log holds every host: no single watermark applies to its chunks,
    but the chunks an earlier run read are byte-identical in tonight's copy."""
    every = sorted((e for events in story().values() for e in events), key=lambda e: e.time)
    state, out = tmp_path / "state.db", tmp_path / "out"
    for night in (1, 2):
        log = tmp_path / f"night{night}" / "ForwardedEvents.evtx"
        write_evtx(log, [e for e in every if e.time < at(night)], records_per_chunk=8)
        outcome = run_at([log], state, out, night)
    stats = outcome.stats
    assert stats.chunks_known > 0 and stats.chunks_below_watermark == 0
    assert stats.records_new == _new_events(2)
    assert stats.records_decoded - stats.records_new < 8  # the chunk that grew
    full = scan([tmp_path / "night1", tmp_path / "night2"])
    assert same_diagnoses(outcome.result.diagnoses, full.diagnoses)


def test_byte_identical_copy_is_skipped(tmp_path: Path) -> None:
    state, out = tmp_path / "state.db", tmp_path / "out"
    first = write_night(tmp_path / "c", 1)
    run_at([first], state, out, 1)
    again = shutil.copytree(first, tmp_path / "c" / "copy")
    outcome = run_at([again], state, out, 2)
    assert outcome.stats.files_known == outcome.stats.files > 0
    assert outcome.stats.records_decoded == 0 and outcome.exit_code == 0
    integrity = outcome.result.integrity
    assert set(integrity["status"]) == {"duplicate"}
    assert integrity["notes"].str.contains("read by an earlier nightly run").all()
    assert integrity["duplicate_of"].str.startswith(str(first)).all()


def test_extra_report_tables_cannot_replace_the_standard_ones(
    nights: list[tuple[Path, NightlyOutcome]], tmp_path: Path
) -> None:
    result = nights[0][1].result
    with pytest.raises(ValueError, match="reserved"):
        write_report(result, tmp_path, extra_tables={"diagnoses": result.diagnoses})
