"""Build the result tables from what correlation found: diagnoses (with their evidence),
the hosts summary, and the evidence as one row per record (the timeline: ``timeline``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import pyarrow.compute as pc

from evtxscan.correlation.incidents import Incident, extracted_fields, render_text
from evtxscan.correlation.notable import COUNT_COLUMNS
from evtxscan.correlation.sessions import HostFacts
from evtxscan.results.evidence import (
    EVIDENCE_LIMIT,
    EvidenceKey,
    diagnosis_id,
    evidence_array,
)
from evtxscan.results.schema import DIAGNOSES, EVIDENCE, HOSTS, Table
from evtxscan.signatures.model import Signature, Status


def diagnosis_row(
    host: str,
    signature_id: str,
    text: dict[str, str | None],
    spans: Sequence[tuple[pd.Timestamp, pd.Timestamp, float]],
    evidence: Sequence[EvidenceKey],
) -> dict[str, object]:
    """One diagnosis from its incidents' (start, end, confidence) and their evidence keys;
    ``text``: title, kb, cause, resolution and reference. The one recipe for scan and nightly."""
    return {
        "diagnosis_id": diagnosis_id(host, signature_id, evidence[0]),
        "host": host,
        "signature_id": signature_id,
        "kb": text.get("kb"),
        "title": text.get("title"),
        "confidence": max(c for _, _, c in spans),
        "occurrences": len(spans),
        "first_seen": min(s for s, _, _ in spans),
        "last_seen": max(e for _, e, _ in spans),
        "evidence": list(evidence[:EVIDENCE_LIMIT]),
        "cause": text.get("cause"),
        "resolution": text.get("resolution"),
        "reference": text.get("reference"),
    }


def diagnoses_frame(rows: list[dict[str, object]], table: Table = DIAGNOSES) -> pd.DataFrame:
    """Diagnosis rows (from :func:`diagnosis_row`, maybe with more columns: ``table``) as a
    typed table, sorted by host and signature."""
    frame = pd.DataFrame(rows, columns=table.names)
    frame["evidence"] = evidence_array([r["evidence"] for r in rows])  # type: ignore[misc]
    return table.conform(frame).sort_values(["host", "signature_id"], ignore_index=True)


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
        evidence = [
            EvidenceKey.of_row(rows.loc[h.row], h.time, h.symptom) for i in found for h in i.hits
        ]
        values = {
            "host": host,
            **(facts.get(host) or HostFacts()).as_template_fields(),
            **extracted_fields(latest, rows),
        }
        text = {
            "title": render_text(signature.title, values),
            "kb": signature.kb,
            "cause": render_text(signature.cause, values),
            "resolution": render_text(signature.resolution, values),
            "reference": signature.reference,
        }
        spans = [(i.start, i.end, i.confidence) for i in found]
        records.append(diagnosis_row(host, signature.id, text, spans, evidence))
    return diagnoses_frame(records)


def evidence_frame(diagnoses: pd.DataFrame) -> pd.DataFrame:
    """One row per evidence record of each diagnosis (flattened from the typed column)."""
    typed = DIAGNOSES.conform(diagnoses)
    if typed.empty:
        return EVIDENCE.empty()
    lists = typed["evidence"].array._pa_array.combine_chunks()
    owner = pc.list_parent_indices(lists).to_numpy()
    items = pc.list_flatten(lists)
    frame = pd.DataFrame(
        {
            **{n: typed[n].to_numpy()[owner] for n in ("diagnosis_id", "host", "signature_id")},
            "kb": typed["kb"].to_numpy()[owner],
            **{
                name: items.field(name).to_pandas(types_mapper=pd.ArrowDtype)
                for name in EVIDENCE.names
                if name not in ("diagnosis_id", "host", "signature_id", "kb")
            },
        }
    )
    frame["host"] = typed["host"].to_numpy()[owner]  # the diagnosis' host (the same)
    return EVIDENCE.conform(frame)


def hosts_frame(
    stats: list[pd.DataFrame],
    host_files: set[tuple[str, str]],
    facts: dict[str, HostFacts],
    diagnoses: pd.DataFrame,
    notable: pd.DataFrame | None = None,
    notes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per-host summary from the batches' statistics, the host facts and the counts of
    notable events by kind (``notable``, indexed by host; see ``correlation.notable``) and
    ``notes`` per host (e.g. renames)."""
    if not stats:
        return HOSTS.empty()
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
                "os_release": fact.release,
                "os_version": fact.os_version,
                "build": fact.build,
                "service_pack": fact.service_pack,
                "processors": fact.processors,
                "diagnoses": int(counts.get(record["host"], 0)),
            }
        )
    frame = pd.DataFrame(rows, columns=HOSTS.names)
    for name in COUNT_COLUMNS.values():
        found = notable[name] if notable is not None else pd.Series(dtype="int64")
        frame[name] = frame["host"].map(found).fillna(0).astype("int64")
    frame["notes"] = [(notes or {}).get(h, "") for h in frame["host"]]
    return HOSTS.conform(frame)


def label_kinds(diagnoses: pd.DataFrame, signatures: list[Signature]) -> pd.DataFrame:
    """The ``kind`` of KB-signature rows: ``generic`` for findings that claim no article
    (fallbacks), ``draft`` for draft signatures, else ``kb``."""
    if diagnoses.empty:
        return diagnoses
    kinds = {s.id: _kind(s) for s in signatures}
    labels = [kinds.get(str(s), "kb") for s in diagnoses["signature_id"]]
    return diagnoses.assign(kind=labels)


def _kind(signature: Signature) -> str:
    if signature.fallback:
        return "generic"
    return "draft" if signature.status is Status.DRAFT else "kb"
