"""Build a draft signature from one article: symptoms from its cited events, our own text.

One symptom per cited (source, event ID), role ``any`` (any one of the article's events
suggests the problem). The quoted text gives conditions (:mod:`.conditions`):

- an event that healthy logs often carry (:mod:`.common_events`) fires only with its
  specific text; without specific text the draft is marked ``noisy``;
- another event fires on its ID alone, and a second, ``optional`` symptom with the text
  raises the confidence when the text matches too.

Confidence stays in the "possible" band: base 0.2, at most 0.3 with every optional symptom.
Cause and resolution come from :mod:`.summary`; the extracted facts are kept in ``draft:``
so a curator can check them against the article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from evtxscan.authoring.citations import CitedEvent
from evtxscan.authoring.common_events import is_common
from evtxscan.authoring.conditions import (
    Condition,
    insert_conditions,
    message_condition,
    templates,
)
from evtxscan.authoring.draft_tests import draft_tests
from evtxscan.authoring.entities import Entity, article_entities
from evtxscan.authoring.kb_article import KbArticle
from evtxscan.authoring.summary import cause_text, resolution_text
from evtxscan.signatures.model import POSSIBLE_MAX

GENERATOR = "evtxscan signatures draft (1)"
BASE = 0.2
TEXT_WEIGHT = round(POSSIBLE_MAX - BASE, 3)
WINDOW = "1h"


@dataclass(frozen=True)
class Symptom:
    """A cited event as a selector: name, provider, ID, role and conditions."""

    name: str
    provider: str
    event_id: int
    role: str
    where: tuple[Condition, ...] = ()
    level: int | None = None

    def as_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": self.provider, "event_id": self.event_id}
        out["role"] = self.role
        if self.where:
            out["where"] = {c.field: c.as_yaml() for c in self.where}
        return out


def draft_id(article_id: str) -> str:
    return f"{article_id.lower()}-draft"


def _name(provider: str, event_id: int) -> str:
    return f"{re.sub(r'[^a-z0-9]+', '_', provider.casefold()).strip('_') or 'source'}_{event_id}"


def _safe(text: str) -> str:
    """Text for a title, cause or resolution: no ``{name}`` or ``[[...]]`` template syntax."""
    return text.replace("{", "(").replace("}", ")").replace("[[", "[").replace("]]", "]")


def _merge(found: list[list[Condition]]) -> tuple[Condition, ...]:
    """The conditions every quote of one event agrees on a field for, values combined."""
    if not found or any(not c for c in found):
        return ()
    fields = [c.field for c in found[0] if all(c.field in {x.field for x in f} for f in found)]
    out = []
    for field in fields:
        items = [next(c for c in f if c.field == field) for f in found]
        if all(c.test == "regex" for c in items):
            pattern = "|".join(dict.fromkeys(str(c.value) for c in items))
            out.append(Condition(field, "regex", pattern if len(items) == 1 else f"(?:{pattern})"))
            continue
        values: list[str] = []
        for c in items:
            values += list(c.value) if isinstance(c.value, tuple) else [str(c.value)]
        unique = tuple(dict.fromkeys(values))
        out.append(
            Condition(field, "any_of", unique)
            if len(unique) > 1 or items[0].test == "any_of"
            else Condition(field, "equals", unique[0])
        )
    return tuple(out)


def text_conditions(provider: str, event_id: int, quotes: list[str]) -> tuple[Condition, ...]:
    """Conditions from every quote of one event (none unless each quote is specific)."""
    if not quotes:
        return ()
    has_template = bool(templates(provider, event_id))
    found = []
    for quote in quotes:
        inserts = insert_conditions(provider, event_id, quote)
        if inserts is None and not has_template:
            message = message_condition(quote)
            inserts = [message] if message is not None else []
        found.append(inserts or [])
    return _merge(found)


_LEVELS = {"Error": 2, "Warning": 3, "Information": 4}


def build_symptoms(events: list[CitedEvent]) -> tuple[list[Symptom], str | None]:
    """The symptoms, and the reason the draft is noisy (or None)."""
    groups: dict[tuple[str, int], list[CitedEvent]] = {}
    for event in events:
        groups.setdefault((event.source_normalized, event.event_id), []).append(event)
    symptoms: list[Symptom] = []
    bare_common: list[Symptom] = []
    for (provider, event_id), cited in groups.items():
        quotes = [e.description for e in cited]
        where = text_conditions(provider, event_id, quotes) if all(quotes) else ()
        name = _name(provider, event_id)
        level = next((_LEVELS[e.type] for e in cited if e.type in _LEVELS), None)
        common = is_common(provider, event_id)
        if common and not where:
            bare_common.append(Symptom(name, provider, event_id, "any", (), level))
        elif common:
            symptoms.append(Symptom(name, provider, event_id, "any", where, level))
        elif not where:
            symptoms.append(Symptom(name, provider, event_id, "any", (), level))
        else:
            symptoms.append(Symptom(name, provider, event_id, "any", (), level))
            symptoms.append(Symptom(f"{name}_text", provider, event_id, "optional", where, level))
    if not bare_common:
        return symptoms, None
    if any(s.role == "any" for s in symptoms):
        # Sharpened: a common event with no specific text only supports the others.
        symptoms += [replace(s, role="optional") for s in bare_common]
        return symptoms, None
    names = ", ".join(f"{s.provider} {s.event_id}" for s in bare_common)
    noisy = f"healthy logs often carry {names} and the article quotes no specific text for it"
    return [*symptoms, *bare_common], noisy


def _events_yaml(events: list[CitedEvent]) -> list[dict[str, Any]]:
    return [
        {
            "section": e.section,
            "source": e.source,
            "source_normalized": e.source_normalized,
            "event_id": e.event_id,
            "type": e.type,
            "description": e.description,
            "format_variant": e.variant.value,
        }
        for e in events
    ]


def _entities_yaml(entities: list[Entity], events: list[CitedEvent]) -> dict[str, Any]:
    quoted = " ".join(e.description for e in events).casefold()
    out: dict[str, list[dict[str, str]]] = {}
    for entity in entities:
        if entity.kind == "message" and entity.value.casefold() in quoted:
            continue  # already an event's description
        item = {"value": entity.value, "section": entity.section}
        if entity.caption:
            item["caption"] = entity.caption
        out.setdefault(f"{entity.kind}s", []).append(item)
    return out


def os_versions(article: KbArticle) -> list[str]:
    """Windows versions as the 6009 banner shows them, for Windows NT articles only."""
    if not any("Windows NT" in p for p in article.products):
        return []
    found = re.findall(r"(?<![\d.])(3\.1|3\.5|3\.51|4\.0|5\.0|5\.1|5\.2)(?![\d])", article.versions)
    return list(dict.fromkeys(found))


def build_draft(article: KbArticle, events: list[CitedEvent]) -> dict[str, Any] | None:
    """The draft signature as a YAML-ready mapping, or None when no event is cited."""
    if not events:
        return None
    entities = article_entities(article)
    symptoms, noisy = build_symptoms(events)
    optional = [s.name for s in symptoms if s.role == "optional"]
    weight = int(TEXT_WEIGHT / len(optional) * 1000) / 1000 if optional else 0.0
    applies: dict[str, Any] = {"products": list(article.applies_to or article.products)}
    versions = os_versions(article)
    if versions:
        applies["os_versions"] = versions
    confidence: dict[str, Any] = {"base": BASE}
    if optional:
        confidence["optional"] = {name: weight for name in optional}
    draft: dict[str, Any] = {
        "id": draft_id(article.article_id),
        "status": "draft",
        "title": _safe(f"{article.title} (draft from {article.article_id})"),
        "kb": article.article_id,
        "reference": article.link,
    }
    if noisy:
        draft["noisy"] = noisy
    draft |= {
        "applies_to": applies,
        "symptoms": {s.name: s.as_yaml() for s in symptoms},
        "correlation": {"window": WINDOW, "boot": "any"},
        "confidence": confidence,
        "diagnosis": {
            "cause": _safe(cause_text(article, entities)),
            "resolution": _safe(resolution_text(article, entities)),
        },
        "draft": {
            "generator": GENERATOR,
            "products": list(article.products),
            "events": _events_yaml(events),
            "entities": _entities_yaml(entities, events),
        },
        "tests": draft_tests(symptoms),
    }
    return draft
