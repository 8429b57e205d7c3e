"""The one normalized record schema every source produces.

Every reader (pyevtx-rs, python-evtx, legacy .evt, XML export) reduces an event to an
:class:`EventFields` tuple (or, on the fast path, the raw strings of the same fields) plus
per-record position facts (:class:`RecordPosition`); :mod:`evtxscan.records.batch` types
them into a DataFrame. Keeping the typing in one place makes the backends agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

#: Arrow type of the ``data`` column: every EventData/UserData value in order, with its name
#: (``None`` for an unnamed, positional ``<Data>``).
DATA_TYPE = pa.list_(pa.struct([("name", pa.string()), ("value", pa.string())]))

#: Column name -> pandas dtype, in output order.
COLUMNS: dict[str, object] = {
    "host": "category",
    "computer": "category",
    "time": "datetime64[us, UTC]",
    "written_time": "datetime64[us, UTC]",
    "channel": "category",
    "provider": "category",
    "event_source_name": "category",
    "event_id": "UInt16",
    "qualifiers": "UInt16",
    "version": "UInt8",
    "level": "UInt8",
    "task": "UInt16",
    "opcode": "UInt8",
    "keywords": "UInt64",
    "record_number": "UInt64",
    "event_record_id": "UInt64",
    "process_id": "UInt32",
    "thread_id": "UInt32",
    "user_sid": "category",
    "provider_guid": "category",
    "data": pd.ArrowDtype(DATA_TYPE),
    "binary": pd.StringDtype("pyarrow"),
    "source_file": "category",
    "source_format": "category",
    "chunk": "Int32",
    "offset": "Int64",
    "recovered": "bool",
    "torn": "bool",
    "message_logged": pd.StringDtype("pyarrow"),
    "culture": "category",
}

DataPairs = list[tuple[str | None, str]]


def data_pairs(cell: Iterable[Mapping[str, str | None]] | None) -> DataPairs:
    """One ``data`` cell as (name, value) pairs; a missing value is ``""``.

    The one reader of the cell: a missing cell, an Arrow scalar's list of dicts and a
    Parquet round trip all read the same.
    """
    if cell is None:
        return []
    return [(item["name"], item["value"] or "") for item in cell]


def data_values(cell: Iterable[Mapping[str, str | None]] | None) -> list[str]:
    """The values of one ``data`` cell in order (``""`` for a missing value)."""
    return [value for _, value in data_pairs(cell)]


class EventFields(NamedTuple):
    """What a parser read from one event, before typing. Text exactly as the event renders."""

    provider: str | None
    provider_guid: str | None
    event_source_name: str | None
    event_id: int | None
    qualifiers: int | None
    version: int | None
    level: int | None
    task: int | None
    opcode: int | None
    keywords: int | None
    time_created: str | None  # ISO-8601 text as rendered, e.g. 2017-09-26T09:09:32.088093Z
    event_record_id: int | None
    process_id: int | None
    thread_id: int | None
    channel: str | None
    computer: str | None
    user_sid: str | None
    data: DataPairs
    binary: str | None  # upper-case hex, None when absent or empty
    #: Number columns whose text the event shows but that is not a number (read as missing).
    malformed: tuple[str, ...] = ()


class RecordPosition(NamedTuple):
    """Where a record sits in its file: facts from the record header, not from the event."""

    record_number: int | None
    written_time: int | None  # FILETIME (100 ns ticks since 1601) from the record header
    chunk: int | None
    offset: int | None  # file offset of the record header
    recovered: bool = False
