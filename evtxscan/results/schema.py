"""The result tables declared once: each table's columns, dtypes and meaning, and how a frame
is brought to them (:meth:`Table.conform`), so every producer and writer agrees on one schema.

Tables: :data:`DIAGNOSES`, :data:`EVIDENCE`, :data:`HOSTS`, :data:`DAILY`, :data:`INTEGRITY`
and :data:`TIMELINE` (the record columns plus the columns a scan adds when it keeps a row).
A producer that adds a column (e.g. the kind of a finding) declares it here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final, Protocol

import pandas as pd

from evtxscan.correlation.notable import COUNT_COLUMNS, NOTABLE_DTYPE
from evtxscan.records.schema import COLUMNS as RECORD_COLUMNS
from evtxscan.results.evidence import EVIDENCE_DTYPE, as_evidence_column

TEXT = pd.Series(["x"]).dtype  # pandas' default string dtype (``str`` on pandas 3)
UTC: Final = "datetime64[us, UTC]"
MESSAGE_TEXT: Final = pd.StringDtype("pyarrow")


@dataclass(frozen=True)
class Column:
    """One declared column: name, dtype and what it holds."""

    name: str
    dtype: Any
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """A declared table: its columns in output order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def dtypes(self) -> dict[str, Any]:
        return {c.name: c.dtype for c in self.columns}

    def plus(self, name: str, *columns: Column, first: bool = False) -> Table:
        """This table with more columns (after its own, or before them with ``first``)."""
        ordered = (*columns, *self.columns) if first else (*self.columns, *columns)
        return Table(name, ordered)

    def without(self, *names: str) -> Table:
        return Table(self.name, tuple(c for c in self.columns if c.name not in names))

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with every declared column in its dtype, in declared order (missing ones
        added as NA); columns the table does not declare are kept after them."""
        dtypes = self.dtypes
        ordered = list(frame.columns[: len(dtypes)]) == self.names
        if ordered and all(frame[n].dtype == t for n, t in dtypes.items()):
            return frame
        out = frame.copy()
        for name, dtype in dtypes.items():
            if name not in out.columns:
                out[name] = pd.Series([None] * len(out), index=out.index, dtype=object)
            out[name] = _cast(out[name], dtype)
        extra = [c for c in out.columns if c not in dtypes]
        return out[[*self.names, *extra]]

    def empty(self) -> pd.DataFrame:
        """A zero-row frame of this table, typed (made once per table, copied out)."""
        return _empty_of(self).copy()

    def mismatches(self, frame: pd.DataFrame) -> list[str]:
        """What keeps ``frame`` from conforming: missing columns, other dtypes, other order."""
        found = [f"missing {n}" for n in self.names if n not in frame.columns]
        found += [
            f"{n}: {frame[n].dtype} instead of {t}"
            for n, t in self.dtypes.items()
            if n in frame.columns and not _same_dtype(frame[n].dtype, t)
        ]
        if not found and list(frame.columns[: len(self.columns)]) != self.names:
            found.append(f"column order {list(frame.columns)}")
        return found


@functools.lru_cache(maxsize=64)
def _empty_of(table: Table) -> pd.DataFrame:
    columns = {name: _cast(pd.Series([], dtype=object), t) for name, t in table.dtypes.items()}
    return pd.DataFrame(columns, columns=table.names)


def _same_dtype(actual: Any, declared: Any) -> bool:
    if actual == declared:
        return True
    # nullable stand-ins for integers and booleans that hold missing values
    return (declared, str(actual)) in {("int64", "Int64"), ("bool", "boolean")}


def _cast(column: pd.Series, dtype: Any) -> pd.Series:
    if column.dtype == dtype:
        return column
    try:
        if dtype == EVIDENCE_DTYPE:
            return as_evidence_column(column)
        if dtype == UTC:
            return pd.to_datetime(column, utc=True).astype(UTC)
        if dtype in ("int64", "bool") and column.isna().any():
            dtype = pd.Int64Dtype() if dtype == "int64" else pd.BooleanDtype()
        if dtype is object:
            return column.astype(object)
        out: pd.Series = column.astype(dtype)
        return out
    except (TypeError, ValueError):
        return column


def _columns(dtype: Any, names: str, doc: str = "") -> tuple[Column, ...]:
    return tuple(Column(n, dtype, doc) for n in names.split())


DIAGNOSES = Table(
    "diagnoses",
    (
        Column("diagnosis_id", TEXT, "stable identity: host, signature, first evidence record"),
        *_columns(TEXT, "host signature_id kb title"),
        Column("confidence", "float64", "0-1"),
        Column("occurrences", "int64", "incidents (e.g. one per boot until fixed)"),
        *_columns(UTC, "first_seen last_seen"),
        Column("evidence", EVIDENCE_DTYPE, "record keys (results.evidence.EvidenceKey)"),
        *_columns(TEXT, "cause resolution reference"),
        Column("kind", TEXT, "kb, generic (claims no article), draft or sigma"),
        # Sigma rows: the rule's metadata (the DRL asks reports of matches to keep the author)
        Column("level", TEXT, "Sigma severity: informational, low, medium, high, critical"),
        Column("author", TEXT, "the Sigma rule's author"),
        Column("references", TEXT, "the Sigma rule's references, a JSON list"),
        Column("licence", TEXT, "the Sigma rule's licence (its field, else found beside it)"),
        Column("rule_file", TEXT, "the Sigma rule's file"),
    ),
)
EVIDENCE = Table(
    "evidence",
    (
        *_columns(TEXT, "diagnosis_id host signature_id kb"),
        Column("time", UTC),
        *_columns(TEXT, "symptom channel provider"),
        *_columns(pd.Int64Dtype(), "event_id event_record_id record_number"),
        Column("source_file", TEXT),
    ),
)
HOSTS = Table(
    "hosts",
    (
        Column("host", TEXT),
        *_columns("int64", "files records"),
        *_columns(UTC, "first_time last_time"),
        Column("os_release", TEXT, "e.g. Windows Server 2022 (20348); correlation.windows_release"),
        *_columns(TEXT, "os_version build service_pack", "from the 6009 version banner"),
        Column("processors", "category", "uniprocessor, multiprocessor or unknown"),
        Column("diagnoses", "int64"),
        *(Column(name, "int64", f"notable events: {kind}") for kind, name in COUNT_COLUMNS.items()),
        Column("notes", TEXT, "e.g. renames (EventLog 6011) and whether they were joined"),
    ),
)
DAILY = Table(
    "daily",
    (Column("host", TEXT), Column("day", UTC), *_columns("int64", "records errors")),
)
INTEGRITY = Table(
    "integrity",
    (
        Column("path", TEXT),
        *_columns("category", "format status"),
        Column("size", "int64"),
        Column("sha256", TEXT),
        *_columns("int64", "records recovered torn chunks chunks_skipped"),
        Column("header_chunk_count", pd.Int64Dtype()),
        Column("header_dirty", "bool"),
        *_columns(UTC, "first_time last_time"),
        Column("missing_records", "int64"),
        Column("filtered_export", "bool"),
        Column("duplicate_of", TEXT),
        Column("error_count", "int64"),
        *_columns(TEXT, "errors notes", "errors: JSON list of {chunk, offset, reason}"),
    ),
)
#: What a scan adds to each record it keeps: the rendered message and binary status, the
#: ``signature:symptom`` names it matched, and the canonical provider name it was matched by.
MATCH_COLUMNS = (
    Column("message", MESSAGE_TEXT, "offline English rendering"),
    Column("binary_status", MESSAGE_TEXT),
    Column("signatures", object, "list of 'signature_id:symptom' names the row matched"),
    Column("provider_key", TEXT, "case-folded, alias-resolved provider (what matched)"),
)
KEPT_ROWS = Table(
    "kept_rows",
    (*(Column(n, t) for n, t in RECORD_COLUMNS.items()), *MATCH_COLUMNS),
)
TIMELINE = KEPT_ROWS.plus(
    "timeline",
    Column("notable", NOTABLE_DTYPE, "kind of notable event (correlation.notable)"),
)
#: The timeline with repeated identical events grouped (``results.repeats``): the first
#: event's columns, how many, and the last event's time and record keys.
TIMELINE_GROUPS = TIMELINE.plus(
    "timeline_groups",
    Column("count", "int64", "identical events in the group"),
    Column("last_time", UTC),
    Column("last_event_record_id", "UInt64"),
    Column("last_record_number", "UInt64"),
    Column("last_source_file", "category"),
)


class ResultTables(Protocol):
    """What displays and plots read from a result (a :class:`~evtxscan.results.ScanResult`)."""

    @property
    def timeline(self) -> pd.DataFrame: ...
    @property
    def diagnoses(self) -> pd.DataFrame: ...
    @property
    def hosts(self) -> pd.DataFrame: ...
    @property
    def integrity(self) -> pd.DataFrame: ...
    @property
    def daily(self) -> pd.DataFrame: ...
    def timeline_for(self, host: str) -> pd.DataFrame: ...
    def evidence(self, host: str | None = None) -> pd.DataFrame: ...
