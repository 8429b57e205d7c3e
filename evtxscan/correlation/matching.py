"""Exact symptom tests on a batch of candidate rows, one selector at a time.

Each selector is tested on the rows of its (provider, event ID) as columns: channel and
level as masks, then its conditions in order on the rows still standing, each condition
once per distinct field value. A batch costs a few steps per selector that applies to it,
not a Python loop over every selector of every row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.signatures.model import Condition, Selector, Signature

FieldValues = Callable[[Any, str], list[str]]
#: Codes a batch's field into its distinct value tuples (None: read it row by row).
FieldCoder = Callable[[pd.DataFrame, str], tuple[np.ndarray, list[tuple[str, ...]]] | None]
SelectorTable = Mapping[tuple[str, int], list[tuple[Signature, Selector]]]
#: Condition results by (condition identity, field texts), kept from batch to batch.
Known = dict[tuple[int, tuple[str, ...]], bool]
#: Results kept at most; past that the memo starts over (memory stays bounded).
KNOWN_RESULTS = 100_000
#: From this many rows a field is coded column-wise (``field_codes``); fewer are read row
#: by row, which costs less than the column operations' fixed 0.1-0.2 ms per field.
COLUMN_WISE_ROWS = 256


class _Fields:
    """The batch's field values as the exact tests read them: per field, each row's texts
    as a code into the distinct ones (made once per field and batch)."""

    def __init__(
        self, rows: pd.DataFrame, field_values: FieldValues, field_codes: FieldCoder | None
    ) -> None:
        self.rows = rows
        self.field_values = field_values
        self.field_codes = field_codes
        self.lists: dict[str, list[Any]] = {}
        self.coded: dict[str, tuple[np.ndarray, list[tuple[str, ...]]]] = {}

    def codes(self, field: str) -> tuple[np.ndarray, list[tuple[str, ...]]]:
        found = self.coded.get(field)
        if found is None and self.field_codes is not None and len(self.rows) >= COLUMN_WISE_ROWS:
            found = self.field_codes(self.rows, field)
            if found is not None:
                self.coded[field] = found
        if found is None:
            name = "data" if field == "data" or field.startswith("data.") else field
            values = self.lists.get(name)
            if values is None:  # a column's Python values, made once (EventData: costly)
                values = self.lists[name] = _python_values(self.rows[name])
            texts = [tuple(self.field_values({name: v}, field)) for v in values]
            number: dict[tuple[str, ...], int] = {}
            codes = np.array([number.setdefault(t, len(number)) for t in texts], dtype=np.int64)
            found = self.coded[field] = (codes, list(number))
        return found


def match_rows(
    selectors: SelectorTable,
    rows: pd.DataFrame,
    canon: np.ndarray,
    sources: np.ndarray,
    field_values: FieldValues,
    known: Known,
    field_codes: FieldCoder | None = None,
) -> list[list[str]]:
    """For each row, the ``signature:symptom`` names it shows. ``canon``: each row's
    canonical provider; ``sources``: its canonical event-source name ("" when none), whose
    selectors apply too when it differs from the provider. ``field_codes``: the fields it
    can code column-wise, as ``field_values`` reads them row by row."""
    event_ids = rows["event_id"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    groups: dict[tuple[str, int], list[np.ndarray]] = defaultdict(list)
    for names, extra in ((canon, None), (sources, (sources != "") & (sources != canon))):
        codes, uniques = pd.factorize(pd.Series(names, dtype=object))
        for code, name in enumerate(uniques.tolist()):
            mine = codes == code
            if extra is not None:
                mine &= extra
            for event_id in np.unique(event_ids[mine]).tolist():
                if event_id >= 0 and (str(name), event_id) in selectors:
                    where = np.flatnonzero(mine & (event_ids == event_id))
                    groups[(str(name), event_id)].append(where)
    hits: dict[int, set[str]] = defaultdict(set)  # rows that show a symptom (few)
    batch = _Batch(rows, field_values, known, field_codes)
    for key, parts in groups.items():
        where = np.concatenate(parts)
        for signature, selector in selectors[key]:
            for row in batch.passing(selector, where).tolist():
                hits[row].add(f"{signature.id}:{selector.name}")
    shown: list[list[str]] = [[] for _ in range(len(rows))]
    for row, found in hits.items():
        shown[row] = sorted(found)
    return shown


class _Batch:
    """The batch's columns the tests read: channel (case-folded) and level as arrays, field
    values per row on demand, condition results per distinct value."""

    def __init__(
        self,
        rows: pd.DataFrame,
        field_values: FieldValues,
        known: Known,
        field_codes: FieldCoder | None = None,
    ) -> None:
        self.known = known
        self.fields = _Fields(rows, field_values, field_codes)
        self.channels = _folded(rows["channel"])
        self.levels = rows["level"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        self.tested: dict[int, np.ndarray] = {}  # per condition, on its field's values

    def passing(self, selector: Selector, where: np.ndarray) -> np.ndarray:
        """The rows among ``where`` that pass the selector's channel, level and conditions."""
        if selector.channel is not None:
            where = where[self.channels[where] == selector.channel.casefold()]
        if selector.levels:
            where = where[np.isin(self.levels[where], list(selector.levels))]
        for condition in selector.where:
            if not len(where):
                break
            codes, distinct = self.fields.codes(condition.field)
            mine = codes[where]
            where = where[self._results(condition, distinct, mine)[mine] == 1]
        return where

    def _results(
        self, condition: Condition, distinct: list[tuple[str, ...]], wanted: np.ndarray
    ) -> np.ndarray:
        """The condition's result (1 true, 0 false, -1 not tested yet) per distinct value of
        its field; those ``wanted`` are tested now, each once per batch."""
        found = self.tested.get(id(condition))
        if found is None:
            found = self.tested[id(condition)] = np.full(len(distinct), -1, dtype=np.int8)
        known = self.known
        for code in np.unique(wanted[found[wanted] < 0]).tolist():
            key = (id(condition), distinct[code])
            hit = known.get(key)
            if hit is None:
                if len(known) >= KNOWN_RESULTS:
                    known.clear()
                hit = known[key] = condition.test(list(distinct[code]))
            found[code] = hit
        return found


def _python_values(column: pd.Series) -> list[Any]:
    """A column's values as Python objects. Arrow text and nested columns are converted by
    Arrow at once (pandas converts them an element at a time); a missing value is None."""
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype):
        kind = dtype.pyarrow_dtype
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_nested(kind):
            return list(column.array._pa_array.to_pylist())
    return column.tolist()


def _folded(column: pd.Series) -> np.ndarray:
    """Case-folded texts of a column, each distinct one folded once (missing: None)."""
    codes, uniques = pd.factorize(column)
    folded = [str(value).casefold() for value in uniques.tolist()]
    return np.array([*folded, None], dtype=object)[codes]
