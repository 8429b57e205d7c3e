"""``evtxscan.scanning``: read a collection, find KB symptoms, correlate per host, diagnose.

Records stream through in batches; each batch is prefiltered with column operations, and
only symptom candidates and context events (boots, shutdowns, service changes, errors and
warnings) are kept, so memory follows the matches, not the input size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from evtxscan.correlation.engine import dedupe, incidents_of
from evtxscan.correlation.selection import SignatureIndex
from evtxscan.correlation.sessions import host_facts
from evtxscan.correlation.xml_probe import XmlProbe
from evtxscan.messages import MessageRenderer, add_messages, load_catalog
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import concat_frames
from evtxscan.results import ScanResult
from evtxscan.results.stats import daily_counts
from evtxscan.results.tables import diagnoses_table, hosts_frame, timeline_table
from evtxscan.signatures.loader import load_signatures
from evtxscan.signatures.model import Signature
from evtxscan.sources.inputs import PathLike
from evtxscan.sources.probe import SkippedStats
from evtxscan.sources.stream import HostMapOption, RecordStream

FEED_ROWS = 20_000  # batches are gathered up to this many rows before selection


def _timestamp(value: datetime | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _signatures(signatures: Sequence[Signature] | Iterable[PathLike] | None) -> list[Signature]:
    if signatures is None:
        return load_signatures()
    items = list(signatures)
    if all(isinstance(s, Signature) for s in items):
        return items  # type: ignore[return-value]
    return load_signatures(*items)  # type: ignore[arg-type]


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


def scan(
    paths: PathLike | Iterable[PathLike],
    *,
    signatures: Sequence[Signature] | Iterable[PathLike] | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    backend: str = "rust",
    host_map: HostMapOption = None,
    timeline: str | timedelta = timedelta(hours=1),
    include_recovered: bool = False,
    workers: int = 1,
    catalogs: Iterable[str | Path] = (),
    progress: object | None = None,
    input_tz: str = "UTC",
) -> ScanResult:
    """Scan logs for the symptoms signatures describe; see the README for the result.

    ``signatures``: Signature objects or directories/files of YAML (default: the shipped
    ones). ``since``/``until``: a time range (UTC unless given). ``timeline``: the context
    window around symptoms (default one hour) or ``"all"`` for every record.
    ``include_recovered``: let records recovered from chunk slack count as symptoms.
    ``input_tz``: the zone of the local times in Event Viewer text/CSV exports.
    """
    chosen = _signatures(signatures)
    renderer = MessageRenderer(load_catalog(*catalogs))
    keep_all = timeline == "all"
    scanner = Scanner(
        chosen, renderer, _timestamp(since), _timestamp(until), keep_all, include_recovered
    )
    probe = (
        None
        if keep_all
        else XmlProbe.for_signatures(set(scanner.index.selectors), scanner.index.names)
    )
    stream = RecordStream(
        paths,
        backend=backend,
        host_map=host_map,
        workers=workers,
        progress=progress,
        probe=probe,
        tz=input_tz,
    )
    # Small files give small batches; feeding them together saves per-batch fixed costs.
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    for batch in stream:
        pending.append(batch)
        pending_rows += len(batch)
        if pending_rows >= FEED_ROWS:
            scanner.feed(concat_frames(pending) if len(pending) > 1 else pending[0])
            pending, pending_rows = [], 0
    if pending:
        scanner.feed(concat_frames(pending) if len(pending) > 1 else pending[0])
    scanner.add_skipped(stream.skipped, stream.options.host_map)
    rows = dedupe(concat_frames(scanner.kept) if scanner.kept else pd.DataFrame())
    facts = host_facts(rows, rows["_canon"]) if not rows.empty else {}
    incidents = incidents_of(chosen, rows, facts)
    diagnoses = diagnoses_table(incidents, rows, facts)
    window = None if keep_all else (timeline if isinstance(timeline, timedelta) else None)
    return ScanResult(
        timeline=timeline_table(rows, incidents, window, renderer),
        diagnoses=diagnoses,
        hosts=hosts_frame(scanner.stats, scanner.host_files, facts, diagnoses),
        integrity=stream.integrity,
        daily=daily_counts(scanner.daily),
        signatures=tuple(chosen),
    )
