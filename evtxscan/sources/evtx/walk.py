"""Chunk slots and their record headers, found for many chunks at once with numpy.

The same records as :func:`evtxscan.sources.evtx.layout.read_chunk` finds, chunk by chunk:
live records from offset 512 up to the free-space offset, stopping at the first bad header;
then, when that walk reached the free-space offset, records left in the slack after it.
Instead of a Python step per record, all chunks of a batch walk in lockstep: each step reads
the next header of every chunk still walking with one array operation, so the number of
steps is the longest chain's length, and only record headers are touched.

A :class:`ChunkSet` is one uint8 buffer holding every chunk slot of a batch (a file's bytes
viewed without copying, or several files' slots copied together) plus, per slot, where it
starts in the buffer and how many of its bytes the file has.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evtxscan.sources.evtx.arrays import Reader
from evtxscan.sources.evtx.layout import (
    CHUNK_FREE_SPACE_AT,
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    MIN_RECORD_SIZE,
    RECORD_HEADER_SIZE,
    RECORD_MAGIC,
    next_record,
)
from evtxscan.sources.fileview import FileView

#: What slots are read from: a buffer viewed in place, or a file read by positioned reads.
SlotBuffer = bytes | bytearray | memoryview | mmap.mmap | FileView
_CHUNK_MAGIC_WORD = int.from_bytes(CHUNK_MAGIC, "little")


@dataclass(frozen=True)
class ChunkSet:
    """Chunk slots in one buffer; each slot's 64 KiB must lie inside ``buf`` (a slot the
    file cuts short is zero-padded and has ``length`` < 64 KiB)."""

    buf: np.ndarray  # uint8
    base: np.ndarray  # int64: where each slot starts in buf
    length: np.ndarray  # int64: bytes of the slot present in the file
    source: np.ndarray  # int32: which input the slot belongs to (caller's numbering)
    index: np.ndarray  # int32: the slot's chunk index in its file
    file_offset: np.ndarray  # int64: the slot's offset in its file

    def __len__(self) -> int:
        return len(self.base)

    def valid(self, reader: Reader) -> np.ndarray:
        """Slots that hold a chunk: the chunk magic and a whole chunk header."""
        magic = reader.u64(self.base) == _CHUNK_MAGIC_WORD
        return np.asarray(magic & (self.length >= CHUNK_HEADER_SIZE))


@dataclass(frozen=True)
class RecordSet:
    """Record headers found in a :class:`ChunkSet`: by chunk, live records then slack."""

    chunk: np.ndarray  # int64: row of the chunk in the ChunkSet
    offset: np.ndarray  # int64: offset of the record in its chunk
    size: np.ndarray  # int64
    number: np.ndarray  # uint64: the header's record number
    written: np.ndarray  # uint64: the header's written time (FILETIME)
    recovered: np.ndarray  # bool: found in chunk slack
    #: Bad live headers the walk went past (chunk row, offset in the chunk), for the notes.
    torn: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.offset)

    def take(self, rows: np.ndarray) -> RecordSet:
        """Records ``rows`` (positions), in that order; the torn headers stay noted."""
        return RecordSet(
            self.chunk[rows],
            self.offset[rows],
            self.size[rows],
            self.number[rows],
            self.written[rows],
            self.recovered[rows],
            self.torn,
        )


def walk(chunks: ChunkSet, reader: Reader | None = None) -> RecordSet:
    """Every record header of every valid chunk slot (see the module docstring)."""
    reader = Reader(chunks.buf) if reader is None else reader
    n = len(chunks)
    valid = chunks.valid(reader) if n else np.zeros(0, dtype=bool)
    free = np.zeros(n, dtype=np.int64)
    free[valid] = reader.u32(chunks.base[valid] + CHUNK_FREE_SPACE_AT)
    end = np.minimum(np.maximum(free, CHUNK_HEADER_SIZE), np.minimum(CHUNK_SIZE, chunks.length))
    rows = np.flatnonzero(valid)
    live, live_end = _chains(reader, chunks.base, rows, np.full(len(rows), CHUNK_HEADER_SIZE), end)
    live, live_end, torn = _resynced(reader, chunks.base, rows, live, live_end, end)
    reached = live_end >= end[rows]
    slack, _end = _chains(reader, chunks.base, rows[reached], live_end[reached], chunks.length)
    found = [np.concatenate([a, b]) for a, b in zip(live, slack, strict=True)]
    recovered = np.repeat([False, True], [len(live[0]), len(slack[0])])
    order = np.lexsort((recovered, found[0]))  # by chunk, live then slack; steps in order
    chunk, at, header = (part[order] for part in found)
    return RecordSet(
        chunk=chunk,
        offset=at - chunks.base[chunk],
        size=(header[:, 0] >> np.uint64(32)).astype(np.int64),
        number=header[:, 1],
        written=header[:, 2],
        recovered=recovered[order],
        torn=torn,
    )


def _resynced(
    reader: Reader,
    base: np.ndarray,
    rows: np.ndarray,
    found: list[np.ndarray],
    ended: np.ndarray,
    end: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Live walks a bad header stopped short of the chunk's free space go on at the next
    record whose size copy agrees (:func:`~evtxscan.sources.evtx.layout.next_record`), as
    the chunk-by-chunk walk does; rare, so one Python search per stopped chunk."""
    parts = [found]
    ended = ended.copy()
    torn: list[tuple[int, int]] = []  # (chunk row, offset of the bad header)
    while True:
        resume: list[tuple[int, int]] = []
        for k in np.flatnonzero(ended < end[rows]).tolist():
            row = int(rows[k])
            chunk = reader.buf[int(base[row]) : int(base[row]) + CHUNK_SIZE].tobytes()
            position = next_record(chunk, int(ended[k]) + 1, int(end[row]))
            if position >= 0:
                resume.append((k, position))
                torn.append((row, int(ended[k])))
        if not resume:
            break
        which = np.array([k for k, _ in resume], dtype=np.int64)
        starts = np.array([p for _, p in resume], dtype=np.int64)
        more, more_end = _chains(reader, base, rows[which], starts, end)
        parts.append(more)
        ended[which] = more_end
    marks = np.array(torn, dtype=np.int64).reshape(-1, 2)
    if len(parts) == 1:
        return found, ended, marks
    return [np.concatenate([part[i] for part in parts]) for i in range(3)], ended, marks


#: When this few chunks are still walking, the rest of their records are walked in Python
#: (a lockstep step costs the same whatever the number of chunks in it, about as much as
#: walking 25 records in Python). Walking 120 small logs one by one took 130 ms at 24 and
#: 211 ms at 4; coll200d in 32 MiB batches 221 and 240 ms (best of 5).
_TAIL = 24
_HEADER = struct.Struct("<QQQ")  # magic and size, record number, written time


def _chains(
    reader: Reader, base: np.ndarray, rows: np.ndarray, start: np.ndarray, limit: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Walk chunks ``rows`` from chunk offsets ``start`` while records fit below ``limit``.

    Returns the records found (chunk row, buffer position, header as three u64 words; in
    step order, so by position within each chunk) and where each chunk's walk ended.
    """
    found_chunk: list[np.ndarray] = []
    found_at: list[np.ndarray] = []
    found_header: list[np.ndarray] = []
    ended = start.astype(np.int64).copy()
    chunk_base = base[rows]
    active = np.arange(len(rows))
    at = chunk_base + start
    stop = chunk_base + limit[rows]
    last = max(len(reader.buf) - RECORD_HEADER_SIZE, 0)
    while len(active) > _TAIL:
        header = reader.rows(np.minimum(at, last), RECORD_HEADER_SIZE).view("<u8")
        size = (header[:, 0] >> np.uint64(32)).astype(np.int64)
        good = (
            (at + RECORD_HEADER_SIZE <= stop)
            & ((header[:, 0] & np.uint64(0xFFFFFFFF)) == RECORD_MAGIC)
            & (size >= MIN_RECORD_SIZE)
            & (at + size <= stop)
        )
        ended[active[~good]] = (at - chunk_base[active])[~good]
        active, at, stop, size = active[good], at[good], stop[good], size[good]
        found_chunk.append(rows[active])
        found_at.append(at)
        found_header.append(header[good])
        at = at + size
    if len(active):
        tail = _walk_tail(reader, rows, active, at, stop, chunk_base, ended)
        for part, found in zip((found_chunk, found_at, found_header), tail, strict=True):
            part.append(found)
    if not found_at:
        empty = np.zeros(0, dtype=np.int64)
        return [empty, empty, np.zeros((0, 3), dtype=np.uint64)], ended
    parts = [np.concatenate(found_chunk), np.concatenate(found_at), np.concatenate(found_header)]
    return parts, ended


def _walk_tail(
    reader: Reader,
    rows: np.ndarray,
    active: np.ndarray,
    at: np.ndarray,
    stop: np.ndarray,
    chunk_base: np.ndarray,
    ended: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last few chunks' remaining records, one record at a time (chunk by chunk: the
    caller orders records by chunk, then position)."""
    data = reader.buf.data
    chunks: list[int] = []
    positions: list[int] = []
    headers: list[tuple[int, int, int]] = []
    for where, position, bound in zip(active.tolist(), at.tolist(), stop.tolist(), strict=True):
        while position + RECORD_HEADER_SIZE <= bound:
            words = _HEADER.unpack_from(data, position)
            size = words[0] >> 32
            if words[0] & 0xFFFFFFFF != RECORD_MAGIC or size < MIN_RECORD_SIZE:
                break
            if position + size > bound:
                break
            chunks.append(int(rows[where]))
            positions.append(position)
            headers.append(words)
            position += size
        ended[where] = position - int(chunk_base[where])
    return (
        np.asarray(chunks, dtype=np.int64),
        np.asarray(positions, dtype=np.int64),
        np.asarray(headers, dtype=np.uint64).reshape(-1, 3),
    )


def chunks_in_place(
    source: int,
    content: bytes | bytearray | memoryview | mmap.mmap,
    first_offset: int,
    index: int,
    count: int,
) -> ChunkSet:
    """``count`` whole slots viewed in the file's own buffer."""
    buf = np.frombuffer(content, dtype=np.uint8)
    slots = np.arange(index, index + count, dtype=np.int64)
    offsets = first_offset + slots * CHUNK_SIZE
    return ChunkSet(
        buf=buf,
        base=offsets.copy(),
        length=np.full(count, CHUNK_SIZE, dtype=np.int64),
        source=np.full(count, source, dtype=np.int32),
        index=slots.astype(np.int32),
        file_offset=offsets,
    )


def chunks_copied(
    runs: Sequence[tuple[int, SlotBuffer, int, int, int]],
) -> ChunkSet:
    """Slots of several files copied into one zero-padded buffer (a :class:`FileView`, which
    has no buffer to view in place, is read into it)."""
    total = sum(count for *_rest, count in runs)
    buf = np.zeros(total * CHUNK_SIZE, dtype=np.uint8)
    row = 0
    for _number, content, first_offset, first, count in runs:
        start = first_offset + first * CHUNK_SIZE
        view = content if isinstance(content, FileView) else memoryview(content)
        data = view[start : start + count * CHUNK_SIZE]
        buf[row * CHUNK_SIZE : row * CHUNK_SIZE + len(data)] = np.frombuffer(data, dtype=np.uint8)
        row += count
    return slots_of(runs, buf, np.arange(total, dtype=np.int64) * CHUNK_SIZE)


def slots_of(
    runs: Sequence[tuple[int, SlotBuffer, int, int, int]], buf: np.ndarray, base: np.ndarray
) -> ChunkSet:
    """The chunk set of ``runs`` (``(number, content, first_offset, first slot, count)``
    each), their slots in ``buf`` at ``base``: each slot's file, index, offset and length."""
    source, index, file_offset, length = [], [], [], []
    for number, content, first_offset, first, count in runs:
        slots = np.arange(first, first + count, dtype=np.int64)
        source.append(np.full(count, number, dtype=np.int32))
        index.append(slots.astype(np.int32))
        file_offset.append(first_offset + slots * CHUNK_SIZE)
        length.append(np.minimum(len(content) - file_offset[-1], CHUNK_SIZE))

    def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return ChunkSet(
        buf=buf,
        base=base,
        length=joined(length, np.int64),
        source=joined(source, np.int32),
        index=joined(index, np.int32),
        file_offset=joined(file_offset, np.int64),
    )
