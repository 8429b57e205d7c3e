"""Typed record-schema frames from decoded .evt columns.

The same columns, dtypes and values every reader's batches have (see
:meth:`evtxscan.records.batch.RecordBatch.frame`), built column-wise from the records'
numbers. Event types become EVTX levels the way Windows renders legacy events in EVTX XML:
error 2, warning 3, information 4, and 0 (LogAlways) for success and both audit types;
keywords get the classic-event bit (0x80000000000000) plus Audit Success
(0x20000000000000) or Audit Failure (0x10000000000000), so audit outcomes survive without
an event-type column. The event ID's high word is its qualifiers; the category is the task.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.records.batch import (
    VALUES_LOST,
    categorical,
    filetimes_to_datetimes,
    map_categories,
)
from evtxscan.records.categories import from_codes
from evtxscan.records.filetime import FILETIME_TICKS_AT_1970
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import COLUMNS, DATA_TYPE
from evtxscan.records.values import LATEST_TIME, canonical_values
from evtxscan.sources.evt.columns import EvtColumns

CLASSIC_KEYWORD = 0x80000000000000
AUDIT_SUCCESS_KEYWORD = 0x20000000000000
AUDIT_FAILURE_KEYWORD = 0x10000000000000


class EventType(IntEnum):
    """EVENTLOGRECORD EventType."""

    SUCCESS = 0x00
    ERROR = 0x01
    WARNING = 0x02
    INFORMATION = 0x04
    AUDIT_SUCCESS = 0x08
    AUDIT_FAILURE = 0x10


#: EventType -> EVTX Level, as Windows renders legacy events (unknown types: no level).
LEVELS: dict[EventType, int] = {
    EventType.SUCCESS: 0,
    EventType.ERROR: 2,
    EventType.WARNING: 3,
    EventType.INFORMATION: 4,
    EventType.AUDIT_SUCCESS: 0,
    EventType.AUDIT_FAILURE: 0,
}
_AUDIT_KEYWORDS = {
    EventType.AUDIT_SUCCESS: AUDIT_SUCCESS_KEYWORD,
    EventType.AUDIT_FAILURE: AUDIT_FAILURE_KEYWORD,
}
#: EventType -> EVTX Keywords (unknown types: none).
KEYWORDS: dict[EventType, int] = {
    kind: CLASSIC_KEYWORD | _AUDIT_KEYWORDS.get(kind, 0) for kind in EventType
}


def evt_frame(
    columns: EvtColumns,
    offsets: np.ndarray,
    recovered: np.ndarray,
    *,
    channel: str | None,
    source_file: str,
    host_map: HostMap | None = None,
) -> pd.DataFrame:
    """The typed frame of a batch of records (``offsets``: their file offsets)."""
    head = columns.head
    n = len(head)
    out: dict[str, Any] = {}
    computers = map_categories(categorical(columns.computer), str.strip)
    out["host"] = (host_map or HostMap()).hosts_for(computers, source_file)
    out["computer"] = computers
    generated = pd.Series((head["generated"].astype(np.int64) * 1_000_000).astype("M8[us]"))
    generated = generated.dt.tz_localize("UTC")
    bad_time = np.asarray(generated >= LATEST_TIME, dtype=bool)
    out["time"] = generated.where(~bad_time).array
    ticks = head["written"].astype(np.int64) * 10_000_000 + FILETIME_TICKS_AT_1970
    out["written_time"] = filetimes_to_datetimes(ticks.tolist()).array
    out["channel"] = _constant(None if channel is None else channel.strip(), n)
    out["provider"] = categorical(columns.source_name)
    out["event_source_name"] = out["provider"].copy()
    event_id = head["event_id"]
    out["event_id"] = _integers(event_id & 0xFFFF, "UInt16")
    out["qualifiers"] = _integers(event_id >> 16, "UInt16")
    out["version"] = _integers(None, "UInt8", n)
    kind = head["event_type"]
    out["level"] = _by_type(kind, LEVELS, "UInt8")
    out["task"] = _integers(head["category"], "UInt16")
    out["opcode"] = _integers(None, "UInt8", n)
    out["keywords"] = _by_type(kind, KEYWORDS, "UInt64")
    out["record_number"] = _integers(head["number"], "UInt64")
    out["event_record_id"] = _integers(head["number"], "UInt64")
    out["process_id"] = _integers(None, "UInt32", n)
    out["thread_id"] = _integers(None, "UInt32", n)
    out["user_sid"] = categorical(columns.user_sid)
    out["provider_guid"] = _constant(None, n)
    out["data"] = pd.array(_data(columns), dtype=COLUMNS["data"])
    binary = [raw.hex().upper() or None for raw in columns.data]
    out["binary"] = pd.array(binary, dtype=pd.StringDtype("pyarrow"))
    out["source_file"] = _constant(source_file, n)
    out["source_format"] = _constant("evt", n)
    out["chunk"] = pd.array([None] * n, dtype="Int32")
    out["offset"] = pd.array(offsets.astype(np.int64), dtype="Int64")
    out["recovered"] = np.asarray(recovered, dtype=bool)
    out["message_logged"] = pd.array([None] * n, dtype=pd.StringDtype("pyarrow"))
    out["culture"] = _constant(None, n)
    out["torn"] = bad_time | (head["number"] == 0)
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    lost = int(pd.isna(out["written_time"]).sum())  # written after 2100
    frame.attrs[VALUES_LOST] = {"written_time": lost} if lost else {}
    return frame


def _constant(value: str | None, n: int) -> pd.Categorical:
    """A categorical column of one value (None: missing, no categories)."""
    if value is None:
        return from_codes(np.full(n, -1, dtype=np.int8), ())
    return from_codes(np.zeros(n, dtype=np.int8), (value,))


def _integers(values: np.ndarray | None, dtype: str, n: int = 0) -> Any:
    """A nullable integer array of ``values`` (None: ``n`` missing values)."""
    if values is None:
        return pd.arrays.IntegerArray(np.zeros(n, dtype=dtype.lower()), np.ones(n, dtype=bool))
    return pd.arrays.IntegerArray(values.astype(dtype.lower()), np.zeros(len(values), bool))


def _by_type(kind: np.ndarray, table: dict[EventType, int], dtype: str) -> Any:
    """Per record, the value ``table`` gives its event type (missing for unknown types)."""
    values, known = type_values(kind, table, dtype.lower())
    return pd.arrays.IntegerArray(values, ~known)


def type_values(
    kind: np.ndarray, table: dict[EventType, int], dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per record, the number ``table`` gives its event type, and whether it gives one."""
    values = np.zeros(len(kind), dtype=dtype)
    known = np.zeros(len(kind), dtype=bool)
    for event_type, value in table.items():
        rows = kind == event_type
        values[rows] = value
        known |= rows
    return values, known


def _data(columns: EvtColumns) -> pa.ListArray:
    """The ``data`` column: each record's inserts, unnamed."""
    offsets = np.zeros(len(columns.string_counts) + 1, dtype=np.int32)
    np.cumsum(columns.string_counts, out=offsets[1:])
    values = canonical_values(pa.array(columns.strings, type=pa.string()))
    names = pa.nulls(len(values), type=pa.string())
    structs = pa.StructArray.from_arrays([names, values], names=["name", "value"])
    return pa.ListArray.from_arrays(pa.array(offsets), structs).cast(DATA_TYPE)
