"""The EVTX record index: every record's position and System fields, without rendering XML.

For each record of the chunk slots asked for, as numpy columns: where it is (``source``,
``chunk``, ``offset``, ``recovered``), its header (``record_number``, ``written_time``) and
the System fields of its event (``time``, ``event_record_id``, ``provider``,
``event_source_name``, ``provider_guid``, ``event_id``, ``qualifiers``, ``version``,
``level``, ``task``, ``opcode``, ``keywords``, ``channel``, ``computer``, ``user_sid``,
``process_id``, ``thread_id``). Text columns are dictionary-encoded (:class:`Texts`),
numbers carry a presence mask (:class:`Numbers`). The values are the ones the rendering
path (pyevtx-rs, then the record schema) shows for the same record, except that ``time``
is not yet clipped to the schema's 1970-2100 range.

A record the index does not read itself (no template instance at its top, a damaged or
unusual template, unexpected value types: :class:`Problem`) has ``fallback`` set and its
fields absent; decode it with the renderer. Usage::

    index = index_chunks(content, spans)              # one file's chunk ranges
    index = index_sources([(0, data_a, spans_a), (1, data_b, spans_b)])  # many small files
    wanted = index.event_id.present & (index.event_id.values == 7036)

Spans are :class:`~evtxscan.sources.evtx.reader.ChunkRange` (anything with ``first_offset``,
``start`` and ``stop``): slots ``start..stop`` of 64 KiB from ``first_offset``. Byte
buffers (bytes, mmap) are read in place; several files are copied into one buffer, so the
per-file cost is a copy and a few array appends.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np

from evtxscan.sources.evtx.arrays import Reader
from evtxscan.sources.evtx.instances import (
    Instances,
    Problem,
    TemplateCache,
    ThreadCaches,
    record_instances,
)
from evtxscan.sources.evtx.layout import CHUNK_MAGIC, CHUNK_SIZE, FILE_HEADER_SIZE
from evtxscan.sources.evtx.shapes import NUMBER_BITS, record_shapes
from evtxscan.sources.evtx.system_fields import Numbers, SystemReader, Texts
from evtxscan.sources.evtx.walk import ChunkSet, RecordSet, chunks_copied, chunks_in_place, walk
from evtxscan.sources.fileview import FileView


def canonical_guid(text: str) -> str:
    """Windows' GUID spelling, as :func:`evtxscan.records.values.canonical_guid` (which
    imports pandas; the index does not need it)."""
    return "{" + text.strip("{}").upper() + "}"


__all__ = [
    "Numbers",
    "Problem",
    "RecordIndex",
    "Texts",
    "index_chunks",
    "index_files",
    "index_sources",
]

Buffer = bytes | bytearray | memoryview | mmap.mmap | FileView
#: Copy files into a shared buffer up to this size before indexing them together.
BATCH_BYTES = 32 << 20
_SHARED = ThreadCaches()  # the index's template memo (each thread its own)


class Span(Protocol):
    """Chunk slots ``start..stop`` of 64 KiB counted from file offset ``first_offset``."""

    @property
    def first_offset(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def stop(self) -> int: ...


@dataclass(frozen=True)
class RecordIndex:
    """One row per record (see the module docstring for the columns)."""

    source: np.ndarray  # int32, the caller's number of the file
    chunk: np.ndarray  # int32 chunk index in the file
    offset: np.ndarray  # int64 file offset of the record header
    recovered: np.ndarray  # bool: found in chunk slack
    record_number: np.ndarray  # uint64
    written_time: np.ndarray  # uint64 FILETIME of the record header
    fallback: np.ndarray  # bool: not read by the index (see ``problem``)
    problem: np.ndarray  # int8 Problem
    time: np.ndarray  # datetime64[us], NaT when absent
    event_record_id: Numbers
    event_id: Numbers
    qualifiers: Numbers
    version: Numbers
    level: Numbers
    task: Numbers
    opcode: Numbers
    keywords: Numbers
    process_id: Numbers
    thread_id: Numbers
    provider: Texts
    event_source_name: Texts
    provider_guid: Texts
    channel: Texts
    computer: Texts
    user_sid: Texts

    def __len__(self) -> int:
        return len(self.offset)

    def fallbacks(self) -> dict[str, int]:
        """How many records each :class:`Problem` sent to the renderer."""
        counts = np.bincount(self.problem.astype(np.int64), minlength=len(Problem))
        return {p.name: int(counts[p]) for p in Problem if p is not Problem.NONE and counts[p]}

    def take(self, rows: np.ndarray) -> RecordIndex:
        """The index rows ``rows`` (a boolean mask or positions), in that order."""
        columns: dict[str, Any] = {f.name: _take(getattr(self, f.name), rows) for f in fields(self)}
        return RecordIndex(**columns)

    @staticmethod
    def concat(parts: Sequence[RecordIndex]) -> RecordIndex:
        """Several indexes as one (text dictionaries merged)."""
        if not parts:
            return _empty_index()
        if len(parts) == 1:
            return parts[0]
        columns: dict[str, Any] = {
            f.name: _concat([getattr(p, f.name) for p in parts]) for f in fields(RecordIndex)
        }
        return RecordIndex(**columns)


def index_chunks(
    content: Buffer, spans: Iterable[Span], *, source: int = 0, cache: TemplateCache | None = None
) -> RecordIndex:
    """Index the chunk slots ``spans`` of one file, read in place."""
    return index_sources([(source, content, spans)], cache=cache)


def index_sources(
    items: Iterable[tuple[int, Buffer, Iterable[Span]]], *, cache: TemplateCache | None = None
) -> RecordIndex:
    """Index the chunk slots of several files: ``(source number, content, spans)`` each.

    A file with ``BATCH_BYTES`` of slots or more is read in place; smaller ones are copied
    together and indexed as one batch (the fixed costs are per batch, not per file).
    """
    cache = _SHARED.get() if cache is None else cache
    parts: list[RecordIndex] = []
    pending: list[tuple[int, Buffer, int, int, int]] = []
    pending_bytes = 0
    for source, content, spans in items:
        for first_offset, index, count in _slot_runs(len(content), spans):
            whole = min(count, (len(content) - first_offset) // CHUNK_SIZE - index)
            large = whole * CHUNK_SIZE >= BATCH_BYTES and first_offset % 8 == 0
            if large and not isinstance(content, FileView):  # a FileView is read, not mapped
                in_place = chunks_in_place(source, content, first_offset, index, whole)
                parts.append(_index_set(in_place, cache))
                index, count = index + whole, count - whole
                if not count:
                    continue
            while count:  # copied in batches: a large FileView costs BATCH_BYTES at a time
                take = min(count, (BATCH_BYTES - pending_bytes) // CHUNK_SIZE)
                pending.append((source, content, first_offset, index, take))
                pending_bytes += take * CHUNK_SIZE
                index, count = index + take, count - take
                if pending_bytes >= BATCH_BYTES:
                    parts.append(_index_set(chunks_copied(pending), cache))
                    pending, pending_bytes = [], 0
    if pending:
        parts.append(_index_set(chunks_copied(pending), cache))
    return RecordIndex.concat(parts)


def index_files(
    paths: Sequence[str | os.PathLike[str]], *, cache: TemplateCache | None = None
) -> RecordIndex:
    """Index every chunk slot of EVTX files on disk (``source`` numbers the paths), each
    file read straight into the shared batch buffer: one copy, no per-file buffers."""
    cache = _SHARED.get() if cache is None else cache
    parts: list[RecordIndex] = []
    pending: list[tuple[int, str | os.PathLike[str], int, int]] = []
    pending_slots = 0
    for number, path in enumerate(paths):
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            first = 0 if handle.read(len(CHUNK_MAGIC)) == CHUNK_MAGIC else FILE_HEADER_SIZE
        slots = -(-(size - first) // CHUNK_SIZE) if size > first else 0
        if slots:
            pending.append((number, path, first, slots))
            pending_slots += slots
        if pending_slots * CHUNK_SIZE >= BATCH_BYTES:
            parts.append(_index_set(_read_slots(pending, pending_slots), cache))
            pending, pending_slots = [], 0
    if pending:
        parts.append(_index_set(_read_slots(pending, pending_slots), cache))
    return RecordIndex.concat(parts)


def _read_slots(files: list[tuple[int, str | os.PathLike[str], int, int]], total: int) -> ChunkSet:
    """The files' chunk slots read side by side into one zero-padded buffer."""
    buf = np.zeros(total * CHUNK_SIZE, dtype=np.uint8)
    view = buf.data
    source, index, file_offset, length = [], [], [], []
    row = 0
    for number, path, first, slots in files:
        with open(path, "rb") as handle:
            handle.seek(first)
            got = handle.readinto(view[row * CHUNK_SIZE : (row + slots) * CHUNK_SIZE]) or 0
        numbers = np.arange(slots, dtype=np.int64)
        source.append(np.full(slots, number, dtype=np.int32))
        index.append(numbers.astype(np.int32))
        file_offset.append(first + numbers * CHUNK_SIZE)
        length.append(np.clip(got - numbers * CHUNK_SIZE, 0, CHUNK_SIZE))
        row += slots
    return ChunkSet(
        buf=buf,
        base=np.arange(total, dtype=np.int64) * CHUNK_SIZE,
        length=np.concatenate(length),
        source=np.concatenate(source),
        index=np.concatenate(index),
        file_offset=np.concatenate(file_offset),
    )


def _slot_runs(size: int, spans: Iterable[Span]) -> list[tuple[int, int, int]]:
    """(first offset, first slot, slot count) of the spans' slots that the file has."""
    runs = []
    for span in spans:
        available = -(-(size - span.first_offset) // CHUNK_SIZE) if size > span.first_offset else 0
        stop = min(span.stop, available)
        if stop > span.start:
            runs.append((span.first_offset, span.start, stop - span.start))
    return runs


@dataclass(frozen=True)
class IndexedSet:
    """An index and what it was read from (for decoders of the same records)."""

    index: RecordIndex
    chunks: ChunkSet
    records: RecordSet
    instances: Instances
    reader: Reader


def clear_shared_cache() -> None:
    """Forget the templates the index met in this thread (see ``decode.forget_templates``)."""
    _SHARED.get().clear()


def _index_set(chunks: ChunkSet, cache: TemplateCache) -> RecordIndex:
    return index_set(chunks, cache).index


def index_set(
    chunks: ChunkSet, cache: TemplateCache, records: RecordSet | None = None
) -> IndexedSet:
    """Index the records of a chunk set (all it holds, or ``records`` of it)."""
    cache.trim()
    reader = Reader(chunks.buf)
    records = walk(chunks, reader) if records is None else records
    instances = record_instances(reader, chunks, records, cache)
    problem = instances.problem.copy()
    readable = np.flatnonzero(problem == Problem.NONE)
    template = instances.template[readable]
    for entry_id in _used(template):
        if cache.entries[entry_id].system.problem is not None:
            problem[readable[template == entry_id]] = Problem.SYSTEM_LAYOUT
    readable = np.flatnonzero(problem == Problem.NONE)
    shapes = record_shapes(
        reader,
        cache,
        instances.template[readable],
        instances.values_at[readable],
        instances.count[readable],
    )
    local_problem = np.zeros(len(readable), dtype=np.int8)
    system = SystemReader(
        reader,
        cache,
        shapes,
        instances.data_at[readable],
        instances.end[readable],
        local_problem,
    )
    numbers = {name: system.number(name) for name in NUMBER_BITS}
    time = system.time()
    texts = {
        "provider": system.text("provider"),
        "event_source_name": system.text("event_source_name"),
        "provider_guid": system.text("provider_guid", canonical_guid),
        "channel": system.text("channel", str.strip),
        "computer": system.text("computer", str.strip),
        "user_sid": system.text("user_sid"),
    }
    problem[readable] = local_problem
    local_good = local_problem == Problem.NONE
    kept = readable[local_good]
    n = len(records)
    full_time = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    full_time[kept] = time[local_good]
    columns: dict[str, Any] = {
        name: _spread_numbers(col, n, kept, local_good) for name, col in numbers.items()
    }
    columns |= {name: _spread_texts(col, n, kept, local_good) for name, col in texts.items()}
    index = RecordIndex(
        source=chunks.source[records.chunk],
        chunk=chunks.index[records.chunk],
        offset=chunks.file_offset[records.chunk] + records.offset,
        recovered=records.recovered,
        record_number=records.number,
        written_time=records.written,
        fallback=problem != Problem.NONE,
        problem=problem,
        time=full_time,
        **columns,
    )
    return IndexedSet(index, chunks, records, instances, reader)


def _used(ids: np.ndarray) -> list[int]:
    """The distinct template ids in ``ids``."""
    return np.flatnonzero(np.bincount(ids)).tolist() if len(ids) else []


def _spread_numbers(column: Numbers, n: int, rows: np.ndarray, keep: np.ndarray) -> Numbers:
    values = np.zeros(n, dtype=np.uint64)
    present = np.zeros(n, dtype=bool)
    lost = np.zeros(n, dtype=bool)
    values[rows] = column.values[keep]
    present[rows] = column.present[keep]
    lost[rows] = column.lost[keep]
    return Numbers(values, present, lost)


def _spread_texts(column: Texts, n: int, rows: np.ndarray, keep: np.ndarray) -> Texts:
    codes = np.full(n, -1, dtype=np.int32)
    codes[rows] = column.codes[keep]
    return Texts(codes, column.values)


def _take(column: object, rows: np.ndarray) -> object:
    if isinstance(column, Numbers):
        return Numbers(column.values[rows], column.present[rows], column.lost[rows])
    if isinstance(column, Texts):
        return Texts(column.codes[rows], column.values)
    assert isinstance(column, np.ndarray)
    return column[rows]


def _concat(columns: list[object]) -> object:
    first = columns[0]
    if isinstance(first, Numbers):
        return Numbers(
            np.concatenate([c.values for c in columns]),  # type: ignore[attr-defined]
            np.concatenate([c.present for c in columns]),  # type: ignore[attr-defined]
            np.concatenate([c.lost for c in columns]),  # type: ignore[attr-defined]
        )
    if isinstance(first, Texts):
        values: dict[str, int] = {}
        codes = []
        for column in columns:
            assert isinstance(column, Texts)
            table = np.array([values.setdefault(v, len(values)) for v in column.values] + [-1])
            codes.append(table[column.codes].astype(np.int32))
        return Texts(np.concatenate(codes), list(values))
    return np.concatenate(columns)  # type: ignore[arg-type]


def _empty_index() -> RecordIndex:
    empty = ChunkSet(
        buf=np.zeros(0, dtype=np.uint8),
        base=np.zeros(0, dtype=np.int64),
        length=np.zeros(0, dtype=np.int64),
        source=np.zeros(0, dtype=np.int32),
        index=np.zeros(0, dtype=np.int32),
        file_offset=np.zeros(0, dtype=np.int64),
    )
    return _index_set(empty, TemplateCache())
