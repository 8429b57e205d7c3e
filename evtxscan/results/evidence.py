"""A diagnosis' evidence: the key of each symptom record, typed, and its one text form.

Evidence travels typed (a :class:`EvidenceKey` per record; in ``ScanResult.diagnoses`` an
Arrow ``list<struct>`` column, in ``ScanResult.evidence()`` one row per record). It becomes
JSON text only where it is written: CSV cells, the nightly state, and the ``diagnosis_id``
recipe, which hashes the first key's JSON so identities stay stable across versions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray

#: The Arrow type of one evidence key (the fields of :class:`EvidenceKey`, in order).
EVIDENCE_ITEM = pa.struct(
    [
        ("host", pa.string()),
        ("channel", pa.string()),
        ("event_record_id", pa.uint64()),
        ("record_number", pa.uint64()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("symptom", pa.string()),
        ("provider", pa.string()),
        ("event_id", pa.uint16()),
        ("source_file", pa.string()),
    ]
)
EVIDENCE_LIST = pa.list_(EVIDENCE_ITEM)
#: The dtype of the ``evidence`` column of the diagnoses table.
EVIDENCE_DTYPE = pd.ArrowDtype(EVIDENCE_LIST)
#: Evidence keys kept per diagnosis (the first ones, in time order of the incidents).
EVIDENCE_LIMIT = 50


class EvidenceKey(NamedTuple):
    """Where one symptom record is: enough to find it again in its file."""

    host: str
    channel: str | None
    event_record_id: int | None
    record_number: int | None
    time: pd.Timestamp
    symptom: str
    provider: str | None
    event_id: int | None  # None: a record without one (a Sigma rule may match it)
    source_file: str

    @classmethod
    def of_row(cls, row: Any, time: pd.Timestamp, symptom: str) -> EvidenceKey:
        """The key of a kept row (a Series or mapping with the record columns)."""
        record_id, number = row["event_record_id"], row["record_number"]
        return cls(
            host=str(row["host"]),
            channel=None if pd.isna(row["channel"]) else str(row["channel"]),
            event_record_id=None if record_id is pd.NA else int(record_id),
            record_number=None if number is pd.NA else int(number),
            time=time,
            symptom=symptom,
            provider=None if pd.isna(row["provider"]) else str(row["provider"]),
            event_id=None if pd.isna(row["event_id"]) else int(row["event_id"]),
            source_file=str(row["source_file"]),
        )

    @classmethod
    def of_mapping(cls, item: Mapping[str, Any]) -> EvidenceKey:
        """A key read back from its JSON object (or an Arrow struct as a dict)."""
        values: dict[str, Any] = {name: item.get(name) for name in cls._fields}
        values["time"] = pd.Timestamp(values["time"]).tz_convert("UTC")
        return cls(**values)

    def as_json_object(self) -> dict[str, Any]:
        """The JSON object form (time as ISO-8601 with its UTC offset)."""
        return {**self._asdict(), "time": _iso(self.time)}


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def evidence_json(keys: Iterable[EvidenceKey | Mapping[str, Any]] | None) -> str:
    """One evidence list as JSON text (the CSV cell and the nightly state's form)."""
    items = [
        k.as_json_object()
        if isinstance(k, EvidenceKey)
        else {n: _jsonable(v) for n, v in k.items()}
        for k in keys or []
    ]
    return json.dumps(items, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


def evidence_from_json(text: str | None) -> list[EvidenceKey]:
    """Keys from their JSON text (an empty list for no text)."""
    if not text:
        return []
    return [EvidenceKey.of_mapping(item) for item in json.loads(text)]


def evidence_array(lists: Sequence[Sequence[EvidenceKey] | None]) -> ExtensionArray:
    """An ``evidence`` column: one list of keys per diagnosis."""
    cells = [[k._asdict() for k in keys] if keys is not None else [] for keys in lists]
    return pd.array(pa.array(cells, type=EVIDENCE_LIST), dtype=EVIDENCE_DTYPE)


def evidence_lists(column: pd.Series) -> list[list[EvidenceKey]]:
    """The keys of an ``evidence`` column, per row (typed, JSON text or Python lists)."""
    out: list[list[EvidenceKey]] = []
    for cell in _python_cells(column):
        if isinstance(cell, str):
            out.append(evidence_from_json(cell))
        elif cell is None or (isinstance(cell, float) and cell != cell):
            out.append([])
        else:
            out.append([_key(item) for item in cell])
    return out


def _key(item: EvidenceKey | Mapping[str, Any]) -> EvidenceKey:
    return item if isinstance(item, EvidenceKey) else EvidenceKey.of_mapping(item)


def _python_cells(column: pd.Series) -> list[Any]:
    if isinstance(column.dtype, pd.ArrowDtype):
        return list(column.array._pa_array.to_pylist())
    return list(column)


def as_evidence_column(column: pd.Series) -> pd.Series:
    """``column`` in the typed evidence dtype (from JSON text or lists of mappings)."""
    if column.dtype == EVIDENCE_DTYPE:
        return column
    return pd.Series(evidence_array(evidence_lists(column)), index=column.index, name=column.name)


def diagnosis_id(host: str, signature_id: str, first: EvidenceKey | Mapping[str, Any]) -> str:
    """The stable identity of a diagnosis: its host, signature and first evidence record."""
    item = first.as_json_object() if isinstance(first, EvidenceKey) else dict(first)
    key = json.dumps(item, sort_keys=True)
    return hashlib.sha256(f"{host}|{signature_id}|{key}".encode()).hexdigest()[:16]
