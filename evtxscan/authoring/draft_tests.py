"""The embedded tests of a draft: its own article's event must diagnose; the same event ID
under another source must not, nor (when the draft needs the quoted text) the same event
with other text. ``evtxscan signatures test`` runs them through the real engine."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evtxscan.authoring.draft import Symptom

OTHER_SOURCE = "evtxscan draft test"
_QUALIFIERS = {2: 0xC000, 3: 0x8000, 4: 0x4000}


def _example(pattern: str) -> str:
    """A text the draft's message regex matches: its first alternative, words spaced."""
    first = pattern.removeprefix("(?:").split("|")[0].removesuffix(")")
    return re.sub(r"\\(.)", r"\1", first.replace(r"\W+", " "))


def _data(symptoms: list[Symptom]) -> list[str]:
    """Insertion strings that satisfy every condition of the given symptoms."""
    values: dict[int, str] = {}
    free: list[str] = []
    for symptom in symptoms:
        for condition in symptom.where:
            value = condition.value[0] if isinstance(condition.value, tuple) else condition.value
            if condition.field.startswith("data."):
                values[int(condition.field[5:])] = value
            else:
                free.append(_example(value))
    size = max(values, default=0)
    data = [values.get(i, "-") for i in range(1, size + 1)]
    return data + free if data or free else ["evtxscan draft test"]


def _event(symptom: Symptom, data: list[str], provider: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"provider": provider or symptom.provider, "event_id": symptom.event_id}
    if symptom.level is not None:
        event["level"] = symptom.level
        event["qualifiers"] = _QUALIFIERS[symptom.level]
    event["at"] = "10s"
    event["data"] = data
    return event


def draft_tests(symptoms: list[Symptom]) -> list[dict[str, Any]]:
    """A positive test on the first symptom that can start a diagnosis, and negatives."""
    anchor = next(s for s in symptoms if s.role == "any")
    support = [s for s in symptoms if s.name == f"{anchor.name}_text"]
    tests: list[dict[str, Any]] = [
        {
            "name": "the article's event",
            "expect": "diagnosis",
            "events": [_event(anchor, _data([anchor, *support]))],
        },
        {
            "name": "the same event ID from another source",
            "expect": "none",
            "events": [_event(anchor, _data([anchor, *support]), OTHER_SOURCE)],
        },
    ]
    if anchor.where:
        unrelated = ["unrelated"] * max(1, len(_data([anchor])))
        tests.append(
            {
                "name": "the same event with other text",
                "expect": "none",
                "events": [_event(anchor, unrelated)],
            }
        )
    return tests
