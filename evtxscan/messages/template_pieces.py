"""The messages of every template-rendered record of a batch, in one pass.

A message is its template's pieces joined: literal texts and the record's values, each value
as :meth:`~evtxscan.messages.render.ParameterExpander.clean` makes it (and through its
printf-style format, if the insert has one). All records' pieces are laid out in one Arrow
array, in order, and joined per record, so a batch costs the same few Arrow calls however
many templates it holds (a batch of a varied log holds hundreds, most of a few records).
Only values that need work (``%%N`` references, tabs and line breaks) and values with a
printf-style format go through Python, one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.messages.formatting import _printf
from evtxscan.messages.render import Resolution

#: Values :meth:`ParameterExpander.clean` changes: ``%%N`` references and layout characters.
NEEDS_WORK = r"%%|[\t\r\n]"
_LITERAL, _VALUE = 0, 1


@dataclass(frozen=True)
class TemplateGroup:
    """Records rendered with one compiled template; ``count``: how many values each has."""

    rows: np.ndarray  # positions of the records in the batch
    resolution: Resolution
    count: int


@dataclass(frozen=True)
class _Pieces:
    """Every group's pieces, one table: kind, the literal's or value's number, its format."""

    kind: np.ndarray  # int8: _LITERAL or _VALUE
    ref: np.ndarray  # int64: literal number, or value number (0-based) within the record
    spec: np.ndarray  # int64: printf format number, -1 for none
    start: np.ndarray  # int64, one more than groups: where each group's pieces start
    literals: list[str]
    specs: list[str]


def _pieces(groups: list[TemplateGroup]) -> _Pieces:
    """The groups' templates as piece tables (an insert past a record's values stays as its
    literal ``%N``, as :meth:`CompiledTemplate.render` leaves it)."""
    literals: dict[str, int] = {}
    specs: dict[str, int] = {}
    kind: list[int] = []
    ref: list[int] = []
    spec: list[int] = []
    start = [0]
    for group in groups:
        assert group.resolution.compiled is not None
        for part in group.resolution.compiled.parts:
            if isinstance(part, str) or part.index > group.count:
                text = part if isinstance(part, str) else f"%{part.index}"
                kind.append(_LITERAL)
                ref.append(literals.setdefault(text, len(literals)))
                spec.append(-1)
            else:
                kind.append(_VALUE)
                ref.append(part.index - 1)
                spec.append(-1 if not part.spec else specs.setdefault(part.spec, len(specs)))
        start.append(len(kind))
    return _Pieces(
        np.array(kind, dtype=np.int8),
        np.array(ref, dtype=np.int64),
        np.array(spec, dtype=np.int64),
        np.array(start, dtype=np.int64),
        list(literals),
        list(specs),
    )


def render_groups(values: pa.Array, offsets: np.ndarray, groups: list[TemplateGroup]) -> pa.Array:
    """The messages of the groups' records, group after group (each in its rows' order).

    ``values``: the batch's values, flat (no nulls); ``offsets``: where each record's first
    value is in them."""
    if not groups:
        return pa.array([], pa.string())
    table = _pieces(groups)
    sizes = np.array([len(g.rows) for g in groups], dtype=np.int64)
    group_of_row = np.repeat(np.arange(len(groups)), sizes)
    rows = np.concatenate([g.rows for g in groups]).astype(np.int64)
    per_row = np.diff(table.start)[group_of_row]
    row_start = np.cumsum(per_row) - per_row
    total = int(per_row.sum())
    piece_row = np.repeat(np.arange(len(rows)), per_row)
    at = table.start[group_of_row][piece_row] + np.arange(total) - row_start[piece_row]
    is_value = table.kind[at] == _VALUE
    value_row = piece_row[is_value]
    taken = values.take(pa.array(offsets[rows[value_row]] + table.ref[at][is_value]))
    taken = _mended(taken, group_of_row[value_row], groups)
    formats = table.spec[at][is_value]
    if (formats >= 0).any():
        taken = _formatted(taken, formats, table.specs)
    source = pa.concat_arrays([pa.array(table.literals, pa.string()), taken.cast(pa.string())])
    index = table.ref[at]  # literals first in ``source``, then the values in piece order
    index[is_value] = len(table.literals) + np.arange(int(is_value.sum()))
    pieces = source.take(pa.array(index))
    bounds = pa.array(np.append(row_start, total).astype(np.int32), pa.int32())
    return pc.binary_join(pa.ListArray.from_arrays(bounds, pieces), "")


def _mended(taken: pa.Array, group_of_value: np.ndarray, groups: list[TemplateGroup]) -> pa.Array:
    """Values that need work cleaned by their group's expander, the rest as they are."""
    work = pc.match_substring_regex(taken, NEEDS_WORK)
    flagged = np.flatnonzero(np.asarray(work, dtype=bool))
    if not len(flagged):
        return taken
    texts = taken.take(pa.array(flagged)).to_pylist()
    owners = group_of_value[flagged].tolist()
    mended = [groups[g].resolution.expander.clean(t) for g, t in zip(owners, texts, strict=True)]
    return pc.replace_with_mask(taken, work, pa.array(mended, pa.string()))


def _formatted(taken: pa.Array, formats: np.ndarray, specs: list[str]) -> pa.Array:
    """Values whose insert has a printf-style format, formatted (after cleaning)."""
    which = np.flatnonzero(formats >= 0)
    texts = taken.take(pa.array(which)).to_pylist()
    done = [_printf(t, specs[s]) for t, s in zip(texts, formats[which].tolist(), strict=True)]
    mask = np.zeros(len(taken), dtype=bool)
    mask[which] = True
    return pc.replace_with_mask(taken, pa.array(mask), pa.array(done, pa.string()))
