"""Typed record-schema frames straight from index columns and decoded payloads.

The same columns, dtypes and values :meth:`evtxscan.records.batch.RecordBatch.frame` makes
from rendered XML, built column-wise: categoricals from the index's dictionary codes (sorted
categories, as ``pd.Categorical`` sorts them), nullable integers from values and presence
masks, times clipped to 1970-2100 with the same ``torn`` rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.records.batch import VALUES_LOST
from evtxscan.records.categories import from_codes
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import COLUMNS
from evtxscan.records.values import EARLIEST_TIME, LATEST_TIME
from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.system_fields import Numbers, Texts

_FILETIME_TICKS_AT_1970 = 116_444_736_000_000_000
_INTEGERS = {
    "event_id": "uint16",
    "qualifiers": "uint16",
    "version": "uint8",
    "level": "uint8",
    "task": "uint16",
    "opcode": "uint8",
    "keywords": "uint64",
    "event_record_id": "uint64",
    "process_id": "uint32",
    "thread_id": "uint32",
}
_NAT = np.iinfo(np.int64).min
_UTC_MICROS = pd.DatetimeTZDtype("us", "UTC")
_EARLIEST_US = EARLIEST_TIME.value // 1000
_LATEST_US = LATEST_TIME.value // 1000


def index_frame(
    index: RecordIndex,
    data: pa.Array,
    binary: pa.Array,
    *,
    source_files: Sequence[str],
    host_map: HostMap | None = None,
) -> pd.DataFrame:
    """The schema frame of the records of ``index`` with payload columns ``data``/``binary``;
    ``index.source`` numbers the files of ``source_files``."""
    n = len(index)
    out: dict[str, Any] = {}
    computers = category(index.computer)
    out["host"] = hosts(host_map or HostMap(), computers, index.source, source_files)
    out["computer"] = computers
    micros = index.time.view(np.int64)
    in_range = ~np.isnat(index.time) & (micros >= _EARLIEST_US) & (micros < _LATEST_US)
    out["time"] = _utc(np.where(in_range, micros, np.iinfo(np.int64).min))
    written = _written(index.written_time)
    out["written_time"] = _utc(written)
    out["channel"] = category(index.channel)
    out["provider"] = category(index.provider)
    out["event_source_name"] = category(index.event_source_name)
    for name in ("event_id", "qualifiers", "version", "level", "task", "opcode", "keywords"):
        out[name] = _integers(getattr(index, name), _INTEGERS[name])
    out["record_number"] = pd.arrays.IntegerArray(index.record_number, np.zeros(n, dtype=bool))
    for name in ("event_record_id", "process_id", "thread_id"):
        out[name] = _integers(getattr(index, name), _INTEGERS[name])
    out["user_sid"] = category(index.user_sid)
    out["provider_guid"] = category(index.provider_guid)
    out["data"] = pd.arrays.ArrowExtensionArray(data)
    out["binary"] = pd.arrays.ArrowStringArray(binary.cast(pa.large_string()))
    out["source_file"] = category(Texts(index.source.astype(np.int32), list(source_files)))
    out["source_format"] = _constant("evtx", n)
    out["chunk"] = pd.arrays.IntegerArray(index.chunk.astype(np.int32), np.zeros(n, dtype=bool))
    out["offset"] = pd.arrays.IntegerArray(index.offset.astype(np.int64), np.zeros(n, dtype=bool))
    out["recovered"] = index.recovered.astype(bool)
    out["message_logged"] = pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string()))
    out["culture"] = from_codes(np.full(n, -1, dtype=np.int8), ())
    no_channel = (index.channel.codes < 0) | _is_empty(index.channel)
    ids = index.event_record_id
    out["torn"] = ~in_range | (ids.present & (ids.values == 0)) | no_channel
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    frame.attrs[VALUES_LOST] = values_lost(index, written)
    return frame


def values_lost(index: RecordIndex, written: np.ndarray | None = None) -> dict[str, int]:
    """Per column, the values ``index``'s records show that fit no column (malformed or out
    of range: read as missing), as the rendered path counts them (``written``: the header
    times as :func:`_written` gives them, when the caller has them)."""
    micros = _written(index.written_time) if written is None else written
    counts = {"written_time": int(np.sum((index.written_time != 0) & (micros == _NAT)))}
    for name in _INTEGERS:
        counts[name] = int(np.count_nonzero(getattr(index, name).lost))
    return {name: count for name, count in counts.items() if count}


def hosts(
    host_map: HostMap, computers: pd.Categorical, source: np.ndarray, files: Sequence[str]
) -> pd.Categorical:
    """Each record's host, as :meth:`HostMap.hosts_for` gives it for one file (the host of a
    record without a Computer is a category, used or not)."""
    present = np.unique(source).tolist() if len(source) else [0]
    if host_map.path_pattern is None or len(present) == 1:
        return host_map.hosts_for(computers, files[present[0]] if files else "")
    texts = np.empty(len(source), dtype=object)
    names: set[str] = set()
    for number in present:
        rows = np.flatnonzero(source == number)
        found = host_map.hosts_for(computers[rows], files[number])
        texts[rows] = np.asarray(found, dtype=object)
        names |= set(found.categories)
    return pd.Categorical(texts, categories=pd.Index(sorted(names), dtype="str"))


def category(texts: Texts) -> pd.Categorical:
    """A categorical with the distinct texts present, sorted, as categories."""
    values = texts.values
    present = np.zeros(len(values) + 1, dtype=bool)
    present[texts.codes] = True
    used = sorted(np.flatnonzero(present[:-1]).tolist(), key=values.__getitem__)
    position = np.full(len(values) + 1, -1, dtype=np.int64)
    position[used] = np.arange(len(used))
    return from_codes(position[texts.codes], tuple(values[i] for i in used))


def _is_empty(texts: Texts) -> np.ndarray:
    empty = np.array([value == "" for value in texts.values] + [False], dtype=bool)
    return np.asarray(empty[texts.codes])


def _integers(column: Numbers, dtype: str) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(column.values.astype(dtype), ~column.present)


def _written(ticks: np.ndarray) -> np.ndarray:
    """Header FILETIMEs as microseconds since 1970 (NaT when zero or outside 1970-2100)."""
    signed = ticks.astype(np.int64)
    micros = signed // 10 - _FILETIME_TICKS_AT_1970 // 10
    good = (ticks > 0) & (ticks < 2**63) & (micros >= _EARLIEST_US) & (micros < _LATEST_US)
    return np.where(good, micros, np.iinfo(np.int64).min)


def _utc(micros: np.ndarray) -> pd.arrays.DatetimeArray:
    return pd.array(micros.astype("datetime64[us]"), dtype=_UTC_MICROS)


def _constant(text: str, n: int) -> pd.Categorical:
    return from_codes(np.zeros(n, dtype=np.int8), (text,))
