"""``evtxscan.scan``: read a collection, find KB symptoms, correlate per host, diagnose.

Records stream through in batches; each batch is prefiltered with column operations, and
only symptom candidates and context events (boots, shutdowns, service changes, errors and
warnings) are kept, so memory follows the matches, not the input size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.correlation.incidents import (
    Hit,
    Incident,
    extracted_fields,
    find_incidents,
    render_text,
)
from evtxscan.correlation.prefilter import SkippedStats, XmlPrefilter
from evtxscan.correlation.selection import SignatureIndex
from evtxscan.correlation.sessions import HostFacts, assign_sessions, host_facts
from evtxscan.messages import MessageRenderer, add_messages, load_catalog
from evtxscan.reader import HostMapOption, RecordStream
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import concat_frames
from evtxscan.results import ScanResult, hosts_frame
from evtxscan.signatures.loader import load_signatures
from evtxscan.signatures.model import Signature
from evtxscan.sources.inputs import PathLike

DIAGNOSIS_COLUMNS = [
    "diagnosis_id",
    "host",
    "signature_id",
    "kb",
    "title",
    "confidence",
    "occurrences",
    "first_seen",
    "last_seen",
    "evidence",
    "cause",
    "resolution",
    "reference",
]
EVIDENCE_LIMIT = 50
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


def _dedupe(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per event seen in overlapping exports (same host, channel, id and content).

    The content key hashes the provider, event ID, time and every data value, column-wise.
    """
    if rows.empty:
        return rows
    data = rows["data"].array._pa_array.combine_chunks()
    joined = pc.binary_join(
        pa.ListArray.from_arrays(data.offsets, pc.struct_field(data.values, "value")), "\x1f"
    )
    key = pd.DataFrame(
        {
            "host": rows["host"].astype(str),
            "channel": rows["channel"].astype(str),
            "id": rows["event_record_id"],
            "provider": rows["_canon"],
            "event_id": rows["event_id"],
            "time": rows["time"],
            "values": pd.array(joined, dtype=pd.ArrowDtype(pa.string())),
            # text exports carry no record id and no strings: their logged text tells apart
            "logged": rows["message_logged"],
        }
    )
    return rows[~key.duplicated().to_numpy()].reset_index(drop=True)


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
    prefilter = (
        None
        if keep_all
        else XmlPrefilter.for_signatures(set(scanner.index.selectors), scanner.index.names)
    )
    stream = RecordStream(
        paths,
        backend=backend,
        host_map=host_map,
        workers=workers,
        progress=progress,
        prefilter=prefilter,
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
    rows = _dedupe(concat_frames(scanner.kept) if scanner.kept else pd.DataFrame())
    facts = host_facts(rows, rows["_canon"]) if not rows.empty else {}
    incidents = _incidents(chosen, rows, facts)
    diagnoses = _diagnoses(incidents, rows, facts)
    window = None if keep_all else (timeline if isinstance(timeline, timedelta) else None)
    return ScanResult(
        timeline=_timeline(rows, incidents, window, renderer),
        diagnoses=diagnoses,
        hosts=hosts_frame(scanner.stats, scanner.host_files, facts, diagnoses),
        integrity=stream.integrity,
        daily=_daily(scanner.daily),
        signatures=tuple(chosen),
    )


def _daily(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Records and errors per host and UTC day."""
    if not parts:
        return pd.DataFrame(columns=["host", "day", "records", "errors"])
    combined = pd.concat(parts, ignore_index=True)
    return combined.groupby(["host", "day"], as_index=False)[["records", "errors"]].sum()


def _incidents(
    signatures: list[Signature], rows: pd.DataFrame, facts: dict[str, HostFacts]
) -> list[Incident]:
    if rows.empty:
        return []
    sessions = np.full(len(rows), -1, dtype=np.int64)
    for host, index in rows.groupby("host", observed=True).groups.items():
        sessions[index] = assign_sessions(rows.loc[index, "time"], facts.get(str(host)))
    hits: dict[tuple[str, str], list[Hit]] = {}
    for i, (host, names, time) in enumerate(
        zip(rows["host"].astype(str), rows["signatures"], rows["time"], strict=True)
    ):
        if time is pd.NaT:
            continue
        for name in names:
            signature_id, symptom = name.split(":", 1)
            hits.setdefault((host, signature_id), []).append(
                Hit(i, symptom, time, int(sessions[i]))
            )
    by_id = {s.id: s for s in signatures}
    found: list[Incident] = []
    for (host, signature_id), host_hits in sorted(hits.items()):
        found += find_incidents(by_id[signature_id], host, host_hits, facts.get(host))
    # A generic (fallback) finding yields to a KB diagnosis that explains the same records.
    explained = {(i.host, h.row) for i in found if not i.signature.fallback for h in i.hits}
    return [
        i
        for i in found
        if not i.signature.fallback or not any((i.host, h.row) in explained for h in i.hits)
    ]


def _evidence_key(row: Any, hit: Hit) -> dict[str, Any]:
    record_id = row["event_record_id"]
    return {
        "host": str(row["host"]),
        "channel": None if pd.isna(row["channel"]) else str(row["channel"]),
        "event_record_id": None if record_id is pd.NA else int(record_id),
        "record_number": None if row["record_number"] is pd.NA else int(row["record_number"]),
        "time": hit.time.isoformat(),
        "symptom": hit.symptom,
        "provider": str(row["provider"]),
        "event_id": int(row["event_id"]),
        "source_file": str(row["source_file"]),
    }


def _diagnoses(
    incidents: list[Incident], rows: pd.DataFrame, facts: dict[str, HostFacts]
) -> pd.DataFrame:
    groups: dict[tuple[str, str], list[Incident]] = {}
    for incident in incidents:
        groups.setdefault((incident.host, incident.signature.id), []).append(incident)
    records = []
    for (host, _), found in sorted(groups.items()):
        signature = found[0].signature
        latest = max(found, key=lambda i: i.end)
        evidence = [_evidence_key(rows.loc[h.row], h) for i in found for h in i.hits]
        values = {
            "host": host,
            **(facts.get(host) or HostFacts()).as_template_fields(),
            **extracted_fields(latest, rows),
        }
        first_key = json.dumps(evidence[0], sort_keys=True)
        records.append(
            {
                "diagnosis_id": hashlib.sha256(
                    f"{host}|{signature.id}|{first_key}".encode()
                ).hexdigest()[:16],
                "host": host,
                "signature_id": signature.id,
                "kb": signature.kb,
                "title": render_text(signature.title, values),
                "confidence": max(i.confidence for i in found),
                "occurrences": len(found),
                "first_seen": min(i.start for i in found),
                "last_seen": latest.end,
                "evidence": json.dumps(evidence[:EVIDENCE_LIMIT], ensure_ascii=False),
                "cause": render_text(signature.cause, values),
                "resolution": render_text(signature.resolution, values),
                "reference": signature.reference,
            }
        )
    frame = pd.DataFrame(records, columns=DIAGNOSIS_COLUMNS)
    for name in ("first_seen", "last_seen"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    frame["occurrences"] = frame["occurrences"].astype("int64")
    frame["confidence"] = frame["confidence"].astype("float64")
    return frame.sort_values(["host", "signature_id"], ignore_index=True)


def _timeline(
    rows: pd.DataFrame,
    incidents: list[Incident],
    window: timedelta | None,
    renderer: MessageRenderer,
) -> pd.DataFrame:
    """Symptom rows plus the context rows within ``window`` of a symptom on the same host."""
    if rows.empty:
        return rows
    out = rows.drop(columns=["_canon"])
    if window is not None:
        near = np.zeros(len(out), dtype=bool)
        hosts = out["host"].astype(str).to_numpy()
        times = out["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        has_symptom = out["signatures"].map(len).to_numpy() > 0
        step = np.timedelta64(int(window.total_seconds() * 1_000_000), "us")
        for host in set(hosts[has_symptom]):
            mine = np.flatnonzero(hosts == host)
            marks = np.sort(times[mine[has_symptom[mine]]])
            marks = marks[~np.isnat(marks)]
            if not len(marks):
                continue
            own = times[mine]
            # The nearest symptom time on either side decides (vectorized, no quadratic loop).
            right = np.searchsorted(marks, own, side="left")
            after = marks[np.minimum(right, len(marks) - 1)]
            before = marks[np.maximum(right - 1, 0)]
            close = (np.abs(after - own) <= step) | (np.abs(own - before) <= step)
            near[mine] = close & ~np.isnat(own)
        out = out[near | has_symptom]
    out = out.sort_values(
        ["host", "time", "channel", "event_record_id"], ignore_index=True, na_position="last"
    )
    return _fill_messages(out, renderer)


def _fill_messages(frame: pd.DataFrame, renderer: MessageRenderer) -> pd.DataFrame:
    """Render the messages of rows that do not have one yet (context rows)."""
    missing = frame["message"].isna().to_numpy()
    if missing.any():
        rendered = add_messages(frame[missing].drop(columns=["message", "binary_status"]), renderer)
        frame.loc[missing, "message"] = rendered["message"].to_numpy()
        frame.loc[missing, "binary_status"] = rendered["binary_status"].to_numpy()
    return frame
