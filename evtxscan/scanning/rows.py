"""Kept rows in one canonical order, de-duplicated: what correlation reads, however the
rows were read (files in any order, units of any size, a cluster's host groups)."""

from __future__ import annotations

import pandas as pd

from evtxscan.correlation.engine import dedupe
from evtxscan.records.batch import concat_frames, held_categories


def combine_rows(carried: pd.DataFrame | None, kept: list[pd.DataFrame]) -> pd.DataFrame:
    """Carried and new rows, de-duplicated and in one canonical order (host, time, channel,
    EventRecordID, file, offset), with the categories of the values they hold, so results do
    not depend on the order files were read in nor on how they were batched (an engine's
    units, a cluster's host groups)."""
    frames = [f for f in ([carried] if carried is not None else []) + kept if not f.empty]
    if not frames:
        return pd.DataFrame()
    return held_categories(canonical_order(dedupe(concat_frames(frames))))


def canonical_order(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` sorted by host, time, channel, EventRecordID, file and offset."""
    keys = pd.DataFrame(
        {
            "host": rows["host"].astype(str),
            "time": rows["time"],
            "channel": rows["channel"].astype(str),
            "id": rows["event_record_id"],
            "file": rows["source_file"].astype(str),
            "offset": rows["offset"],
        }
    )
    order = keys.sort_values(list(keys.columns), kind="stable", na_position="last").index
    return rows.loc[order].reset_index(drop=True)
