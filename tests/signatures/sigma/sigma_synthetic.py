"""Synthetic events derived from Sigma rules: near-hits and near-misses for every selection.

For each selection of a rule, one event carries the selection's fields with values that
should match (``contains`` embedded in text, ``endswith`` behind a prefix, wildcards filled
in, upper-cased in a second copy), and one more event per field drops that field. Whether a
given event really matches is not decided here: the engine and the reference both judge the
same events, and the test compares them. Plain Python from the YAML; no engine code.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from evtxscan.synth.evtx_writer import EventSpec

SERVICE = {
    "security": ("Security", "Microsoft-Windows-Security-Auditing"),
    "system": ("System", "Service Control Manager"),
    "application": ("Application", "Application Error"),
}
SYSTEM_FIELDS = {"eventid", "provider_name", "channel", "level", "keywords", "binary"}
START = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def _text(value: Any, modifiers: list[str]) -> str | None:
    """A value that the item should accept (None: no sensible value, leave the field out)."""
    if value is None:
        return None
    if "re" in modifiers:
        return None
    if "cidr" in modifiers:
        network = ipaddress.ip_network(str(value))
        return str(next(iter(network.hosts()), network.network_address))
    text = str(value).lower() if isinstance(value, bool) else str(value)
    text = text.replace("\\*", "*").replace("*", "abc").replace("?", "q")
    if "contains" in modifiers:
        return f"pre {text} post"
    if "startswith" in modifiers:
        return f"{text}tail"
    if "endswith" in modifiers:
        return f"C:\\head\\{text}"
    return text


def _fields(selection: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, values in selection.items():
        field, *modifiers = key.split("|")
        listed = values if isinstance(values, list) else [values]
        if "all" in modifiers:
            parts = [_text(v, modifiers) for v in listed]
            if any(p is None for p in parts):
                continue
            out[field] = " ".join(str(p) for p in parts)
            continue
        text = _text(listed[0], modifiers)
        if text is not None:
            out[field] = text
    return out


def _event(
    rule: dict[str, Any], fields: dict[str, str], when: datetime, upper: bool = False
) -> EventSpec | None:
    service = rule["logsource"].get("service", "application")
    channel, provider = SERVICE.get(service, SERVICE["application"])
    event_id, level, keywords, binary = 1, 4, 0x8020000000000000, None
    data: list[tuple[str | None, str]] = []
    for field, text in fields.items():
        key = field.replace(" ", "").lower()
        value = text.upper() if upper else text
        if key == "eventid":
            if not text.isdigit() or int(text) > 0xFFFF:
                return None
            event_id = int(text)
        elif key == "provider_name":
            provider = text
        elif key == "channel":
            channel = text
        elif key == "level":
            level = int(text) if text.isdigit() and int(text) < 256 else level
        elif key == "keywords":
            keywords = int(text, 16) if text.startswith("0x") else keywords
        elif key == "binary":
            hex_text = "".join(c for c in text if c in "0123456789abcdefABCDEF")
            binary = bytes.fromhex(hex_text[: len(hex_text) // 2 * 2]) or None
        elif key == "data":
            data.append((None, value))
        else:
            data.append((field, value))
    return EventSpec(
        provider,
        event_id,
        when,
        "SYNTH01",
        channel=channel,
        level=level,
        keywords=keywords,
        data=tuple(data),
        binary=binary,
    )


def events_for_rule(rule: dict[str, Any], start: datetime) -> list[EventSpec]:
    """Near-hit and near-miss events for every selection of one rule."""
    detection = {k: v for k, v in rule["detection"].items() if k != "condition"}
    shared: dict[str, str] = {}
    for name, definition in detection.items():
        if isinstance(definition, dict) and not name.startswith("filter"):
            for key, text in _fields(definition).items():
                if key.lower() in ("eventid", "provider_name"):
                    shared.setdefault(key, text)
    events: list[EventSpec] = []
    when = start
    for definition in detection.values():
        alternatives = definition if isinstance(definition, list) else [definition]
        for alternative in alternatives:
            if isinstance(alternative, dict):
                fields = {**shared, **_fields(alternative)}
            else:  # a keyword: put it in a data value
                fields = {**shared, "Message": f"text {alternative} text"}
            variants = [fields] + [
                {k: v for k, v in fields.items() if k != dropped}
                for dropped in fields
                if dropped.lower() not in ("eventid",)
            ]
            for number, variant in enumerate(variants):
                for upper in (False, True) if number == 0 else (False,):
                    when += timedelta(seconds=1)
                    event = _event(rule, variant, when, upper)
                    if event is not None:
                        events.append(event)
    return events
