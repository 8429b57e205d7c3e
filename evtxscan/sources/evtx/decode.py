"""On-demand decoding: full record-schema rows from the binary, no XML round trip.

Entry points, all giving the rows ``read_records(..., backend="rust")`` gives for the same
records (every column), in file order (chunk, live records, then slack):

- :func:`index_range` and :func:`decode_indexed` -- one range indexed once, then the rows
  a caller chose from that index decoded from it (a scan's selective read);
- :func:`decode_offsets` -- rows of the records at chosen file offsets (a scan's second
  read of context records), only those indexed;
- :func:`decode_sources` -- typed batches of every record of many files' chunk ranges, the
  files copied side by side so the fixed costs are per batch, not per file, with each
  range's integrity facts in a :class:`~evtxscan.sources.evtx.reader.RangeResult`;
- :func:`decode_chunk_range` -- the same for one range (a drop-in for
  :func:`~evtxscan.sources.evtx.reader.read_chunk_range`).

System columns come from the index, EventData/UserData from
:mod:`~evtxscan.sources.evtx.payload`. Records either cannot read exactly are rendered by
the chunk parser (pyevtx-rs by default) and merged in. One difference is deliberate: slack
records of a chunk that also holds live records are kept (the chunk parser re-reads the
live records there and loses them).
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from evtxscan.records.batch import VALUES_LOST
from evtxscan.records.hosts import HostMap
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evtx.backends import rust_events
from evtxscan.sources.evtx.chunk_events import ChunkEvents
from evtxscan.sources.evtx.chunk_notes import note_chunks
from evtxscan.sources.evtx.file_slices import pair_keys
from evtxscan.sources.evtx.frames import hosts, index_frame
from evtxscan.sources.evtx.index import (
    BATCH_BYTES,
    IndexedSet,
    RecordIndex,
    clear_shared_cache,
    index_set,
)
from evtxscan.sources.evtx.instances import Instances, Problem, TemplateCache, ThreadCaches
from evtxscan.sources.evtx.layout import CHUNK_SIZE
from evtxscan.sources.evtx.packed import PackedFiles
from evtxscan.sources.evtx.payload import read_payloads
from evtxscan.sources.evtx.reader import TORN_HEADER, ChunkRange, RangeResult
from evtxscan.sources.evtx.rendered import Wanted, render_wanted
from evtxscan.sources.evtx.walk import ChunkSet, chunks_copied, chunks_in_place, walk
from evtxscan.sources.fileview import FileView
from evtxscan.sources.integrity import ReadError

Buffer = bytes | bytearray | memoryview | mmap.mmap | FileView
ChunkParser = Callable[[bytes], ChunkEvents]
_DECODER = ThreadCaches()  # the decoder's template memo (each thread its own)


def forget_templates() -> None:
    """Empty this thread's template memos (the index's and the decoder's) between phases.

    A memo only saves parsing a template again. Once a scan has read its logs, a second
    read meets few of their templates (and parses those), while what the memos hold of
    every log read (15-20 MiB for 200 distinct machines) would stay under the peaks of
    correlating and reporting."""
    clear_shared_cache()
    _DECODER.get().clear()


@dataclass(frozen=True)
class DecodeOptions:
    """How rows are made: host names, slack records, the renderer for what is left over."""

    host_map: HostMap | None = None
    include_recovered: bool = True
    parser: ChunkParser = rust_events


@dataclass(frozen=True)
class _Input:
    name: str
    content: Buffer
    spans: tuple[ChunkRange, ...]
    result: RangeResult


def decode_sources(
    items: Iterable[tuple[str, Buffer, Sequence[ChunkRange], RangeResult]],
    *,
    options: DecodeOptions | None = None,
    batch_size: int = 10_000,
    cache: TemplateCache | None = None,
) -> Iterator[pd.DataFrame]:
    """Typed batches of every record of ``(name, content, spans, result)`` items, in input
    order; each item's counts and problems go to its ``result``."""
    options = options or DecodeOptions()
    cache = cache or _DECODER.get()
    pending: list[_Input] = []
    size = 0
    for name, content, spans, result in items:
        pending.append(_Input(name, content, tuple(spans), result))
        size += sum(max(span.stop - span.start, 0) for span in spans) * CHUNK_SIZE
        if size >= BATCH_BYTES:
            yield from _batches(_decode_batch(pending, options, cache), batch_size)
            pending, size = [], 0
    if pending:
        yield from _batches(_decode_batch(pending, options, cache), batch_size)


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
    options = DecodeOptions(host_map, include_recovered, parser)
    items = [(source, data, [span], result)]
    return decode_sources(items, options=options, batch_size=batch_size, cache=cache)


def decode_offsets(
    items: Sequence[tuple[str, Buffer, Sequence[ChunkRange]]],
    offsets: Sequence[Sequence[int]],
    options: DecodeOptions | None = None,
    cache: TemplateCache | None = None,
) -> pd.DataFrame:
    """Schema rows of the records starting at file ``offsets[i]`` of each item's chunk
    ranges (``(name, content, spans)``), in file order: a second read, which wants a few
    records of each chunk, walks the chunks but indexes and decodes those records only.
    An offset where no record starts gives none."""
    check_budget()
    cache = cache or _DECODER.get()
    inputs = [_Input(name, data, tuple(spans), RangeResult()) for name, data, spans in items]
    chunks = _chunk_set(inputs)
    records = walk(chunks)
    found = pair_keys(
        chunks.source[records.chunk], chunks.file_offset[records.chunk] + records.offset
    )
    wanted = [
        pair_keys(np.full(len(o), n), np.asarray(o, dtype=np.int64)) for n, o in enumerate(offsets)
    ]
    chosen = records.take(np.flatnonzero(np.isin(found, np.concatenate([found[:0], *wanted]))))
    indexed = index_set(chunks, cache, chosen)
    return _decoded(inputs, indexed, np.arange(len(chosen)), options or DecodeOptions(), cache)


def _batches(frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), batch_size):
        piece = frame.iloc[start : start + batch_size].reset_index(drop=True)
        piece.attrs = dict(frame.attrs) if start == 0 else {}  # values lost: counted once
        yield piece


@dataclass(frozen=True)
class IndexedRange:
    """One chunk range indexed once: the records to choose from, and what decodes them
    (so choosing and decoding share one walk, one template cache and one copy)."""

    inputs: tuple[_Input, ...]
    indexed: IndexedSet
    rows: np.ndarray  # rows of the indexed set the range gives (slack left out when asked)
    cache: TemplateCache

    @property
    def index(self) -> RecordIndex:
        """The range's records (positions in it are what :func:`decode_indexed` takes)."""
        return self.indexed.index.take(self.rows)


def index_range(
    data: Buffer,
    span: ChunkRange,
    *,
    source: str,
    result: RangeResult,
    include_recovered: bool = True,
    cache: TemplateCache | None = None,
) -> IndexedRange:
    """Index ``span`` of ``data`` and note its chunks (counts, damage) in ``result``."""
    return index_ranges([(source, data, [span], result)], include_recovered, cache)


def index_ranges(
    items: Sequence[tuple[str, Buffer, Sequence[ChunkRange], RangeResult]],
    include_recovered: bool = True,
    cache: TemplateCache | None = None,
    packed: PackedFiles | None = None,
) -> IndexedRange:
    """Index the ranges of several files (``(name, content, spans, result)`` each) as one
    batch, each file's chunks noted in its result; ``index.source`` numbers the items.
    ``packed``: the buffer the contents were read into, if they were (viewed in place)."""
    check_budget()  # a batch costs a bounded time: the file's budget is checked per batch
    cache = cache or _DECODER.get()
    inputs = [_Input(name, data, tuple(spans), result) for name, data, spans, result in items]
    chunks = _chunk_set(inputs, packed)
    indexed = index_set(chunks, cache)
    keep = _noted(inputs, chunks, indexed, include_recovered)
    return IndexedRange(tuple(inputs), indexed, np.flatnonzero(keep), cache)


def decode_indexed(
    found: IndexedRange, chosen: np.ndarray, options: DecodeOptions | None = None
) -> pd.DataFrame:
    """Schema rows of the records at positions ``chosen`` of ``found.index``, in file order."""
    rows = found.rows[np.sort(np.asarray(chosen, dtype=np.int64))]
    return _decoded(
        list(found.inputs), found.indexed, rows, options or DecodeOptions(), found.cache
    )


def _decode_batch(
    inputs: list[_Input], options: DecodeOptions, cache: TemplateCache
) -> pd.DataFrame:
    check_budget()
    chunks = _chunk_set(inputs)
    indexed = index_set(chunks, cache)
    keep = _noted(inputs, chunks, indexed, options.include_recovered)
    return _decoded(inputs, indexed, np.flatnonzero(keep), options, cache)


def _noted(
    inputs: list[_Input], chunks: ChunkSet, indexed: IndexedSet, include_recovered: bool
) -> np.ndarray:
    """Note each input's chunks in its result; the records to give (mask)."""
    records = indexed.records
    live = ~records.recovered
    per_slot = np.bincount(records.chunk[live], minlength=len(chunks))
    for number, item in enumerate(inputs):
        slots = np.flatnonzero(chunks.source == number)
        mine = dict(zip(chunks.index[slots].tolist(), per_slot[slots].tolist(), strict=True))
        for span in item.spans:
            note_chunks(item.content, span, mine, item.result)
    for row, offset in records.torn.tolist():
        where = int(chunks.file_offset[row]) + offset
        problem = ReadError(TORN_HEADER, int(chunks.index[row]), where)
        inputs[int(chunks.source[row])].result.errors.append(problem)
    return np.ones(len(records), dtype=bool) if include_recovered else live


def _chunk_set(inputs: list[_Input], packed: PackedFiles | None = None) -> ChunkSet:
    """The inputs' slots: viewed in place where they were read into ``packed``, or one
    file's whole slots viewed in its buffer; else copied side by side."""
    runs = []
    for number, item in enumerate(inputs):
        for span in item.spans:
            size = len(item.content)
            have = -(-(size - span.first_offset) // CHUNK_SIZE) if size > span.first_offset else 0
            count = max(min(span.stop, have) - span.start, 0)
            if count:
                runs.append((number, item.content, span.first_offset, span.start, count))
    if packed is not None and (in_place := packed.chunks(runs)) is not None:
        return in_place
    if len(runs) == 1:
        number, content, first, start, count = runs[0]
        whole = (len(content) - first) // CHUNK_SIZE - start >= count
        if whole and first % 8 == 0 and not isinstance(content, FileView):
            return chunks_in_place(number, content, first, start, count)
    return chunks_copied(runs)


def _decoded(
    inputs: list[_Input],
    indexed: IndexedSet,
    rows: np.ndarray,
    options: DecodeOptions,
    cache: TemplateCache,
) -> pd.DataFrame:
    """Rows of records ``rows`` of an indexed set: decoded, or rendered where needed."""
    index = indexed.index
    problem = index.problem.copy()
    readable = rows[problem[rows] == Problem.NONE]
    instances = indexed.instances
    outer = Instances(
        *(getattr(instances, name)[readable] for name in Instances.__dataclass_fields__)
    )
    chunk_rows = indexed.records.chunk[readable]
    payloads = read_payloads(indexed.reader, indexed.chunks, chunk_rows, outer, cache)
    problem[readable] = payloads.problem
    good = payloads.problem == Problem.NONE
    names = [item.name for item in inputs]
    decoded = index_frame(
        index.take(readable[good]),
        payloads.data.filter(good),
        payloads.binary.filter(good),
        source_files=names,
        host_map=options.host_map,
    )
    fallback = rows[problem[rows] != Problem.NONE]
    if not len(fallback):
        return decoded
    files = []
    for number, item in enumerate(inputs):
        mine = fallback[index.source[fallback] == number]
        files.append(
            Wanted(
                item.content,
                item.spans[0].first_offset if item.spans else 0,  # none: nothing wanted
                np.unique(index.chunk[mine]).tolist(),
                frozenset(index.offset[mine].tolist()),
                item.result.errors,
            )
        )
    rendered = render_wanted(files, names, options.parser, options.host_map)
    merged = _append(decoded, rendered)
    merged.attrs[VALUES_LOST] = _lost_counts(decoded, rendered)
    order_of = {name: number for number, name in enumerate(names)}
    source = merged["source_file"].astype(object).map(order_of).to_numpy(np.int64)
    merged["host"] = hosts(options.host_map or HostMap(), merged["computer"].array, source, names)
    order = np.lexsort(
        (
            merged["offset"].to_numpy(np.int64),
            merged["recovered"].to_numpy(),
            merged["chunk"].to_numpy(np.int64),
            source,
        )
    )
    return merged.iloc[order].reset_index(drop=True)


def _lost_counts(*frames: pd.DataFrame) -> dict[str, int]:
    """The frames' counts of values read as missing, added up per column."""
    total: dict[str, int] = {}
    for frame in frames:
        for name, count in frame.attrs.get(VALUES_LOST, {}).items():
            total[name] = total.get(name, 0) + count
    return total


def _append(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Rows of both frames; categorical columns keep the categories of both (a union is
    cheaper than the object round trip of a plain concat)."""
    columns = {}
    for name in first.columns:
        a, b = first[name].array, second[name].array
        if isinstance(a, pd.Categorical) and isinstance(b, pd.Categorical):
            columns[name] = union_categoricals([a, b], sort_categories=True)
        else:
            columns[name] = pd.concat([first[name], second[name]], ignore_index=True).array
    return pd.DataFrame(columns, columns=first.columns)
