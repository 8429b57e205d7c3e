"""What the index alone tells a file's report and a scan's counts, for records not decoded:
the integrity report's counts, time range and numbering (as :meth:`FileReport.observe`
folds decoded rows), records per computer and day, and where located records are."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evtxscan.sources.evtx.arrays import unique_runs
from evtxscan.sources.evtx.frames import category
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


def observed_columns(index: RecordIndex) -> dict[str, np.ndarray]:
    """What :meth:`FileReport.observe_rows` takes, for every record of ``index`` (computed
    once for a batch of files; a file's report then takes its rows)."""
    time, bad_time = clipped_time(index)
    ids = index.event_record_id
    ids_zero = ids.present & (ids.values == 0)
    channel = index.channel
    channel_text = np.array([*channel.values, ""], dtype=object)[channel.codes]
    no_channel = (channel.codes < 0) | (channel_text == "")
    return {
        "recovered": index.recovered,
        "torn": bad_time | ids_zero | no_channel,
        "time": time,
        "chunk": index.chunk.astype(np.int64),
        "number": index.record_number.astype(np.float64),
        "record_id": np.where(ids.present, ids.values.astype(np.float64), np.nan),
    }


def observe_index(report: FileReport, index: RecordIndex) -> None:
    """Fold indexed records into the report as :meth:`FileReport.observe` folds a batch."""
    if len(index):
        report.observe_rows(**observed_columns(index))


def count_skipped(result: RangeResult, index: RecordIndex) -> None:
    """Per (computer, day): records, first and last time of records that were not decoded."""
    count_skipped_files([result], index, np.zeros(len(index), dtype=np.int64))


def count_skipped_files(
    results: Sequence[RangeResult], index: RecordIndex, file_of: np.ndarray
) -> None:
    """:func:`count_skipped` for several files' records at once: row ``i`` of ``index`` is
    counted in ``results[file_of[i]]`` (-1: in none)."""
    counted = np.flatnonzero(np.asarray(file_of) >= 0)
    if not len(counted):
        return
    time, _ = clipped_time(index)  # as decoded rows count them: torn times are NaT
    time = time[counted]
    missing = np.isnat(time)
    ticks = time.astype(np.int64)
    days = time.astype("datetime64[D]").astype(np.int64)  # NaT stays a sentinel
    # (file, computer, day) groups in the order of their triples, found on one integer key
    # of dense parts: file number, computer code + 1 (0: none), day - first day + 1 (0: NaT)
    file_part = np.asarray(file_of)[counted].astype(np.int64)
    code_part = index.computer.codes[counted].astype(np.int64) + 1
    first_day = int(days[~missing].min()) if (~missing).any() else 0
    day_part = np.where(missing, 0, days - first_day + 1)
    code_span, day_span = len(index.computer.values) + 1, int(day_part.max()) + 1
    key = (file_part * code_span + code_part) * day_span + day_part
    keys, which = unique_runs(key)  # records come in runs of one file, computer and day
    group_file = keys // (code_span * day_span)
    group_code = (keys // day_span) % code_span - 1
    day_value = keys % day_span
    group_day = np.where(day_value == 0, np.iinfo(np.int64).min, day_value - 1 + first_day)
    counts = np.bincount(which, minlength=len(keys))
    first = np.full(len(keys), np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(len(keys), np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, which[~missing], ticks[~missing])
    np.maximum.at(last, which[~missing], ticks[~missing])
    names = [*index.computer.values, ""]
    nat = np.datetime64("NaT").astype(np.int64)
    for file, code, day, count, low, high in zip(
        group_file.tolist(), group_code.tolist(), group_day.tolist(), counts, first, last,
        strict=True,
    ):  # fmt: skip
        when = "" if day == nat else str(np.datetime64(day, "D"))
        seen = int(count) > 0 and low != np.iinfo(np.int64).max
        results[file].skipped[(names[code], "", when)] = [
            int(count),
            _iso(low) if seen else "",
            _iso(high) if seen else "",
        ]


def _iso(ticks: np.int64) -> str:
    """Microseconds since 1970 as ISO-8601 UTC text."""
    return str(np.datetime64(int(ticks), "us")) + "Z"


def located_frame(index: RecordIndex) -> pd.DataFrame:
    """Where deferred records are, whose they are and what: computer, time (as the schema
    types it), provider, event ID, chunk, offset. Compact (a scan holds them until it
    correlates): names categorical (absent: NaN), event ID and chunk 32-bit."""
    time, _ = clipped_time(index)
    event = index.event_id
    return pd.DataFrame(
        {
            "computer": category(index.computer),
            "provider": category(index.provider),
            "event_id": np.where(event.present, event.values, 0).astype(np.int32),
            "time": pd.to_datetime(time).tz_localize("UTC"),
            "chunk": index.chunk.astype(np.int32),
            "offset": index.offset.astype(np.int64),
        }
    )
