"""Files found ahead by a thread: the same results as a reader that does it all itself, and
a hash made ahead is never used for a file that changed since."""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.scanning import pipeline, units
from evtxscan.sources import files_ahead, inputs, known_files, small_evtx
from evtxscan.sources.files_ahead import FilesAhead, find_ahead, open_found
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, Source
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.stream import RecordStream
from evtxscan.synth.evtx_writer import write_evtx
from evtxscan.synth.scenarios import SRV_POPUP, boot, popup, scm, server_2508

T0 = datetime(2000, 2, 7, 8, tzinfo=UTC)


def _log(path: Path, host: str, symptom: bool = False) -> Path:
    """A boot and service chatter (and, with ``symptom``, Q138713's events)."""
    events = boot(host, T0)
    for i in range(30):
        events.append(scm(host, T0 + timedelta(minutes=1 + i), 7036, "Spooler", "running", level=4))
    if symptom:
        events += [
            popup(host, T0 + timedelta(seconds=20), *SRV_POPUP),
            server_2508(host, T0 + timedelta(seconds=30)),
            scm(host, T0 + timedelta(seconds=31), 7023, "Server", "%%2"),
        ]
    return write_evtx(path, sorted(events, key=lambda e: e.time), records_per_chunk=8)


def _collection(root: Path) -> Path:
    """Small logs of several hosts (one with a KB symptom), a copy, a bundle, a text file."""
    for i in range(5):
        _log(root / f"h{i}" / "System.evtx", f"h{i}", symptom=i == 2)
    (root / "h9").mkdir()
    (root / "h9" / "notes.txt").write_text("not a log")
    (root / "h0" / "copy.evtx").write_bytes((root / "h0" / "System.evtx").read_bytes())
    with zipfile.ZipFile(root / "h4" / "logs.zip", "w") as bundle:
        bundle.write(root / "h1" / "System.evtx", "h7/System.evtx")
    return root


def _source(path: Path) -> Source:
    return Source("file", str(path))


def test_small_logs_are_read_whole_and_larger_files_only_hashed(tmp_path: Path) -> None:
    path = _log(tmp_path / "System.evtx", "h1")
    data = path.read_bytes()
    found = find_ahead(_source(path), len(data))
    assert found is not None and found.data == data and found.size == len(data)
    assert found.sha256 == hashlib.sha256(data).hexdigest()
    assert found.mtime_ns == os.stat(path).st_mtime_ns
    hashed = find_ahead(_source(path), len(data) - 1)  # over the limit: hashed, not kept
    assert hashed is not None and hashed.data is None and hashed.sha256 == found.sha256


def test_bundles_empty_and_missing_files_are_left_to_the_reader(tmp_path: Path) -> None:
    root = _collection(tmp_path)
    (root / "empty.evtx").write_bytes(b"")
    limit = 1 << 20
    assert find_ahead(_source(root / "h4" / "logs.zip"), limit) is None
    assert find_ahead(_source(root / "empty.evtx"), limit) is None
    ahead = FilesAhead(limit)
    missing = _source(root / "gone.evtx")
    ahead.start([missing])
    assert ahead.take(missing) is None  # the failure stays in the thread
    ahead.start([missing])
    with pytest.raises(FileNotFoundError):  # the reader meets it as it always did
        open_found(ahead, missing, FileReport(path=missing.path))
    ahead.close()


def test_a_hash_made_ahead_is_used_only_while_the_file_is_unchanged(tmp_path: Path) -> None:
    path = _log(tmp_path / "System.evtx", "h1")
    ahead = FilesAhead(small_bytes=0)  # hashed only: the reader opens the file itself
    source = _source(path)
    ahead.start([source])
    content, sha256 = open_found(ahead, source, FileReport(path=str(path)))
    assert isinstance(content, FileView) and sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    content.close()
    ahead.start([source])
    found = ahead.take(source)
    assert found is not None
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched since
    with FileView(path) as view:
        assert found.hash_of(view) is None
    with open(path, "ab") as handle:  # grew since
        handle.write(b"\0" * 10)
    with FileView(path) as view:
        assert found.hash_of(view) is None
    ahead.close()


def test_files_dropped_or_never_started_are_read_by_the_reader(tmp_path: Path) -> None:
    path = _log(tmp_path / "System.evtx", "h1")
    ahead = FilesAhead(1 << 20)
    source = _source(path)
    assert ahead.take(source) is None
    ahead.start([source])
    ahead.drop([source])
    assert ahead.take(source) is None
    ahead.start([source])
    ahead.close()  # not taken: dropped
    assert ahead.take(source) is None
    ahead.start([source])  # after closing: nothing started, nothing raised
    assert ahead.take(source) is None


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    real: Callable[..., object] = files_ahead.find_ahead

    def counted(source: Source, *rest: object) -> object:
        found = real(source, *rest)
        kind = "none" if found is None else "hashed"
        counts["whole" if getattr(found, "data", None) is not None else kind] += 1
        return found

    monkeypatch.setattr(files_ahead, "find_ahead", counted)
    return counts


def _nothing_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FilesAhead, "start", lambda self, items: None)


@pytest.mark.parametrize("batch_bytes", [1, 30_000])  # every log alone; batches of 2-3
def test_reading_ahead_gives_what_the_reader_alone_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    root = _collection(tmp_path)
    monkeypatch.setattr(small_evtx, "DECODE_ALL_BATCH_BYTES", batch_bytes)
    counts = _counting(monkeypatch)
    records = evtxscan.read_records(root, workers=1)
    frame, integrity = records.frame(), records.integrity
    assert counts["whole"] >= 4  # the small logs after the first batch were read ahead
    assert counts["hashed"] >= 1  # and the text file hashed
    with monkeypatch.context() as patch:
        _nothing_ahead(patch)
        alone = evtxscan.read_records(root, workers=1)
        alone_frame, alone_integrity = alone.frame(), alone.integrity
    pd.testing.assert_frame_equal(frame, alone_frame)
    pd.testing.assert_frame_equal(integrity, alone_integrity)
    assert integrity["status"].astype(str).tolist().count("duplicate") == 2  # copy, member
    assert integrity["sha256"].str.len().eq(64).sum() >= 6


@pytest.mark.parametrize("range_chunks", [1, units.RANGE_CHUNKS])  # chunk ranges; whole logs
def test_a_one_process_scan_finds_each_units_files_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_chunks: int
) -> None:
    root = _collection(tmp_path)
    monkeypatch.setattr(  # a unit per file, or per chunk of a log
        pipeline,
        "plan_units",
        lambda items, readers=0: units.plan_units(items, group_bytes=1, range_chunks=range_chunks),
    )
    counts = _counting(monkeypatch)
    real_hash = inputs.sha256_of
    by_reader: list[int] = []

    def hashed_by_reader(content: Buffer) -> str:
        by_reader.append(len(content))
        return real_hash(content)

    monkeypatch.setattr(known_files, "sha256_of", hashed_by_reader)
    result = evtxscan.scan([root], workers=1)
    assert counts["hashed"] >= 5 and not counts["whole"]  # a scan's units: hashed only
    assert len(by_reader) <= 1  # what the thread hashed is used (the zip's member is not)
    _nothing_ahead(monkeypatch)
    alone = evtxscan.scan([root], workers=1)
    assert len(result.diagnoses) >= 1
    for name in ("diagnoses", "timeline", "hosts", "integrity"):
        pd.testing.assert_frame_equal(getattr(result, name), getattr(alone, name))


def test_files_an_earlier_run_read_unchanged_are_neither_hashed_nor_read_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream told of an earlier run's files (as a nightly run is) judges an unchanged one
    by its size and time: ahead, it is skipped; a changed one is only hashed."""
    root = _collection(tmp_path)
    old = root / "h1" / "System.evtx"
    changed = root / "h3" / "System.evtx"
    stat = os.stat(old)
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    seen: dict[str, object] = {}
    real = files_ahead.find_ahead

    def recorded(source: Source, *rest: object) -> object:
        seen[source.path] = found = real(source, *rest)  # type: ignore[arg-type]
        return found

    def read(patch: pytest.MonkeyPatch | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        if patch is not None:
            _nothing_ahead(patch)
        stream = RecordStream(root)
        stream.remember(
            {digest: str(old), "0" * 64: str(changed)},
            {str(old): (stat.st_size, stat.st_mtime_ns, digest),
             str(changed): (1, 1, "0" * 64)},
        )  # fmt: skip
        return stream.frame(), stream.integrity

    monkeypatch.setattr(small_evtx, "DECODE_ALL_BATCH_BYTES", 1)  # every log alone
    monkeypatch.setattr(files_ahead, "find_ahead", recorded)
    frame, integrity = read(None)
    assert str(old) in seen and seen[str(old)] is None  # looked at, not hashed
    found = seen[str(changed)]
    assert isinstance(found, files_ahead.FoundAhead) and found.data is None  # hashed only
    with monkeypatch.context() as patch:
        alone_frame, alone_integrity = read(patch)
    pd.testing.assert_frame_equal(frame, alone_frame)
    pd.testing.assert_frame_equal(integrity, alone_integrity)
    rows = integrity.set_index("path")
    assert rows.at[str(old), "status"] == "duplicate" and rows.at[str(old), "sha256"] == digest


def test_closing_stops_hashing_a_large_file_at_its_next_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted reader closes without waiting for the thread to hash a whole file."""
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * (64 << 10))
    monkeypatch.setattr(files_ahead, "_HASH_BLOCK", 1024)  # 64 blocks
    reads: list[int] = []
    hashing, gate = threading.Event(), threading.Event()
    real = FileView.read

    def held(view: FileView, offset: int, count: int) -> bytes:
        if count == 1024:  # a hash block: the first one waits until the reader closes
            reads.append(offset)
            hashing.set()
            gate.wait(10)
        return real(view, offset, count)

    monkeypatch.setattr(FileView, "read", held)
    ahead = FilesAhead(0)
    ahead.start([_source(path)])
    assert hashing.wait(10)

    def release() -> None:  # once close() has told the thread to stop
        ahead._stop.wait(10)
        gate.set()

    threading.Thread(target=release).start()
    ahead.close()
    assert len(reads) <= 2  # not the 64 blocks of the whole file


def test_a_group_of_large_logs_is_found_by_both_threads_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group's files are all needed before the first is planned: the thread takes them
    from the first, the caller from the last, each file once, whatever ``wanted`` says."""
    paths = [_log(tmp_path / f"h{i}.evtx", f"h{i}") for i in range(6)]
    paths.append(tmp_path / "same.evtx")  # unchanged since an earlier run: not hashed
    paths[-1].write_bytes(paths[0].read_bytes())
    known = os.stat(paths[-1])
    sources = [_source(p) for p in paths]
    by: dict[str, list[str]] = {}
    main_done = threading.Event()
    real = files_ahead.find_ahead

    def recorded(source: Source, *rest: object) -> object:
        name = threading.current_thread().name
        if name != "MainThread":  # the thread's first file waits for the caller's
            assert main_done.wait(10)
        by.setdefault(name, []).append(Path(source.path).name)
        found = real(source, *rest)  # type: ignore[arg-type]
        if source.path == str(paths[1]):  # the caller's last (it goes from the end)
            main_done.set()
        return found

    monkeypatch.setattr(files_ahead, "find_ahead", recorded)

    def unchanged(path: str, size: int, mtime_ns: int) -> bool:
        return (size, mtime_ns) == (known.st_size, known.st_mtime_ns)

    ahead = FilesAhead(0, unchanged, wanted=lambda: False)
    try:
        ahead.share([*sources, sources[0]])  # each file once, however often given
        found = [ahead.take(source) for source in sources]
    finally:
        ahead.close()
    assert by["MainThread"] == ["h5.evtx", "h4.evtx", "h3.evtx", "h2.evtx", "h1.evtx"]
    assert [names for thread, names in by.items() if thread != "MainThread"] == [["h0.evtx"]]
    # judged by its size and time before any task: left to the reader, unhashed
    assert found[-1] is None
    for path, one in zip(paths[:-1], found[:-1], strict=True):
        assert one is not None and one.data is None
        assert one.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
