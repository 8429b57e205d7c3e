"""Repeated identical events grouped: "Schannel 36888 x 29,205 between 03:19:26 and 03:20:26".

Two events are identical when they share host, channel, provider, event ID, level, every
data value (and, from text exports, the logged message) and the signatures they matched;
only their time and record keys differ. A group is a run of identical events of one host in
which each follows the previous within ``gap`` (default one hour), so a storm of 29,205
Schannel errors in a minute is one row and the same error a day later starts another. A
group keeps its first event's columns and adds ``count`` and its last event's time and keys.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.results.schema import TIMELINE_GROUPS

#: Identical events further apart than this start a new group.
REPEAT_GAP = timedelta(hours=1)
#: The last event's columns a group adds (``last_<column>``).
LAST_COLUMNS = ("time", "event_record_id", "record_number", "source_file")


def _identity(timeline: pd.DataFrame) -> np.ndarray:
    """A code per row; rows with the same code are identical events (vectorized)."""
    data = timeline["data"].array._pa_array.combine_chunks()
    values = pc.binary_join(
        pa.ListArray.from_arrays(data.offsets, pc.struct_field(data.values, "value")), "\x1f"
    )
    names = pc.binary_join(
        pa.ListArray.from_arrays(data.offsets, pc.struct_field(data.values, "name")), "\x1f"
    )
    key = pd.DataFrame(
        {
            "host": timeline["host"].astype(str).to_numpy(),
            "channel": timeline["channel"].astype(str).to_numpy(),
            "provider": timeline["provider"].astype(str).to_numpy(),
            "event_id": timeline["event_id"].astype("Int64").fillna(-1).to_numpy(),
            "level": timeline["level"].astype("Int64").fillna(-1).to_numpy(),
            "values": pd.array(values, dtype=pd.ArrowDtype(pa.string())).fillna("\x00"),
            "names": pd.array(names, dtype=pd.ArrowDtype(pa.string())).fillna("\x00"),
            "logged": timeline["message_logged"].fillna("\x00").to_numpy(),
            "signatures": timeline["signatures"].map(lambda s: "\x1f".join(s)).to_numpy(),
        }
    )
    codes: np.ndarray = key.groupby(list(key.columns), sort=False, dropna=False).ngroup().to_numpy()
    return codes


def repeat_groups(timeline: pd.DataFrame, gap: timedelta = REPEAT_GAP) -> np.ndarray:
    """The group number of each row of ``timeline`` (numbered in order of first rows)."""
    if timeline.empty:
        return np.zeros(0, dtype=np.int64)
    codes = _identity(timeline)
    times = timeline["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    ticks = times.astype(np.int64)
    order = np.lexsort((np.arange(len(codes)), ticks, codes))  # by identity, then time
    step = int(gap.total_seconds() * 1_000_000)
    same = codes[order][1:] == codes[order][:-1]
    close = (ticks[order][1:] - ticks[order][:-1]) <= step
    known = ~np.isnat(times[order])
    starts = np.concatenate([[True], ~(same & close & known[1:] & known[:-1])])
    grouped = np.empty(len(codes), dtype=np.int64)
    grouped[order] = np.cumsum(starts) - 1
    # number groups by their first row, so they come out in timeline order
    first = pd.Series(np.arange(len(codes))).groupby(grouped).min()
    renumber = np.empty(len(first), dtype=np.int64)
    renumber[np.argsort(first.to_numpy(), kind="stable")] = np.arange(len(first))
    return renumber[grouped]


def group_repeats(timeline: pd.DataFrame, gap: timedelta = REPEAT_GAP) -> pd.DataFrame:
    """One row per group of repeated identical events (see the module docstring), in the
    order of the timeline: the first event's columns, ``count`` and ``last_*``."""
    if timeline.empty:
        return TIMELINE_GROUPS.empty()
    rows = timeline.reset_index(drop=True)
    groups = repeat_groups(rows, gap)
    positions = pd.Series(np.arange(len(rows))).groupby(groups)
    first, last = positions.min().to_numpy(), positions.max().to_numpy()
    out = rows.iloc[first].reset_index(drop=True)
    out["count"] = positions.size().to_numpy().astype("int64")
    ends = rows.iloc[last].reset_index(drop=True)
    for name in LAST_COLUMNS:
        out[f"last_{name}"] = ends[name].to_numpy()
    grouped: pd.DataFrame = TIMELINE_GROUPS.conform(out)
    return grouped
