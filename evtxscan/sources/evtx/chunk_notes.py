"""What a chunk range holds, for the integrity report: chunk counts and damage notes.

The same notes the chunk-by-chunk reader writes (:mod:`evtxscan.sources.evtx.reader`) for
slots without a chunk and for truncated or CRC-damaged chunks, found from the chunk headers
alone (the records are walked elsewhere, column-wise).
"""

from __future__ import annotations

import mmap
import zlib
from typing import cast

import numpy as np

from evtxscan.sources.evtx.layout import (
    CHUNK_DATA_CRC_AT,
    CHUNK_FREE_SPACE_AT,
    CHUNK_HEADER_CRC_AT,
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    chunk_header_crc,
)
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.sources.fileview import FileView
from evtxscan.sources.integrity import ReadError

Buffer = bytes | bytearray | memoryview | mmap.mmap | FileView


def note_chunks(
    data: Buffer, span: ChunkRange, live_records: dict[int, int], result: RangeResult
) -> list[int]:
    """Count the span's chunks and note what is wrong with them; the intact chunk indexes.

    ``live_records`` gives the number of live records walked in each chunk (for the note of
    a chunk the file ends in). Zero-filled slots are damage unless only zeros follow them
    to the end of the file (pre-allocated space): a run of them is decided at the next
    non-zero slot, or at the span's end from the bytes after it, so the slots are read once.
    """
    intact: list[int] = []
    zeros: list[tuple[int, int]] = []  # (index, offset) of zero-filled slots not decided yet
    view = None if isinstance(data, FileView) else np.frombuffer(data, dtype=np.uint8)
    end = span.first_offset
    for index in range(span.start, span.stop):
        offset = span.first_offset + index * CHUNK_SIZE
        raw = _slot(data, view, offset)
        if not len(raw):
            continue
        end = offset + len(raw)
        problem = None
        if raw[:8].tobytes() != CHUNK_MAGIC:
            if not raw.max():
                zeros.append((index, offset))
                continue
            problem = f"bad chunk magic {raw[:8].tobytes()!r}"
        elif len(raw) < CHUNK_HEADER_SIZE:
            problem = f"file ends {len(raw)} bytes into the chunk"
        _note_empty(zeros, result)  # content follows them: damage
        if problem is not None:
            result.chunks_skipped += 1
            result.errors.append(ReadError(problem, index, offset))
            continue
        result.chunks += 1
        intact.append(index)
        _note_damage(raw, index, offset, live_records.get(index, 0), result)
    if zeros and not _zeros_from(data, view, end):
        _note_empty(zeros, result)
    return intact


def _slot(data: Buffer, view: np.ndarray | None, offset: int) -> np.ndarray:
    """One chunk slot's bytes (fewer at the end of the file)."""
    if view is None:  # a file read by positioned reads: one slot at a time
        return np.frombuffer(cast(FileView, data).read(offset, CHUNK_SIZE), dtype=np.uint8)
    return view[offset : offset + CHUNK_SIZE]


def _note_empty(zeros: list[tuple[int, int]], result: RangeResult) -> None:
    """Note zero-filled slots that content follows as damage (and forget them)."""
    for index, offset in zeros:
        result.chunks_skipped += 1
        result.errors.append(ReadError("empty chunk slot (zero-filled)", index, offset))
    zeros.clear()


def _zeros_from(data: Buffer, view: np.ndarray | None, start: int) -> bool:
    """Whether ``data`` holds only zero bytes from ``start`` to its end (read forwards in
    slots, stopping at the first one that is not)."""
    for offset in range(start, len(data), CHUNK_SIZE):
        if _slot(data, view, offset).max(initial=0):
            return False
    return True


def _note_damage(raw: np.ndarray, index: int, offset: int, live: int, result: RangeResult) -> None:
    where = (index, offset)
    truncated = len(raw) < CHUNK_SIZE
    chunk = raw.tobytes().ljust(CHUNK_SIZE, b"\x00") if truncated else raw.data
    free_space = int.from_bytes(chunk[CHUNK_FREE_SPACE_AT : CHUNK_FREE_SPACE_AT + 4], "little")
    data_crc = int.from_bytes(chunk[CHUNK_DATA_CRC_AT : CHUNK_DATA_CRC_AT + 4], "little")
    header_crc = int.from_bytes(chunk[CHUNK_HEADER_CRC_AT : CHUNK_HEADER_CRC_AT + 4], "little")
    if truncated:
        note = f"file ends inside the chunk; {live} complete records read"
        result.errors.append(ReadError(note, *where))
    if chunk_header_crc(chunk) != header_crc:
        result.errors.append(ReadError("chunk header CRC32 mismatch (records read anyway)", *where))
    elif not truncated and not (
        free_space <= CHUNK_SIZE and zlib.crc32(chunk[CHUNK_HEADER_SIZE:free_space]) == data_crc
    ):
        result.errors.append(
            ReadError("chunk records CRC32 mismatch (records read anyway)", *where)
        )
