"""On-demand decoding: full record-schema rows from the binary, no XML round trip.

Two entry points, both giving the rows ``read_records(..., backend="rust")`` gives for the
same records (every column; rows in file order: chunk, live records, then slack):

- :func:`decode_records` -- rows of chosen index rows (e.g. the candidates a scan selected
  from :class:`~evtxscan.sources.evtx.index.RecordIndex` columns);
- :func:`decode_chunk_range` -- typed batches of every record of a chunk range, with the
  range's integrity facts in a :class:`~evtxscan.sources.evtx.reader.RangeResult` (a drop-in
  for :func:`~evtxscan.sources.evtx.reader.read_chunk_range`).

System columns come from the index, EventData/UserData from
:mod:`~evtxscan.sources.evtx.payload`. Records either cannot read exactly are rendered by
the existing chunk parser (pyevtx-rs by default) and merged in.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from evtxscan.records.batch import concat_frames, empty_frame
from evtxscan.records.hosts import HostMap
from evtxscan.sources.evtx.arrays import Reader
from evtxscan.sources.evtx.backends import rust_events
from evtxscan.sources.evtx.chunk_events import ChunkEvents
from evtxscan.sources.evtx.chunk_notes import note_chunks
from evtxscan.sources.evtx.frames import index_frame
from evtxscan.sources.evtx.index import IndexedSet, RecordIndex, index_set
from evtxscan.sources.evtx.instances import Problem, TemplateCache
from evtxscan.sources.evtx.layout import CHUNK_MAGIC, CHUNK_SIZE, FILE_HEADER_SIZE
from evtxscan.sources.evtx.payload import read_payloads
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, read_chunk_range
from evtxscan.sources.evtx.walk import ChunkSet, RecordSet, chunks_copied, chunks_in_place

Buffer = bytes | bytearray | memoryview | mmap.mmap
ChunkParser = Callable[[bytes], ChunkEvents]
_DECODER_CACHE = TemplateCache()
_SIZE_AT = 4  # the record size in the record header


def decode_chunk_range(
    data: Buffer,
    span: ChunkRange,
    *,
    source: str,
    host_map: HostMap | None = None,
    batch_size: int = 10_000,
    include_recovered: bool = True,
    result: RangeResult,
    parser: ChunkParser = rust_events,
    cache: TemplateCache | None = None,
) -> Iterator[pd.DataFrame]:
    """Typed batches of every record of ``span``; problems and counts go to ``result``."""
    chunks = _span_chunks(data, span)
    indexed = index_set(chunks, cache or _DECODER_CACHE)
    live = ~indexed.records.recovered
    counts = np.bincount(chunks.index[indexed.records.chunk[live]] - span.start, minlength=0)
    live_records = {span.start + i: int(c) for i, c in enumerate(counts.tolist())}
    note_chunks(data, span, live_records, result)
    keep = np.ones(len(indexed.index), dtype=bool) if include_recovered else live
    frame = _decoded(
        data, indexed, np.flatnonzero(keep), span.first_offset, source, host_map, parser, result
    )
    for start in range(0, len(frame), batch_size):
        yield frame.iloc[start : start + batch_size].reset_index(drop=True)


def decode_records(
    content: Buffer,
    index: RecordIndex,
    rows: np.ndarray,
    *,
    source: str,
    host_map: HostMap | None = None,
    parser: ChunkParser = rust_events,
    cache: TemplateCache | None = None,
) -> pd.DataFrame:
    """Schema rows of ``index`` rows ``rows`` (all from ``content``), in file order.

    Records the renderer cannot render either are missing from the result (as they are
    from ``read_records``).
    """
    picked = index.take(np.asarray(rows))
    first = 0 if bytes(content[:8]) == CHUNK_MAGIC else FILE_HEADER_SIZE
    order = np.lexsort((picked.offset, picked.recovered, picked.chunk))
    picked = picked.take(order)
    slots = np.unique(picked.chunk)
    chunks = _slots(content, first, slots)
    row = np.searchsorted(slots, picked.chunk)
    rel = picked.offset - chunks.file_offset[row]
    size = Reader(chunks.buf).u32(chunks.base[row] + rel + _SIZE_AT).astype(np.int64)
    records = RecordSet(row, rel, size, picked.record_number, picked.written_time, picked.recovered)
    indexed = index_set(chunks, cache or _DECODER_CACHE, records)
    return _decoded(
        content,
        indexed,
        np.arange(len(picked)),
        first,
        source,
        host_map,
        parser,
        RangeResult(),
    )


def _span_chunks(data: Buffer, span: ChunkRange) -> ChunkSet:
    """The span's slots that the file has, viewed in place (copied when one is cut short)."""
    size = len(data)
    available = -(-(size - span.first_offset) // CHUNK_SIZE) if size > span.first_offset else 0
    stop = min(span.stop, available)
    count = max(stop - span.start, 0)
    whole = (size - span.first_offset) // CHUNK_SIZE - span.start
    if count and whole >= count and span.first_offset % 8 == 0:
        return chunks_in_place(0, data, span.first_offset, span.start, count)
    return chunks_copied([(0, data, span.first_offset, span.start, count)])


def _slots(content: Buffer, first: int, slots: np.ndarray) -> ChunkSet:
    """Chunk slots ``slots`` (sorted) of a file, copied side by side."""
    runs = [(0, content, first, int(slot), 1) for slot in slots.tolist()]
    return chunks_copied(runs)


def _decoded(
    data: Buffer,
    indexed: IndexedSet,
    rows: np.ndarray,
    first_offset: int,
    source: str,
    host_map: HostMap | None,
    parser: ChunkParser,
    result: RangeResult,
) -> pd.DataFrame:
    """Rows of records ``rows`` of an indexed set: decoded, or rendered where needed."""
    index = indexed.index
    problem = index.problem.copy()
    readable = rows[problem[rows] == Problem.NONE]
    instances = indexed.instances
    outer = type(instances)(
        *(getattr(instances, name)[readable] for name in instances.__dataclass_fields__)
    )
    cache = _DECODER_CACHE
    chunk_rows = indexed.records.chunk[readable]
    payloads = read_payloads(indexed.reader, indexed.chunks, chunk_rows, outer, cache)
    problem[readable] = payloads.problem
    good = payloads.problem == Problem.NONE
    decoded = index_frame(
        index.take(readable[good]),
        payloads.data.filter(good),
        payloads.binary.filter(good),
        source_file=source,
        host_map=host_map,
    )
    fallback = rows[problem[rows] != Problem.NONE]
    if not len(fallback):
        return decoded
    rendered = _rendered(data, index, fallback, first_offset, source, host_map, parser, result)
    merged = concat_frames([decoded, rendered]) if len(rendered) else decoded
    # categories as one batch of these rows has them (hosts include the one of no Computer)
    merged["host"] = (host_map or HostMap()).hosts_for(merged["computer"].array, source)
    order = np.lexsort(
        (
            merged["offset"].to_numpy(np.int64),
            merged["recovered"].to_numpy(),
            merged["chunk"].to_numpy(np.int64),
        )
    )
    return merged.iloc[order].reset_index(drop=True)


def _rendered(
    data: Buffer,
    index: RecordIndex,
    rows: np.ndarray,
    first_offset: int,
    source: str,
    host_map: HostMap | None,
    parser: ChunkParser,
    result: RangeResult,
) -> pd.DataFrame:
    """Rows of index rows ``rows`` from the chunk parser (each of their chunks rendered)."""
    wanted = set(index.offset[rows].tolist())
    frames = []
    for slot in np.unique(index.chunk[rows]).tolist():
        found = RangeResult()
        span = ChunkRange(first_offset, slot, slot + 1)
        for frame in read_chunk_range(
            data,  # type: ignore[arg-type]
            span,
            parser,
            source=source,
            host_map=host_map,
            batch_size=1 << 30,
            include_recovered=True,
            result=found,
        ):
            frames.append(frame[frame["offset"].isin(wanted)])
        result.errors.extend(e for e in found.errors if e.offset in wanted)
    return concat_frames(frames) if frames else empty_frame()
