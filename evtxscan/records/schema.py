"""The one normalized record schema every source produces, and the code that builds typed batches.

Every reader (pyevtx-rs, python-evtx, legacy .evt, XML export) reduces an event to an
:class:`EventFields` tuple plus per-record position facts (:class:`RecordPosition`); the
:func:`build_frame` function turns a list of them into a typed pandas DataFrame. Keeping the
typing in one place is what makes the backends agree column for column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.records.hosts import HostMap
from evtxscan.records.values import canonical_guid, canonical_values, parse_event_times

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
}

DataPairs = list[tuple[str | None, str]]


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


class RecordPosition(NamedTuple):
    """Where a record sits in its file: facts from the record header, not from the event."""

    record_number: int | None
    written_time: int | None  # FILETIME (100 ns ticks since 1601) from the record header
    chunk: int | None
    offset: int | None  # file offset of the record header
    recovered: bool = False


_FILETIME_EPOCH_US = 11_644_473_600_000_000  # microseconds from 1601-01-01 to 1970-01-01
_EARLIEST = pd.Timestamp("1970-01-01", tz="UTC")
_LATEST = pd.Timestamp("2100-01-01", tz="UTC")


def empty_frame() -> pd.DataFrame:
    """A zero-row frame with the schema's columns and dtypes."""
    return build_frame([], [], source_file="", source_format="evtx")


def filetimes_to_datetimes(filetimes: Sequence[int | None]) -> pd.Series:
    """FILETIME ticks -> UTC datetimes (µs); zero, missing or out-of-range ticks become NaT."""
    ticks = np.array([-1 if t is None else t for t in filetimes], dtype=np.int64)
    micros = ticks // 10 - _FILETIME_EPOCH_US
    series = pd.Series(micros.astype("datetime64[us]")).dt.tz_localize("UTC")
    return series.where((ticks > 0) & (series >= _EARLIEST) & (series < _LATEST))


def _nullable(values: Sequence[int | None], dtype: str) -> pd.array:
    return pd.array(values, dtype=dtype)


def data_array(pairs_per_record: Sequence[DataPairs]) -> pa.ListArray:
    """Build the Arrow ``list<struct<name, value>>`` column from per-record pair lists."""
    offsets = [0]
    names: list[str | None] = []
    values: list[str] = []
    for pairs in pairs_per_record:
        for name, value in pairs:
            names.append(name)
            values.append(value)
        offsets.append(len(values))
    value_array = canonical_values(pa.array(values, type=pa.string()))
    structs = pa.StructArray.from_arrays(
        [pa.array(names, type=pa.string()), value_array], names=["name", "value"]
    )
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), structs)


def _category(values: Sequence[str | None]) -> pd.Categorical:
    return pd.Categorical(values)


def map_categories(values: pd.Categorical, func: Callable[[str], str]) -> pd.Categorical:
    """Apply ``func`` once per distinct value; distinct inputs may map to one output."""
    mapped = np.array([func(c) for c in values.categories] + [None], dtype=object)
    return pd.Categorical(mapped[values.codes])


def _transpose(rows: Sequence[tuple[object, ...]], names: tuple[str, ...]) -> dict[str, Any]:
    """Rows of named tuples -> one tuple of values per field name."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return dict(zip(names, columns, strict=True))


def build_frame(
    fields: Sequence[EventFields],
    positions: Sequence[RecordPosition],
    *,
    source_file: str,
    source_format: str,
    host_map: HostMap | None = None,
) -> pd.DataFrame:
    """Type a batch of parsed events into the normalized schema.

    Column work is vectorized: the only per-record Python is the transpose of the tuples.
    Torn records (time unparseable or outside 1970-2100, or EventRecordID 0) are kept, with
    ``time`` as NaT and ``torn`` set, so pandas, Parquet and plotting never see a 1601 date.
    """
    n = len(fields)
    if len(positions) != n:
        raise ValueError(f"{n} events but {len(positions)} positions")
    f = _transpose(fields, EventFields._fields)
    p = _transpose(positions, RecordPosition._fields)

    times, bad_time = parse_event_times(f["time_created"])
    record_ids = _nullable(f["event_record_id"], "UInt64")
    channels = _category(f["channel"])
    # Windows writes a Channel in every EVTX event; a record without one is torn (half-zeroed).
    no_channel = source_format == "evtx" and n > 0
    torn = (
        bad_time
        | np.asarray(pd.Series(record_ids).eq(0).fillna(False), dtype=bool)
        | (np.asarray(pd.isna(channels) | (channels == ""), dtype=bool) & no_channel)
    )
    computers = _category(f["computer"])
    mapper = host_map or HostMap()
    frame = pd.DataFrame(
        {
            "host": mapper.hosts_for(computers, source_file),
            "computer": computers,
            "time": times,
            "written_time": filetimes_to_datetimes(p["written_time"]).array,
            "channel": channels,
            "provider": _category(f["provider"]),
            "event_source_name": _category(f["event_source_name"]),
            "event_id": _nullable(f["event_id"], "UInt16"),
            "qualifiers": _nullable(f["qualifiers"], "UInt16"),
            "version": _nullable(f["version"], "UInt8"),
            "level": _nullable(f["level"], "UInt8"),
            "task": _nullable(f["task"], "UInt16"),
            "opcode": _nullable(f["opcode"], "UInt8"),
            "keywords": _nullable(f["keywords"], "UInt64"),
            "record_number": _nullable(p["record_number"], "UInt64"),
            "event_record_id": record_ids,
            "process_id": _nullable(f["process_id"], "UInt32"),
            "thread_id": _nullable(f["thread_id"], "UInt32"),
            "user_sid": _category(f["user_sid"]),
            "provider_guid": map_categories(_category(f["provider_guid"]), canonical_guid),
            "data": pd.array(data_array(f["data"]), dtype=COLUMNS["data"]),
            "binary": pd.array(list(f["binary"]), dtype=COLUMNS["binary"]),
            "source_file": pd.Categorical([source_file] * n),
            "source_format": pd.Categorical([source_format] * n),
            "chunk": _nullable(p["chunk"], "Int32"),
            "offset": _nullable(p["offset"], "Int64"),
            "recovered": np.asarray(p["recovered"], dtype=bool),
            "torn": torn,
        }
    )
    return frame


def concat_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate batches, keeping categorical columns categorical (union of categories)."""
    if not frames:
        return empty_frame()
    out = pd.concat(frames, ignore_index=True)
    for name, dtype in COLUMNS.items():
        if dtype == "category" and out[name].dtype != "category":
            out[name] = out[name].astype("category")
    return out
