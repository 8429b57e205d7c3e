"""Files read into one packed buffer give the chunk slots a copy of them gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx.decode import decode_indexed, index_ranges
from evtxscan.sources.evtx.layout import CHUNK_MAGIC, CHUNK_SIZE, FILE_HEADER_SIZE
from evtxscan.sources.evtx.packed import PackedFiles, packed_capacity
from evtxscan.sources.evtx.reader import RangeResult, chunk_ranges
from evtxscan.sources.evtx.walk import ChunkSet, chunks_copied
from evtxscan.sources.fileview import FileView
from evtxscan.synth import EventSpec, evtx_bytes

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _log(records: int, seed: int) -> bytes:
    events = [
        EventSpec("Service Control Manager", 7036 + seed % 3, T0 + timedelta(seconds=i))
        for i in range(records)
    ]
    return evtx_bytes(events, records_per_chunk=3)


def _runs(files: list[bytes | memoryview]) -> list[tuple[int, bytes | memoryview, int, int, int]]:
    runs = []
    for number, data in enumerate(files):
        first = 0 if bytes(data[:8]) == CHUNK_MAGIC else FILE_HEADER_SIZE
        slots = -(-(len(data) - first) // CHUNK_SIZE) if len(data) > first else 0
        if slots:
            runs.append((number, data, first, 0, slots))
    return runs


def _slots(chunks: ChunkSet) -> list[bytes]:
    return [chunks.buf[b : b + CHUNK_SIZE].tobytes() for b in chunks.base.tolist()]


def _assert_same_slots(packed: ChunkSet, copied: ChunkSet) -> None:
    for name in ("length", "source", "index", "file_offset"):
        assert np.array_equal(getattr(packed, name), getattr(copied, name)), name
    assert np.all(packed.base % 8 == 0)
    assert _slots(packed) == _slots(copied)  # each slot's 64 KiB: bytes, then zeros


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(0, 3 * CHUNK_SIZE), st.booleans()),
        min_size=1,
        max_size=5,
    )
)
def test_packed_slots_equal_copied_slots_for_files_cut_anywhere(
    specs: list[tuple[int, int, bool]],
) -> None:
    files = []
    for seed, (records, cut, headerless) in enumerate(specs):
        data = _log(records, seed)
        data = data[FILE_HEADER_SIZE:] if headerless else data
        files.append(data[: min(cut, len(data))] if cut else data)
    packed = PackedFiles(packed_capacity([len(f) for f in files]))
    views: list[bytes | memoryview] = []
    for data in files:
        view = packed.add(data)
        assert view is not None and bytes(view) == data
        views.append(view)
    in_place = packed.chunks(_runs(views))
    assert in_place is not None and in_place.buf is packed.buffer
    _assert_same_slots(in_place, chunks_copied(_runs(list(files))))


def test_index_of_packed_samples_equals_the_copied_index(samples: Path) -> None:
    paths = sorted(p for p in samples.rglob("*.evtx") if p.stat().st_size <= 8 << 20)[:12]
    assert len(paths) >= 4
    contents = [p.read_bytes() for p in paths]
    packed = PackedFiles(packed_capacity([len(c) for c in contents]))
    views = [packed.add(c) for c in contents]

    def items(datas: list[bytes] | list[memoryview | None]) -> list[tuple]:  # type: ignore[type-arg]
        out = []
        for path, data in zip(paths, datas, strict=True):
            assert data is not None
            first = 0 if bytes(data[:8]) == CHUNK_MAGIC else FILE_HEADER_SIZE
            out.append((str(path), data, chunk_ranges(len(data), first, 10**6), RangeResult()))
        return out

    in_place = index_ranges(items(views), packed=packed)
    copied = index_ranges(items(contents))
    assert in_place.indexed.chunks.buf is packed.buffer
    assert copied.indexed.chunks.buf is not packed.buffer
    assert len(in_place.index) > 1000
    for name in ("source", "offset", "chunk", "record_number", "written_time", "recovered"):
        assert np.array_equal(getattr(in_place.index, name), getattr(copied.index, name)), name
    every = np.arange(len(in_place.index))
    pd.testing.assert_frame_equal(
        decode_indexed(in_place, every), decode_indexed(copied, every)
    )  # every record's fields and payload, decoded from the buffer viewed in place


def test_a_file_that_no_longer_fits_is_refused_and_others_are_copied() -> None:
    small, grown = _log(2, 0), _log(9, 1)
    packed = PackedFiles(packed_capacity([len(small), len(small)]))
    first = packed.add(small)
    assert first is not None
    assert packed.add(grown) is None  # its size grew after the buffer was made
    # a view the buffer did not give (or a copy of one) is not viewed in place
    assert packed.chunks(_runs([first, small])) is None
    assert packed.chunks(_runs([first[:]])) is None
    assert packed.chunks(_runs([first])) is not None


def test_unwritten_room_stays_zero_after_the_files(tmp_path: Path) -> None:
    data = _log(4, 0)[:-1000]  # its last chunk cut short
    path = tmp_path / "a.evtx"
    path.write_bytes(data)
    packed = PackedFiles(packed_capacity([len(data)] * 2))
    with FileView(path) as view:
        got = packed.add(view)  # read straight into the buffer
    again = packed.add(data)
    assert got is not None and again is not None
    assert bytes(got) == data and bytes(again) == data
    chunks = packed.chunks(_runs([got, again]))
    assert chunks is not None
    last = int(chunks.base[chunks.source == 0].max())
    tail = packed.buffer[last + int(chunks.length[chunks.source == 0][-1]) : last + CHUNK_SIZE]
    assert not tail.any()


def test_read_into_reads_what_read_gives_and_stops_at_a_shrunk_end(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 64)
    target = bytearray(1000)
    with FileView(path) as view:
        assert view.read_into(100, memoryview(target)) == 1000
        assert bytes(target) == view.read(100, 1000)
        path.write_bytes(b"short")  # shrunk since it was opened
        assert view.read_into(0, memoryview(target)) == 5
        assert view.read_into(len(view) + 5, memoryview(target)) == 0


@pytest.mark.parametrize("preadv", [True, False])
def test_read_into_without_vector_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preadv: bool
) -> None:
    import os

    if not preadv:
        monkeypatch.delattr(os, "preadv", raising=False)
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    target = bytearray(4)
    with FileView(path) as view:
        assert view.read_into(3, memoryview(target)) == 4
    assert bytes(target) == b"3456"
