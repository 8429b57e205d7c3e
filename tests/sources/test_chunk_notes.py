"""Chunk notes from headers alone: zero-filled slots are damage when content follows them,
pre-allocated space when only zeros do (whichever span of the file they fall in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evtxscan.sources.evtx.chunk_notes import note_chunks
from evtxscan.sources.evtx.layout import CHUNK_SIZE
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.synth import EventSpec
from evtxscan.synth.evtx_writer import evtx_bytes

FIRST = 4096  # the file header
ZERO = bytes(CHUNK_SIZE)


def _chunks(count: int) -> list[bytes]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    events = [EventSpec("Demo", 1, start + timedelta(seconds=i), "H") for i in range(count * 3)]
    raw = evtx_bytes(events, records_per_chunk=3)
    return [raw[FIRST + i * CHUNK_SIZE : FIRST + (i + 1) * CHUNK_SIZE] for i in range(count)]


def _notes(data: bytes, start: int, stop: int) -> tuple[list[int], list[tuple[str, int]], int]:
    result = RangeResult()
    intact = note_chunks(data, ChunkRange(FIRST, start, stop), {}, result)
    return intact, [(e.reason, e.chunk) for e in result.errors], result.chunks_skipped


def test_zero_slots_before_content_are_damage_and_trailing_ones_are_not() -> None:
    one, two = _chunks(2)
    data = bytes(FIRST) + one + ZERO + two + ZERO + ZERO + bytes(100)
    intact, errors, skipped = _notes(data, 0, 6)
    assert intact == [0, 2]
    assert errors == [("empty chunk slot (zero-filled)", 1)] and skipped == 1


def test_a_span_ending_in_zeros_looks_past_its_end() -> None:
    one, two = _chunks(2)
    data = bytes(FIRST) + one + ZERO + ZERO + two
    # the first span ends in two zero slots: content follows in the next span, so damage
    intact, errors, skipped = _notes(data, 0, 3)
    assert intact == [0] and skipped == 2
    assert [chunk for _, chunk in errors] == [1, 2]
    # the same slots with nothing but zeros after them: pre-allocated
    tail = bytes(FIRST) + one + ZERO + ZERO + bytes(7)
    assert _notes(tail, 0, 3) == ([0], [], 0)


def test_a_zero_slot_before_garbage_is_damage_too() -> None:
    (one,) = _chunks(1)
    data = bytes(FIRST) + one + ZERO + b"\x01" + bytes(CHUNK_SIZE - 1)
    intact, errors, skipped = _notes(data, 0, 3)
    assert intact == [0] and skipped == 2
    assert errors[0] == ("empty chunk slot (zero-filled)", 1)
    assert errors[1][0].startswith("bad chunk magic") and errors[1][1] == 2
