"""Keep what a scan needs from each record batch: symptom candidates (matched against the
signatures), context events (boots, shutdowns, service changes, errors and warnings), and
per host and day statistics of every record.

Batches are prefiltered with column operations, so memory follows the matches, not the input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evtxscan.correlation.selection import SignatureIndex
from evtxscan.messages import MessageRenderer, add_messages
from evtxscan.records.hosts import HostMap
from evtxscan.signatures.model import Signature
from evtxscan.sources.probe import SkippedStats


class Scanner:
    """One scan's state: the kept rows and per-host statistics."""

    def __init__(
        self,
        signatures: list[Signature],
        renderer: MessageRenderer,
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
        keep_all: bool,
        include_recovered: bool,
    ) -> None:
        self.index = SignatureIndex(signatures, None)
        self.renderer = renderer
        self.since, self.until = since, until
        self.keep_all = keep_all
        self.include_recovered = include_recovered
        self.kept: list[pd.DataFrame] = []
        self.stats: list[pd.DataFrame] = []
        self.host_files: set[tuple[str, str]] = set()
        self.daily: list[pd.DataFrame] = []

    def feed(self, batch: pd.DataFrame) -> None:
        if self.since is not None:
            batch = batch[batch["time"] >= self.since]
        if self.until is not None:
            batch = batch[batch["time"] < self.until]
        if batch.empty:
            return
        # One grouping per batch: records, errors and time span per (host, day); the host
        # totals are summed from it at the end.
        times = batch["time"]
        per_day = (
            pd.DataFrame(
                {
                    "host": batch["host"].astype(str).to_numpy(),
                    "day": times.dt.floor("D").to_numpy(),
                    "errors": batch["level"].isin([1, 2]).fillna(False).to_numpy(dtype=np.int64),
                    "time": times.to_numpy(),
                }
            )
            .groupby(["host", "day"], sort=False)
            .agg(
                records=("errors", "size"),
                errors=("errors", "sum"),
                first_time=("time", "min"),
                last_time=("time", "max"),
            )
            .reset_index()
        )
        self.daily.append(per_day[["host", "day", "records", "errors"]])
        self.stats.append(per_day.set_index("host")[["records", "first_time", "last_time"]])
        pairs = batch[["host", "source_file"]].drop_duplicates()
        self.host_files.update(
            zip(pairs["host"].astype(str), pairs["source_file"].astype(str), strict=True)
        )
        candidates, context, canon = self.index.prefilter(batch)
        if not self.include_recovered:
            candidates &= ~batch["recovered"].to_numpy()
        keep = candidates | context | (self.keep_all and True)
        if not keep.any():
            return
        rows = batch[keep].reset_index(drop=True)
        matched: list[list[str]] = [[] for _ in range(len(rows))]
        messages: list[str | None] = [None] * len(rows)
        binary_status: list[str | None] = [None] * len(rows)
        cand_rows = np.flatnonzero(candidates[keep])
        if len(cand_rows):
            # Messages only for symptom candidates now (conditions may test them); context
            # rows get theirs at the end, and only if they make it into the timeline.
            rendered = add_messages(rows.iloc[cand_rows], self.renderer)
            hits_per_row = self.index.match(rendered, canon[keep][cand_rows])
            for position, i in enumerate(cand_rows):
                matched[i] = hits_per_row[position]
                messages[i] = rendered["message"].iloc[position]
                binary_status[i] = rendered["binary_status"].iloc[position]
        rows["message"] = pd.array(messages, dtype=pd.StringDtype("pyarrow"))
        rows["binary_status"] = pd.array(binary_status, dtype=pd.StringDtype("pyarrow"))
        rows["signatures"] = matched
        rows["_canon"] = canon[keep]
        self.kept.append(rows)

    def add_skipped(self, skipped: SkippedStats, host_map: HostMap) -> None:
        """Count the records a prefilter skipped (they were never decoded)."""
        if not skipped:
            return
        rows = []
        for (computer, source, day), (records, first, last) in skipped.items():
            rows.append(
                {
                    "host": host_map.host_for(computer or None, source),
                    "source_file": source,
                    "day": day,
                    "records": records,
                    "errors": 0,
                    "first_time": first,
                    "last_time": last,
                }
            )
        frame = pd.DataFrame(rows)
        for name in ("first_time", "last_time"):
            frame[name] = pd.to_datetime(
                frame[name], utc=True, format="ISO8601", errors="coerce"
            ).astype("datetime64[us, UTC]")
        frame["day"] = pd.to_datetime(frame["day"], utc=True, errors="coerce").astype(
            "datetime64[us, UTC]"
        )
        if self.since is not None:
            frame = frame[frame["last_time"] >= self.since]
        if self.until is not None:
            frame = frame[frame["first_time"] < self.until]
        self.stats.append(
            frame.groupby("host").agg(
                records=("records", "sum"),
                first_time=("first_time", "min"),
                last_time=("last_time", "max"),
            )
        )
        self.host_files.update(zip(frame["host"], frame["source_file"], strict=True))
        self.daily.append(
            frame.groupby(["host", "day"], as_index=False)[["records", "errors"]].sum()
        )
