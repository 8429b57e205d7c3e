"""Assemble a scan's results from the kept rows: deduplication, incidents, diagnoses,
timeline and daily counts.

:mod:`evtxscan.scanning` streams the records and keeps the symptom and context rows; this module
turns them into the result tables.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
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
from evtxscan.correlation.sessions import HostFacts, assign_sessions
from evtxscan.messages import MessageRenderer, add_messages
from evtxscan.signatures.model import Signature

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


def dedupe(rows: pd.DataFrame) -> pd.DataFrame:
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


def daily_counts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Records and errors per host and UTC day."""
    if not parts:
        return pd.DataFrame(columns=["host", "day", "records", "errors"])
    combined = pd.concat(parts, ignore_index=True)
    return combined.groupby(["host", "day"], as_index=False)[["records", "errors"]].sum()


def incidents_of(
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


def evidence_key(row: Any, hit: Hit) -> dict[str, Any]:
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


def diagnoses_table(
    incidents: list[Incident], rows: pd.DataFrame, facts: dict[str, HostFacts]
) -> pd.DataFrame:
    groups: dict[tuple[str, str], list[Incident]] = {}
    for incident in incidents:
        groups.setdefault((incident.host, incident.signature.id), []).append(incident)
    records = []
    for (host, _), found in sorted(groups.items()):
        signature = found[0].signature
        latest = max(found, key=lambda i: i.end)
        evidence = [evidence_key(rows.loc[h.row], h) for i in found for h in i.hits]
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


def timeline_table(
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
