"""Small EVTX files read as one batch give what reading them one by one gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.sources import small_evtx, small_runs
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


def _one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(small_runs, "small_evtx_run", lambda *_a, **_k: [])


def test_a_batch_reads_what_files_read_alone_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _collection(tmp_path)
    batched, integrity = _read(root)
    pooled, pooled_integrity = _read(root, workers=2)  # batches read by worker processes
    with monkeypatch.context() as patch:
        _one_by_one(patch)
        alone, alone_integrity = _read(root)
    for frame, table in ((batched, integrity), (pooled, pooled_integrity)):
        pd.testing.assert_frame_equal(frame, alone)
        pd.testing.assert_frame_equal(table, alone_integrity)
    assert integrity["status"].astype(str).tolist().count("duplicate") == 1
    assert sorted(batched["host"].astype(str).unique()) == [f"h{i}" for i in range(6)]


@pytest.mark.parametrize("batch_bytes", [1, 300_000, 700_000, 4 << 20])
def test_batches_read_by_workers_settle_duplicates_in_input_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    """A copy that opens a later batch, or sits inside one, is the same duplicate row (its
    rows dropped) as when one process reads the files in order."""
    root = _collection(tmp_path)
    for name in ("h3", "h5"):
        (root / "zz" / name).mkdir(parents=True)
        (root / "zz" / name / "System.evtx").write_bytes((root / name / "System.evtx").read_bytes())
    for name in ("DECODE_ALL_BATCH_BYTES", "WORKER_DECODE_ALL_BATCH_BYTES"):
        monkeypatch.setattr(small_evtx, name, batch_bytes)
    pooled, pooled_integrity = _read(root, workers=2, messages=True)
    _one_by_one(monkeypatch)
    alone, alone_integrity = _read(root, messages=True)
    pd.testing.assert_frame_equal(pooled, alone)
    pd.testing.assert_frame_equal(pooled_integrity, alone_integrity)
    assert alone_integrity["status"].astype(str).tolist().count("duplicate") == 3
    assert pooled["message"].notna().all()


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
    pooled, pooled_integrity = _read(root, workers=2)  # forked workers: patched too
    pd.testing.assert_frame_equal(pooled, expected)
    pd.testing.assert_frame_equal(pooled_integrity, expected_integrity)


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
    monkeypatch.setattr(small_evtx, "DECODE_ALL_BATCH_BYTES", 3 * size)
    seen: list[int] = []
    real = small_evtx.decode_small_files

    def spy(files: list[small_evtx.SmallFile], *args: object) -> object:
        seen.append(sum(len(file.data) for file in files))
        return real(files, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(small_evtx, "decode_small_files", spy)
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


def test_batches_are_started_ahead_once_each_in_input_order(tmp_path: Path) -> None:
    from concurrent.futures import Future

    from evtxscan.sources.small_runs import RunsAhead, SmallRun, SmallRunTask
    from evtxscan.sources.worker import ReadOptions

    root = _collection(tmp_path)
    items = list(expand_paths(root))
    submitted: list[tuple[str, ...]] = []

    def submit(task: SmallRunTask) -> Future[SmallRun]:
        submitted.append(tuple(s.display for s in task.sources))
        return Future()

    runs = RunsAhead(submit, items, 700_000, ReadOptions(), depth=2)
    index, taken = 0, []
    while index < len(items):
        run = runs.run_at(index)
        if run:
            task, _ = runs.take(index)
            taken.append(tuple(s.display for s in task.sources))
            assert len(submitted) - len(taken) <= 2  # at most ``depth`` ahead
        index += len(run) or 1
    assert len(taken) >= 2 and submitted == taken  # each batch started once, in order


def _dies(*_args: object) -> object:
    raise MemoryError("the worker ran out")


def test_a_batch_whose_worker_fails_is_read_by_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _collection(tmp_path)
    expected, expected_integrity = _read(root)
    monkeypatch.setattr(small_runs, "read_small_run", _dies)  # runs in the worker, raises
    frame, integrity = _read(root, workers=2)
    pd.testing.assert_frame_equal(frame, expected)
    pd.testing.assert_frame_equal(integrity, expected_integrity)


def test_a_failed_batch_whose_file_is_gone_gets_an_error_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's batch failed as a whole and its files are read again by the stream, but a
    file is gone by then: its row says it cannot be opened, and the others are read."""
    from evtxscan.sources import file_reading

    root = _collection(tmp_path)
    expected, _ = _read(root)

    def broken(*_args: object, **_kw: object) -> list[list[pd.DataFrame]]:
        raise RuntimeError("batch decoder bug")

    monkeypatch.setattr(small_evtx, "read_ranges_decoded", broken)  # forked workers too
    opened = file_reading.open_source

    def gone(source: object, *args: object) -> object:
        if str(getattr(source, "display", "")).endswith("h1/System.evtx"):
            raise FileNotFoundError("removed")
        return opened(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(file_reading, "open_source", gone)
    frame, integrity = _read(root, workers=2)
    row = integrity.set_index("path").loc[str(root / "h1" / "System.evtx")]
    assert row["status"] == "unreadable" and "cannot open: removed" in row["errors"]
    assert sorted(frame["host"].astype(str).unique()) == ["h0", "h2", "h3", "h4", "h5"]
    assert len(frame) == len(expected) - (expected["host"].astype(str) == "h1").sum()


def test_small_logs_too_big_to_share_a_batch_are_started_ahead_on_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small log that cannot share a batch with its neighbour is read on its own: the
    workers must start it ahead as they do large logs, or one worker reads at a time."""
    from evtxscan.sources import worker

    root = _collection(tmp_path)
    items = [item for item in expand_paths(root) if small_evtx.small_evtx_size(item)]
    largest = max(small_evtx.small_evtx_size(item) or 0 for item in items)
    for name in ("DECODE_ALL_BATCH_BYTES", "WORKER_DECODE_ALL_BATCH_BYTES"):
        monkeypatch.setattr(small_evtx, name, largest + 1)  # one log a batch
    started: list[str] = []
    real = worker.RangePool.prefetch

    def spy(pool: worker.RangePool, upcoming: list[object]) -> None:
        started.extend(getattr(item, "display", "") for item in upcoming)
        real(pool, upcoming)  # type: ignore[arg-type]

    monkeypatch.setattr(worker.RangePool, "prefetch", spy)
    frame, integrity = _read(root, workers=2)
    assert {getattr(item, "display", "") for item in items[1:]} <= set(started)  # 1st: at once
    with monkeypatch.context() as patch:
        _one_by_one(patch)
        alone, alone_integrity = _read(root)
    pd.testing.assert_frame_equal(frame, alone)
    pd.testing.assert_frame_equal(integrity, alone_integrity)


@pytest.mark.parametrize("workers", [1, 2])
def test_batches_read_by_workers_may_be_larger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Decoding every record, a worker holds only its batch: its batches are larger than
    those one process both decodes and writes."""
    from evtxscan.sources import stream

    limits: list[int] = []
    real = stream.RunsAhead

    def spy(submit: object, items: object, limit: int, *rest: object) -> object:
        limits.append(limit)
        return real(submit, items, limit, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(stream, "RunsAhead", spy)
    _read(_collection(tmp_path), workers=workers)
    expected = small_evtx.WORKER_DECODE_ALL_BATCH_BYTES if workers > 1 else None
    assert limits == [expected or small_evtx.DECODE_ALL_BATCH_BYTES]
    assert small_evtx.WORKER_DECODE_ALL_BATCH_BYTES > small_evtx.DECODE_ALL_BATCH_BYTES


def test_a_batch_holds_its_files_once_read_into_one_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evtxscan.sources.evtx import decode

    root = _collection(tmp_path)
    run = small_evtx.small_evtx_run(list(expand_paths(root)), 0)
    reports = [small_evtx.FileReport(path=s.display) for s in run]
    files = small_evtx.open_small_files(run, reports, lambda *_a: False)
    assert len(files) == len(run) > 2
    packed = files[0].packed
    assert packed is not None and all(f.packed is packed for f in files)
    for file, source in zip(files, run, strict=True):
        assert isinstance(file.data, memoryview) and file.data.obj is packed.buffer
        assert bytes(file.data) == Path(source.path).read_bytes()
    copies: list[object] = []
    real = decode.chunks_copied
    monkeypatch.setattr(decode, "chunks_copied", lambda runs: copies.append(runs) or real(runs))
    results = [small_evtx.RangeResult() for _ in files]
    options = small_evtx.ReadOptions()
    outputs = small_evtx.decode_small_files(files, results, options)
    assert outputs is not None and sum(len(f) for f in outputs[0]) > 0
    assert copies == []  # the batch's slots were viewed in the buffer, not copied


def test_a_file_grown_past_the_buffer_is_read_on_its_own_and_the_batch_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _collection(tmp_path)
    run = small_evtx.small_evtx_run(list(expand_paths(root)), 0)

    def decoded(files: list[small_evtx.SmallFile]) -> pd.DataFrame:
        results = [small_evtx.RangeResult() for _ in files]
        outputs = small_evtx.decode_small_files(files, results, small_evtx.ReadOptions())
        assert outputs is not None
        return pd.concat(outputs[0], ignore_index=True)

    def opened() -> list[small_evtx.SmallFile]:
        reports = [small_evtx.FileReport(path=s.display) for s in run]
        return small_evtx.open_small_files(run, reports, lambda *_a: False)

    whole = opened()
    real = small_evtx._size_now
    first = run[0]
    monkeypatch.setattr(  # the first file's size taken as 0: it "grew" since
        small_evtx, "_size_now", lambda source: 0 if source is first else real(source)
    )
    short = opened()
    assert [f.packed is None for f in short].count(True) == 1  # the one that no longer fits
    assert all(bytes(a.data) == bytes(b.data) for a, b in zip(whole, short, strict=True))
    pd.testing.assert_frame_equal(decoded(short), decoded(whole))


@pytest.mark.parametrize("all_duplicates", [True, False])
def test_a_batch_of_duplicates_allocates_no_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, all_duplicates: bool
) -> None:
    import numpy as np

    from evtxscan.sources.evtx import packed

    made: list[int] = []
    real = np.zeros
    monkeypatch.setattr(packed.np, "zeros", lambda n, **k: made.append(n) or real(n, **k))
    root = _collection(tmp_path)
    run = small_evtx.small_evtx_run(list(expand_paths(root)), 0)
    reports = [small_evtx.FileReport(path=s.display) for s in run]
    files = small_evtx.open_small_files(run, reports, lambda *_a: all_duplicates)
    assert len(files) == (0 if all_duplicates else len(run))
    assert len(made) == (0 if all_duplicates else 1)  # e.g. a night over unchanged logs


def test_a_stream_closed_part_read_ends_its_workers_at_once(tmp_path: Path) -> None:
    import multiprocessing

    before = set(multiprocessing.active_children())
    with evtxscan.read_records(_collection(tmp_path), workers=2) as records:
        assert len(next(iter(records)))  # read in part, then left
        assert set(multiprocessing.active_children()) - before  # its workers run
    assert not set(multiprocessing.active_children()) - before  # and end with the block
    records.close()  # closing again does nothing


def test_a_run_sniffs_each_file_whole_even_from_short_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log whose file header is zeroed is known by its first chunk, 4,096 bytes in: the
    sniff reads that far even when the system hands the bytes over in short reads."""
    import os

    from evtxscan.sources.inputs import Source

    write_evtx(tmp_path / "whole.evtx", [_event(i, "pc") for i in range(3)])
    data = bytearray((tmp_path / "whole.evtx").read_bytes())
    data[:4096] = bytes(4096)  # the header zeroed, the chunks intact
    (tmp_path / "zeroed.evtx").write_bytes(bytes(data))
    (tmp_path / "notes.txt").write_text("not a log\n" * 500)
    read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: read(fd, min(n, 1000)))
    sizes = {
        name: small_evtx.evtx_file_size(Source("file", str(tmp_path / name)))
        for name in ("whole.evtx", "zeroed.evtx", "notes.txt", "missing.evtx")
    }
    assert sizes == {
        "whole.evtx": len(data),
        "zeroed.evtx": len(data),
        "notes.txt": None,
        "missing.evtx": None,
    }


def test_batches_opened_slice_by_slice_hold_at_most_the_limit_of_new_logs(
    tmp_path: Path,
) -> None:
    """A nightly run opens a long run of small logs slice by slice: logs read before are
    dropped once hashed, the new ones gathered into batches of at most ``limit`` bytes (a
    log larger than the limit alone), each new log once, in input order."""
    root = _collection(tmp_path)
    run = small_evtx.small_evtx_run(list(expand_paths(root)), 0)
    sizes = {s.display: Path(s.path).stat().st_size for s in run}
    known = {s.display for s in run[1::2]}  # every other log was read before
    reports = [small_evtx.FileReport(path=s.display) for s in run]
    limit = 2 * max(sizes.values()) + 1
    batches = list(
        small_evtx.open_in_batches(
            run, reports, lambda report, *_a: report.path in known, None, limit
        )
    )
    opened = [f.source.display for batch in batches for f in batch]
    assert opened == [s.display for s in run if s.display not in known]
    assert len(batches) > 1 and all(sum(len(f.data) for f in b) <= limit for b in batches)
    assert all(report.size for report in reports)  # every log was opened and hashed
    alone = list(small_evtx.open_in_batches(run, reports, lambda *_a: False, None, 1))
    assert [len(batch) for batch in alone] == [1] * len(run)
