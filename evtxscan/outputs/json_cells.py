"""Nested cells (the ``data`` pairs, signature lists, evidence keys) as CSV tables show them:
JSON text exactly as ``json.dumps(value, ensure_ascii=False)`` writes it (missing: ``[]``).

Made cell by cell, a timeline of 39,292 rows spent 0.3 s turning Arrow lists into Python
and back into text. The ``data`` pairs (``list<struct<name, value>>``) are now escaped and
joined by Arrow, column at once; a list of names that repeats (the signatures of most rows)
is written once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.outputs.arrow_text import text_series

#: The ``data`` column's type: (name, value) pairs.
PAIRS = pa.list_(pa.struct([("name", pa.string()), ("value", pa.string())]))
#: What ``json.dumps`` escapes with a short form, in the order that keeps escapes apart.
_SHORT_ESCAPES = (
    ("\\", "\\\\"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)
#: Control characters ``json.dumps`` writes as ``\\u00XX`` (looked for first: most texts
#: have none, and replacing each costs a pass).
_OTHER_CONTROL = "[\\x00-\\x07\\x0b\\x0e-\\x1f]"
_OTHER_CODES = [code for code in range(0x20) if chr(code) not in "\b\t\n\f\r"]
#: Any character ``json.dumps`` escapes.
_TO_ESCAPE = '[\\\\"\\x00-\\x1f]'

#: Distinct lists of names remembered at most (a memo only).
_MEMO_LIMIT = 1 << 16


def json_cells(column: pd.Series) -> pd.Series:
    """The JSON text of each cell of a nested column (a cell that is text already stays),
    with the column's index: the ``data`` pairs as Arrow text, other lists as objects."""
    if isinstance(column.dtype, pd.ArrowDtype) and column.dtype.pyarrow_dtype == PAIRS:
        return text_series(pairs_json(column.array._pa_array), column)
    memo: dict[tuple[str, ...], str] = {}
    out: list[str] = []
    for value in python_cells(column):
        if isinstance(value, str):
            out.append(value)
            continue
        items = value if value is not None else []
        if not all(type(item) is str for item in items):  # 1, 1.0 and True differ in JSON
            out.append(_dumps(items))
            continue
        key = tuple(items)
        text = memo.get(key)
        if text is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            text = memo[key] = _dumps(items)
        out.append(text)
    return pd.Series(out, index=column.index, name=column.name, dtype=object)


def python_cells(column: pd.Series) -> list[Any]:
    """A nested column's cells as Python values (lists, dicts; None when missing)."""
    if isinstance(column.dtype, pd.ArrowDtype):
        return list(column.array._pa_array.to_pylist())
    return [v if v is None or isinstance(v, str) else list(v) for v in column]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def pairs_json(array: pa.ChunkedArray) -> pa.Array:
    """The JSON text of each list of pairs (missing: ``[]``), as an Arrow string array."""
    lists = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    offsets = lists.offsets  # (a slice's: its values are the whole array's, cut here)
    first = offsets[0].as_py() if len(offsets) else 0
    pairs = lists.values.slice(first, (offsets[-1].as_py() - first) if len(offsets) else 0)
    offsets = pc.subtract(offsets, pa.scalar(first, offsets.type))
    names, values = pairs.field("name"), pairs.field("value")
    item = pc.binary_join_element_wise(
        '{"name": ', quoted(names), ', "value": ', quoted(values), "}", ""
    )
    item = pc.if_else(pc.is_valid(pairs), item, "null")  # a missing pair
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, item), ", ")
    text = pc.binary_join_element_wise("[", joined, "]", "")
    return pc.if_else(pc.is_valid(lists), text, "[]")  # a missing list


def quoted(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """JSON string literals of ``texts`` (missing: ``null``). Only the texts holding a
    character to escape go through the replacements (most hold none)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    escape = pc.fill_null(pc.match_substring_regex(texts, _TO_ESCAPE), False)
    count = pc.sum(escape).as_py() or 0
    if count:
        some = texts if count == len(texts) else pc.filter(texts, escape)
        for plain, escaped in _SHORT_ESCAPES:  # the backslash first: escapes add backslashes
            some = pc.replace_substring(some, plain, escaped)
        if pc.any(pc.match_substring_regex(some, _OTHER_CONTROL)).as_py():
            for code in _OTHER_CODES:
                some = pc.replace_substring(some, chr(code), f"\\u{code:04x}")
        texts = some if count == len(texts) else pc.replace_with_mask(texts, escape, some)
    quote, nothing = pa.scalar('"', texts.type), pa.scalar("", texts.type)  # (large text too)
    return pc.fill_null(pc.binary_join_element_wise(quote, texts, quote, nothing), "null")
