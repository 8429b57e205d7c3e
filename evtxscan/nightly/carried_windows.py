"""Correlate a run's new records together with the rows carried from earlier runs.

This module is the one place that uses the scan's building blocks (``Scanner``,
``correlation.engine``, ``results.tables``): the kept rows, the de-duplication, incidents,
rendered diagnoses and the timeline are computed exactly as a full scan computes them, only
over carried + new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from evtxscan.correlation.engine import dedupe as _dedupe
from evtxscan.correlation.engine import incidents_of as _incidents
from evtxscan.correlation.incidents import Hit, Incident
from evtxscan.correlation.selection import BOOT_START, VERSION_BANNER
from evtxscan.correlation.sessions import HostFacts, host_facts
from evtxscan.messages import MessageRenderer
from evtxscan.nightly.model import HostRecord
from evtxscan.records.schema import concat_frames
from evtxscan.results.stats import daily_counts as _daily
from evtxscan.results.tables import (
    DIAGNOSIS_COLUMNS,
    EVIDENCE_LIMIT,
)
from evtxscan.results.tables import diagnoses_table as _diagnoses
from evtxscan.results.tables import evidence_key as _evidence_key
from evtxscan.results.tables import timeline_table as _timeline
from evtxscan.scanning import Scanner
from evtxscan.signatures.model import Role, Signature

__all__ = [
    "DIAGNOSIS_COLUMNS",
    "EVIDENCE_LIMIT",
    "Correlation",
    "Scanner",
    "carry_rows",
    "carry_span",
    "correlate",
    "daily",
    "evidence_key",
]

#: Carried beyond the longest correlation window: logs of one host arrive a day apart.
CARRY_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Correlation:
    """Tonight's view: the rows, host facts, incidents, rendered diagnoses and timeline."""

    rows: pd.DataFrame
    facts: dict[str, HostFacts]
    incidents: list[Incident]
    rendered: pd.DataFrame
    timeline: pd.DataFrame


def evidence_key(row: Any, hit: Hit) -> dict[str, Any]:
    return _evidence_key(row, hit)


def daily(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Records and errors per host and UTC day, as the scan counts them."""
    return _daily(parts)


def carry_span(signatures: list[Signature]) -> timedelta:
    """How far back from a host's newest record symptom rows are carried to the next run."""
    longest = timedelta(0)
    for signature in signatures:
        within = [s.within for s in signature.symptoms if s.role is Role.ABSENT and s.within]
        longest = max(longest, signature.window + max(within, default=timedelta(0)))
    return longest + CARRY_SLACK


def combine(carried: pd.DataFrame | None, kept: list[pd.DataFrame]) -> pd.DataFrame:
    """Carried and new rows, de-duplicated and in one canonical order."""
    frames = [f for f in ([carried] if carried is not None else []) + kept if not f.empty]
    if not frames:
        return pd.DataFrame()
    rows = _dedupe(concat_frames(frames))
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


def _merge_facts(facts: dict[str, HostFacts], stored: dict[str, HostRecord]) -> None:
    """Fill what tonight's rows do not say from the facts earlier runs saw."""
    for host, fact in facts.items():
        old = stored.get(host)
        if old is None:
            continue
        fact.os_version = fact.os_version or old.os_version
        fact.build = fact.build or old.build
        fact.service_pack = fact.service_pack or old.service_pack
        kinds = {fact.processors, old.processors}
        for kind in ("multiprocessor", "uniprocessor"):
            if kind in kinds:
                fact.processors = kind
                break


def correlate(
    signatures: list[Signature],
    rows: pd.DataFrame,
    stored: dict[str, HostRecord],
    window: timedelta,
    renderer: MessageRenderer,
) -> Correlation:
    """Incidents, rendered diagnoses and timeline over ``rows`` (see :func:`combine`)."""
    facts = host_facts(rows, rows["_canon"]) if not rows.empty else {}
    _merge_facts(facts, stored)
    incidents = _incidents(signatures, rows, facts)
    rendered = _diagnoses(incidents, rows, facts)
    timeline = _timeline(rows, incidents, window, renderer)
    return Correlation(rows, facts, incidents, rendered, timeline)


def carry_rows(
    rows: pd.DataFrame, incidents: list[Incident], symptoms: timedelta, context: timedelta
) -> pd.DataFrame:
    """The rows the next run needs, per host: symptom rows of the last ``symptoms`` span with
    whole incidents reaching into it; the latest boot start and version banner before it and
    all after (sessions, host facts); other context rows of the last ``context`` span (the
    timeline around a symptom that comes next)."""
    if rows.empty:
        return rows
    hosts = rows["host"].astype(str)
    times = rows["time"]
    newest = times.groupby(hosts).transform("max")
    recent = (times >= newest - symptoms).fillna(False).to_numpy(dtype=bool, copy=True)
    keep = (times >= newest - context).fillna(False).to_numpy(dtype=bool, copy=True)
    pairs = list(zip(rows["_canon"], rows["event_id"].astype("Int64"), strict=True))
    symptom = rows["signatures"].map(len).to_numpy() > 0
    keep |= recent & symptom
    for incident in incidents:
        where = [h.row for h in (*incident.hits, *incident.context.values())]
        if keep[where].any():
            keep[where] = True
    for kind in (BOOT_START, {VERSION_BANNER}):
        marker = np.array([p in kind for p in pairs], dtype=bool)
        keep |= marker & recent
        before = rows[marker & ~recent & times.notna().to_numpy()]
        if not before.empty:
            keep[before.groupby(hosts[before.index]).tail(1).index] = True
    return rows[keep].reset_index(drop=True)
