"""Records, errors and time span per (host, file, day) of one batch, with numpy.

A scan counts every batch this way (the hosts and daily tables are summed from it). Grouping
on integer codes instead of the text and timestamp objects a pandas groupby would take
costs a fraction of it. Groups come in the order of their first record. Records without a
time (torn) make a group whose day and times are missing: the hosts table counts them, as
it counts the records a scan does not decode (``sources.skipped``), the daily table cannot
place them. Records without a host or a file are not counted (readers always name both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of the per host, file and day counts every unit returns.
DAY_COLUMNS = ["host", "source_file", "day", "records", "errors", "first_time", "last_time"]

_UTC_US = "datetime64[us, UTC]"
_NAT = np.datetime64("NaT").astype(np.int64)


def day_counts(batch: pd.DataFrame) -> pd.DataFrame:
    """Per (host, source file, UTC day) of ``batch``: records, errors (level 1 or 2), first
    and last time; host and file as text."""
    times = batch["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    timed = ~np.isnat(times)
    host_code, host_text = _codes(batch["host"])
    file_code, file_text = _codes(batch["source_file"])
    ticks = times.astype(np.int64)
    day = times.astype("datetime64[D]").astype(np.int64)
    errors = batch["level"].isin([1, 2]).fillna(False).to_numpy(dtype=np.int64)
    rows = np.flatnonzero((host_code >= 0) & (file_code >= 0))
    if not len(rows):
        return _frame([], [], np.zeros(0, np.int64), np.zeros(0, np.int64), [np.zeros(0)] * 3)
    day_values, day_of = np.unique(day[rows], return_inverse=True)
    key = (host_code[rows] * (len(file_text) + 1) + file_code[rows]) * len(day_values)
    key += day_of.reshape(-1)
    _, first, which = np.unique(key, return_index=True, return_inverse=True)
    which = which.reshape(-1)
    order = np.argsort(first, kind="stable")  # groups in the order of their first record
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    group = rank[which]
    count = len(order)
    records = np.bincount(group, minlength=count).astype(np.int64)
    error_count = np.bincount(group, weights=errors[rows], minlength=count).astype(np.int64)
    low = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(count, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(low, group, ticks[rows])
    np.maximum.at(high, group, ticks[rows])
    leaders = rows[first[order]]
    untimed = ~timed[leaders]  # (their day and ticks are NaT's: times stay missing)
    starts = np.where(untimed, _NAT, day[leaders] * 86_400_000_000)
    return _frame(
        [host_text[c] for c in host_code[leaders].tolist()],
        [file_text[c] for c in file_code[leaders].tolist()],
        records,
        error_count,
        [starts, low, high],
    )


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a column's values (-1: missing) and the text of each code."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = [str(value) for value in np.asarray(uniques, dtype=object)]
    same, distinct = pd.factorize(np.array(texts, dtype=object))  # values of equal text
    return np.where(codes < 0, -1, same[np.maximum(codes, 0)]).astype(np.int64), [
        str(t) for t in distinct
    ]


def _frame(
    hosts: list[str],
    files: list[str],
    records: np.ndarray,
    errors: np.ndarray,
    times: list[np.ndarray],
) -> pd.DataFrame:
    day, first, last = (pd.Series(t.astype("datetime64[us]")).dt.tz_localize("UTC") for t in times)
    return pd.DataFrame(
        {
            "host": pd.Series(hosts, dtype="str"),
            "source_file": pd.Series(files, dtype="str"),
            "day": day,
            "records": records,
            "errors": errors,
            "first_time": first,
            "last_time": last,
        }
    )
