"""What a condition sees of a record field: per row (:func:`field_values`), or for a whole
batch at once as codes into the distinct values (:func:`field_codes`).

Both give the same texts. The batch form reads a column, or the ``data`` values a field
picks, with column operations (each distinct value, or tuple of values, converted once),
so exact matching costs no Python step per candidate row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.records.schema import data_pairs

#: Per row, a code into the distinct value tuples (``field_values`` of each).
FieldCodes = tuple[np.ndarray, list[tuple[str, ...]]]


def field_values(row: Any, field: str) -> list[str]:
    """The text values of one record field, as conditions and extractions see them."""
    if field == "data" or field.startswith("data."):
        pairs = data_pairs(row["data"])
        if field == "data":
            return [v for _, v in pairs]
        key = field[len("data.") :]
        if key.isdigit():
            index = int(key) - 1
            return [pairs[index][1]] if 0 <= index < len(pairs) else []
        return [v for n, v in pairs if n is not None and n.casefold() == key.casefold()]
    value = row.get(field) if hasattr(row, "get") else row[field]
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return []
    return [str(value)]


def field_codes(rows: pd.DataFrame, field: str) -> FieldCodes | None:
    """:func:`field_values` of every row of ``rows`` as codes into its distinct results;
    None when the field is read row by row (a column of Python objects, or a ``data``
    column that is not Arrow lists)."""
    if field == "data" or field.startswith("data."):
        return _data_codes(rows["data"], field)
    column = rows[field]
    if column.dtype == np.dtype(object):  # its missing values may be of several kinds
        return None
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    distinct = [tuple(field_values({field: value}, field)) for value in uniques]
    missing = tuple(field_values({field: _missing(column.dtype)}, field))  # NaT reads "NaT"
    codes = np.where(codes < 0, len(distinct), codes).astype(np.int64)
    return codes, [*distinct, missing]


def _missing(dtype: Any) -> object:
    """The value a row of a column of ``dtype`` holds where it has none."""
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return dtype.na_value
    return pd.NaT if dtype.kind in "mM" else float("nan")


def _data_codes(column: pd.Series, field: str) -> FieldCodes | None:
    """The ``data`` values ``field`` picks of each row (all, the N-th, or those of a name;
    a missing value reads ``""``, as in :func:`~evtxscan.records.schema.data_pairs`), rows
    with the same values in the same order sharing a code."""
    if not isinstance(column.dtype, pd.ArrowDtype):
        return None
    lists = column.array._pa_array.combine_chunks()
    if not pa.types.is_list(lists.type) and not pa.types.is_large_list(lists.type):
        return None
    n = len(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    items = pc.list_flatten(lists)
    key = field[len("data.") :] if field != "data" else None
    if key is None:
        keep = np.ones(len(parents), dtype=bool)
    elif key.isdigit():
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        starts = np.cumsum(lengths) - lengths
        keep = np.arange(len(parents)) - starts[parents] == int(key) - 1
    else:
        names = pc.dictionary_encode(items.field("name"))
        wanted = key.casefold()
        folded = [v is not None and v.casefold() == wanted for v in names.dictionary.to_pylist()]
        codes = pc.fill_null(names.indices, -1).to_numpy(zero_copy_only=False)
        keep = np.append(np.asarray(folded, dtype=bool), False)[codes]
    values = pc.dictionary_encode(pc.fill_null(items.field("value").filter(pa.array(keep)), ""))
    return _tuples(n, parents[keep], values)


def _tuples(n: int, owner: np.ndarray, values: pa.DictionaryArray) -> FieldCodes:
    """Codes of each of ``n`` rows' tuple of ``values`` (in order; ``owner``: the row of
    each value), equal tuples sharing a code: rows grouped by their tuple's length, and
    the tuples of each length made unique as rows of value codes."""
    texts = values.dictionary.to_pylist()
    value_codes = values.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(owner, minlength=n)
    codes = np.zeros(n, dtype=np.int64)
    distinct: list[tuple[str, ...]] = []
    for length in np.unique(counts).tolist():
        rows = np.flatnonzero(counts == length)
        if length == 0:
            codes[rows] = len(distinct)
            distinct.append(())
            continue
        table = value_codes[counts[owner] == length].reshape(len(rows), length)
        unique, inverse = np.unique(table, axis=0, return_inverse=True)
        codes[rows] = len(distinct) + inverse.ravel()
        distinct += [tuple(texts[c] for c in row) for row in unique.tolist()]
    return codes, distinct
