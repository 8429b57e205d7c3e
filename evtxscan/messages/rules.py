"""The template rules (``evtxscan/data/messages/templates/rules.yaml``), validated on load.

- ``parameters``: table name (``msobjs``, ``win32``, ``own``) -> providers whose ``%%N``
  insertion strings that table resolves;
- ``aliases``: legacy event source name -> the provider whose messages it logs with;
- ``pins``: (provider, event) -> beginnings of the template Event Viewer shows, for events
  whose candidates the record cannot tell apart;
- ``explanations``: providers whose messages end in general paragraphs, the same for every
  record ("This event is generated when ..."), left out unless asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from evtxscan.messages.catalog import CatalogError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present

TABLES = ("msobjs", "win32", "own")
RULES_FILE = "templates/rules.yaml"


@dataclass(frozen=True)
class TemplateRules:
    """Parameter tables, aliases and pins, keyed by case-folded provider name."""

    parameters: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    pins: Mapping[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    explained: frozenset[str] = frozenset()  # providers whose messages end in explanations

    def trims(self, provider: str) -> bool:
        """Whether the provider's messages end in a general explanation left out by default."""
        return provider.casefold() in self.explained

    def parameter_table(self, *names: str | None) -> str | None:
        """The parameter table of the first name that has one."""
        for name in names:
            if name and name.casefold() in self.parameters:
                return self.parameters[name.casefold()]
        return None

    def alias(self, name: str | None) -> str | None:
        """The provider a legacy source name logs with, or None."""
        return self.aliases.get(name.casefold()) if name else None

    def pinned(self, provider: str, event_id: int) -> dict[str, None]:
        """Pinned template beginnings of an event (an ordered set), empty when none."""
        return dict.fromkeys(self.pins.get((provider.casefold(), event_id), ()))


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogError(f"{where}: must be a list of provider names")
    return value


def parse_rules(text: str, source: str) -> TemplateRules:
    """Validate and build the rules file's content."""
    raw = yaml.load(text, Loader=_LOADER) or {}
    if not isinstance(raw, dict):
        raise CatalogError(f"{source}: must be a mapping")
    parameters: dict[str, str] = {}
    for table, providers in (raw.get("parameters") or {}).items():
        if table not in TABLES:
            raise CatalogError(f"{source}: parameters: unknown table {table!r}")
        for name in _names(providers, f"{source}: parameters.{table}"):
            parameters[name.casefold()] = table
    aliases = raw.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise CatalogError(f"{source}: aliases must map source names to providers")
    pins: dict[tuple[str, int], tuple[str, ...]] = {}
    for number, pin in enumerate(raw.get("pins") or [], 1):
        where = f"{source}: pin {number}"
        if not isinstance(pin, dict) or not isinstance(pin.get("provider"), str):
            raise CatalogError(f"{where}: needs a provider")
        if not isinstance(pin.get("event"), int) or not isinstance(pin.get("message"), str):
            raise CatalogError(f"{where}: needs an event ID and a message")
        key = (pin["provider"].casefold(), pin["event"])
        pins[key] = (*pins.get(key, ()), pin["message"])
    explained = raw.get("explanations") or []
    return TemplateRules(
        explained=frozenset(n.casefold() for n in _names(explained, f"{source}: explanations")),
        parameters=parameters,
        aliases={str(k).casefold(): str(v) for k, v in aliases.items()},
        pins=pins,
    )


@cache
def template_rules() -> TemplateRules:
    """The shipped rules (loaded once)."""
    text = resources.files("evtxscan.data.messages").joinpath(RULES_FILE).read_text("utf-8")
    return parse_rules(text, RULES_FILE)
