"""The per-file time budget and the bundle limits reach every way of reading: in the stream's
own process, in worker processes, in ``scan --state`` and the nightly runner."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from evtxscan.cli import main
from evtxscan.scanning import read_records
from evtxscan.sources import budget
from evtxscan.sources.evtx.reader import chunk_ranges
from evtxscan.sources.inputs import Source, expand_paths
from evtxscan.sources.worker import RangeTask, ReadOptions, read_range_in_worker
from evtxscan.synth import EventSpec, evtx_bytes


def _log(count: int, event_id: int = 7) -> bytes:
    events = [EventSpec("Prov", event_id, datetime(2024, 1, 2, 3, 4, 5))] * count
    return evtx_bytes(events, records_per_chunk=10)


def test_within_sets_a_deadline_and_restores_the_outer_one() -> None:
    def slow() -> int:
        time.sleep(0.01)
        budget.check()
        return 5

    with pytest.raises(budget.TimeBudgetExceeded):
        budget.within(1e-9, slow)
    assert budget.within(None, slow) == 5
    budget.check()  # no deadline left behind


def test_a_worker_gives_its_range_up_at_the_time_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.evtx"
    path.write_bytes(_log(300))
    (source,) = expand_paths([path])
    assert isinstance(source, Source)
    span = chunk_ranges(path.stat().st_size, 4096, 64)[0]
    task = RangeTask(source, span, ReadOptions(time_budget=1e-9))
    frames, result = read_range_in_worker(task)
    assert frames == [] and result.over_budget
    task = RangeTask(source, span, ReadOptions(time_budget=60))
    frames, result = read_range_in_worker(task)
    assert sum(len(f) for f in frames) == 300 and not result.over_budget


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_over_its_budget_is_reported_and_the_batch_goes_on(
    tmp_path: Path, workers: int
) -> None:
    (tmp_path / "a.evtx").write_bytes(_log(30, 1))
    (tmp_path / "b.evtx").write_bytes(_log(30, 2))
    stream = read_records(tmp_path, workers=workers, time_budget=1e-9)
    frame = stream.frame()
    integrity = stream.integrity
    assert len(integrity) == 2 and len(frame) < 60
    for _, row in integrity.iterrows():  # each file stopped on its own, none lost silently
        assert "time budget of 1e-09 s per file exceeded" in row["errors"], row["errors"]
        assert "internal error" not in row["errors"]


def _nested(tmp_path: Path) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as bundle:
        bundle.writestr("log.evtx", _log(3))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as bundle:
        bundle.writestr("inner.zip", inner.getvalue())
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "deep.zip").write_bytes(outer.getvalue())
    return folder


@pytest.mark.parametrize("command", ["nightly", "scan"])
def test_nightly_and_scan_with_state_take_the_read_limits(tmp_path: Path, command: str) -> None:
    folder, out = _nested(tmp_path), tmp_path / "out"
    argv = [command, str(folder), "--state", str(tmp_path / "s.db"), "--out", str(out), "-q"]
    assert main([*argv, "--bundle-limit", "max_depth=1", "--time-budget", "30"]) == 0
    integrity = (out / "current" / "integrity.csv").read_text(encoding="utf-8-sig")
    assert "max_depth (1)" in integrity
    assert main([*argv, "--bundle-limit", "max_depth=none"]) == 2


def test_values_read_as_missing_are_counted_per_file_in_a_batch_of_small_logs(
    tmp_path: Path,
) -> None:
    """Small logs are read as one batch; a value read as missing in one of them is noted in
    that file's row only (the batch is then read file by file)."""
    import struct

    (tmp_path / "a.evtx").write_bytes(_log(5, 1))
    data = bytearray(_log(5, 2))
    first = data.index(b"**\x00\x00", 4096)
    struct.pack_into("<Q", data, first + 16, 2**63)  # the record header's written time
    (tmp_path / "b.evtx").write_bytes(bytes(data))
    (tmp_path / "c.evtx").write_bytes(_log(5, 3))
    stream = read_records(tmp_path)
    assert len(stream.frame()) == 15
    integrity = stream.integrity
    names = integrity["path"].map(lambda p: Path(p).name)
    notes = dict(zip(names, integrity["notes"], strict=True))
    assert "read as missing: 1 written_time" in notes["b.evtx"]
    assert "read as missing" not in notes["a.evtx"] + notes["c.evtx"]


def test_a_range_of_a_large_file_in_a_scan_unit_stops_at_the_time_budget(tmp_path: Path) -> None:
    """A scan splits large files into ranges read as units of their own (locally or on a
    cluster); each range is read within the file's time budget, as in a stream's worker."""
    from evtxscan.scanning.units import FileRange, _read_part
    from evtxscan.sources.integrity import FileReport
    from evtxscan.sources.worker import ReadOptions

    path = tmp_path / "big.evtx"
    path.write_bytes(_log(300))
    (source,) = expand_paths([path])
    assert isinstance(source, Source)
    span = chunk_ranges(path.stat().st_size, 4096, 64)[0]
    data = path.read_bytes()
    report = FileReport(path=str(path))
    part = FileRange(source, span, 0, 1)
    frames, _ = _read_part(part, ReadOptions(time_budget=1e-9), data, report)
    assert frames == [] and "time budget of 1e-09 s exceeded while reading chunks 0-" in str(
        report.errors
    )
    frames, _ = _read_part(part, ReadOptions(time_budget=60), data, FileReport(path=""))
    assert sum(len(f) for f in frames) == 300
