"""Log sources mapped the way the Sigma ecosystem maps them: pySigma's own pipelines.

- ``service: security`` / ``system`` / ``application`` / ... : pySigma's Windows log source
  pipeline adds the channel condition (``Channel: Security``), for every service it knows.
- A generic category such as ``process_creation`` is Sysmon (pySigma's Sysmon pipeline: event
  1 in ``Microsoft-Windows-Sysmon/Operational``) **or** Security auditing (pySigma's Windows
  audit pipeline: event 4688 in ``Security``, with ``Image`` -> ``NewProcessName`` and the
  other 4688 field names). A rule with such a category becomes one variant per pipeline that
  handles it and matches when any variant does.
- ``product: windows`` alone (no service or category) runs on every Windows event.

Anything else is refused with the reason: a non-Windows product, or a service or category
none of these pipelines maps (so we cannot tell which records it is about).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, replace

from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
from sigma.pipelines.windows.windows import windows_audit_pipeline, windows_logsource_pipeline
from sigma.processing.pipeline import ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation
from sigma.rule import SigmaRule

from evtxscan.signatures.sigma.values import UnsupportedValue


@dataclass(frozen=True)
class Pipelines:
    """The three pipeline combinations and the identifiers of their condition-adding items."""

    sysmon: ProcessingPipeline
    audit: ProcessingPipeline
    base: ProcessingPipeline
    adds_condition: frozenset[str]  # items that add a log source condition (Channel, EventID)
    sysmon_items: frozenset[str]
    audit_items: frozenset[str]
    channel_items: frozenset[str]


def _adding(pipeline: ProcessingPipeline) -> frozenset[str]:
    return frozenset(
        item.identifier
        for item in pipeline.items
        if item.identifier and isinstance(item.transformation, AddConditionTransformation)
    )


@functools.cache
def pipelines() -> Pipelines:
    """Built once: pySigma pipelines are reusable (their state is reset per rule)."""
    windows = windows_logsource_pipeline()
    sysmon = sysmon_pipeline()
    audit = windows_audit_pipeline()
    return Pipelines(
        sysmon=sysmon + windows_logsource_pipeline(),
        audit=audit + windows_logsource_pipeline(),
        base=windows,
        adds_condition=_adding(windows) | _adding(sysmon) | _adding(audit),
        sysmon_items=_adding(sysmon),
        audit_items=_adding(audit),
        channel_items=_adding(windows),
    )


@dataclass(frozen=True)
class Variant:
    """A rule as one pipeline combination made it (processed copy)."""

    name: str  # "sysmon", "security-audit" or "windows"
    rule: SigmaRule


def _processed(rule: SigmaRule, pipeline: ProcessingPipeline) -> tuple[SigmaRule, set[str]]:
    processed = copy.deepcopy(rule)
    pipeline.apply(processed)
    return processed, set(processed.applied_processing_items)


def _describe(rule: SigmaRule) -> str:
    source = rule.logsource
    parts = [f"{k}: {v}" for k in ("product", "category", "service") if (v := getattr(source, k))]
    return ", ".join(parts) or "empty log source"


def variants(rule: SigmaRule) -> list[Variant]:
    """The processed variants of a detection rule; UnsupportedValue when none applies."""
    source = rule.logsource
    if source.product not in (None, "windows"):
        raise UnsupportedValue(
            f"log source product {source.product!r} is not Windows event logs ({_describe(rule)})"
        )
    if source.product is None:
        rule = copy.copy(rule)
        rule.logsource = replace(source, product="windows")
    found = pipelines()
    out: list[Variant] = []
    if source.category is not None:
        sysmon, applied = _processed(rule, found.sysmon)
        if applied & found.sysmon_items:
            out.append(Variant("sysmon", sysmon))
        audit, applied = _processed(rule, found.audit)
        if applied & found.audit_items:
            out.append(Variant("security-audit", audit))
    if out:
        return out
    base, applied = _processed(rule, found.base)
    if applied & found.adds_condition:
        return [Variant("windows", base)]
    if source.category is None and source.service is None:
        return [Variant("windows", base)]  # product: windows alone: every Windows event
    raise UnsupportedValue(
        f"log source ({_describe(rule)}) has no Windows event log mapping in pySigma's "
        "Windows, Windows audit or Sysmon pipelines"
    )
