"""The candidate rows of one batch, with each field's values extracted once, as Arrow arrays.

A field's values are a string array plus the row (0..n-1 within the view) each value belongs
to: a System column gives at most one value per row, EventData can give several (duplicate
names, the positional ``Data`` values). Extraction is column-wise: the ``data`` lists of the
candidate rows are flattened once, their distinct names normalized once, and each field is a
filter over the flattened items. Results are cached per view, so rules sharing a field (or a
whole test) pay for it once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.signatures.sigma.expression import FieldRef, Scope, SystemKind
from evtxscan.signatures.sigma.fields import POSITIONAL_DATA, data_keys

_EMPTY = pa.array([], pa.string())
_NO_ROWS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Values:
    """A field's values in the view and the row each belongs to."""

    values: pa.Array
    owners: np.ndarray  # int64 positions in the view

    @staticmethod
    def empty() -> Values:
        return Values(_EMPTY, _NO_ROWS)

    @cached_property
    def distinct(self) -> tuple[pa.Array, np.ndarray]:
        """The distinct values, and where each value is among them (a null: one past the
        end). Found once, so that every test of the field reads each distinct text once
        (service names, images and users repeat through a batch)."""
        encoded = self.values.dictionary_encode()
        codes = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
        return encoded.dictionary, codes.astype(np.int64, copy=False)


def _taken(series: pd.Series, rows: np.ndarray) -> pa.Array:
    """Some rows of an Arrow-backed column, as one Arrow array (no copy of the others)."""
    array = series.array
    chunked = array.__arrow_array__() if hasattr(array, "__arrow_array__") else pa.array(array)
    taken = chunked.take(pa.array(rows))
    return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken


class BatchView:
    """Rows ``rows`` (positions) of a record batch, read field by field on demand."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        self.frame = frame
        self.rows = rows.astype(np.int64, copy=False)
        self.size = len(rows)
        self.cache: dict[object, object] = {}
        self._items: tuple[pa.Array, np.ndarray, np.ndarray, dict[str, list[int]]] | None = None
        self._by_code: tuple[np.ndarray, np.ndarray] | None = None  # item order, code starts

    # --- EventData / UserData ------------------------------------------------------------

    def _flattened(self) -> tuple[pa.Array, np.ndarray, np.ndarray, dict[str, list[int]]]:
        """(values, owners, name codes, key -> name codes) of every data item in the view."""
        if self._items is None:
            lists = _taken(self.frame["data"], self.rows)
            flat = pc.list_flatten(lists)
            owners = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
            encoded = flat.field("name").dictionary_encode()
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            by_key: dict[str, list[int]] = {}
            for code, name in enumerate(encoded.dictionary.to_pylist()):
                for key in data_keys(name):
                    by_key.setdefault(key, []).append(code)
            self._items = (flat.field("value"), owners, codes, by_key)
        return self._items

    def data(self, key: str) -> Values:
        """Every data item answering to ``key`` (normalized name)."""
        cached = self.cache.get(("data", key))
        if cached is None:
            values, owners, codes, by_key = self._flattened()
            wanted = by_key.get(key, [])
            if key == POSITIONAL_DATA:
                wanted = [-1, *wanted]
            picked = self._items_of(codes, wanted)
            cached = Values(values.take(pa.array(picked)), owners[picked])
            self.cache[("data", key)] = cached
        assert isinstance(cached, Values)
        return cached

    def _items_of(self, codes: np.ndarray, wanted: list[int]) -> np.ndarray:
        """Positions of the items with these name codes, in document order (one sort of
        the codes per view, then a slice per code, instead of a pass per field)."""
        if self._by_code is None:
            order = np.argsort(codes, kind="stable")
            self._by_code = (order, codes[order])
        order, ordered = self._by_code
        parts = [
            order[np.searchsorted(ordered, c, "left") : np.searchsorted(ordered, c, "right")]
            for c in wanted
        ]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]

    def all_data(self) -> Values:
        """Every data value (for keyword search)."""
        cached = self.cache.get("all data")
        if cached is None:
            values, owners, _, _ = self._flattened()
            cached = self.cache["all data"] = Values(values, owners)
        assert isinstance(cached, Values)
        return cached

    # --- System columns ------------------------------------------------------------------

    def numbers(self, column: str) -> np.ndarray:
        """An integer column over the view as float64 (NaN where absent)."""
        key = ("numbers", column)
        cached = self.cache.get(key)
        if cached is None:
            series = self.frame[column]
            cached = series.to_numpy(dtype=np.float64, na_value=np.nan)[self.rows]
            self.cache[key] = cached
        assert isinstance(cached, np.ndarray)
        return cached

    def system(self, column: str, kind: SystemKind) -> Values:
        """A System column's text over the view (as Windows' XML shows it); nulls dropped."""
        key = ("system", column)
        cached = self.cache.get(key)
        if cached is None:
            cached = self._system_text(column, kind)
            self.cache[key] = cached
        assert isinstance(cached, Values)
        return cached

    def _system_text(self, column: str, kind: SystemKind) -> Values:
        series = self.frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()[self.rows]
            present = np.flatnonzero(codes >= 0)
            categories = pa.array([str(c) for c in series.cat.categories], pa.string())
            return Values(categories.take(pa.array(codes[present])), present)
        if kind is SystemKind.TEXT:
            array = _taken(series, self.rows)
            valid = array.is_valid().to_numpy(zero_copy_only=False)
            return Values(pc.cast(array.filter(valid), pa.string()), np.flatnonzero(valid))
        numbers = series.astype(object).to_numpy()[self.rows]
        present = np.flatnonzero(pd.notna(numbers))
        kept = numbers[present]
        if kind is SystemKind.HEX:
            text = [f"0x{int(v):x}" for v in kept]  # Windows' rendering of Keywords
        else:
            text = [str(int(v)) for v in kept]
        return Values(pa.array(text, pa.string()), present)

    def message(self) -> Values:
        """The logged message text, where there is one."""
        return self.system("message_logged", SystemKind.TEXT)

    # --- fields --------------------------------------------------------------------------

    def field(self, ref: FieldRef) -> Values:
        """A field's values per its scope (data item shadows System for DATA_OR_SYSTEM)."""
        if ref.scope is Scope.DATA:
            return self.data(ref.key)
        assert ref.column is not None
        system = self.system(ref.column, ref.kind)
        if ref.scope is Scope.SYSTEM:
            return system
        data = self.data(ref.key)
        if len(data.owners) == 0:
            return system
        cached = self.cache.get(("either", ref))
        if cached is None:
            has = np.zeros(self.size, dtype=bool)
            has[data.owners] = True
            keep = ~has[system.owners]
            cached = self.cache[("either", ref)] = Values(
                pa.concat_arrays([data.values, system.values.filter(pa.array(keep))]),
                np.concatenate([data.owners, system.owners[keep]]),
            )
        assert isinstance(cached, Values)
        return cached

    def shadowed(self, ref: FieldRef) -> np.ndarray:
        """Rows whose own data item stands in for the System field (DATA_OR_SYSTEM only)."""
        has = np.zeros(self.size, dtype=bool)
        if ref.scope is Scope.DATA_OR_SYSTEM:
            has[self.data(ref.key).owners] = True
        return has
