"""EventData/UserData of many records at once: the schema's ``data`` and ``binary`` columns.

Per record: the values of its own template instance, the nested BinXml value holding its
EventData/UserData (Windows' layout: a template instance of its own, in the same chunk),
and the item plan of that template combination (:mod:`evtxscan.sources.evtx.payload_plan`).
All records' items are laid out in one flat array, every value they refer to is rendered
column-wise (:mod:`evtxscan.sources.evtx.value_columns`), and the texts go through the
same final rules as on the rendering path (line ends, canonical GUIDs and empty values).
A record whose payload the decoder does not read exactly gets a :class:`Problem`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from evtxscan.sources.evtx.arrays import Reader, unique_runs
from evtxscan.sources.evtx.binxml import FRAGMENT_HEADER, Token, ValueType
from evtxscan.sources.evtx.instances import (
    Instances,
    Problem,
    TemplateCache,
    ValueTable,
    instances_at,
    value_table,
)
from evtxscan.sources.evtx.item_tables import ItemTable, item_table, payload_slots
from evtxscan.sources.evtx.payload_assembly import Cells, assemble, fail
from evtxscan.sources.evtx.system_plan import MAX_SLOT
from evtxscan.sources.evtx.walk import ChunkSet

_FRAGMENT_WORD = int.from_bytes(FRAGMENT_HEADER, "little")
#: Nested value arrays longer than this are left to the renderer (real ones hold < 100).
MAX_NESTED_VALUES = 1024


@dataclass(frozen=True)
class PayloadColumns:
    """Per record: its ``data`` list, its ``binary`` hex (null when absent) and whether the
    decoder read it (``problem`` 0) or the renderer must."""

    data: pa.Array
    binary: pa.Array
    problem: np.ndarray


def read_payloads(
    reader: Reader,
    chunks: ChunkSet,
    chunk_rows: np.ndarray,
    outer: Instances,
    cache: TemplateCache,
) -> PayloadColumns:
    """The payload columns of records whose outer instances (all readable) are ``outer``."""
    n = len(outer.template)
    problem = np.zeros(n, dtype=np.int8)
    slots_of, table0 = payload_table(reader, outer, cache, problem)
    _values_outside(table0, outer, problem)
    cells0 = Cells(table0)
    nested_slot = nested_slots(reader, table0, outer, slots_of, problem)
    nested_rows = np.flatnonzero(nested_slot >= 0)
    inner, cells1 = nested_instances(
        reader, chunks, chunk_rows, cells0, nested_rows, nested_slot, cache, problem
    )
    inner_template = np.full(n, -1, dtype=np.int64)
    inner_template[nested_rows] = inner.template
    inner_row = np.full(n, -1, dtype=np.int64)
    inner_row[nested_rows] = np.arange(len(nested_rows))
    key = (outer.template.astype(np.int64) << 26) | ((nested_slot + 1) << 13) | (inner_template + 1)
    keys, key_of = unique_runs(key)
    tables: list[ItemTable] = []
    for k in keys.tolist():
        tables.append(item_table(cache, k >> 26, ((k >> 13) & 0x1FFF) - 1, (k & 0x1FFF) - 1))
    broken = np.array([t.problem is not None for t in tables] + [False])[key_of]
    fail(problem, np.flatnonzero(broken), Problem.PAYLOAD_LAYOUT)
    data, binary = assemble(reader, tables, key_of, (cells0, cells1), inner_row, problem)
    return PayloadColumns(data, binary, problem)


def payload_table(
    reader: Reader, outer: Instances, cache: TemplateCache, problem: np.ndarray
) -> tuple[dict[int, list[int]], ValueTable]:
    """Each template's payload slots (values outside System) and the value descriptors of
    instances ``outer`` up to the widest; a damaged template referring to a slot past
    ``MAX_SLOT`` gets none, its records ``PAYLOAD_LAYOUT`` in ``problem``."""
    n = len(outer.template)
    used = np.flatnonzero(np.bincount(outer.template)).tolist() if n else []
    slots_of = {t: payload_slots(cache.entries[t]) for t in used}
    wide = [t for t, slots in slots_of.items() if max(slots, default=-1) >= MAX_SLOT]
    if wide:  # a damaged template: the value table would be as wide as its highest slot
        fail(problem, np.flatnonzero(np.isin(outer.template, wide)), Problem.PAYLOAD_LAYOUT)
        slots_of.update({t: [] for t in wide})
    width = 1 + max((max(s, default=-1) for s in slots_of.values()), default=-1)
    return slots_of, value_table(reader, outer, np.arange(n), max(width, 1))


def _values_outside(table: ValueTable, outer: Instances, problem: np.ndarray) -> None:
    """A payload value reaching past its record (damaged sizes) leaves the record to the
    renderer, whatever its type (found by fuzzing: a string array past the buffer's end)."""
    words = table.words.astype(np.int64)
    present = np.arange(table.width) < table.count[:, None]
    ends = table.data_at[:, None] + table.before + (words & 0xFFFF)
    outside = (present & (ends > outer.end[:, None])).any(axis=1)
    fail(problem, np.flatnonzero(outside), Problem.VALUES_OUTSIDE)


def nested_slots(
    reader: Reader,
    table: ValueTable,
    outer: Instances,
    slots_of: dict[int, list[int]],
    problem: np.ndarray,
) -> np.ndarray:
    """Per record, the payload slot holding a (non-empty) nested BinXml value, or -1. A
    nested value reaching past its record (damaged sizes) leaves the record to the renderer."""
    template = outer.template
    width = table.words.shape[1]
    candidate = np.zeros((max(template.max(initial=0) + 1, 1), width), dtype=bool)
    for t, slots in slots_of.items():
        candidate[t, slots] = True
    words = table.words
    kind = (words >> 16) & 0xFF
    size = words & 0xFFFF
    present = np.arange(width) < table.count[:, None]
    nested = candidate[template] & present & (kind == ValueType.BINXML) & (size > 0)
    rows, cells = np.nonzero(nested)
    at = table.data_at[rows] + table.before[rows, cells]
    outside = at + size[rows, cells] > outer.end[rows]
    fail(problem, np.unique(rows[outside]), Problem.VALUES_OUTSIDE)
    first = reader.u8(np.where(outside, 0, at))
    # a fragment starting with end-of-stream: pyevtx-rs renders such (torn) records its own way
    fail(problem, np.unique(rows[(first == 0) & ~outside]), Problem.NESTED)
    counts = nested.sum(axis=1)
    fail(problem, np.flatnonzero(counts > 1), Problem.NESTED)
    out = np.where(counts == 1, nested.argmax(axis=1), -1)
    return np.where(problem == Problem.NONE, out, -1).astype(np.int64)


def nested_instances(
    reader: Reader,
    chunks: ChunkSet,
    chunk_rows: np.ndarray,
    cells0: Cells,
    rows: np.ndarray,
    slot: np.ndarray,
    cache: TemplateCache,
    problem: np.ndarray,
) -> tuple[Instances, Cells]:
    """The template instances inside the nested values of ``rows`` and their value cells."""
    _kind, at, size = cells0.lookup(rows, slot[rows])
    end = at + size - 1  # the fragment's end-of-stream token
    fragment = (size >= 4) & (reader.u32(np.where(size >= 4, at, 0)) == _FRAGMENT_WORD)
    start = np.where(fragment, at + len(FRAGMENT_HEADER), at)
    ok = (start < end) & (reader.u8(np.minimum(start, end)) == Token.TEMPLATE_INSTANCE)
    inner = instances_at(reader, chunks, chunk_rows[rows], start, end, ok, cache)
    bad = (inner.problem != Problem.NONE) | (inner.count > MAX_NESTED_VALUES)
    count = np.where(bad, 0, inner.count)
    width = int(count.max(initial=0)) or 1
    table1 = value_table(reader, inner, np.arange(len(rows)), width)
    last = np.maximum(count - 1, 0)
    sizes = table1.words[np.arange(len(rows)), last] & 0xFFFF
    total = np.where(count > 0, table1.before[np.arange(len(rows)), last] + sizes, 0)
    stop = inner.data_at + total
    bad |= stop != end
    bad |= reader.u8(np.where(bad, 0, end)) != Token.END_OF_STREAM
    fail(problem, rows[bad], Problem.NESTED)
    return inner, Cells(table1)
