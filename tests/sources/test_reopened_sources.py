"""Sources opened again by name (deferred reads, worker processes) read the file as it is now.

A process that lives on (a notebook, the nightly runner, a worker forked from either) must
never serve an earlier file's bytes for a path that now holds another file: a bundle
collected again under the same name is read anew, and a member its listing no longer holds
is named as such rather than failing somewhere deeper.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from evtxscan.sources import worker
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.evtx.reader import ChunkRange
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import BundleChanged, Source, file_identity, open_source
from evtxscan.sources.worker import RangeTask, ReadOptions, read_range_in_worker
from evtxscan.synth import EventSpec, evtx_bytes


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members:
            bundle.writestr(name, data)
    return buffer.getvalue()


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and rename it over ``path`` (as collectors do)."""
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    os.replace(partial, path)


def _member(path: Path, name: str, index: int) -> Source:
    return Source("zip", str(path), name, None, index)


def _log(event_id: int, count: int = 1) -> bytes:
    when = datetime(2024, 1, 2, 3, 4, 5)
    return evtx_bytes([EventSpec("Prov", event_id, when) for _ in range(count)])


def test_a_bundle_replaced_under_the_same_name_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    path.write_bytes(_zip([("a.evtx", b"first content")]))
    assert bytes(open_source(_member(path, "a.evtx", 0))) == b"first content"
    _replace(path, _zip([("b.evtx", b"second, longer content")]))
    assert bytes(open_source(_member(path, "b.evtx", 0))) == b"second, longer content"


def test_a_bundle_rewritten_in_place_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    path.write_bytes(_zip([("a.evtx", b"first content")]))
    assert bytes(open_source(_member(path, "a.evtx", 0))) == b"first content"
    with open(path, "r+b") as handle:  # the same file (inode), new bytes and size
        handle.truncate(0)
        handle.write(_zip([("a.evtx", b"x" * 100), ("b.evtx", b"another member")]))
    assert bytes(open_source(_member(path, "b.evtx", 1))) == b"another member"


def test_a_member_the_bundle_no_longer_holds_is_named(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    path.write_bytes(_zip([("a.evtx", b"one"), ("b.evtx", b"two")]))
    assert bytes(open_source(_member(path, "b.evtx", 1))) == b"two"
    _replace(path, _zip([("a.evtx", b"one")]))
    with pytest.raises(BundleChanged, match=r"logs\.zip.*no member 1 \('b\.evtx'\)"):
        open_source(_member(path, "b.evtx", 1))
    _replace(path, _zip([("a.evtx", b"one"), ("c.evtx", b"three")]))
    with pytest.raises(BundleChanged, match=r"member 1 is 'c\.evtx', not 'b\.evtx'"):
        open_source(_member(path, "b.evtx", 1))


def test_a_worker_reads_a_replaced_bundle_member_anew(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    span = ChunkRange(4096, 0, 1)
    options = ReadOptions(time_budget=None)
    path.write_bytes(_zip([("a.evtx", _log(1000, 3))]))
    frames, _ = read_range_in_worker(RangeTask(_member(path, "a.evtx", 0), span, options))
    assert sum(len(f) for f in frames) == 3
    _replace(path, _zip([("a.evtx", _log(2000, 5))]))
    frames, _ = read_range_in_worker(RangeTask(_member(path, "a.evtx", 0), span, options))
    assert [int(i) for f in frames for i in f["event_id"]] == [2000] * 5


def test_a_worker_keeps_a_member_within_the_reading_limits(tmp_path: Path) -> None:
    """The bounds the reading process applied hold in the worker that opens the member
    again: a member larger than ``memory_bytes`` is kept in a temporary file, not in the
    worker's memory, and gives the same records."""
    path = tmp_path / "logs.zip"
    path.write_bytes(_zip([("a.evtx", _log(1000, 3))]))
    source, span = _member(path, "a.evtx", 0), ChunkRange(4096, 0, 1)
    limits = BundleLimits(memory_bytes=4096)
    frames, _ = read_range_in_worker(RangeTask(source, span, ReadOptions(bundle_limits=limits)))
    assert sum(len(f) for f in frames) == 3
    kept = worker._cached_content(source, limits, file_identity(str(path)))
    assert isinstance(kept, FileView)
    assert len(kept) == len(_log(1000, 3))


def test_a_worker_names_a_member_its_bundle_no_longer_holds(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    path.write_bytes(_zip([("a.evtx", _log(1000, 3)), ("b.evtx", _log(1001, 3))]))
    task = RangeTask(_member(path, "b.evtx", 1), ChunkRange(4096, 0, 2), ReadOptions())
    frames, result = read_range_in_worker(task)
    assert sum(len(f) for f in frames) == 3 and not result.errors
    _replace(path, _zip([("a.evtx", _log(1000, 3))]))
    frames, result = read_range_in_worker(task)
    assert frames == []
    [error] = result.errors
    assert error.chunk == 0
    assert error.reason.startswith("chunks 0-1 not read: cannot open it again: ")
    assert "logs.zip changed since it was listed: no member 1 ('b.evtx') now" in error.reason
