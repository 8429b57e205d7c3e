"""What the index alone tells a file's report and a scan's counts, for records not decoded:
the integrity report's counts, time range and numbering (as :meth:`FileReport.observe`
folds decoded rows), and records per computer and day."""

from __future__ import annotations

import numpy as np

from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.reader import RangeResult
from evtxscan.sources.integrity import FileReport

_EARLIEST = np.datetime64("1970-01-01T00:00:00", "us")
_LATEST = np.datetime64("2100-01-01T00:00:00", "us")


def clipped_time(index: RecordIndex) -> tuple[np.ndarray, np.ndarray]:
    """Times as the record schema types them (NaT outside 1970-2100) and the bad-time mask."""
    time = index.time
    bad = np.isnat(time) | (time < _EARLIEST) | (time >= _LATEST)
    return np.where(bad, np.datetime64("NaT", "us"), time), bad


def observe_index(report: FileReport, index: RecordIndex) -> None:
    """Fold indexed records into the report as :meth:`FileReport.observe` folds a batch."""
    if not len(index):
        return
    time, bad_time = clipped_time(index)
    ids = index.event_record_id
    ids_zero = ids.present & (ids.values == 0)
    channel = index.channel
    channel_text = np.array([*channel.values, ""], dtype=object)[channel.codes]
    no_channel = (channel.codes < 0) | (channel_text == "")
    torn = bad_time | ids_zero | no_channel
    number = index.record_number.astype(np.float64)
    record_id = np.where(ids.present, ids.values.astype(np.float64), np.nan)
    report.observe_rows(
        recovered=index.recovered,
        torn=torn,
        time=time,
        chunk=index.chunk.astype(np.int64),
        number=number,
        record_id=record_id,
    )


def count_skipped(result: RangeResult, index: RecordIndex) -> None:
    """Per (computer, day): records, first and last time of records that were not decoded."""
    if not len(index):
        return
    time, _ = clipped_time(index)  # as decoded rows count them: torn times are NaT
    missing = np.isnat(time)
    ticks = time.astype(np.int64)
    days = time.astype("datetime64[D]").astype(np.int64)  # NaT stays a sentinel
    codes, code_of = np.unique(index.computer.codes.astype(np.int64), return_inverse=True)
    day_values, day_of = np.unique(days, return_inverse=True)
    # (computer, day) groups in the order of their pairs, found on one integer key
    keys, which = np.unique(code_of * len(day_values) + day_of, return_inverse=True)
    which = which.reshape(-1)
    groups = np.stack([codes[keys // len(day_values)], day_values[keys % len(day_values)]], axis=1)
    counts = np.bincount(which, minlength=len(groups))
    first = np.full(len(groups), np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(len(groups), np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, which[~missing], ticks[~missing])
    np.maximum.at(last, which[~missing], ticks[~missing])
    names = [*index.computer.values, ""]
    nat = np.datetime64("NaT").astype(np.int64)
    for (code, day), count, low, high in zip(groups.tolist(), counts, first, last, strict=True):
        when = "" if day == nat else str(np.datetime64(day, "D"))
        seen = int(count) > 0 and low != np.iinfo(np.int64).max
        result.skipped[(names[code], "", when)] = [
            int(count),
            _iso(low) if seen else "",
            _iso(high) if seen else "",
        ]


def _iso(ticks: np.int64) -> str:
    """Microseconds since 1970 as ISO-8601 UTC text."""
    return str(np.datetime64(int(ticks), "us")) + "Z"
