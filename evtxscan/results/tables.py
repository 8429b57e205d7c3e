"""Build the result tables from what correlation found: diagnoses (with their evidence),
the timeline, the hosts summary, and the evidence as one row per record."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from evtxscan.correlation.incidents import Hit, Incident, extracted_fields, render_text
from evtxscan.correlation.sessions import HostFacts
from evtxscan.messages import MessageRenderer, add_messages
from evtxscan.results.schema import (
    EVIDENCE_COLUMNS,
    HOST_COLUMNS,
    HOST_DTYPES,
    TEXT,
    UTC,
    conform,
)

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


def evidence_frame(diagnoses: pd.DataFrame) -> pd.DataFrame:
    """One row per evidence record of each diagnosis (from its ``evidence`` JSON)."""
    rows = []
    for diagnosis in diagnoses.to_dict("records"):
        text = diagnosis.get("evidence")
        for item in json.loads(text) if isinstance(text, str) and text else []:
            rows.append(
                {
                    **{k: item.get(k) for k in EVIDENCE_COLUMNS},
                    **{k: diagnosis.get(k) for k in ("diagnosis_id", "host", "signature_id")},
                    "kb": diagnosis.get("kb"),
                }
            )
    frame = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601").astype(UTC)
    for name in ("event_id", "event_record_id", "record_number"):
        frame[name] = pd.to_numeric(frame[name]).astype(pd.Int64Dtype())
    return conform(frame, dict.fromkeys(["diagnosis_id", "host", "signature_id", "kb"], TEXT))


def hosts_frame(
    stats: list[pd.DataFrame],
    host_files: set[tuple[str, str]],
    facts: dict[str, HostFacts],
    diagnoses: pd.DataFrame,
) -> pd.DataFrame:
    """Per-host summary from the batches' statistics and the host facts."""
    if not stats:
        return conform(pd.DataFrame(columns=HOST_COLUMNS), HOST_DTYPES)
    combined = pd.concat([s.reset_index() for s in stats], ignore_index=True)
    combined["host"] = combined["host"].astype(str)
    summary = (
        combined.groupby("host")
        .agg(
            records=("records", "sum"),
            first_time=("first_time", "min"),
            last_time=("last_time", "max"),
        )
        .reset_index()
    )
    files: dict[str, int] = {}
    for host, _ in host_files:
        files[host] = files.get(host, 0) + 1
    summary.insert(1, "files", [files.get(h, 0) for h in summary["host"]])
    counts = diagnoses.groupby("host").size() if not diagnoses.empty else pd.Series(dtype=int)
    rows = []
    for record in summary.to_dict("records"):
        fact = facts.get(record["host"]) or HostFacts()
        rows.append(
            {
                **record,
                "os_version": fact.os_version,
                "build": fact.build,
                "service_pack": fact.service_pack,
                "processors": fact.processors,
                "diagnoses": int(counts.get(record["host"], 0)),
            }
        )
    return conform(pd.DataFrame(rows, columns=HOST_COLUMNS), HOST_DTYPES)
