"""Message catalogs: per-provider message templates and parameter tables, loaded from data.

A catalog file (YAML, ``evtxscan/data/messages/*.yaml`` or a user directory) names a
provider, its aliases (a legacy .evt has only the SourceName; srv.sys logs as ``Srv`` and
the Server service as ``Server``), its ``%%N`` parameter table, and its events. An event key
is either the full 32-bit ID (``0xC0001B6F``: qualifiers << 16 | id), which wins, or the
16-bit ID. A template may also be a list of variants chosen by the number of insertion
strings (some events gained strings between Windows versions). A variant marked
``partial: true`` is only the beginning of the message (all a source quotes, or the first
line of a long Security template): the renderer then prefers the logged text, or appends the
insertion strings so that nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from evtxscan.messages.templates import TemplateSource, builtin_templates

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present


class CatalogError(ValueError):
    """A malformed catalog file; the message says which file and why."""


class ExternalDatabaseError(CatalogError):
    """A missing, unreadable or malformed external message database."""


class ExternalMessages(Protocol):
    """An extra message source looked up by provider/source name (e.g. a winevt-rc.db)."""

    def template(
        self, names: tuple[str | None, ...], event_id: int, qualifiers: int | None
    ) -> str | None:
        """The message template of an event, in FormatMessage syntax, or None."""
        ...

    def parameter(self, names: tuple[str | None, ...], number: int) -> str | None:
        """The text of a ``%%number`` parameter of that provider, or None."""
        ...


@dataclass(frozen=True)
class Template:
    """One message template, optionally for a given number of insertion strings."""

    text: str
    inserts: int | None = None
    partial: bool = False


@dataclass(frozen=True)
class ProviderMessages:
    """The messages of one provider (and its aliases)."""

    name: str
    aliases: tuple[str, ...]
    parameters: str | None = None  # name of the %%N table, e.g. "win32"
    binary: str | None = None  # how binary data is laid out, e.g. "io_error_log_packet"
    events: Mapping[int, tuple[Template, ...]] = field(default_factory=dict)
    layout: str = "template"  # or "fields": the message is a title, then "Name: value" lines

    def variant(self, event_id: int, qualifiers: int | None, inserts: int) -> Template | None:
        """The best template for an event: full ID first, then the 16-bit ID."""
        keys = ([(qualifiers << 16) | event_id] if qualifiers is not None else []) + [event_id]
        for key in keys:
            variants = self.events.get(key)
            if variants:
                return _choose(variants, inserts)
        return None

    def template(self, event_id: int, qualifiers: int | None, inserts: int) -> str | None:
        """The text of :meth:`variant`, or None."""
        found = self.variant(event_id, qualifiers, inserts)
        return None if found is None else found.text


def _choose(variants: tuple[Template, ...], inserts: int) -> Template:
    exact = [v for v in variants if v.inserts == inserts]
    if exact:
        return exact[0]
    general = [v for v in variants if v.inserts is None]
    if general:
        return general[0]
    return min(variants, key=lambda v: abs((v.inserts or 0) - inserts))


def _templates(value: Any, where: str) -> tuple[Template, ...]:
    if isinstance(value, str):
        return (Template(value),)
    if isinstance(value, list) and value:
        out = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("message"), str):
                raise CatalogError(f"{where}: each variant needs a 'message' string")
            inserts, partial = item.get("inserts"), item.get("partial", False)
            if inserts is not None and not isinstance(inserts, int):
                raise CatalogError(f"{where}: 'inserts' must be a whole number")
            if not isinstance(partial, bool):
                raise CatalogError(f"{where}: 'partial' must be true or false")
            out.append(Template(item["message"], inserts, partial))
        return tuple(out)
    raise CatalogError(f"{where}: a message must be a string or a list of variants")


def parse_catalog(text: str, source: str) -> ProviderMessages:
    """Validate and build one catalog file's content."""
    try:
        raw = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("provider"), str):
        raise CatalogError(f"{source}: needs a 'provider' name")
    events = raw.get("events") or {}
    if not isinstance(events, dict):
        raise CatalogError(f"{source}: 'events' must map event IDs to messages")
    parsed: dict[int, tuple[Template, ...]] = {}
    for key, value in events.items():
        if not isinstance(key, int) or not 0 <= key < 2**32:
            raise CatalogError(f"{source}: event key {key!r} is not a 16- or 32-bit ID")
        parsed[key] = _templates(value, f"{source}: event {key}")
    aliases = raw.get("aliases") or [raw["provider"]]
    parameters = raw.get("parameters")
    if parameters is not None and not isinstance(parameters, str):
        raise CatalogError(f"{source}: 'parameters' must name a table, e.g. win32 or msobjs")
    layout = raw.get("layout", "template")
    if layout not in ("template", "fields"):
        raise CatalogError(f"{source}: 'layout' must be template or fields")
    return ProviderMessages(
        name=raw["provider"],
        aliases=tuple(str(a) for a in aliases),
        parameters=parameters,
        binary=raw.get("binary"),
        events=parsed,
        layout=layout,
    )


class MessageCatalog:
    """All loaded providers, looked up by provider or event source name (case-insensitive).

    ``external`` is an optional message database consulted after the catalogs (see
    :mod:`evtxscan.messages.winevt_rc`); ``templates`` are template sources (a
    ``--messages-db`` first, then the built-in catalog) consulted in between.
    """

    def __init__(
        self,
        providers: Iterable[ProviderMessages],
        external: ExternalMessages | None = None,
        templates: Sequence[TemplateSource] | None = None,
    ) -> None:
        self.external = external
        self.templates: tuple[TemplateSource, ...] = (
            (builtin_templates(),) if templates is None else tuple(templates)
        )
        self._by_name: dict[str, ProviderMessages] = {}
        for provider in providers:
            for alias in (provider.name, *provider.aliases):
                self._by_name.setdefault(alias.casefold(), provider)

    def provider(self, *names: str | None) -> ProviderMessages | None:
        """The first of ``names`` (provider, then event source name) that has a catalog."""
        for name in names:
            if name:
                found = self._by_name.get(name.casefold())
                if found is not None:
                    return found
        return None

    @property
    def providers(self) -> list[ProviderMessages]:
        """Every loaded provider, once."""
        return list({id(p): p for p in self._by_name.values()}.values())


def catalog_files(directory: Path) -> list[tuple[str, str]]:
    """(name, text) of every YAML catalog in a directory, sorted by name."""
    return [(str(p), p.read_text("utf-8")) for p in sorted(directory.glob("*.yaml"))]


@cache
def builtin_catalog() -> MessageCatalog:
    """The catalogs shipped with evtxscan."""
    root = resources.files("evtxscan.data.messages")
    files = sorted(
        (entry.name, entry.read_text("utf-8"))
        for entry in root.iterdir()
        if entry.name.endswith(".yaml")
    )
    return MessageCatalog(parse_catalog(text, name) for name, text in files)
