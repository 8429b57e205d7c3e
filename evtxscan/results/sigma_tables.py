"""Sigma findings as diagnosis rows, beside the KB ones (``kind`` = ``sigma``).

A row is one rule on one host: the rule's id, title, level, author, references and licence
(the Detection Rule License asks reports of matches to keep the author), its description as
the cause, its known false positives, and as evidence every record it matched (for a
correlation, the records of its correlated groups; no cap), each named by the base rule that
matched it. Sigma rules carry no confidence; their severity is ``level``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.results.evidence import EVIDENCE_DTYPE, EVIDENCE_ITEM, EvidenceKey, diagnosis_id
from evtxscan.results.schema import DIAGNOSES

if TYPE_CHECKING:  # no pySigma import at run time: reports render without it
    from evtxscan.signatures.sigma.loading import SigmaRuleSet
    from evtxscan.signatures.sigma.model import RuleInfo

SIGMA_KIND = "sigma"
DRL_LINK = "https://github.com/SigmaHQ/Detection-Rule-License"
_ORDER = ["time", "channel", "event_record_id"]


def _evidence(frames: list[pd.DataFrame], titles: dict[str, str]) -> pa.ListArray:
    """One evidence list per frame of hits, built column-wise (no per-record objects)."""
    hits = pd.concat(frames, ignore_index=True)
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in frames])]).astype(np.int32)
    arrays: dict[str, pa.Array] = {}
    for field in EVIDENCE_ITEM:
        if field.name == "symptom":
            rules = hits["rule"].astype(str).tolist() if len(hits) else []
            arrays["symptom"] = pa.array([titles.get(r, r) for r in rules], pa.string())
        elif field.name == "time":
            times = pd.to_datetime(hits["time"], utc=True).astype("datetime64[us, UTC]")
            arrays["time"] = pa.array(times, type=field.type, from_pandas=True)
        elif pa.types.is_integer(field.type):  # as Python ints: a uint64 past 2**63 stays
            numbers = [None if pd.isna(v) else int(v) for v in hits[field.name].tolist()]
            arrays[field.name] = pa.array(numbers, type=field.type)
        else:
            text = hits[field.name].astype(object).where(hits[field.name].notna(), None)
            arrays[field.name] = pa.array(text, type=field.type, from_pandas=True)
    items = pa.StructArray.from_arrays(
        [arrays[f.name] for f in EVIDENCE_ITEM], fields=list(EVIDENCE_ITEM)
    )
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def _first_key(hit: pd.Series, title: str) -> EvidenceKey:
    return EvidenceKey.of_row(hit, pd.Timestamp(hit["time"]), title)


def _resolution(info: RuleInfo) -> str:
    if not info.falsepositives:
        return "Investigate the evidence records (the rule names no known false positives)."
    return "Investigate the evidence records. Known false positives: " + "; ".join(
        info.falsepositives
    )


def sigma_diagnoses_table(
    findings: pd.DataFrame, hits: pd.DataFrame, rules: SigmaRuleSet
) -> pd.DataFrame:
    """Diagnosis rows for the findings of :func:`evtxscan.correlation.sigma.sigma_findings`."""
    if findings.empty:
        return DIAGNOSES.empty()
    info = rules.info()
    titles = {key: i.title for key, i in info.items()}
    records: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for finding in findings.to_dict("records"):
        rule = info[str(finding["rule"])]
        rows = hits.iloc[np.asarray(finding["hits"], dtype=np.int64)]
        rows = rows.sort_values(_ORDER, na_position="last", kind="stable")
        frames.append(rows)
        first = _first_key(rows.iloc[0], titles.get(str(rows.iloc[0]["rule"]), rule.title))
        records.append(
            {
                "diagnosis_id": diagnosis_id(finding["host"], f"sigma:{rule.key}", first),
                "host": finding["host"],
                "signature_id": rule.key,
                "kb": None,
                "title": rule.title,
                "confidence": np.nan,
                "occurrences": int(finding["occurrences"]),
                "first_seen": finding["first_seen"],
                "last_seen": finding["last_seen"],
                "cause": rule.description,
                "resolution": _resolution(rule),
                "reference": rule.references[0] if rule.references else None,
                "kind": SIGMA_KIND,
                "level": rule.level,
                "author": rule.author,
                "references": json.dumps(list(rule.references), ensure_ascii=False),
                "licence": rule.licence,
                "rule_file": rule.source,
            }
        )
    frame = pd.DataFrame(records, columns=[n for n in DIAGNOSES.names if n != "evidence"])
    frame["evidence"] = pd.array(_evidence(frames, titles), dtype=EVIDENCE_DTYPE)
    return DIAGNOSES.conform(frame).sort_values(["host", "signature_id"], ignore_index=True)


def credit_line(diagnoses: pd.DataFrame) -> str | None:
    """The licence credit a report shows when it lists Sigma matches (None when none)."""
    if "kind" not in diagnoses or not (diagnoses["kind"] == SIGMA_KIND).any():
        return None
    sigma = diagnoses[diagnoses["kind"] == SIGMA_KIND]
    licences = sorted({str(x) for x in sigma["licence"].dropna()})
    return (
        "Sigma rules are the work of their authors (named with each diagnosis) and are used "
        f"under their licences ({', '.join(licences)}); SigmaHQ rules: Detection Rule "
        f"License 1.1, {DRL_LINK}."
    )
