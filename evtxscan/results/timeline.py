"""The timeline: which kept rows tell each host's story, in time order, with messages.

Three modes (:class:`TimelineMode`): ``notable`` (the default) shows, for every host, its
notable events (:mod:`evtxscan.correlation.notable`: critical and error events, unexpected
shutdowns, bugchecks, service crashes and start failures, boots and shutdowns, version
banners, cleared logs, time changes, renames) plus every kept row within the context window
of a signature's symptom; ``symptoms`` shows only the window around symptoms; ``all`` shows
every record read.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.correlation.notable import notable_kinds
from evtxscan.correlation.selection import ProviderNames
from evtxscan.messages import MessageRenderer
from evtxscan.messages.frame import MESSAGE_INPUTS, render_column, status_column
from evtxscan.results.schema import TIMELINE

#: Context shown around a symptom, by default.
DEFAULT_WINDOW = timedelta(hours=1)


class TimelineMode(StrEnum):
    """Which rows the timeline holds (see the module docstring)."""

    NOTABLE = "notable"
    SYMPTOMS = "symptoms"
    ALL = "all"


def timeline_table(
    rows: pd.DataFrame,
    window: timedelta,
    renderer: MessageRenderer,
    mode: TimelineMode = TimelineMode.NOTABLE,
) -> pd.DataFrame:
    """The timeline of ``rows`` (kept rows of every host) in ``mode``."""
    if rows.empty:
        return TIMELINE.empty()
    notable = notable_kinds(rows["provider_key"], rows["event_id"], rows["level"], ProviderNames())
    out = rows.assign(notable=notable)
    if mode is not TimelineMode.ALL:
        has_symptom = out["signatures"].map(len).to_numpy() > 0
        keep = has_symptom | _near_symptoms(out, has_symptom, window)
        if mode is TimelineMode.NOTABLE:
            keep |= ~np.asarray(pd.isna(notable))
        out = out[keep]
    out = out.sort_values(
        ["host", "time", "channel", "event_record_id"], ignore_index=True, na_position="last"
    )
    return TIMELINE.conform(_fill_messages(out, renderer))


def _near_symptoms(rows: pd.DataFrame, has_symptom: np.ndarray, window: timedelta) -> np.ndarray:
    """Rows within ``window`` of a symptom of the same host (vectorized per host)."""
    near = np.zeros(len(rows), dtype=bool)
    hosts = rows["host"].astype(str).to_numpy()
    times = rows["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    step = np.timedelta64(int(window.total_seconds() * 1_000_000), "us")
    for host in set(hosts[has_symptom]):
        mine = np.flatnonzero(hosts == host)
        marks = np.sort(times[mine[has_symptom[mine]]])
        marks = marks[~np.isnat(marks)]
        if not len(marks):
            continue
        near[mine] = near_sorted(times[mine], marks, step)
    return near


def near_sorted(times: np.ndarray, marks: np.ndarray, step: np.timedelta64) -> np.ndarray:
    """True where a time is within ``step`` of one of ``marks`` (sorted, no NaT): the nearest
    mark on either side decides (no quadratic loop); NaT times are never near."""
    right = np.searchsorted(marks, times, side="left")
    after = marks[np.minimum(right, len(marks) - 1)]
    before = marks[np.maximum(right - 1, 0)]
    close = (np.abs(after - times) <= step) | (np.abs(times - before) <= step)
    return np.asarray(close & ~np.isnat(times))


def _fill_messages(frame: pd.DataFrame, renderer: MessageRenderer) -> pd.DataFrame:
    """Render the messages of rows that do not have one yet (context rows)."""
    missing = frame["message"].isna().to_numpy()
    if not missing.any():
        return frame
    part = frame.loc[missing, [c for c in MESSAGE_INPUTS if c in frame.columns]]
    messages = render_column(part, renderer)
    statuses = pa.array(status_column(part, renderer), pa.string())
    for name, values in (("message", messages), ("binary_status", statuses)):
        frame[name] = _filled(frame[name], missing, values)
    return frame


def _filled(column: pd.Series, missing: np.ndarray, values: pa.Array) -> pd.Series:
    """``column`` (text) with its ``missing`` rows, in order, from ``values``: joined as Arrow
    arrays (set through pandas, each value became a Python string, 17 MiB for 30,000)."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        old = pa.array(column.array, pa.large_string())
        new = values.cast(pa.large_string())
        text = pc.replace_with_mask(old, pa.array(missing), new)  # in order, one copy
        return pd.Series(pd.arrays.ArrowStringArray(text), index=column.index, name=column.name)
    column = column.copy()
    column[missing] = values.to_pylist()
    return column
