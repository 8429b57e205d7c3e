"""Every record's payload items laid out, their texts gathered, the columns built.

Each record repeats its template combination's item table. A name or value is either
literal text of the table or a value the record refers to; every text lives once in a
*source* array (literals, rendered values, array items, then the few texts the final rules
change), and each item is an index into it, so the ``data`` column is built with one Arrow
``take`` for names and one for values, whatever the number of items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.records.schema import DATA_TYPE
from evtxscan.records.values import canonical_values
from evtxscan.sources.evtx.arrays import Reader
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, ValueType
from evtxscan.sources.evtx.instances import Problem, ValueTable
from evtxscan.sources.evtx.item_tables import ItemTable
from evtxscan.sources.evtx.value_columns import (
    Flag,
    render,
    render_parts,
    string_array_items,
    text_flags,
)
from evtxscan.sources.evtx.value_text import REFUSED, array_items


@dataclass(frozen=True)
class Cells:
    """Value descriptors of a set of instances (see :class:`ValueTable`)."""

    table: ValueTable

    def lookup(self, rows: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """Type (-1 when missing), buffer position and size of value ``slots`` of ``rows``."""
        width = self.table.width
        inside = slots < width
        size, kind, at = self.table.column(rows, np.where(inside, slots, 0))
        return np.where(inside, kind, -1), at, np.where(inside, size, 0)


def fail(problem: np.ndarray, rows: np.ndarray, code: Problem) -> None:
    """Mark records ``rows`` with ``code`` unless they already have a problem."""
    rows = rows[problem[rows] == Problem.NONE]
    problem[rows] = code


@dataclass
class _Source:
    """Texts and their flags, appended part by part; items hold indexes into them."""

    parts: list[pa.Array] = field(default_factory=list)
    flags: list[np.ndarray] = field(default_factory=list)
    content: list[np.ndarray] = field(default_factory=list)  # text of an element (not attr)
    size: int = 0

    def add(self, texts: pa.Array, flags: np.ndarray, content: np.ndarray) -> int:
        """Append texts; the index of the first."""
        first = self.size
        self.parts.append(texts.cast(pa.large_string()))
        self.flags.append(np.asarray(flags, dtype=np.uint8))
        self.content.append(np.asarray(content, dtype=bool))
        self.size += len(texts)
        return first

    def texts(self) -> pa.Array:
        """All texts, as appended."""
        return pa.concat_arrays(self.parts) if self.parts else pa.array([], pa.large_string())

    def finish(self, index: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """All texts, with the rendering path's final rules applied where flagged (line ends
        of element text, canonical GUIDs and blanks); ``index`` redirected to fixed ones."""
        texts = self.texts()
        flags = np.concatenate(self.flags) if self.flags else np.zeros(0, np.uint8)
        content = np.concatenate(self.content) if self.content else np.zeros(0, bool)
        cr = content & ((flags & Flag.CR) != 0)
        fix = np.flatnonzero(cr | ((flags & Flag.CANONICAL) != 0))
        if not len(fix):
            return texts, index
        picked = texts.take(pa.array(fix))
        fixed = pc.replace_substring(pc.replace_substring(picked, "\r\n", "\n"), "\r", "\n")
        picked = pc.if_else(pa.array(cr[fix]), fixed, picked)
        moved = np.arange(len(texts), dtype=np.int64)
        moved[fix] = len(texts) + np.arange(len(fix))
        canonical = canonical_values(picked.cast(pa.string())).cast(pa.large_string())
        texts = pa.concat_arrays([texts, canonical])
        return texts, moved[index]


def assemble(
    reader: Reader,
    tables: list[ItemTable],
    key_of: np.ndarray,
    cells: tuple[Cells, Cells],
    inner_row: np.ndarray,
    problem: np.ndarray,
) -> tuple[pa.Array, pa.Array]:
    """The ``data`` and ``binary`` columns of records whose item tables are
    ``tables[key_of]`` (records already failed get none)."""
    n = len(key_of)
    lengths = np.array([len(t) for t in tables], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    merged = ItemTable.concat(tables)
    counts = np.where(problem == Problem.NONE, lengths[key_of], 0)
    total = int(counts.sum())
    record = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    item = np.repeat(starts[key_of], counts) + np.arange(total) - np.repeat(first, counts)
    owners = (record, inner_row[record])
    values = _Source()
    lit = values.add(pa.array(merged.value_literal), merged.value_flags, ~merged.attribute)
    value_index = lit + merged.value_code[item]
    repeats = np.ones(total, dtype=np.int64)
    refs = np.flatnonzero(merged.value_kind[item] == 2)
    empty_ref = np.zeros(total, dtype=bool)
    array_at: list[tuple[np.ndarray, int]] = []
    if len(refs):
        kind, at, size = _cells(merged, "value", item[refs], refs, cells, owners)
        _missing(problem, record[refs], kind)
        alone = merged.alone[item[refs]]
        _arrays(reader, values, refs, kind, at, size, alone, repeats, array_at)
        parts, refused, flags = render_parts(reader, np.maximum(kind, 0), at, size)
        fail(problem, np.unique(record[refs[refused]]), Problem.VALUE_REFUSED)
        content = ~merged.attribute[item[refs]]
        for rows, texts in parts:  # each type's texts appended as they are
            first_ref = values.add(texts, flags[rows], content[rows])
            value_index[refs[rows]] = first_ref + np.arange(len(rows))
            empty_ref[refs[rows]] = pc.binary_length(texts).to_numpy(zero_copy_only=False) == 0
    names = _Source()
    name_literals = pa.array(merged.name_literal)
    name_first = names.add(name_literals, merged.name_flags, np.zeros(len(name_literals), bool))
    name_index = np.where(merged.name_kind[item] == 0, -1, name_first + merged.name_code[item])
    name_refs = np.flatnonzero(merged.name_kind[item] == 2)
    if len(name_refs):
        kind, at, size = _cells(merged, "name", item[name_refs], name_refs, cells, owners)
        _missing(problem, record[name_refs], kind)
        texts, refused, flags = render(reader, np.maximum(kind, 0), at, size)
        fail(problem, np.unique(record[name_refs[refused]]), Problem.VALUE_REFUSED)
        name_index[name_refs] = names.add(texts, flags, np.zeros(len(texts), bool))
        name_index[name_refs] += np.arange(len(name_refs))
    copies = np.repeat(np.arange(total), repeats)
    record, item = record[copies], item[copies]
    value_index, name_index, empty_ref = value_index[copies], name_index[copies], empty_ref[copies]
    _spread_arrays(array_at, repeats, value_index, empty_ref)
    return _columns(
        n, record, item, merged, values, value_index, names, name_index, empty_ref, problem
    )


def _columns(
    n: int,
    record: np.ndarray,
    item: np.ndarray,
    merged: ItemTable,
    values: _Source,
    value_index: np.ndarray,
    names: _Source,
    name_index: np.ndarray,
    empty_ref: np.ndarray,
    problem: np.ndarray,
) -> tuple[pa.Array, pa.Array]:
    attribute = merged.attribute[item]
    value_flags = np.concatenate(values.flags)[value_index]
    name_flags = np.concatenate(names.flags)[np.maximum(name_index, 0)]
    unsafe = ((value_flags | np.where(name_index >= 0, name_flags, 0)) & Flag.UNSAFE) != 0
    unsafe |= attribute & ((value_flags & Flag.SPACE) != 0)
    fail(problem, np.unique(record[unsafe]), Problem.UNSAFE_TEXT)
    value_texts, value_index = values.finish(value_index)
    name_texts = names.texts()  # names keep their text (no canonical rules)
    dropped = attribute & (merged.value_kind[item] == 2) & empty_ref  # an empty attribute is absent
    binary = merged.binary[item]
    kept = np.flatnonzero(~dropped & ~binary)
    data = _data_column(
        n, record[kept], name_texts, name_index[kept], value_texts.take(pa.array(value_index[kept]))
    )
    wanted = np.flatnonzero(binary)
    binary_column = _binary_column(
        n, record[wanted], value_texts.take(pa.array(value_index[wanted]))
    )
    return data, binary_column


def _cells(
    merged: ItemTable,
    which: str,
    rows: np.ndarray,
    laid: np.ndarray,
    cells: tuple[Cells, Cells],
    owners: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, ...]:
    """Type, position and size of the values items ``laid`` (table rows ``rows``) refer to."""
    part = getattr(merged, f"{which}_part")[rows]
    slot = getattr(merged, f"{which}_slot")[rows]
    kind = np.empty(len(rows), dtype=np.int64)
    at = np.empty(len(rows), dtype=np.int64)
    size = np.empty(len(rows), dtype=np.int64)
    for number in (0, 1):
        mine = np.flatnonzero(part == number)
        if len(mine):
            found = cells[number].lookup(owners[number][laid[mine]], slot[mine])
            kind[mine], at[mine], size[mine] = found
    return kind, at, size


def _missing(problem: np.ndarray, records: np.ndarray, kind: np.ndarray) -> None:
    fail(problem, np.unique(records[kind < 0]), Problem.MISSING_VALUE)


def _arrays(
    reader: Reader,
    values: _Source,
    refs: np.ndarray,
    kind: np.ndarray,
    at: np.ndarray,
    size: np.ndarray,
    alone: np.ndarray,
    repeats: np.ndarray,
    array_at: list[tuple[np.ndarray, int]],
) -> None:
    """Array values alone in their element: the element repeats once per array item (at
    least once), each copy with one item's text. Their items go to ``values``; the array
    values themselves then render as NULL."""
    array = (kind >= 0) & ((kind & ARRAY_FLAG) != 0) & alone
    strings = np.flatnonzero(array & (kind == ARRAY_FLAG | ValueType.STRING))
    if len(strings):
        counts, texts, flags = string_array_items(reader, at[strings], size[strings])
        first = values.add(texts, flags, np.ones(len(texts), bool))
        _expand(refs[strings], counts, first, repeats, array_at)
        kind[strings] = ValueType.NULL
    laid, counts_of, others = [], [], []
    for ref in np.flatnonzero(array & (kind != ValueType.NULL)).tolist():
        raw = reader.buf[at[ref] : at[ref] + size[ref]].tobytes()
        try:
            items = [text or "" for text in array_items(int(kind[ref]), raw) or []]
        except REFUSED:
            continue  # the renderer's, as render() refuses it
        laid.append(int(refs[ref]))
        counts_of.append(len(items))
        others += items
        kind[ref] = ValueType.NULL
    if laid:
        flags = np.array([text_flags(text) for text in others], dtype=np.uint8)
        first = values.add(pa.array(others, pa.large_string()), flags, np.ones(len(others), bool))
        _expand(np.array(laid), np.array(counts_of), first, repeats, array_at)


def _expand(
    laid: np.ndarray,
    counts: np.ndarray,
    first: int,
    repeats: np.ndarray,
    array_at: list[tuple[np.ndarray, int]],
) -> None:
    """Note that items ``laid`` repeat once per array item (texts from ``first`` on)."""
    repeats[laid] = np.maximum(counts, 1)
    starts = first + np.cumsum(counts) - counts
    array_at.append((np.stack([laid, counts, starts]), first))


def _spread_arrays(
    array_at: list[tuple[np.ndarray, int]],
    repeats: np.ndarray,
    value_index: np.ndarray,
    empty_ref: np.ndarray,
) -> None:
    """Point each copy of a repeated item at its array item's text."""
    copy_start = np.cumsum(repeats) - repeats
    for spread, _first in array_at:
        laid, counts, starts = spread
        positions = np.repeat(copy_start[laid], counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        value_index[positions + offsets] = np.repeat(starts, counts) + offsets
        empty_ref[positions + offsets] = False


def _data_column(
    n: int, record: np.ndarray, names: pa.Array, name_index: np.ndarray, values: pa.Array
) -> pa.Array:
    """The ``data`` list column: (name, value) pairs of each record, in order."""
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(record, minlength=n), out=offsets[1:])
    empty = pc.equal(names, "").to_numpy(zero_copy_only=False)
    named = (name_index >= 0) & ~empty[np.maximum(name_index, 0)] if len(empty) else name_index >= 0
    picked = names.take(pa.array(np.where(named, name_index, 0), mask=~named))
    pairs = pa.StructArray.from_arrays([picked, values], names=["name", "value"])
    return pa.ListArray.from_arrays(pa.array(offsets), pairs).cast(DATA_TYPE)


def _binary_column(n: int, record: np.ndarray, values: pa.Array) -> pa.Array:
    """``<Binary>`` as upper-case hex without white space; the last one of a record wins."""
    if not len(record):
        return pa.nulls(n, pa.string())
    last = np.flatnonzero(np.append(record[1:] != record[:-1], True))  # records in order
    texts = values.take(pa.array(last))
    texts = pc.utf8_upper(pc.replace_substring_regex(texts, r"\s+", ""))
    texts = pc.if_else(pc.equal(texts, ""), pa.scalar(None, texts.type), texts)
    where = np.full(n, -1, dtype=np.int64)
    where[record[last]] = np.arange(len(last))
    return texts.take(pa.array(np.maximum(where, 0), mask=where < 0)).cast(pa.string())
