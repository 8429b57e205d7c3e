"""Records the decoder leaves to the chunk parser, rendered together into one typed frame.

The few records the decoder does not read itself (forwarded events stored without a
template, characters XML cannot carry, nested values it does not splice...) are rendered by
the chunk parser (pyevtx-rs by default) exactly as the chunk-by-chunk reader renders them:
each chunk holding one parsed from its own image, events tied to record headers by number.
Rows of all files of a batch go into one :class:`~evtxscan.records.batch.RecordBatch`, so
there is one frame per batch, not one per chunk or file.
"""

from __future__ import annotations

import dataclasses
import mmap
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.records.batch import RecordBatch, categorical
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import EventFields, RecordPosition
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evtx.chunk_events import BackendError, ChunkEvents
from evtxscan.sources.evtx.fast_xml import FastRow
from evtxscan.sources.evtx.layout import (
    CHUNK_SIZE,
    Chunk,
    RecordHeader,
    chunk_image,
    chunk_with_records,
    read_chunk,
)
from evtxscan.sources.fileview import FileView
from evtxscan.sources.integrity import ReadError

Buffer = bytes | bytearray | memoryview | mmap.mmap | FileView
ChunkParser = Callable[[bytes], ChunkEvents]


@dataclass(frozen=True)
class Wanted:
    """Records of one file to render: its bytes, where its chunks start, the records."""

    content: Buffer
    first_offset: int
    chunks: Sequence[int]  # chunk indexes holding wanted records
    offsets: frozenset[int]  # file offsets of the wanted records
    errors: list[ReadError]  # where the parser's complaints about them go


def render_wanted(
    files: Sequence[Wanted], names: Sequence[str], parser: ChunkParser, host_map: HostMap | None
) -> pd.DataFrame:
    """Schema rows of the wanted records of ``files`` (named ``names``), in file order."""
    batch = RecordBatch()
    owner: list[int] = []
    for number, wanted in enumerate(files):
        for index in wanted.chunks:
            check_budget()  # a chunk of records the decoder left over can be slow to render
            offset = wanted.first_offset + index * CHUNK_SIZE
            found = read_chunk(bytes(wanted.content[offset : offset + CHUNK_SIZE]), index, 0)
            if not isinstance(found, Chunk):
                continue
            chunk = dataclasses.replace(found, file_offset=offset)
            before = len(batch)
            _render_chunk(chunk, wanted, parser, batch)
            owner += [number] * (len(batch) - before)
    frame = batch.frame(source_file="", source_format="evtx", host_map=host_map)
    source = np.asarray(owner, dtype=np.int64)
    frame["source_file"] = categorical(
        np.asarray(names, dtype=object)[source] if len(names) else []
    )
    return frame


def _render_chunk(chunk: Chunk, wanted: Wanted, parser: ChunkParser, batch: RecordBatch) -> None:
    """The wanted records of one chunk (live ones from its image, slack ones from a second)."""
    pieces = [
        (chunk_with_records(chunk, chunk.records) if chunk.truncated else chunk.data, chunk.records)
    ]
    slack_offsets = {chunk.file_offset + h.offset for h in chunk.slack_records}
    if slack_offsets & wanted.offsets:
        pieces.append((chunk_with_records(chunk, chunk.slack_records), chunk.slack_records))
    for recovered, (image, headers) in enumerate(pieces):
        for event, position in _tied(parser(chunk_image(image)), headers, chunk, bool(recovered)):
            if isinstance(event, BackendError):
                if position.offset is None or position.offset in wanted.offsets:
                    wanted.errors.append(ReadError(event.reason, chunk.index, position.offset))
            elif position.offset in wanted.offsets:
                if isinstance(event, EventFields):
                    batch.add_fields(event, position)
                else:
                    batch.add_raw(event[0], event[1], position)


Event = EventFields | FastRow | BackendError


def _tied(
    events: ChunkEvents, headers: Sequence[RecordHeader], chunk: Chunk, recovered: bool
) -> list[tuple[Event, RecordPosition]]:
    """Each event (or error) with its record's position, found by record number."""
    by_number: dict[int, list[RecordHeader]] = defaultdict(list)
    for known in headers:
        by_number[known.record_number].append(known)
    out: list[tuple[Event, RecordPosition]] = []
    for item in events:
        number = item.record_number if isinstance(item, BackendError) else item[0]
        candidates = by_number.get(number) if number is not None else None
        header = candidates.pop(0) if candidates else None
        offset = None if header is None else chunk.file_offset + header.offset
        written = None if header is None else header.written_time
        event: Event = item if isinstance(item, BackendError) else item[1]
        out.append((event, RecordPosition(number, written, chunk.index, offset, recovered)))
    return out
