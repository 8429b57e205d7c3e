"""Watermark admission on index columns: a nightly run decodes only what is new, and needed.

A nightly run reads EVTX index-first, as a scan does. Of each file's records, those at or
below their (host, channel) stream's watermark were read by an earlier run: they are not
decoded, located or counted per day (:class:`WatermarkAdmission`, handed to the reader by
the chunk planner). Of the records taken in, the scan's selector decides what is decoded
now; for the rest the range reader gives back a :class:`AdmittedSummary` (the newest
record of each stream, each host's newest time, counts), which the run's
:class:`~evtxscan.nightly.incremental.WatermarkBook` joins with what decoded rows tell it,
so the watermarks it commits are the same as if every record had been decoded.

The rules are the book's (:func:`admitted_rows`, :func:`stream_tops`), applied here to index
columns typed as the record schema types them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evtxscan.nightly.model import StreamKey, Watermark
from evtxscan.records.hosts import HostMap
from evtxscan.sources.evtx.frames import category, hosts
from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.index_counts import clipped_time

#: (source file, host, channel): the stream of one file a watermark is taken from.
FileStream = tuple[str, str, str]


def record_key(time: object, event_id: object, provider: object) -> str:
    """Identity of the watermark record: tells the same record from a renumbered one."""
    when = "" if time is None or time is pd.NaT else pd.Timestamp(time).isoformat()  # type: ignore[arg-type]
    return f"{when}|{event_id}|{provider}"


@dataclass
class AdmittedSummary:
    """What a range's admitted records that were not decoded tell the watermark book."""

    passed: int = 0  # records read and not decoded (admitted or not)
    admitted: int = 0
    newest: dict[str, pd.Timestamp | None] = field(default_factory=dict)  # per host
    tops: dict[FileStream, Watermark] = field(default_factory=dict)


@dataclass(frozen=True)
class WatermarkAdmission:
    """Takes in one file's records above their stream's watermark (``limits``: per (host,
    channel), the EventRecordID at or below which records were read before); records
    without a usable EventRecordID are always taken in (picklable: sent to workers)."""

    source: str
    host_map: HostMap
    limits: Mapping[StreamKey, int]

    def admit_mask(self, index: RecordIndex) -> np.ndarray:
        ids = _ids(index)
        if not self.limits:
            return np.ones(len(index), dtype=bool)
        host_codes, host_names = self._hosts(index)
        channel = index.channel
        key = host_codes.astype(np.int64) * (len(channel.values) + 1) + (channel.codes + 1)
        present, inverse = np.unique(key, return_inverse=True)
        limit = np.zeros(len(present), dtype=np.uint64)
        marked = np.zeros(len(present), dtype=bool)
        for at, value in enumerate(present.tolist()):
            host_code, channel_code = divmod(value, len(channel.values) + 1)
            name = channel.values[channel_code - 1] if channel_code else None
            found = -1 if name is None else self.limits.get((host_names[host_code], name), -1)
            if found >= 0:
                limit[at], marked[at] = found, True
        return np.asarray((ids == 0) | ~marked[inverse] | (ids > limit[inverse]))

    def summary(self, index: RecordIndex, passed: int) -> AdmittedSummary:
        found = AdmittedSummary(passed=passed, admitted=len(index))
        if not len(index):
            return found
        host_codes, host_names = self._hosts(index)
        times, _ = clipped_time(index)
        micros = times.view(np.int64)
        known = ~np.isnat(times)
        for code in np.unique(host_codes).tolist():
            mine = host_codes == code
            dated = mine & known
            newest = int(micros[dated].max()) if dated.any() else None
            found.newest[host_names[code]] = None if newest is None else _utc(newest)
        ids = _ids(index)
        channel = index.channel
        numbered = np.flatnonzero((ids > 0) & (channel.codes >= 0))
        if not len(numbered):
            return found
        key = host_codes[numbered].astype(np.int64) * len(channel.values) + channel.codes[numbered]
        order = np.lexsort((~ids[numbered], key))  # per stream, the highest ID first
        first = np.ones(len(order), dtype=bool)
        first[1:] = key[order][1:] != key[order][:-1]
        for row in numbered[order[first]].tolist():
            host, name = host_names[host_codes[row]], channel.values[channel.codes[row]]
            found.tops[(self.source, host, name)] = _watermark(index, row, host, name, times)
        return found

    def _hosts(self, index: RecordIndex) -> tuple[np.ndarray, list[str]]:
        files = np.zeros(len(index), dtype=np.int32)  # one file (numbered in its batch)
        names = hosts(self.host_map, category(index.computer), files, [self.source])
        return np.asarray(names.codes), [str(name) for name in names.categories]


def _ids(index: RecordIndex) -> np.ndarray:
    """EventRecordIDs as the book compares them: exactly, as unsigned 64-bit numbers (absent:
    0; a float would make ids past 2**53 equal)."""
    ids = index.event_record_id
    return np.where(ids.present, ids.values, np.uint64(0)).astype(np.uint64)


def _row_ids(rows: pd.DataFrame) -> np.ndarray:
    """The EventRecordIDs of decoded rows, as :func:`_ids` gives them."""
    return np.asarray(rows["event_record_id"].to_numpy(dtype=np.uint64, na_value=0))


def _utc(micros: int) -> pd.Timestamp:
    return pd.Timestamp(micros, unit="us", tz="UTC")


def _watermark(
    index: RecordIndex, row: int, host: str, channel: str, times: np.ndarray
) -> Watermark:
    """The watermark of the record at ``row``, as its decoded row would give it."""
    time = None if np.isnat(times[row]) else _utc(int(times[row].view(np.int64)))
    event = index.event_id
    event_id: object = int(event.values[row]) if event.present[row] else pd.NA
    code = int(index.provider.codes[row])
    provider: object = index.provider.values[code] if code >= 0 else np.nan
    key = record_key(pd.NaT if time is None else time, event_id, provider)
    return Watermark(host, channel, int(index.event_record_id.values[row]), time, key)


def admitted_rows(batch: pd.DataFrame, limit: Callable[[str, str, str], int]) -> np.ndarray:
    """Which decoded rows are above their stream's watermark (``limit(file, host, channel)``:
    -1 for every record) or have no usable EventRecordID."""
    ids = _row_ids(batch)
    keep: np.ndarray = ids == 0  # no usable EventRecordID: cannot be ordered, kept
    keys = ["source_file", "host", "channel"]
    groups = batch.groupby(keys, observed=True, dropna=False).indices
    for key, where in groups.items():
        source, host, channel = (str(k) for k in key)  # type: ignore[attr-defined]
        mark = limit(source, host, channel)
        keep[where] |= True if mark < 0 else ids[where] > np.uint64(mark)
    return keep


def stream_tops(rows: pd.DataFrame) -> AdmittedSummary:
    """What admitted decoded rows tell the book: per host the newest time, per stream of a
    file the record with the highest EventRecordID (its watermark)."""
    found = AdmittedSummary(passed=len(rows), admitted=len(rows))
    if rows.empty:
        return found
    for host, times in rows.groupby("host", observed=True)["time"]:
        latest = times.max()
        found.newest[str(host)] = None if latest is pd.NaT else pd.Timestamp(latest)
    ids = _row_ids(rows)
    numbered = np.flatnonzero(ids > 0)
    if not len(numbered):
        return found
    streams = rows.iloc[numbered].groupby(["source_file", "host", "channel"], observed=True).indices
    for group, where in streams.items():
        source, host, channel = (str(k) for k in group)  # type: ignore[attr-defined]
        at = int(numbered[where[int(np.argmax(ids[numbered[where]]))]])  # the first highest
        row = rows.iloc[at]
        found.tops[(source, host, channel)] = Watermark(
            host,
            channel,
            int(ids[at]),
            None if row["time"] is pd.NaT else row["time"],
            record_key(row["time"], row["event_id"], row["provider"]),
        )
    return found
