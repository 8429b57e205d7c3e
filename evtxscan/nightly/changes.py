"""What changed since the last run: incidents, diagnoses (new, reopened, resolved), hosts.

Incidents are identified by their host, signature and member records. Tonight's
correlation (carried + new rows) is authoritative for every stored incident whose records
are all still among those rows: it is found again, or withdrawn (a KB diagnosis now explains
a generic finding, or an absent symptom cancelled it). Older incidents stay as reported.
A diagnosis (host, signature) gathers all its incidents, as a full scan of everything would.

- **new**: a diagnosis not reported before (``new``), or resolved and seen again
  (``reopened``);
- **resolved**: after its last symptom, a recovery event: SCM 7036 "running" for a service
  whose failure is part of the evidence; or no new incident in ``resolve_after`` runs
  (default 3) in which the host did send data; or withdrawn;
- **stale**: a host that sent data to an earlier run and none (no new record) to this one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.correlation.incidents import Incident
from evtxscan.nightly.model import (
    Change,
    DiagnosisText,
    HistoryRow,
    PriorState,
    Status,
    StoredDiagnosis,
    StoredIncident,
)
from evtxscan.records.schema import data_values
from evtxscan.results.evidence import EvidenceKey
from evtxscan.results.schema import DIAGNOSES, TEXT, UTC, Column
from evtxscan.results.tables import diagnoses_frame, diagnosis_row
from evtxscan.scanning.pipeline import Correlation

SCM = "service control manager"
SERVICE_FAILURES = frozenset({7000, 7001, 7009, 7011, 7022, 7023, 7024, 7026, 7031, 7034})
SERVICE_STATE = 7036
#: ``diagnoses.csv`` of a nightly run: the diagnoses with their standing.
STANDING = DIAGNOSES.plus(
    "nightly_diagnoses",
    Column("status", TEXT, "open or resolved"),
    Column("reported_at", UTC),
    Column("resolved_at", UTC),
    Column("resolved_reason", TEXT),
)
#: ``new.csv``: what is new since the last run.
NEW = DIAGNOSES.plus("new", Column("change", TEXT, "new or reopened"), first=True)
RESOLVED_COLUMNS = [
    "host", "signature_id", "kb", "title", "diagnosis_id", "occurrences", "first_seen",
    "last_seen", "reason", "resolved_at",
]  # fmt: skip


@dataclass(frozen=True)
class Changes:
    """The merged incidents and diagnoses, and this run's new and resolved rows."""

    incidents: tuple[StoredIncident, ...]
    diagnoses: tuple[StoredDiagnosis, ...]
    table: pd.DataFrame  # every diagnosis kept (open and resolved), full-scan columns + state
    new: pd.DataFrame
    resolved: pd.DataFrame
    history: tuple[HistoryRow, ...]


def row_keys(rows: pd.DataFrame) -> list[str]:
    """A key per symptom record (host, channel, EventRecordID, time, event ID); "" for others."""
    if rows.empty:
        return []
    keys = [""] * len(rows)
    symptoms = np.flatnonzero(rows["signatures"].map(len).to_numpy() > 0)
    columns = ["host", "channel", "event_record_id", "time", "event_id"]
    chosen = rows.iloc[symptoms]
    values = [chosen[name].astype(object).tolist() for name in columns]  # as a row gives them
    for i, parts in zip(symptoms.tolist(), zip(*values, strict=True), strict=True):
        keys[i] = "|".join(str(p) for p in parts)
    return keys


def _first_value(data: object) -> str:
    values = data_values(data)  # type: ignore[arg-type]
    return values[0] if values else ""


def stored_incident(
    incident: Incident, rows: pd.DataFrame, keys: list[str], now: pd.Timestamp
) -> StoredIncident:
    members = tuple(sorted(keys[h.row] for h in incident.members.values()))
    signature = incident.signature.id
    digest = hashlib.sha256("\n".join((incident.host, signature, *members)).encode()).hexdigest()
    hits = [(h, rows.loc[h.row]) for h in incident.hits]
    services = {
        _first_value(row["data"])
        for _, row in hits
        if row["provider_key"] == SCM and row["event_id"] in SERVICE_FAILURES
    }
    evidence = tuple(EvidenceKey.of_row(row, h.time, h.symptom) for h, row in hits)
    return StoredIncident(
        incident_id=digest[:16],
        host=incident.host,
        signature_id=signature,
        start=incident.start,
        end=incident.end,
        confidence=incident.confidence,
        members=members,
        evidence=evidence,
        services=tuple(sorted(s for s in services if s)),
        found_at=now,
    )


def _recoveries(rows: pd.DataFrame) -> dict[str, list[tuple[pd.Timestamp, str]]]:
    """Per host, (time, service) of every SCM "entered the running state" event."""
    if rows.empty:
        return {}
    mask = (rows["provider_key"] == SCM) & (rows["event_id"] == SERVICE_STATE).fillna(False)
    found: dict[str, list[tuple[pd.Timestamp, str]]] = {}
    chosen = rows[mask.to_numpy()]
    for host, time, data in zip(
        chosen["host"].astype(str), chosen["time"], chosen["data"], strict=True
    ):
        values = data_values(data)
        if len(values) > 1 and "running" in values[1].casefold() and time is not pd.NaT:
            found.setdefault(host, []).append((time, values[0]))
    return found


def _text(rendered: pd.DataFrame) -> dict[tuple[str, str], DiagnosisText]:
    return {
        (r["host"], r["signature_id"]): DiagnosisText(
            r["title"], r["kb"], r["cause"], r["resolution"], r["reference"]
        )
        for r in rendered.to_dict("records")
    }


def _row(
    key: tuple[str, str], found: list[StoredIncident], d: StoredDiagnosis
) -> dict[str, object]:
    """One diagnosis row, computed as a full scan computes it from all incidents."""
    host, signature = key
    spans = [(i.start, i.end, i.confidence) for i in found]
    evidence = [e for i in found for e in i.evidence]
    return {
        **diagnosis_row(host, signature, dataclasses.asdict(d.text), spans, evidence),
        "status": str(d.status),
        "reported_at": d.reported_at,
        "resolved_at": d.resolved_at,
        "resolved_reason": d.resolved_reason,
    }


def merge(
    prior: PriorState,
    tonight: Correlation,
    now: pd.Timestamp,
    with_data: Iterable[str],
    resolve_after: int,
    retention: pd.Timedelta,
) -> Changes:
    """Fold tonight's incidents into the reported ones and settle each diagnosis."""
    rows = tonight.rows
    keys = row_keys(rows)
    present = {k for k in keys if k}
    frozen = {i: p for i, p in prior.incidents.items() if not all(m in present for m in p.members)}
    used = {(p.host, p.signature_id, m) for p in frozen.values() for m in p.members}
    found = {}
    for incident in tonight.incidents:
        stored = stored_incident(incident, rows, keys, now)
        old = prior.incidents.get(stored.incident_id)
        if old is not None:
            stored = dataclasses.replace(stored, found_at=old.found_at)
        if not any((stored.host, stored.signature_id, m) in used for m in stored.members):
            found[stored.incident_id] = stored  # a record serves one incident
    current = {**frozen, **found}
    groups: dict[tuple[str, str], list[StoredIncident]] = {}
    for item in sorted(current.values(), key=lambda i: (i.start, i.end, i.incident_id)):
        groups.setdefault((item.host, item.signature_id), []).append(item)
    fresh = set(found) - set(prior.incidents)
    settle = _Settle(
        now, set(with_data), resolve_after, _recoveries(rows), _text(tonight.diagnoses)
    )
    kept: list[StoredIncident] = []
    for key in sorted(set(groups) | set(prior.diagnoses)):
        incidents = groups.get(key, [])
        diagnosis = settle.diagnosis(key, incidents, prior.diagnoses.get(key), fresh, found)
        expired = diagnosis is not None and (
            diagnosis.resolved_at is not None and diagnosis.resolved_at < now - retention
        )
        if diagnosis is None or expired:
            continue
        settle.keep(key, incidents, diagnosis)
        kept += incidents
    return Changes(
        incidents=tuple(kept),
        diagnoses=tuple(settle.kept),
        table=diagnoses_frame(settle.table, STANDING),
        new=diagnoses_frame(settle.new, NEW),
        resolved=_frame(settle.resolved, RESOLVED_COLUMNS),
        history=tuple(settle.history),
    )


@dataclass
class _Settle:
    """Decides each diagnosis' standing; collects the output rows."""

    now: pd.Timestamp
    with_data: set[str]
    resolve_after: int
    recoveries: dict[str, list[tuple[pd.Timestamp, str]]]
    texts: dict[tuple[str, str], DiagnosisText]

    def __post_init__(self) -> None:
        self.kept: list[StoredDiagnosis] = []
        self.table: list[dict[str, object]] = []
        self.new: list[dict[str, object]] = []
        self.resolved: list[dict[str, object]] = []
        self.history: list[HistoryRow] = []

    def diagnosis(
        self,
        key: tuple[str, str],
        incidents: list[StoredIncident],
        old: StoredDiagnosis | None,
        fresh: set[str],
        found: dict[str, StoredIncident],
    ) -> StoredDiagnosis | None:
        host, signature = key
        if not incidents:
            if old is not None and old.status is Status.OPEN:
                reason = "withdrawn: no longer found (explained by another diagnosis, or cancelled)"
                self._resolved(key, old, reason, Change.WITHDRAWN)
            return None
        latest = max(incidents, key=lambda i: (i.end, i.incident_id))
        text = self.texts.get(key) if latest.incident_id in found else None
        text = text or (old.text if old is not None else self.texts.get(key))
        text = text or DiagnosisText(signature, None, "", "", None)
        has_fresh = any(i.incident_id in fresh for i in incidents)
        if old is None or (old.status is Status.RESOLVED and has_fresh):
            change = Change.NEW if old is None else Change.REOPENED
            current = StoredDiagnosis(host, signature, Status.OPEN, text, self.now)
            row = _row(key, incidents, current)
            self.new.append({"change": str(change), **row})
            self.history.append(HistoryRow(change, host, signature, str(row["diagnosis_id"])))
        elif old.status is Status.RESOLVED:
            return dataclasses.replace(old, text=text)
        else:
            quiet = 0 if has_fresh else old.quiet_runs + (host in self.with_data)
            current = dataclasses.replace(old, text=text, quiet_runs=quiet)
        why = self._recovered(host, incidents, latest.end)
        if why is None and current.quiet_runs >= self.resolve_after:
            why = f"quiet: no new occurrence in {current.quiet_runs} runs with data from the host"
        if why is not None:
            current = dataclasses.replace(
                current, status=Status.RESOLVED, resolved_at=self.now, resolved_reason=why
            )
            self._resolved(key, current, why, Change.RESOLVED, incidents)
        return current

    def _recovered(
        self, host: str, incidents: list[StoredIncident], after: pd.Timestamp
    ) -> str | None:
        services = {s.casefold() for i in incidents for s in i.services}
        for time, service in self.recoveries.get(host, []):
            if time > after and service.casefold() in services:
                return f"recovered: service {service!r} entered the running state at {time}"
        return None

    def _resolved(
        self,
        key: tuple[str, str],
        diagnosis: StoredDiagnosis,
        reason: str,
        change: Change,
        incidents: list[StoredIncident] | None = None,
    ) -> None:
        base: dict[str, object] = {"host": key[0], "signature_id": key[1]}
        base.update({"kb": diagnosis.text.kb, "title": diagnosis.text.title})
        if incidents:
            full = _row(key, incidents, diagnosis)
            base.update({k: full[k] for k in ("diagnosis_id", "occurrences", "first_seen")})
            base["last_seen"] = full["last_seen"]
        self.resolved.append({**base, "reason": reason, "resolved_at": self.now})
        identity = str(base.get("diagnosis_id", ""))
        self.history.append(HistoryRow(change, key[0], key[1], identity, reason))

    def keep(
        self, key: tuple[str, str], incidents: list[StoredIncident], diagnosis: StoredDiagnosis
    ) -> None:
        self.kept.append(diagnosis)
        self.table.append(_row(key, incidents, diagnosis))


def _frame(records: list[dict[str, object]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=columns)
    for name in ("first_seen", "last_seen", "reported_at", "resolved_at"):
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    if "occurrences" in frame.columns:
        counts = frame["occurrences"]
        frame["occurrences"] = counts.astype("Int64" if counts.isna().any() else "int64")
    if "confidence" in frame.columns:
        frame["confidence"] = frame["confidence"].astype("float64")
    return frame.sort_values(["host", "signature_id"], ignore_index=True)
