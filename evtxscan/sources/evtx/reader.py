"""Read an EVTX file chunk by chunk into typed record batches and integrity facts.

The file header is only advice: every 64 KiB slot is examined (dirty logs hold more chunks
than their header counts), each readable chunk is parsed on its own from a fresh image,
truncated chunks give their complete records, and records left in chunk slack (cleared or
overwritten logs) are read too, flagged ``recovered``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import EventFields, RecordPosition, build_frame
from evtxscan.sources.evtx.backends import BackendError, ChunkEvents
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
from evtxscan.sources.integrity import FileReport, ReadError

ChunkParser = Callable[[bytes], ChunkEvents]


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


def _slot_is_trailing_zero(data: bytes, offset: int) -> bool:
    return not data[offset:].strip(b"\x00")


def _parse(
    parser: ChunkParser,
    image: bytes,
    headers: tuple[RecordHeader, ...],
    chunk: Chunk,
    recovered: bool,
    result: RangeResult,
) -> Iterator[tuple[EventFields, RecordPosition]]:
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
    data: bytes,
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
    fields: list[EventFields] = []
    positions: list[RecordPosition] = []

    def flush() -> pd.DataFrame:
        frame = build_frame(
            fields, positions, source_file=source, source_format="evtx", host_map=host_map
        )
        fields.clear()
        positions.clear()
        return frame

    for index in range(span.start, span.stop):
        offset = span.first_offset + index * CHUNK_SIZE
        found = read_chunk(data, index, offset)
        if isinstance(found, ChunkProblem):
            if found.reason.startswith("empty chunk slot") and _slot_is_trailing_zero(data, offset):
                continue  # pre-allocated space at the end of the file, not damage
            result.chunks_skipped += 1
            result.errors.append(ReadError(found.reason, found.index, found.file_offset))
            continue
        result.chunks += 1
        _note_chunk_damage(found, result)
        pieces: list[tuple[bytes, tuple[RecordHeader, ...], bool]] = []
        if found.truncated:
            pieces.append(
                (chunk_image(chunk_with_records(found, found.records)), found.records, False)
            )
        else:
            pieces.append((chunk_image(found.data), found.records, False))
        if include_recovered and found.slack_records:
            pieces.append(
                (
                    chunk_image(chunk_with_records(found, found.slack_records)),
                    found.slack_records,
                    True,
                )
            )
        for image, headers, recovered in pieces:
            for event, position in _parse(parser, image, headers, found, recovered, result):
                if recovered and position.offset is None:
                    continue  # a live record re-read while reaching the slack
                fields.append(event)
                positions.append(position)
                if len(fields) >= batch_size:
                    yield flush()
    if fields:
        yield flush()


def _note_chunk_damage(chunk: Chunk, result: RangeResult) -> None:
    where = (chunk.index, chunk.file_offset)
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
