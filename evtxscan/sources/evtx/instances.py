"""Template instances of many records at once: which template, and where the values are.

A record's BinXml starts with a fragment header and a template instance (token, template
id, definition offset; the definition inline when the record is its first user in the
chunk), followed by the value count, one (size, type) descriptor per value and the values.
:func:`record_instances` locates all of that for every record of a chunk batch with array
operations. A :class:`TemplateCache` parses each template definition once: its copies in
other chunks and files are known without parsing them again (:mod:`template_copies`).
Records the index cannot read carry a :class:`Problem` and are left to the renderer.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from evtxscan.sources.evtx.arrays import Reader, unique_runs
from evtxscan.sources.evtx.binxml import (
    FRAGMENT_HEADER,
    TEMPLATE_DEFINITION,
    TEMPLATE_INSTANCE,
    VALUE_COUNT,
    VALUE_DESCRIPTOR,
    Token,
)
from evtxscan.sources.evtx.layout import (
    CHUNK_HEADER_SIZE,
    CHUNK_SIZE,
    RECORD_HEADER_SIZE,
    RECORD_SIZE_COPY,
)
from evtxscan.sources.evtx.system_plan import SystemPlan, system_plan
from evtxscan.sources.evtx.template import Definition, TemplateError, read_template
from evtxscan.sources.evtx.template_copies import TemplateCopies
from evtxscan.sources.evtx.template_texts import TemplateSkeletons
from evtxscan.sources.evtx.walk import ChunkSet, RecordSet

_FRAGMENT_WORD = int.from_bytes(FRAGMENT_HEADER, "little")
_DEFINITION_AT = 6  # offset of the definition offset within the template instance
_SIZE_AT = 20  # offset of the data size within the definition header
_LAST_DEFINITION = CHUNK_SIZE - TEMPLATE_DEFINITION.size


class Problem(IntEnum):
    """Why the index does not read a record itself (the renderer reads it instead)."""

    NONE = 0
    NO_TEMPLATE = 1  # no template instance at the top (e.g. forwarded events as plain XML)
    TEMPLATE_OUTSIDE = 2  # the definition offset points outside the chunk
    TEMPLATE_UNREADABLE = 3  # damaged or unusual template definition
    VALUES_OUTSIDE = 4  # the value array runs past the record
    SYSTEM_LAYOUT = 5  # the template's System element is not a plain one
    VALUE_TYPE = 6  # a System value of a type or size the index does not read
    UNUSUAL_TEXT = 7  # a System text with control or markup characters
    TIME_RANGE = 8  # a time pyevtx-rs does not render (after year 9999)
    MISSING_VALUE = 9  # the template refers to a value the record does not have
    # -- found by the decoder, reading EventData/UserData --
    PAYLOAD_LAYOUT = 10  # a payload structure the decoder does not flatten itself
    NESTED = 11  # nested BinXml that is not one template instance (or several of them)
    VALUE_REFUSED = 12  # a payload value pyevtx-rs refuses, or an array (repeats its element)
    UNSAFE_TEXT = 13  # characters XML cannot carry, or line breaks in an attribute


class TemplateEntry:
    """A parsed template and what readers derived from it (computed once, then kept)."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.system: SystemPlan = system_plan(definition.root)
        self.derived: dict[str, Any] = {}  # e.g. the decoder's payload plan


@dataclass
class TemplateCache:
    """Parsed templates, shared by every chunk and file a process reads; ids are valid until
    :meth:`trim` clears it.

    A place is known again only where parsing it would give the same definition (see
    :mod:`template_copies`: its bytes and the names it refers to), never by GUID and size
    alone: a damaged or hostile file may define a different template under the GUID and
    size of a common one, and it must not change how any other chunk or file is read.
    Places that parse to an equal :class:`Definition` share its id, so what readers derive
    per template is computed once."""

    #: Templates kept (about 15 KB each with what is derived from them). A real machine's logs
    #: use a few hundred; 200 distinct machines' 12,200 peaked at 351 MB with 2,048 kept,
    #: 397 MB with 4,096, at the same speed.
    limit: int = 2048
    #: Template bytes kept (their trees take 5 to 30 times as much): a hostile file's large
    #: templates are forgotten sooner than 2,048 of them would be (2,048 real ones take 2 MiB).
    limit_bytes: int = 4 << 20
    entries: list[TemplateEntry] = field(default_factory=list)
    body_bytes: int = 0  # the data sizes of the templates kept
    #: What readers derived for records of one template (or System layout) and value layout.
    shapes: dict[Hashable, object] = field(default_factory=dict)
    #: Payload item tables by (template, nested value slot, nested template).
    payloads: dict[tuple[int, int, int], object] = field(default_factory=dict)
    #: Templates' root content besides System -> a number (negative: not a template id).
    payload_parts: dict[tuple[object, ...], int] = field(default_factory=dict)
    _ids: dict[Definition, int] = field(default_factory=dict)
    _places: TemplateCopies = field(default_factory=TemplateCopies)
    _skeletons: TemplateSkeletons = field(default_factory=TemplateSkeletons)

    def trim(self) -> None:
        """Forget everything once more than ``limit`` templates (``limit_bytes`` of them,
        ``4 * limit`` places, ``16 * limit`` shapes) are kept (call between batches: ids
        given out earlier become invalid)."""
        places, shapes = len(self._places), len(self.shapes)
        if (
            len(self.entries) > self.limit
            or self.body_bytes > self.limit_bytes
            or places > 4 * self.limit
            or shapes > 16 * self.limit
        ):
            self.clear()

    def clear(self) -> None:
        """Forget everything (ids given out earlier become invalid)."""
        self.entries.clear()
        self.body_bytes = 0
        self.shapes.clear()
        self.payloads.clear()
        self.payload_parts.clear()
        self._places.clear()
        self._skeletons.clear()
        self._ids.clear()

    def lookup(self, chunk: bytes, offset: int) -> int:
        """The id of the template defined at chunk ``offset`` (``chunk`` holds the chunk's
        bytes), or -1 when unreadable."""
        found = self._places.find(chunk, offset)
        if found is not None:
            return found
        names = self._places.names_of(chunk)
        rebuilt = self._skeletons.rebuilt(names, offset)  # another machine's version
        if rebuilt is None:
            try:
                definition, references, texts = read_template(chunk, offset, names.parsed)
            except TemplateError:
                return -1  # not remembered: another chunk's copy may be readable
        else:
            definition, references, texts = rebuilt[:3]
        found = self._ids.setdefault(definition, len(self.entries))  # one deep hash
        if found == len(self.entries):
            self.entries.append(TemplateEntry(definition))
            self.body_bytes += definition.data_size
        layout = None if rebuilt is None else rebuilt.layout
        known = self._places.add(chunk, offset, references, found, layout)
        if known is not None and layout is None:  # parsed, or rebuilt from another length
            start = offset + TEMPLATE_DEFINITION.size
            paths = None if rebuilt is None else rebuilt.paths
            self._skeletons.add(names, start, known.layout, known.names, texts, definition, paths)
        return found


class ThreadCaches:
    """A :class:`TemplateCache` per thread, made when a thread first asks. A cache is
    emptied between batches (``trim``) and between a scan's phases (``clear``), which makes
    the ids it gave out invalid: shared by threads, one thread's clearing could take the
    templates from under another thread's batch."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> TemplateCache:
        """This thread's cache."""
        cache: TemplateCache | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = TemplateCache()
        return cache


@dataclass(frozen=True)
class Instances:
    """Per record (or nested value): template id and where its value array is."""

    template: np.ndarray  # int32 TemplateCache id, -1 when there is none
    values_at: np.ndarray  # int64 buffer position of the value count
    count: np.ndarray  # int64 number of values
    data_at: np.ndarray  # int64 buffer position of the first value's bytes
    end: np.ndarray  # int64 buffer position where the BinXml must end
    problem: np.ndarray  # int8 Problem


def record_instances(
    reader: Reader, chunks: ChunkSet, records: RecordSet, cache: TemplateCache
) -> Instances:
    """The template instance at the top of every record (fragment header, then token 0x0C)."""
    base = chunks.base[records.chunk]
    start = base + records.offset + RECORD_HEADER_SIZE
    end = base + records.offset + records.size - RECORD_SIZE_COPY.size
    ok = end >= start + len(FRAGMENT_HEADER) + TEMPLATE_INSTANCE.size
    safe = np.where(ok, start, 0)
    ok &= reader.u32(safe) == _FRAGMENT_WORD
    ok &= reader.u8(safe + len(FRAGMENT_HEADER)) == Token.TEMPLATE_INSTANCE
    at = start + len(FRAGMENT_HEADER)
    return instances_at(reader, chunks, records.chunk, at, end, ok, cache)


def instances_at(
    reader: Reader,
    chunks: ChunkSet,
    chunk: np.ndarray,
    at: np.ndarray,
    end: np.ndarray,
    ok: np.ndarray,
    cache: TemplateCache,
) -> Instances:
    """Template instances whose token is at buffer positions ``at`` (where ``ok``), each
    inside chunk row ``chunk`` and bounded by ``end``."""
    n = len(at)
    problem = np.where(ok, Problem.NONE, Problem.NO_TEMPLATE).astype(np.int8)
    base = chunks.base[chunk]
    definition = reader.u32(np.where(ok, at + _DEFINITION_AT, 0)).astype(np.int64)
    outside = ok & ((definition < CHUNK_HEADER_SIZE) | (definition > _LAST_DEFINITION))
    problem[outside] = Problem.TEMPLATE_OUTSIDE
    ok &= ~outside
    after = at + TEMPLATE_INSTANCE.size
    inline = ok & (base + definition == after)
    size = reader.u32(np.where(ok, base + definition + _SIZE_AT, 0)).astype(np.int64)
    values_at = np.where(inline, after + TEMPLATE_DEFINITION.size + size, after)
    template = np.full(n, -1, dtype=np.int32)
    template[ok] = _template_ids(chunks, chunk[ok], definition[ok], cache)
    unreadable = ok & (template < 0)
    problem[unreadable] = Problem.TEMPLATE_UNREADABLE
    ok &= ~unreadable
    fits = ok & (values_at + VALUE_COUNT.size <= end)
    count = reader.u32(np.where(fits, values_at, 0)).astype(np.int64)
    fits &= count <= (end - values_at - VALUE_COUNT.size) // VALUE_DESCRIPTOR.size
    problem[ok & ~fits] = Problem.VALUES_OUTSIDE
    count[~fits] = 0
    data_at = values_at + VALUE_COUNT.size + VALUE_DESCRIPTOR.size * count
    return Instances(template, values_at, count, data_at, end, problem)


def _template_ids(
    chunks: ChunkSet, chunk: np.ndarray, definition: np.ndarray, cache: TemplateCache
) -> np.ndarray:
    """Template ids for (chunk row, definition offset) pairs, each place looked up once, by
    its own bytes (a place is never given the template of another with the same GUID)."""
    if not len(chunk):
        return np.zeros(0, dtype=np.int32)
    places, inverse = unique_runs(chunk * CHUNK_SIZE + definition)
    rows, offsets = np.divmod(places, CHUNK_SIZE)
    ids = np.empty(len(places), dtype=np.int32)
    data, copied = b"", -1
    for i, (row, offset) in enumerate(zip(rows.tolist(), offsets.tolist(), strict=True)):
        if row != copied:  # places come by chunk: one copy of each chunk's bytes
            base = int(chunks.base[row])
            data, copied = chunks.buf[base : base + CHUNK_SIZE].tobytes(), row
        ids[i] = cache.lookup(data, offset)
    return np.asarray(ids[inverse])


@dataclass(frozen=True)
class ValueTable:
    """The first ``width`` value descriptors of each instance and where each value starts.

    A slot past an instance's value count reads as type -1, size 0.
    """

    words: np.ndarray  # (n, width) uint32 descriptors: size | type << 16
    before: np.ndarray  # (n, width) int32: bytes of the values before each slot
    count: np.ndarray  # (n,) values of the instance
    data_at: np.ndarray  # (n,) buffer position of its first value

    @property
    def width(self) -> int:
        return int(self.words.shape[1])

    def column(self, rows: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """Size, type and buffer position of value ``slots[i]`` of instance ``rows[i]``."""
        flat = rows * self.width + slots
        words = self.words.ravel()[flat].astype(np.int64)
        present = slots < self.count[rows]
        size = np.where(present, words & 0xFFFF, 0)
        kind = np.where(present, (words >> 16) & 0xFF, -1).astype(np.int16)
        return size, kind, self.data_at[rows] + self.before.ravel()[flat]


def value_table(reader: Reader, instances: Instances, rows: np.ndarray, width: int) -> ValueTable:
    """The descriptors of the first ``width`` values of instances ``rows``."""
    column = np.arange(width)
    count = instances.count[rows]
    first = instances.values_at[rows] + VALUE_COUNT.size
    room = len(reader.buf) - VALUE_DESCRIPTOR.size * width
    words = reader.u32_rows(np.minimum(first, room), width)
    for row in np.flatnonzero(first > room).tolist():  # near the buffer's end: word by word
        known = min(int(count[row]), width)
        words[row] = 0
        words[row, :known] = reader.u32(first[row] + VALUE_DESCRIPTOR.size * column[:known])
    sizes = (words & 0xFFFF).astype(np.int32)
    sizes[column >= count[:, None]] = 0
    before = np.cumsum(sizes, axis=1, dtype=np.int32)
    before -= sizes
    return ValueTable(words, before, count, instances.data_at[rows])
