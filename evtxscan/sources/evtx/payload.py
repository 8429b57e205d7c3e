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
import pyarrow.compute as pc

from evtxscan.records.schema import DATA_TYPE
from evtxscan.records.values import canonical_values
from evtxscan.sources.evtx.arrays import Reader, unique_runs
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, FRAGMENT_HEADER, Token, ValueType
from evtxscan.sources.evtx.instances import (
    Instances,
    Problem,
    TemplateCache,
    ValueTable,
    instances_at,
    value_table,
)
from evtxscan.sources.evtx.item_tables import ItemTable, item_table, payload_slots
from evtxscan.sources.evtx.value_columns import Flag, render, string_array_items, text_flags
from evtxscan.sources.evtx.value_text import REFUSED, array_items
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


@dataclass(frozen=True)
class _Cells:
    """Value descriptors of a set of instances, as flat per-cell arrays (row-major)."""

    table: ValueTable

    def lookup(self, rows: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """Type (-1 when missing), buffer position and size of value ``slots`` of ``rows``."""
        width = self.table.width
        inside = slots < width
        size, kind, at = self.table.column(rows, np.where(inside, slots, 0))
        return np.where(inside, kind, -1), at, np.where(inside, size, 0)


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
    every = np.arange(n)
    used = np.flatnonzero(np.bincount(outer.template)).tolist() if n else []
    slots_of = {t: payload_slots(cache.entries[t]) for t in used}
    width = 1 + max((max(s, default=-1) for s in slots_of.values()), default=-1)
    table0 = value_table(reader, outer, every, max(width, 1))
    cells0 = _Cells(table0)
    nested_slot = _nested_slots(reader, table0, outer.template, slots_of, problem)
    nested_rows = np.flatnonzero(nested_slot >= 0)
    inner, cells1 = _nested(
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
    _fail(problem, np.flatnonzero(broken), Problem.PAYLOAD_LAYOUT)
    return _assemble(reader, tables, key_of, cells0, cells1, inner_row, problem)


def _fail(problem: np.ndarray, rows: np.ndarray, code: Problem) -> None:
    rows = rows[problem[rows] == Problem.NONE]
    problem[rows] = code


def _nested_slots(
    reader: Reader,
    table: ValueTable,
    template: np.ndarray,
    slots_of: dict[int, list[int]],
    problem: np.ndarray,
) -> np.ndarray:
    """Per record, the payload slot holding a (non-empty) nested BinXml value, or -1."""
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
    first = reader.u8(table.data_at[rows] + table.before[rows, cells])
    # a fragment starting with end-of-stream: pyevtx-rs renders such (torn) records its own way
    _fail(problem, np.unique(rows[first == 0]), Problem.NESTED)
    counts = nested.sum(axis=1)
    _fail(problem, np.flatnonzero(counts > 1), Problem.NESTED)
    out = np.where(counts == 1, nested.argmax(axis=1), -1)
    return np.where(problem == Problem.NONE, out, -1).astype(np.int64)


def _nested(
    reader: Reader,
    chunks: ChunkSet,
    chunk_rows: np.ndarray,
    cells0: _Cells,
    rows: np.ndarray,
    slot: np.ndarray,
    cache: TemplateCache,
    problem: np.ndarray,
) -> tuple[Instances, _Cells]:
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
    _fail(problem, rows[bad], Problem.NESTED)
    return inner, _Cells(table1)


def _assemble(
    reader: Reader,
    tables: list[ItemTable],
    key_of: np.ndarray,
    cells0: _Cells,
    cells1: _Cells,
    inner_row: np.ndarray,
    problem: np.ndarray,
) -> PayloadColumns:
    """Lay out every record's items, render the values they refer to, build the columns."""
    n = len(key_of)
    lengths = np.array([len(t) for t in tables], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    merged = ItemTable.concat(tables)
    counts = np.where(problem == Problem.NONE, lengths[key_of], 0)
    total = int(counts.sum())
    record = np.repeat(np.arange(n), counts)
    first_item = np.cumsum(counts) - counts
    item = np.repeat(starts[key_of], counts) + np.arange(total) - np.repeat(first_item, counts)
    laid = _Laid(reader, merged, item, record, cells0, cells1, inner_row, problem)
    arrays: list[_Expansion] = []
    values, value_flags = laid.texts("value", arrays)
    names, name_flags = laid.texts("name")
    if arrays:
        copies, values, value_flags = _repeat(values, value_flags, arrays)
        record, item = record[copies], item[copies]
        names, name_flags = names.take(pa.array(copies)), name_flags[copies]
    attribute = merged.attribute[item]
    unsafe = ((value_flags | name_flags) & Flag.UNSAFE) != 0
    unsafe |= attribute & ((value_flags & Flag.SPACE) != 0)
    _fail(problem, np.unique(record[unsafe]), Problem.UNSAFE_TEXT)
    values = _final_values(values, value_flags, ~attribute)
    empty = pc.equal(values, "").to_numpy(zero_copy_only=False)
    dropped = attribute & (merged.value_kind[item] == 2) & empty  # an empty attribute is absent
    binary = merged.binary[item]
    kept = ~dropped & ~binary
    data = _data_column(
        n, record[kept], names.filter(pa.array(kept)), values.filter(pa.array(kept))
    )
    return PayloadColumns(
        data, _binary_column(n, record[binary], values.filter(pa.array(binary))), problem
    )


def _final_values(values: pa.Array, flags: np.ndarray, content: np.ndarray) -> pa.Array:
    """What the rendering path does to value texts, only where it changes anything: line
    ends in element text become LF, then the canonical rules (GUIDs, blank values)."""
    fix = np.flatnonzero((content & ((flags & Flag.CR) != 0)) | ((flags & Flag.CANONICAL) != 0))
    if not len(fix):
        return values
    texts = values.take(pa.array(fix))
    cr = content[fix] & ((flags[fix] & Flag.CR) != 0)
    if cr.any():
        fixed = pc.replace_substring(pc.replace_substring(texts, "\r\n", "\n"), "\r", "\n")
        texts = pc.if_else(pa.array(cr), fixed, texts)
    mask = np.zeros(len(values), dtype=bool)
    mask[fix] = True
    return pc.replace_with_mask(values, pa.array(mask), canonical_values(texts))


class _Laid:
    """The laid-out items of a batch, and how to get their names' and values' texts."""

    def __init__(
        self,
        reader: Reader,
        merged: ItemTable,
        item: np.ndarray,
        record: np.ndarray,
        cells0: _Cells,
        cells1: _Cells,
        inner_row: np.ndarray,
        problem: np.ndarray,
    ) -> None:
        self.reader, self.merged, self.item, self.record = reader, merged, item, record
        self.cells = ((0, cells0, record), (1, cells1, inner_row[record]))
        self.problem = problem

    def texts(
        self, which: str, arrays: list[_Expansion] | None = None
    ) -> tuple[pa.Array, np.ndarray]:
        """Names or values: literal text, or the rendered value; and their flags.

        With ``arrays``, an array value alone in its element is not refused: its item texts
        are added there (by laid-out item), to repeat the element once per item.
        """
        merged, item, record = self.merged, self.item, self.record
        kind = getattr(merged, f"{which}_kind")[item]
        literal = pa.array(getattr(merged, f"{which}_literal"), type=pa.string())
        codes = getattr(merged, f"{which}_code")[item]
        texts = literal.take(pa.array(codes))
        flags = np.asarray(getattr(merged, f"{which}_flags"), dtype=np.uint8)[codes]
        refs = np.flatnonzero(kind == 2)
        if len(refs):
            value_type, at, size = self._cells(which, refs)
            missing = value_type < 0
            _fail(self.problem, np.unique(record[refs[missing]]), Problem.MISSING_VALUE)
            if arrays is not None:
                self._arrays(refs, value_type, at, size, missing, arrays)
            rendered, refused, found = render(
                self.reader, np.where(missing, 0, value_type), at, np.where(missing, 0, size)
            )
            _fail(self.problem, np.unique(record[refs[refused]]), Problem.VALUE_REFUSED)
            mask = np.zeros(len(item), dtype=bool)
            mask[refs] = True
            texts = pc.replace_with_mask(texts, pa.array(mask), rendered)
            flags[refs] = found
        if which == "name":
            texts = pc.if_else(pa.array(kind == 0), pa.scalar(None, pa.string()), texts)
        return texts, flags

    def _cells(self, which: str, refs: np.ndarray) -> tuple[np.ndarray, ...]:
        part = getattr(self.merged, f"{which}_part")[self.item[refs]]
        slot = getattr(self.merged, f"{which}_slot")[self.item[refs]]
        value_type = np.empty(len(refs), dtype=np.int64)
        at = np.empty(len(refs), dtype=np.int64)
        size = np.empty(len(refs), dtype=np.int64)
        for number, cells, owner in self.cells:
            mine = np.flatnonzero(part == number)
            if len(mine):
                found = cells.lookup(owner[refs[mine]], slot[mine])
                value_type[mine], at[mine], size[mine] = found
        return value_type, at, size

    def _arrays(
        self,
        refs: np.ndarray,
        value_type: np.ndarray,
        at: np.ndarray,
        size: np.ndarray,
        missing: np.ndarray,
        arrays: list[_Expansion],
    ) -> None:
        """Item texts of array values alone in their element; those values count as NULL."""
        array = ~missing & ((value_type & ARRAY_FLAG) != 0) & self.merged.alone[self.item[refs]]
        strings = np.flatnonzero(array & (value_type == ARRAY_FLAG | ValueType.STRING))
        if len(strings):
            counts, texts, flags = string_array_items(self.reader, at[strings], size[strings])
            arrays.append(_Expansion(refs[strings], counts, texts, flags))
            value_type[strings] = ValueType.NULL
        laid, counts_of, others = [], [], []
        for ref in np.flatnonzero(array & (value_type != ValueType.NULL)).tolist():
            raw = self.reader.buf[at[ref] : at[ref] + size[ref]].tobytes()
            try:
                items = [text or "" for text in array_items(int(value_type[ref]), raw) or []]
            except REFUSED:
                continue  # the renderer's, as render() refuses it
            laid.append(int(refs[ref]))
            counts_of.append(len(items))
            others += items
            value_type[ref] = ValueType.NULL
        if laid:
            flags = np.array([text_flags(text) for text in others], dtype=np.uint8)
            texts = pa.array(others, type=pa.large_string())
            arrays.append(_Expansion(np.array(laid), np.array(counts_of), texts, flags))


@dataclass(frozen=True)
class _Expansion:
    """Array values to spread over copies of their items: where (laid-out item), how many
    array items each has, and their texts and flags (arrays one after the other)."""

    laid: np.ndarray
    counts: np.ndarray
    texts: pa.Array
    flags: np.ndarray


def _repeat(
    values: pa.Array, flags: np.ndarray, arrays: list[_Expansion]
) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Each item holding an array value repeated once per array item (at least once), with
    that item's text, as the element holding it is repeated in the rendered XML."""
    laid = np.concatenate([e.laid for e in arrays])
    counts = np.concatenate([e.counts for e in arrays])
    texts = pa.concat_arrays([e.texts.cast(pa.large_string()) for e in arrays])
    item_flags = np.concatenate([e.flags for e in arrays])
    order = np.argsort(laid, kind="stable")
    item_order = np.argsort(np.repeat(np.argsort(order, kind="stable"), counts), kind="stable")
    laid, counts = laid[order], counts[order]
    texts, item_flags = texts.take(pa.array(item_order)), item_flags[item_order]
    repeats = np.ones(len(values), dtype=np.int64)
    repeats[laid] = np.maximum(counts, 1)
    copies = np.repeat(np.arange(len(values)), repeats)
    first = np.cumsum(repeats) - repeats
    at = (
        np.repeat(first[laid], counts)
        + np.arange(int(counts.sum()))
        - np.repeat(np.cumsum(counts) - counts, counts)
    )
    mask = np.zeros(len(copies), dtype=bool)
    mask[at] = True
    flags = flags[copies]
    flags[at] = item_flags
    values = pc.replace_with_mask(
        values.take(pa.array(copies)), pa.array(mask), texts.cast(values.type)
    )
    return copies, values, flags


def _data_column(n: int, record: np.ndarray, names: pa.Array, values: pa.Array) -> pa.Array:
    """The ``data`` list column: (name, value) pairs of each record, in order."""
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(record, minlength=n), out=offsets[1:])
    names = pc.if_else(pc.equal(names, ""), pa.scalar(None, pa.string()), names)
    pairs = pa.StructArray.from_arrays([names, values], names=["name", "value"])
    return pa.ListArray.from_arrays(pa.array(offsets), pairs).cast(DATA_TYPE)


def _binary_column(n: int, record: np.ndarray, values: pa.Array) -> pa.Array:
    """``<Binary>`` as upper-case hex without white space; the last one of a record wins."""
    out = np.full(n, None, dtype=object)
    if len(record):
        cleaned = pc.utf8_upper(pc.replace_substring_regex(values, r"\s+", ""))
        texts = np.asarray(cleaned.to_pylist(), dtype=object)
        texts[texts == ""] = None
        out[record] = texts
    return pa.array(out, type=pa.string())
