"""Read an EVTX file chunk by chunk into typed record batches and integrity facts.

The file header is only advice: every 64 KiB slot is examined (dirty logs hold more chunks
than their header counts), each readable chunk is parsed on its own from a fresh image,
truncated chunks give their complete records, and records left in chunk slack (cleared or
overwritten logs) are read too, flagged ``recovered``.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd

from evtxscan.records.batch import RecordBatch
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import EventFields, RecordPosition
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evtx.backends import python_events
from evtxscan.sources.evtx.chunk_events import BackendError, ChunkEvents
from evtxscan.sources.evtx.fast_xml import FastRow
from evtxscan.sources.evtx.layout import (
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    Chunk,
    ChunkProblem,
    RecordHeader,
    chunk_image,
    chunk_with_records,
    parse_file_header,
    read_chunk,
)
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.utf16_check import altered_records
from evtxscan.sources.evtx.zero_tail import zero_tail_start
from evtxscan.sources.fileview import FileView
from evtxscan.sources.integrity import FileReport, ReadError

Buffer = bytes | FileView

ChunkParser = Callable[[bytes], ChunkEvents]

#: Chunks per range whose records pyevtx-rs abandoned that python-evtx reads again (at
#: 0.1-0.2 s a chunk, a file of nothing but such chunks must not take hours).
MAX_SECOND_OPINIONS = 4
ALTERED = "a string value holds broken UTF-16 (unpaired surrogates): read without them"
#: Intact chunks parsed from one image (a parser start costs about as much as 40 records).
CHUNKS_PER_IMAGE = 16


@dataclass(frozen=True)
class ChunkRange:
    """A slice of a file's chunk slots: the unit of work for one (possibly remote) worker."""

    first_offset: int  # file offset of the first slot (4096, or 0 for a header-less file)
    start: int
    stop: int


@dataclass
class RangeResult:
    """What reading a chunk range found, besides its records."""

    errors: list[ReadError] = field(default_factory=list)
    chunks: int = 0
    chunks_skipped: int = 0
    skipped: dict[Any, list[object]] = field(default_factory=dict)  # records not decoded
    #: Index-first reading: every record of the range already folded in (the stream then
    #: absorbs this instead of observing the decoded batches).
    observed: FileReport | None = None
    second_opinions: int = 0  # chunks re-read with python-evtx
    over_budget: bool = False  # a worker stopped the range at the file's time budget
    #: Records a selector left for later (window context): computer, time, chunk, offset.
    deferred: LocatedRows | None = None
    #: What an admission (``selective.Admission``) summarized of the records it took in
    #: without their being decoded (nightly: watermarks, newest times, counts).
    admitted: object | None = None


#: The note for a record header the walk could not follow (it resumes after it).
TORN_HEADER = "damaged record header; the records after it are read from the next whole one"


def inspect_header(data: bytes, report: FileReport) -> int:
    """Check the file header, note what it says, and return the offset of the first slot."""
    header = parse_file_header(data)
    if header is None:
        if data[:8] == CHUNK_MAGIC:
            report.notes.append("no file header: chunks start at offset 0")
            return 0
        report.error("file header missing or damaged; records recovered from the chunks", None, 0)
        return FILE_HEADER_SIZE
    report.header_chunk_count = header.chunk_count
    report.header_dirty = header.dirty
    if not header.checksum_ok:
        report.error("file header CRC32 mismatch (header ignored, chunks read)", None, 0)
    if header.dirty:
        report.notes.append("dirty: the log was not closed cleanly (copied from a live system)")
    return FILE_HEADER_SIZE


def chunk_ranges(data_size: int, first_offset: int, per_range: int) -> list[ChunkRange]:
    """Split the file's chunk slots into ranges of ``per_range`` slots."""
    slots = max(0, -(-(data_size - first_offset) // CHUNK_SIZE))
    return [
        ChunkRange(first_offset, start, min(start + per_range, slots))
        for start in range(0, slots, per_range)
    ]


def _parse(
    parser: ChunkParser,
    image: bytes,
    headers: tuple[RecordHeader, ...],
    chunk: Chunk,
    recovered: bool,
    result: RangeResult,
) -> Iterator[tuple[EventFields | FastRow, RecordPosition]]:
    """Parse one chunk image and tie each event to its record header by number."""
    by_number: dict[int, list[RecordHeader]] = defaultdict(list)
    for header in headers:
        by_number[header.record_number].append(header)
    for item in parser(image):
        if isinstance(item, BackendError):
            offset = None
            if item.record_number is not None and by_number.get(item.record_number):
                offset = chunk.file_offset + by_number[item.record_number][0].offset
            result.errors.append(ReadError(item.reason, chunk.index, offset))
            continue
        number, fields = item
        candidates = by_number.get(number)
        if candidates:
            header = candidates.pop(0)
            position = RecordPosition(
                number,
                header.written_time,
                chunk.index,
                chunk.file_offset + header.offset,
                recovered,
            )
        else:
            position = RecordPosition(number, None, chunk.index, None, recovered)
        yield fields, position


def read_chunk_range(
    data: Buffer,
    span: ChunkRange,
    parser: ChunkParser,
    *,
    source: str,
    host_map: HostMap | None,
    batch_size: int,
    include_recovered: bool,
    result: RangeResult,
) -> Iterator[pd.DataFrame]:
    """Typed batches of every record in the range; problems go to ``result``."""
    chunks = intact_chunks(data, span, result)
    batch = RecordBatch()
    while True:
        with _gc_paused():
            filled = _fill(chunks, batch, batch_size, parser, include_recovered, result)
            frame = (
                batch.frame(source_file=source, source_format="evtx", host_map=host_map)
                if filled
                else None
            )
            batch.clear()
        if frame is None:
            return
        for chunk, offset in altered_records(frame, data, span.first_offset):
            result.errors.append(ReadError(ALTERED, chunk, offset))
        for start in range(0, len(frame), batch_size):  # a group may overshoot the size
            piece = frame.iloc[start : start + batch_size].reset_index(drop=True)
            piece.attrs = frame.attrs if start == 0 else {}  # counted once
            yield piece


def intact_chunks(data: Buffer, span: ChunkRange, result: RangeResult) -> Iterator[Chunk]:
    """The readable chunks of the range; unreadable slots become errors in ``result``."""
    for index in range(span.start, span.stop):
        check_budget()
        offset = span.first_offset + index * CHUNK_SIZE
        found = read_chunk(cast(bytes, data), index, offset)  # a FileView slices as bytes
        if isinstance(found, ChunkProblem):
            if found.reason.startswith("empty chunk slot") and offset >= zero_tail_start(data):
                continue  # pre-allocated space at the end of the file, not damage
            result.chunks_skipped += 1
            result.errors.append(ReadError(found.reason, found.index, found.file_offset))
            continue
        result.chunks += 1
        _note_chunk_damage(found, result)
        yield found


def _fill(
    chunks: Iterator[Chunk],
    batch: RecordBatch,
    batch_size: int,
    parser: ChunkParser,
    include_recovered: bool,
    result: RangeResult,
) -> bool:
    """Read groups of chunks into ``batch`` until it holds ``batch_size`` records or the
    chunks run out; True when the batch has records."""
    group: list[Chunk] = []
    for chunk in chunks:
        group.append(chunk)
        if len(group) == CHUNKS_PER_IMAGE:
            _read_group(group, parser, include_recovered, batch, result)
            group = []
            if len(batch) >= batch_size:
                break
    if group:
        _read_group(group, parser, include_recovered, batch, result)
    return len(batch) > 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a batch is collected and typed (never across a yield).

    The loop allocates only acyclic tuples and lists; without the pause, generational
    collections rescanning the growing batch cost about a third of the reading time. It is
    resumed after the batch's raw rows are freed, so no large collection follows.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_group(
    chunks: list[Chunk],
    parser: ChunkParser,
    include_recovered: bool,
    batch: RecordBatch,
    result: RangeResult,
) -> None:
    """Parse several intact chunks from one image (one parser start instead of many).

    If the parser reports any error or returns fewer records for a chunk than its record
    headers promise, the group is read again chunk by chunk, so a problem is tied to its
    chunk and cannot cost the records of its neighbours.
    """
    plain = [c for c in chunks if not c.truncated]
    if len(plain) > 1:
        staged = _parse_group(plain, parser)
        if staged is not None:
            for event, position in staged:
                _add(batch, event, position, result)
            chunks = [c for c in chunks if c.truncated]
            if include_recovered:
                for chunk in plain:
                    if chunk.slack_records:
                        _read_chunk_events(chunk, parser, True, batch, result, live=False)
    for chunk in chunks:
        _read_chunk_events(chunk, parser, include_recovered, batch, result)


def _parse_group(
    chunks: list[Chunk], parser: ChunkParser
) -> list[tuple[EventFields | FastRow, RecordPosition]] | None:
    """All live records of ``chunks`` from one image, or None when anything went wrong.

    A healthy parser renders exactly the walked records, in order; any deviation (an
    error, a missing or unexpected record) sends the group to the per-chunk path.
    """
    positions = [
        RecordPosition(h.record_number, h.written_time, c.index, c.file_offset + h.offset, False)
        for c in chunks
        for h in c.records
    ]
    events: list[EventFields | FastRow] = []
    total = len(positions)
    for item in parser(chunk_image(*(c.data for c in chunks))):
        if isinstance(item, BackendError):
            return None
        index = len(events)
        if index >= total or item[0] != positions[index].record_number:
            return None
        events.append(item[1])
    if len(events) != total:
        return None
    return list(zip(events, positions, strict=True))


def _add(
    batch: RecordBatch,
    event: EventFields | FastRow,
    position: RecordPosition,
    result: RangeResult,
) -> None:
    if isinstance(event, EventFields):
        batch.add_fields(event, position)
    else:
        batch.add_raw(event[0], event[1], position)


def _read_chunk_events(
    chunk: Chunk,
    parser: ChunkParser,
    include_recovered: bool,
    batch: RecordBatch,
    result: RangeResult,
    *,
    live: bool = True,
) -> None:
    """Parse one chunk (and its slack) into ``batch``."""
    pieces = []
    if live:
        image = chunk_with_records(chunk, chunk.records) if chunk.truncated else chunk.data
        pieces.append((chunk_image(image), chunk.records, False))
    if include_recovered and chunk.slack_records:
        slack = chunk_with_records(chunk, chunk.slack_records)
        pieces.append((chunk_image(slack), chunk.slack_records, True))
    for image, headers, recovered in pieces:
        errors = len(result.errors)
        seen: set[int] = set()
        for event, position in _parse(parser, image, headers, chunk, recovered, result):
            if recovered and position.offset is None:
                continue  # a live record re-read while reaching the slack
            seen.add(position.record_number or 0)
            _add(batch, event, position, result)
        lost = {h.record_number for h in headers} - seen
        if lost and len(result.errors) > errors and parser is not python_events:
            result.second_opinions += 1
            if result.second_opinions <= MAX_SECOND_OPINIONS:  # python-evtx is slow
                _second_opinion(image, headers, chunk, recovered, lost, batch, result)


def _second_opinion(
    image: bytes,
    headers: tuple[RecordHeader, ...],
    chunk: Chunk,
    recovered: bool,
    lost: set[int],
    batch: RecordBatch,
    result: RangeResult,
) -> None:
    """Records pyevtx-rs gave up on (it can abandon the rest of a chunk at one bad value,
    such as a record header time past year 9999), read by python-evtx instead, so one bad
    record costs that record only."""
    found = 0
    scratch = RangeResult()
    for event, position in _parse(python_events, image, headers, chunk, recovered, scratch):
        if position.record_number in lost and position.offset is not None:
            _add(batch, event, position, result)
            found += 1
    if found:
        result.errors.append(
            ReadError(
                f"{found} of {len(lost)} records pyevtx-rs could not read were read by python-evtx",
                chunk.index,
                chunk.file_offset,
            )
        )


def _note_chunk_damage(chunk: Chunk, result: RangeResult) -> None:
    where = (chunk.index, chunk.file_offset)
    for offset in chunk.torn_headers:
        result.errors.append(ReadError(TORN_HEADER, chunk.index, chunk.file_offset + offset))
    if chunk.truncated:
        result.errors.append(
            ReadError(
                f"file ends inside the chunk; {len(chunk.records)} complete records read", *where
            )
        )
    if not chunk.header_crc_ok:
        result.errors.append(ReadError("chunk header CRC32 mismatch (records read anyway)", *where))
    elif not chunk.data_crc_ok and not chunk.truncated:
        result.errors.append(
            ReadError("chunk records CRC32 mismatch (records read anyway)", *where)
        )
