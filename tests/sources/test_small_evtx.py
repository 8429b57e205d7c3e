"""Small EVTX files read as one batch give what reading them one by one gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.sources import small_evtx
from evtxscan.sources.inputs import expand_paths
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _event(i: int, computer: str) -> EventSpec:
    return EventSpec("Service Control Manager", 7036, T0 + timedelta(seconds=i), computer=computer)


def _collection(root: Path) -> Path:
    for i in range(6):
        events = [_event(j, f"H{i}") for j in range(3 + i)]
        write_evtx(root / f"h{i}" / "System.evtx", events, records_per_chunk=2)
    (root / "h9").mkdir()
    (root / "h9" / "notes.txt").write_text("not a log")
    (root / "h0" / "copy.evtx").write_bytes((root / "h0" / "System.evtx").read_bytes())
    return root


def _read(root: Path, **kw: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = evtxscan.read_records(root, **kw)  # type: ignore[arg-type]
    return records.frame(), records.integrity


def test_a_batch_reads_what_files_read_alone_read(tmp_path: Path) -> None:
    root = _collection(tmp_path)
    batched, integrity = _read(root)
    alone, alone_integrity = _read(root, workers=2)  # the worker pool reads file by file
    pd.testing.assert_frame_equal(batched, alone)
    pd.testing.assert_frame_equal(integrity, alone_integrity)
    assert integrity["status"].astype(str).tolist().count("duplicate") == 1
    assert sorted(batched["host"].astype(str).unique()) == [f"h{i}" for i in range(6)]


def test_a_failing_batch_falls_back_to_file_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _collection(tmp_path)
    expected, expected_integrity = _read(root)

    def broken(*_args: object, **_kw: object) -> list[list[pd.DataFrame]]:
        raise RuntimeError("batch decoder bug")

    monkeypatch.setattr(small_evtx, "read_ranges_decoded", broken)
    frame, integrity = _read(root)
    pd.testing.assert_frame_equal(frame, expected)
    pd.testing.assert_frame_equal(integrity, expected_integrity)


def test_runs_stop_at_big_files_other_formats_and_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _collection(tmp_path)
    items = list(expand_paths(root))
    names = [Path(getattr(item, "path", "")).parent.name for item in items]
    run = small_evtx.small_evtx_run(items, 0)
    assert len(run) >= 2 and all(small_evtx.small_evtx_size(s) for s in run)
    assert small_evtx.small_evtx_run(items, names.index("h9")) == []  # a text file
    monkeypatch.setattr(small_evtx, "SMALL_FILE_BYTES", 1)  # every log is "big" now
    assert small_evtx.small_evtx_run(items, 0) == []
    monkeypatch.setattr(small_evtx, "SMALL_FILE_BYTES", 1 << 30)
    size = small_evtx.small_evtx_size(items[0]) or 0
    monkeypatch.setattr(small_evtx, "BATCH_BYTES", 2 * size)
    assert len(small_evtx.small_evtx_run(items, 0)) == 2


def test_batches_are_smaller_when_every_record_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _collection(tmp_path)
    size = small_evtx.small_evtx_size(next(iter(expand_paths(root)))) or 0
    from evtxscan.sources import stream

    monkeypatch.setattr(stream, "DECODE_ALL_BATCH_BYTES", 3 * size)
    seen: list[int] = []
    real = stream.decode_small_files

    def spy(files: list[small_evtx.SmallFile], *args: object) -> object:
        seen.append(sum(len(file.data) for file in files))
        return real(files, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(stream, "decode_small_files", spy)
    _read(root)  # read_records decodes every record: smaller batches
    assert len(seen) > 1 and max(seen) <= 3 * size
    seen.clear()
    evtxscan.scan(root)  # a scan decodes few records: one batch of every small log
    assert len(seen) == 1 and seen[0] > 3 * size


def _scan_tables(root: Path, **kw: object) -> dict[str, pd.DataFrame]:
    result = evtxscan.scan(root, timeline="all", **kw)  # type: ignore[arg-type]
    return {name: getattr(result, name) for name in ("timeline", "hosts", "daily", "integrity")}


def test_a_scan_of_a_batch_counts_what_files_read_alone_count(tmp_path: Path) -> None:
    root = _collection(tmp_path)
    for i in range(3):  # errors and warnings are decoded, the rest only counted from the index
        events = [
            EventSpec("Tcpip", 4199, T0 + timedelta(hours=i, seconds=j), f"W{i}", level=2 + j % 3)
            for j in range(7)
        ]
        write_evtx(root / f"w{i}" / "System.evtx", events, records_per_chunk=3)
    batched = _scan_tables(root)
    alone = _scan_tables(root, workers=2)
    for name, table in batched.items():
        pd.testing.assert_frame_equal(table, alone[name], obj=name)
    assert batched["daily"]["records"].sum() == sum(3 + i for i in range(6)) + 3 * 7  # no copy
