"""Group one host's symptom matches into incidents, score them, and describe the diagnosis.

An incident is one occurrence of a signature: every required symptom (and one of the "any"
symptoms, if it has them) within the signature's time window of an anchor symptom and, when
the signature asks for it and the host's boot sessions are known, in the same boot session.
Optional symptoms near the incident raise its confidence; an "absent" symptom that follows
within its span cancels it (the service came back). Each match serves one incident, so a
problem that recurs at every boot yields one incident per boot.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evtxscan.correlation.field_values import field_values
from evtxscan.correlation.sessions import UNKNOWN_SESSION, HostFacts
from evtxscan.signatures.demangle import demangle
from evtxscan.signatures.model import POSSIBLE_MAX, BootScope, Role, Signature, Status


@dataclass(frozen=True)
class Hit:
    """One record showing one symptom."""

    row: int  # index into the scan's kept rows
    symptom: str
    time: pd.Timestamp
    session: int


@dataclass
class Incident:
    """One occurrence of a signature on a host."""

    signature: Signature
    host: str
    members: dict[str, Hit]
    optional: dict[str, Hit] = field(default_factory=dict)
    context: dict[str, Hit] = field(default_factory=dict)
    sessions_known: bool = True
    confidence: float = 0.0

    @property
    def hits(self) -> list[Hit]:
        return sorted([*self.members.values(), *self.optional.values()], key=lambda h: h.time)

    @property
    def start(self) -> pd.Timestamp:
        return min(h.time for h in self.members.values())

    @property
    def end(self) -> pd.Timestamp:
        return max(h.time for h in self.members.values())


def _close(anchor: Hit, hit: Hit, signature: Signature, same_session: bool) -> bool:
    if abs(hit.time - anchor.time) > signature.window:
        return False
    return not same_session or hit.session == anchor.session


def find_incidents(
    signature: Signature, host: str, hits: list[Hit], facts: HostFacts | None
) -> list[Incident]:
    """Every incident of ``signature`` among one host's ``hits`` (any order)."""
    hits = sorted(hits, key=lambda h: (h.time, h.row))
    by_symptom: dict[str, list[Hit]] = {}
    for hit in hits:
        by_symptom.setdefault(hit.symptom, []).append(hit)
    required = [s.name for s in signature.symptoms if s.role is Role.REQUIRED]
    any_of = [s.name for s in signature.symptoms if s.role is Role.ANY]
    anchors_from = required or any_of
    sessions_known = facts is not None and facts.sessions_known
    same_session = signature.boot is BootScope.SAME and sessions_known
    used: set[int] = set()
    incidents: list[Incident] = []
    for anchor in (h for h in hits if h.symptom in anchors_from):
        if anchor.row in used:
            continue
        members = {anchor.symptom: anchor}
        for name in required:
            if name in members:
                continue
            match = _nearest(by_symptom.get(name, []), anchor, signature, same_session, used)
            if match is None:
                break
            members[name] = match
        else:
            if any_of and not any(n in members for n in any_of):
                options = [h for n in any_of for h in by_symptom.get(n, [])]
                match = _nearest(options, anchor, signature, same_session, used)
                if match is None:
                    continue
                members[match.symptom] = match
            if not _in_order(signature, members):
                continue
            _join_other_any(members, any_of, by_symptom, anchor, signature, same_session, used)
            incident = Incident(signature, host, members, sessions_known=sessions_known)
            _attach(incident, by_symptom, same_session, used)
            if _cancelled(incident, by_symptom):
                continue
            used.update(h.row for h in incident.members.values())
            incident.confidence = score(incident, facts)
            incidents.append(incident)
    return incidents


def _join_other_any(
    members: dict[str, Hit],
    any_of: list[str],
    by_symptom: dict[str, list[Hit]],
    anchor: Hit,
    signature: Signature,
    same_session: bool,
    used: set[int],
) -> None:
    """The incident's other "any" symptoms, when present near the anchor, are its evidence too
    (so one occurrence of a story with several of them is one incident, not one each)."""
    extra: dict[str, Hit] = {}
    for name in any_of:
        if name not in members:
            match = _nearest(by_symptom.get(name, []), anchor, signature, same_session, used)
            if match is not None:
                extra[name] = match
    if extra and _in_order(signature, {**members, **extra}):
        members.update(extra)


def _nearest(
    options: list[Hit], anchor: Hit, signature: Signature, same_session: bool, used: set[int]
) -> Hit | None:
    close = [h for h in options if h.row not in used and _close(anchor, h, signature, same_session)]
    return min(close, key=lambda h: abs(h.time - anchor.time)) if close else None


def _in_order(signature: Signature, members: Mapping[str, Hit]) -> bool:
    times = [members[name].time for name in signature.ordered if name in members]
    return all(a <= b for a, b in itertools.pairwise(times))


def _attach(
    incident: Incident, by_symptom: dict[str, list[Hit]], same_session: bool, used: set[int]
) -> None:
    """Add optional and context symptoms near the incident (same session if required)."""
    signature = incident.signature
    anchor = min(incident.members.values(), key=lambda h: h.time)
    for selector in signature.symptoms:
        if selector.role not in (Role.OPTIONAL, Role.CONTEXT):
            continue
        near = [
            h
            for h in by_symptom.get(selector.name, [])
            if incident.start - signature.window <= h.time <= incident.end + signature.window
            and (not same_session or h.session == anchor.session)
        ]
        if selector.role is Role.CONTEXT and not near:
            near = [h for h in by_symptom.get(selector.name, []) if h.time <= incident.end]
        if near:
            target = incident.optional if selector.role is Role.OPTIONAL else incident.context
            target[selector.name] = min(near, key=lambda h: abs(h.time - anchor.time))


def _cancelled(incident: Incident, by_symptom: dict[str, list[Hit]]) -> bool:
    for selector in incident.signature.symptoms:
        if selector.role is Role.ABSENT and selector.within is not None:
            limit = incident.end + selector.within
            if any(incident.end <= h.time <= limit for h in by_symptom.get(selector.name, [])):
                return True
    return False


def score(incident: Incident, facts: HostFacts | None) -> float:
    """Confidence in [0, 1]: base, plus optional symptoms' weights, times the penalties."""
    signature = incident.signature
    rules = signature.confidence
    value = rules.base + sum(rules.optional.get(name, 0.0) for name in incident.optional)
    if signature.boot is BootScope.SAME and not incident.sessions_known:
        value *= rules.unknown_boot
    versions = signature.applies_to.os_versions
    if (
        versions
        and facts is not None
        and facts.os_version is not None
        and not any(facts.os_version.startswith(v) for v in versions)
    ):
        value *= rules.os_mismatch
    ceiling = POSSIBLE_MAX if signature.status is Status.DRAFT else 1.0
    return round(max(0.0, min(ceiling, value)), 3)


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "(unknown)"


def extracted_fields(incident: Incident, rows: pd.DataFrame) -> dict[str, str]:
    """Named values the signature extracts from the incident's records."""
    chosen = {**incident.context, **incident.optional, **incident.members}
    out: dict[str, str] = {}
    for extraction in incident.signature.extract:
        hit = next((chosen[s] for s in extraction.symptoms if s in chosen), None)
        if hit is None:
            continue
        for text in field_values(rows.loc[hit.row], extraction.field):
            value: str | None = text
            if extraction.regex is not None:
                match = extraction.regex.search(text)
                value = None
                if match:
                    value = match.groupdict().get("value") or (
                        match.group(1) if match.groups() else match.group(0)
                    )
            if value and extraction.name not in out:
                value = value.strip()
                readable = demangle(value) if extraction.transform == "demangle" else None
                out[extraction.name] = value
                out[f"{extraction.name}_readable"] = (
                    f"{value}, that is {readable}" if readable else value
                )
                break
    return out


_OPTIONAL_PART = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


def render_text(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders. A ``[[...]]`` part is dropped when a name in it is
    unknown; elsewhere unknown names read "(unknown)". Stray braces never crash."""

    def optional(match: re.Match[str]) -> str:
        names = [f[1] for f in string.Formatter().parse(match.group(1)) if f[1]]
        return match.group(1) if all(n in values for n in names) else ""

    try:
        text = _OPTIONAL_PART.sub(optional, template)
        return string.Formatter().vformat(text, (), _Fields(values))
    except (ValueError, IndexError, KeyError):
        return template


__all__ = [
    "UNKNOWN_SESSION",
    "Hit",
    "Incident",
    "extracted_fields",
    "find_incidents",
    "render_text",
    "score",
]
