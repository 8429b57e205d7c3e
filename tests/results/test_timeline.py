"""Every host gets a timeline: its notable events (kept by the record probe whatever the
signatures ask for), plus the context around symptoms; ``symptoms`` and ``all`` modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.results import ScanResult
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2023, 3, 1, 8, 0, tzinfo=UTC)
HOST = "CRASHY"
KG = "Microsoft-Windows-Kernel-General"
SCM = "Service Control Manager"


def _events() -> list[EventSpec]:
    def at(minutes: float, provider: str, event_id: int, level: int = 4, *data: str) -> EventSpec:
        values = tuple((None, v) for v in data)
        time = T0 + timedelta(minutes=minutes)
        return EventSpec(provider, event_id, time, HOST, level=level, data=values)

    story = [
        at(0, KG, 12, 4, "10", "0", "19045"),
        at(0.1, "EventLog", 6005),
        at(0.2, "EventLog", 6009, 4, "10.00.", "19045", "", "Multiprocessor Free", "0"),
        at(30, SCM, 7034, 2, "Contoso Agent", "1"),
        at(45, KG, 1, 4, "2023-03-01T08:45:00Z", "2023-03-01T08:44:00Z"),
        at(60, "EventLog", 6008, 2, "08:59", "3/1/2023"),
        at(61, "Microsoft-Windows-WER-SystemErrorReporting", 1001, 2, "0x0000007e"),
        at(62, KG, 12, 4, "10", "0", "19045"),
        at(62.1, "EventLog", 6005),
    ]
    noise = [at(1 + i * 0.1, SCM, 7036, 4, f"Service {i}", "running") for i in range(50)]
    return sorted(story + noise, key=lambda e: e.time)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("notable")
    write_evtx(root / "crashy" / "System.evtx", _events())
    return root


@pytest.fixture(scope="module")
def result(logs: Path) -> ScanResult:
    return scan(logs, workers=1)


def test_a_host_without_a_diagnosis_gets_its_story(result: ScanResult) -> None:
    assert result.diagnoses.empty
    timeline = result.timeline_for("crashy")
    assert list(timeline["event_id"]) == [12, 6005, 6009, 7034, 1, 6008, 1001, 12, 6005]
    assert list(timeline["notable"].astype(str)) == [
        "boot", "boot", "os_version", "service_crash", "time_changed", "unexpected_shutdown",
        "bugcheck", "boot", "boot",
    ]  # fmt: skip
    assert timeline["message"].notna().all()


def test_hosts_count_notable_events_by_kind(result: ScanResult) -> None:
    host = result.hosts.set_index("host").loc["crashy"]
    assert host["records"] == 59
    assert (host["boots"], host["service_crashes"], host["unexpected_shutdowns"]) == (2, 1, 1)
    assert (host["bugchecks"], host["time_changes"], host["errors"]) == (1, 1, 3)
    assert host["shutdowns"] == host["log_clears"] == host["critical"] == 0


def test_symptoms_and_all_modes(logs: Path) -> None:
    assert scan(logs, timeline="symptoms", workers=1).timeline.empty
    everything = scan(logs, timeline="all", workers=1)
    assert len(everything.timeline) == 59
    assert everything.hosts.equals(scan(logs, workers=1).hosts)  # counts do not depend on it
    with pytest.raises(ValueError, match="notable"):
        scan(logs, timeline="everything")


def test_cli_timeline_modes(logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evtxscan.cli.main import main

    def rows(*options: str) -> int:
        out = tmp_path / "-".join(options)
        assert main(["scan", str(logs), "--out", str(out), "-q", "--jobs", "1", *options]) == 0
        return len(pd.read_csv(out / "timeline.csv", encoding="utf-8-sig"))

    assert rows() == rows("--timeline", "2h") == 9
    assert rows("--timeline", "symptoms") == 0 and rows("--timeline", "all") == 59
    assert main(["scan", str(logs), "--out", str(tmp_path / "x"), "--timeline", "soon"]) == 2
    assert "use notable, symptoms, all or a duration" in capsys.readouterr().err
    assert main(["scan", str(logs), "--out", str(tmp_path / "x"), "--window", "-1h"]) == 2


@pytest.mark.parametrize("dtype", [pd.StringDtype("pyarrow"), object])
def test_context_messages_fill_only_the_rows_without_one(dtype: object) -> None:
    """Rows that have a message keep it; the others get theirs, in order, whatever the
    column's type."""
    import numpy as np
    import pyarrow as pa

    from evtxscan.results.timeline import _filled

    column = pd.Series(["kept", None, "also kept", None, None], dtype=dtype, name="message")
    missing = column.isna().to_numpy()
    filled = _filled(column, missing, pa.array(["a", None, "c"]))
    assert filled.name == "message"
    assert [None if pd.isna(v) else v for v in filled] == ["kept", "a", "also kept", None, "c"]
    assert np.array_equal(filled.index, column.index)
