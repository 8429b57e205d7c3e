"""Accumulate parsed events cheaply and type them into the schema's DataFrame, column-wise.

The per-record cost is a couple of list appends: the fast path hands over the raw strings of
the System fields (as matched in pyevtx-rs' XML, still entity-escaped) and the EventData
items; slower paths hand over :class:`EventFields`. All typing, unescaping, integer parsing
and canonical value rules then run once per batch as column operations.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.records.categories import from_codes
from evtxscan.records.filetime import FILETIME_TICKS_AT_1970
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import (
    COLUMNS,
    DATA_TYPE,
    EventFields,
    RecordPosition,
)
from evtxscan.records.values import canonical_guid, canonical_values, parse_event_times

#: Order of the raw System strings (the fast path's regex groups use the same order).
SYSTEM_ORDER = (
    "provider",
    "provider_guid",
    "event_source_name",
    "qualifiers",
    "event_id",
    "version",
    "level",
    "task",
    "opcode",
    "keywords",  # hex digits without 0x
    "time_created",
    "event_record_id",
    "process_id",
    "thread_id",
    "channel",
    "computer",
    "user_sid",
)
_INT_COLUMNS = {
    "qualifiers": "UInt16",
    "event_id": "UInt16",
    "version": "UInt8",
    "level": "UInt8",
    "task": "UInt16",
    "opcode": "UInt8",
    "event_record_id": "UInt64",
    "process_id": "UInt32",
    "thread_id": "UInt32",
}
_INT_LIMITS = {"UInt8": 2**8, "UInt16": 2**16, "UInt32": 2**32, "UInt64": 2**64}

#: One EventData item: ("Data", name, value, "", "") or ("", "", "", "Binary", hex).
Item = tuple[str, str, str, str, str]
SystemStrings = tuple[str | None, ...]

_FILETIME_EPOCH_US = FILETIME_TICKS_AT_1970 // 10  # microseconds from 1601-01-01 to 1970-01-01
_EARLIEST = pd.Timestamp("1970-01-01", tz="UTC")
_LATEST = pd.Timestamp("2100-01-01", tz="UTC")


def _system_strings(f: EventFields) -> SystemStrings:
    def num(value: int | None) -> str | None:
        return None if value is None else str(value)

    return (
        f.provider,
        f.provider_guid,
        f.event_source_name,
        num(f.qualifiers),
        num(f.event_id),
        num(f.version),
        num(f.level),
        num(f.task),
        num(f.opcode),
        None if f.keywords is None else format(f.keywords, "x"),
        f.time_created,
        num(f.event_record_id),
        num(f.process_id),
        num(f.thread_id),
        f.channel,
        f.computer,
        f.user_sid,
    )


class RecordBatch:
    """Parsed events waiting to become one typed DataFrame."""

    def __init__(self) -> None:
        self.system: list[SystemStrings] = []
        self.items: list[list[Item]] = []
        self.escaped: list[bool] = []
        self.positions: list[RecordPosition] = []
        # (message, culture) that Windows logged (XML RenderingInfo); absent elsewhere.
        self.logged: dict[int, tuple[str | None, str | None]] = {}
        # Number columns shown as text that is not a number, counted (normalized events).
        self.malformed: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.positions)

    def add_raw(self, system: SystemStrings, items: list[Item], position: RecordPosition) -> None:
        """Add an event as raw, still XML-escaped strings (the fast path)."""
        self.system.append(system)
        self.items.append(items)
        self.escaped.append(True)
        self.positions.append(position)

    def add_fields(
        self,
        fields: EventFields,
        position: RecordPosition,
        logged: tuple[str | None, str | None] | None = None,
    ) -> None:
        """Add an event already normalized to :class:`EventFields` (plain text), with the
        message and culture Windows logged for it, when an XML export carried them."""
        if logged is not None and (logged[0] is not None or logged[1] is not None):
            self.logged[len(self.positions)] = logged
        for name in fields.malformed:
            self.malformed[name] = self.malformed.get(name, 0) + 1
        items: list[Item] = [("Data", name or "", value, "", "") for name, value in fields.data]
        if fields.binary:
            items.append(("", "", "", "Binary", fields.binary))
        self.system.append(_system_strings(fields))
        self.items.append(items)
        self.escaped.append(False)
        self.positions.append(position)

    def clear(self) -> None:
        for part in (self.system, self.items, self.escaped, self.positions):
            part.clear()
        self.logged.clear()
        self.malformed.clear()

    def frame(
        self, *, source_file: str, source_format: str, host_map: HostMap | None = None
    ) -> pd.DataFrame:
        """Type the batch. Torn records (time unparseable or outside 1970-2100, EventRecordID
        0, or an EVTX record without a Channel) are kept, with ``time`` NaT and ``torn`` set.
        """
        n = len(self)
        raw = dict(zip(SYSTEM_ORDER, _columns(self.system, len(SYSTEM_ORDER)), strict=True))
        pos = dict(zip(RecordPosition._fields, _columns(self.positions, 5), strict=True))
        escaped = any(self.escaped)
        out: dict[str, Any] = {}
        computers = _text_category(raw["computer"], escaped, strip=True)
        out["host"] = (host_map or HostMap()).hosts_for(computers, source_file)
        out["computer"] = computers
        times, bad_time = parse_event_times(raw["time_created"])
        out["time"] = times
        out["written_time"] = filetimes_to_datetimes(pos["written_time"]).array
        lost = {"written_time": _lost(pos["written_time"], out["written_time"], zero_ok=True)}
        out["channel"] = _text_category(raw["channel"], escaped, strip=True)
        out["provider"] = _text_category(raw["provider"], escaped)
        out["event_source_name"] = _text_category(raw["event_source_name"], escaped)
        for name in ("event_id", "qualifiers", "version", "level", "task", "opcode"):
            out[name] = _integers(raw[name], _INT_COLUMNS[name])
            lost[name] = _lost(raw[name], out[name])
        out["keywords"] = _hex_integers(raw["keywords"])
        lost["keywords"] = _lost(raw["keywords"], out["keywords"])
        numbers = [v if v is None or 0 <= v < 2**64 else None for v in pos["record_number"]]
        out["record_number"] = pd.array(numbers, dtype="UInt64")
        for name in ("event_record_id", "process_id", "thread_id"):
            out[name] = _integers(raw[name], _INT_COLUMNS[name])
            lost[name] = _lost(raw[name], out[name])
        out["user_sid"] = categorical(raw["user_sid"])
        out["provider_guid"] = map_categories(categorical(raw["provider_guid"]), canonical_guid)
        data, binary = _data_columns(self.items, self.escaped)
        out["data"] = pd.array(data, dtype=COLUMNS["data"])
        out["binary"] = pd.array(binary, dtype=pd.StringDtype("pyarrow"))
        out["source_file"] = categorical([source_file] * n)
        out["source_format"] = categorical([source_format] * n)
        out["chunk"] = pd.array(list(pos["chunk"]), dtype="Int32")
        out["offset"] = pd.array(list(pos["offset"]), dtype="Int64")
        out["recovered"] = np.asarray(pos["recovered"], dtype=bool)
        messages: list[str | None] = [None] * n
        cultures: list[str | None] = [None] * n
        for index, (message, culture) in self.logged.items():
            messages[index], cultures[index] = message, culture
        out["message_logged"] = pd.array(messages, dtype=pd.StringDtype("pyarrow"))
        out["culture"] = categorical(cultures)
        channel = out["channel"]
        no_channel = np.asarray(pd.isna(channel) | (channel == ""), dtype=bool)
        ids_zero = np.asarray(pd.Series(out["event_record_id"]).eq(0).fillna(False), dtype=bool)
        out["torn"] = bad_time | ids_zero | (no_channel & (source_format == "evtx"))
        frame = pd.DataFrame(out, columns=list(COLUMNS))
        for name, count in self.malformed.items():
            lost[name] += count
        frame.attrs[VALUES_LOST] = {name: count for name, count in lost.items() if count}
        return frame


#: ``DataFrame.attrs`` key: values present in a record but out of range or malformed for
#: their column (read as missing), counted per column, for the integrity notes.
VALUES_LOST = "evtxscan_values_lost"


def _lost(raw: Sequence[object], typed: Any, zero_ok: bool = False) -> int:
    """Values given (not None, not empty) that typed to missing."""
    given = np.array([v is not None and v != "" and not (zero_ok and v == 0) for v in raw])
    return int(np.sum(given & np.asarray(pd.isna(typed), dtype=bool))) if len(given) else 0


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [()] * width


def categorical(values: Sequence[str | None] | np.ndarray) -> pd.Categorical:
    """A categorical of text whose categories are always strings (also when all missing),
    sorted as pandas sorts them. Made from factorized codes and a shared dtype: building a
    categorical's dtype anew costs about 0.25 ms, most of a small batch's column."""
    array = np.asarray(values, dtype=object) if len(values) else np.zeros(0, dtype=object)
    codes, uniques = pd.factorize(array, sort=True)
    names = tuple(uniques)
    if all(isinstance(name, str) for name in names):
        return from_codes(codes, names)
    cat = pd.Categorical(list(values))  # not text: pandas' own categories
    if len(cat.categories) == 0:
        return pd.Categorical(list(values), categories=pd.Index([], dtype="str"))
    return cat


def map_categories(values: pd.Categorical, func: Callable[[str], str]) -> pd.Categorical:
    """Apply ``func`` once per distinct value; distinct inputs may map to one output."""
    mapped = np.array([func(c) for c in values.categories] + [None], dtype=object)
    return categorical(mapped[values.codes])


def _text_category(values: Sequence[str | None], escaped: bool, strip: bool = False) -> Any:
    cat = categorical(values)
    if not escaped and not strip:
        return cat

    def clean(text: str) -> str:
        text = html.unescape(text) if escaped and "&" in text else text
        return text.strip() if strip else text

    return map_categories(cat, clean)


def _integers(values: Sequence[str | None], dtype: str) -> Any:
    """Decimal strings -> a nullable integer array; out-of-range or malformed -> <NA>."""
    strings = pa.array(values, type=pa.string())
    try:
        numbers = pc.cast(strings, pa.uint64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = [int(v) if v and v.isdecimal() and len(v) < 21 else None for v in values]
        return _bounded(parsed, dtype)
    mask = numbers.is_null().to_numpy(zero_copy_only=False)
    exact = pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False)
    if _INT_LIMITS[dtype] < 2**64:
        over = exact >= _INT_LIMITS[dtype]
        mask = mask | over
        exact = np.where(over, 0, exact)
    return pd.arrays.IntegerArray(exact.astype(dtype.lower()), mask)


def _bounded(values: Sequence[int | None], dtype: str) -> Any:
    limit = _INT_LIMITS[dtype]
    kept = [v if v is not None and 0 <= v < limit else None for v in values]
    return pd.array(kept, dtype=dtype)  # type: ignore[call-overload]


def _hex_integers(values: Sequence[str | None]) -> Any:
    cat = pd.Categorical(list(values))

    def parse(text: str) -> int | None:
        if len(text) > 64:  # no 64-bit number needs more, even zero-padded
            return None
        try:
            value = int(text, 16)
        except ValueError:
            return None
        return value if 0 <= value < 2**64 else None

    # Not pd.array(list of ints): numpy may infer float64 from a list of big ints and round
    # the low bits of keywords away.
    parsed = [parse(c) for c in cat.categories]
    numbers = np.array([0 if v is None else v for v in parsed] + [0], dtype=np.uint64)
    missing = np.array([v is None for v in parsed] + [True], dtype=bool)
    return pd.arrays.IntegerArray(numbers[cat.codes], missing[cat.codes])


def _fix_text(values: np.ndarray, escaped_items: np.ndarray) -> np.ndarray:
    """XML line-end normalization and entity unescaping for escaped (fast-path) values."""
    if not len(values) or not escaped_items.any():
        return values
    arrow = pa.array(values, type=pa.string())
    suspect = pc.or_(pc.match_substring(arrow, "&"), pc.match_substring(arrow, "\r"))
    candidates = np.flatnonzero(suspect.to_numpy(zero_copy_only=False) & escaped_items)
    for index in candidates:
        text = values[index].replace("\r\n", "\n").replace("\r", "\n")
        values[index] = html.unescape(text) if "&" in text else text
    return values


def _data_columns(
    items: list[list[Item]], escaped: list[bool]
) -> tuple[pa.ListArray, list[str | None]]:
    """The ``data`` list column and the ``binary`` column, from per-record items."""
    n = len(items)
    counts = np.fromiter(map(len, items), dtype=np.int64, count=n)
    flat = list(chain.from_iterable(items))
    binary: np.ndarray = np.full(n, None, dtype=object)
    if not flat:
        offsets = pa.array(np.zeros(n + 1, dtype=np.int32))
        empty = pa.StructArray.from_arrays(
            [pa.array([], pa.string()), pa.array([], pa.string())], names=["name", "value"]
        )
        return pa.ListArray.from_arrays(offsets, empty).cast(DATA_TYPE), list(binary)
    table = np.array(flat, dtype=object)  # one C call; a zip(*flat) costs 5x more
    names, values, binary_tags, hexes = table[:, 1], table[:, 2], table[:, 3], table[:, 4]
    record_of = np.repeat(np.arange(n), counts)
    is_binary = binary_tags == "Binary"
    if is_binary.any():
        cleaned = ["".join(h.split()).upper() or None for h in hexes[is_binary]]
        binary[record_of[is_binary]] = cleaned
    keep = ~is_binary
    record_of = record_of[keep]
    item_escaped = np.asarray(escaped, dtype=bool)[record_of]
    names = _fix_text(names[keep], item_escaped)
    values = _fix_text(values[keep], item_escaped)
    names[names == ""] = None
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(record_of, minlength=n), out=offsets[1:])
    structs = pa.StructArray.from_arrays(
        [pa.array(names, type=pa.string()), canonical_values(pa.array(values, type=pa.string()))],
        names=["name", "value"],
    )
    return pa.ListArray.from_arrays(pa.array(offsets), structs), list(binary)


def filetimes_to_datetimes(filetimes: Sequence[int | None]) -> pd.Series:
    """FILETIME ticks -> UTC datetimes (µs); zero, missing or out-of-range ticks become NaT."""
    ticks = np.array(
        [-1 if t is None or not 0 <= t < 2**63 else t for t in filetimes], dtype=np.int64
    )
    micros = ticks // 10 - _FILETIME_EPOCH_US
    series = pd.Series(micros.astype("datetime64[us]")).dt.tz_localize("UTC")
    return series.where((ticks > 0) & (series >= _EARLIEST) & (series < _LATEST))


def build_frame(
    fields: Sequence[EventFields],
    positions: Sequence[RecordPosition],
    *,
    source_file: str,
    source_format: str,
    host_map: HostMap | None = None,
) -> pd.DataFrame:
    """Convenience for readers that produce :class:`EventFields` lists."""
    batch = RecordBatch()
    for event, position in zip(fields, positions, strict=True):
        batch.add_fields(event, position)
    return batch.frame(source_file=source_file, source_format=source_format, host_map=host_map)


def empty_frame() -> pd.DataFrame:
    """A zero-row frame with the schema's columns and dtypes."""
    return RecordBatch().frame(source_file="", source_format="evtx")


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate batches, keeping categorical columns categorical (union of categories)."""
    if not frames:
        return empty_frame()
    out = pd.concat(frames, ignore_index=True)
    for name, dtype in COLUMNS.items():
        if dtype == "category" and out[name].dtype != "category":
            out[name] = out[name].astype("category")
    return out


def held_categories(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each categorical column's categories cut to the values it holds (typed
    as text when it holds none), so a frame's dtypes do not depend on how it was batched."""
    for name in rows.columns:
        if isinstance(rows[name].dtype, pd.CategoricalDtype):
            column = rows[name].cat.remove_unused_categories()
            if column.cat.categories.empty:
                column = column.cat.set_categories(pd.Index([], dtype="str"))
            rows[name] = column
    return rows
