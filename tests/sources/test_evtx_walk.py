"""The lockstep record walk finds exactly the records the chunk-by-chunk walk finds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx import walk as walk_module
from evtxscan.sources.evtx.layout import (
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    Chunk,
    read_chunk,
)
from evtxscan.sources.evtx.walk import chunks_copied as _copied
from evtxscan.sources.evtx.walk import walk
from evtxscan.synth import EventSpec, evtx_bytes

T0 = datetime(2024, 1, 1, tzinfo=UTC)
Found = list[tuple[int, int, int, int, int, bool]]


def _walked(data: bytes) -> Found:
    """The walk's records, the same whether every step is taken in lockstep or every record
    walked in Python (how many chunks are left to Python is a matter of speed only)."""
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    slots = -(-(len(data) - first) // CHUNK_SIZE)
    chunks = _copied([(0, data, first, 0, slots)])
    walks: list[Found] = []
    default = walk_module._TAIL
    try:
        for tail in (default, 0, 10**9):
            walk_module._TAIL = tail
            found = walk(chunks)
            walks.append(
                list(
                    zip(
                        chunks.index[found.chunk].tolist(),
                        found.offset.tolist(),
                        found.size.tolist(),
                        found.number.tolist(),
                        found.written.tolist(),
                        found.recovered.tolist(),
                        strict=True,
                    )
                )
            )
    finally:
        walk_module._TAIL = default
    assert walks[0] == walks[1] == walks[2]
    return walks[0]


def _expected(data: bytes) -> Found:
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    out: Found = []
    for index, offset in enumerate(range(first, len(data), CHUNK_SIZE)):
        chunk = read_chunk(data, index, offset)
        if isinstance(chunk, Chunk):
            for headers, recovered in ((chunk.records, False), (chunk.slack_records, True)):
                out += [
                    (index, h.offset, h.size, h.record_number, h.written_time, recovered)
                    for h in headers
                ]
    return out


def test_walk_equals_the_chunk_walk_on_every_sample(samples: Path) -> None:
    total = 0
    for path in sorted(samples.rglob("*.evtx")):
        data = path.read_bytes()
        if len(data) < FILE_HEADER_SIZE:
            continue
        expected = _expected(data)
        assert _walked(data) == expected, path
        total += len(expected)
    assert total > 100_000


def _events(count: int) -> list[EventSpec]:
    return [
        EventSpec(
            provider="P",
            event_id=i,
            time=T0 + timedelta(seconds=i),
            data=(("text", "x" * (i % 13)),),  # odd record sizes: not 8-byte aligned
        )
        for i in range(count)
    ]


def test_records_of_any_size_truncation_and_slack() -> None:
    data = evtx_bytes(_events(300), records_per_chunk=40)
    sizes = {size for *_rest, size, _n, _w, _r in _walked(data)}
    assert any(size % 8 for size in sizes)
    assert _walked(data) == _expected(data)
    cut = data[: FILE_HEADER_SIZE + 2 * CHUNK_SIZE + 5000]
    assert _walked(cut) == _expected(cut)
    # a cleared log: the free-space offset back at the start, the old records in slack
    cleared = bytearray(data)
    cleared[FILE_HEADER_SIZE + 48 : FILE_HEADER_SIZE + 52] = (512).to_bytes(4, "little")
    found = _walked(bytes(cleared))
    assert found == _expected(bytes(cleared))
    assert any(recovered for *_rest, recovered in found)


@settings(max_examples=60, deadline=None)
@given(
    damage=st.lists(
        st.tuples(st.integers(0, 3 * CHUNK_SIZE), st.binary(min_size=1, max_size=40)),
        min_size=1,
        max_size=6,
    )
)
def test_walk_equals_the_chunk_walk_on_damaged_chunks(damage: list[tuple[int, bytes]]) -> None:
    data = bytearray(evtx_bytes(_events(120), records_per_chunk=45))
    for at, junk in damage:
        start = FILE_HEADER_SIZE + at
        data[start : start + len(junk)] = junk
    image = bytes(data)
    assert _walked(image) == _expected(image)


def test_slots_without_a_chunk_have_no_records() -> None:
    data = evtx_bytes(_events(50), records_per_chunk=10)
    holes = bytearray(data)
    holes[FILE_HEADER_SIZE + CHUNK_SIZE : FILE_HEADER_SIZE + 2 * CHUNK_SIZE] = bytes(CHUNK_SIZE)
    holes[FILE_HEADER_SIZE + 3 * CHUNK_SIZE] ^= 0xFF  # bad magic
    found = _walked(bytes(holes))
    assert found == _expected(bytes(holes))
    assert {chunk for chunk, *_rest in found} == {0, 2, 4}
    assert np.array_equal(np.array(_walked(b"")), np.array([]))


def test_a_torn_record_header_costs_only_that_record() -> None:
    data = bytearray(evtx_bytes(_events(30), records_per_chunk=30))
    whole = _walked(bytes(data))
    third = FILE_HEADER_SIZE + whole[2][1]  # record 3's header: its size says 0
    data[third + 4 : third + 8] = bytes(4)
    found = _walked(bytes(data))
    assert found == _expected(bytes(data))
    numbers = [number for _c, _o, _s, number, _w, recovered in found if not recovered]
    assert numbers == [n for n in range(1, 31) if n != 3]  # the walk resumed at record 4
    # a "header" whose size copy does not agree is not where a walk resumes
    junk = bytearray(data)
    fourth = FILE_HEADER_SIZE + whole[3][1]
    size = whole[3][2]
    junk[fourth + size - 4 : fourth + size] = (size + 8).to_bytes(4, "little")
    numbers = [n for _c, _o, _s, n, _w, r in _walked(bytes(junk)) if not r]
    assert numbers == [n for n in range(1, 31) if n not in (3, 4)]
    assert _walked(bytes(junk)) == _expected(bytes(junk))
