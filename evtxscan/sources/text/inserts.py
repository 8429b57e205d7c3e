"""Recover insertion strings from a rendered description, by the provider's message template.

Event Viewer text exports keep only the formatted description. When a catalog template of
the event matches the whole description (white space and line breaks compared loosely),
the text at each ``%N`` is that insertion string; a value equal to an entry of the
provider's ``%%N`` parameter table (Win32 text for the Service Control Manager) becomes
``%%N`` again, as Windows logged it. A recovery is kept only when rendering the recovered
strings gives the description back. Templates whose inserts are separated by nothing or by
white space only (``%1 %2``) are ambiguous and never used.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from evtxscan.messages.catalog import MessageCatalog, ProviderMessages, builtin_catalog
from evtxscan.messages.error_tables import parameter_table
from evtxscan.messages.formatting import format_message
from evtxscan.messages.render import MessageRenderer, qualifiers_for_level
from evtxscan.sources.text.template_match import TemplateMatcher

_TOKEN = re.compile(r"%(?:(\d{1,2})(?:![^!]*!)?|(.)|$)", re.DOTALL)
_SPACE = re.compile(r"\s+")
_SPACE_CHARS = {"n", "r", "t", "b"}
#: Descriptions longer than this are not matched (bounds the regex work per event).
MAX_TEXT = 16_384
_CACHE_LIMIT = 100_000


def _loose(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class _Pattern(NamedTuple):
    matcher: TemplateMatcher
    template: str
    inserts: int  # highest %N used


def compile_template(template: str) -> _Pattern | None:
    """A matcher capturing each ``%N`` of ``template``; None when the inserts are ambiguous."""
    elements: list[tuple[str, str]] = []  # (kind, regex): kind is text, space or insert
    seen: set[int] = set()

    def add(kind: str, regex: str) -> None:
        if not (kind == "space" and elements and elements[-1][0] == "space"):
            elements.append((kind, regex))

    def literal(text: str) -> None:
        for piece in re.split(r"(\s+)", text):
            if piece:
                add(*(("space", r"\s*") if piece.isspace() else ("text", re.escape(piece))))

    position = 0
    for token in _TOKEN.finditer(template):
        literal(template[position : token.start()])
        position = token.end()
        number, char = token.group(1), token.group(2)
        if number is not None:
            index = int(number)
            if index == 0:
                break
            solid = [kind for kind, _ in elements if kind != "space"]
            if solid and solid[-1] == "insert":
                return None  # %1%2 or %1 %2: where one ends is unknowable
            add("insert", str(index))
            seen.add(index)
        elif char is None:
            literal("%")
        elif char in _SPACE_CHARS:
            add("space", r"\s*")
        else:
            literal(char)
    else:
        literal(template[position:])
    literals, inserts, current = [], [], ""
    for kind, regex in elements:
        if kind == "insert":
            literals.append(current)
            inserts.append(int(regex))
            current = ""
        else:
            current += regex
    literals.append(current)
    return _Pattern(TemplateMatcher(literals, inserts), template, max(seen, default=0))


class InsertRecovery:
    """Recovers insertion strings with one catalog; counts what it recovered."""

    def __init__(self, catalog: MessageCatalog | None = None) -> None:
        self.catalog = catalog or builtin_catalog()
        self.renderer = MessageRenderer(self.catalog, external=None)
        self._patterns: dict[tuple[str, int, int], list[_Pattern]] = {}
        self._reverse: dict[str, dict[str, int]] = {}
        self._providers: dict[str, ProviderMessages | None] = {}
        self._cache: dict[tuple[str | None, int, int | None, str], list[str] | None] = {}
        self.recovered = 0

    def _provider(self, source: str | None) -> ProviderMessages | None:
        if not source:
            return None
        if source not in self._providers:
            self._providers[source] = self.catalog.provider(source)
        return self._providers[source]

    def patterns(self, source: str | None, event_id: int, level: int | None) -> list[_Pattern]:
        """Compiled templates of an event (full-ID variants first); empty when unknown."""
        provider = self._provider(source)
        if provider is None:
            return []
        severity = qualifiers_for_level(level)
        key = (provider.name, event_id, severity)
        found = self._patterns.get(key)
        if found is None:
            variants = [
                *provider.events.get((severity << 16) | event_id, ()),
                *provider.events.get(event_id, ()),
            ]
            found = []
            for variant in variants:
                pattern = None if variant.partial else compile_template(variant.text)
                if pattern is not None and pattern.template not in [p.template for p in found]:
                    found.append(pattern)
            self._patterns[key] = found
        return found

    def uses_inserts(self, source: str | None, event_id: int | None, level: int | None) -> bool:
        """Whether the catalog would render this event from insertion strings."""
        provider = self._provider(source)
        if provider is None or event_id is None:
            return False
        variant = provider.variant(event_id, qualifiers_for_level(level), 0)
        return variant is not None and bool(re.search(r"(?<!%)%[1-9]", variant.text))

    def recover(
        self, source: str | None, event_id: int | None, level: int | None, text: str
    ) -> list[str] | None:
        """The insertion strings ``text`` was rendered from, or None when unknown."""
        if event_id is None or not text or len(text) > MAX_TEXT:
            return None
        key = (source, event_id, level, text)
        if key not in self._cache:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = self._recover(source, event_id, level, text)
        values = self._cache[key]
        self.recovered += bool(values)
        return None if values is None else list(values)

    def _recover(
        self, source: str | None, event_id: int, level: int | None, text: str
    ) -> list[str] | None:
        provider = self._provider(source)
        for pattern in self.patterns(source, event_id, level):
            found = pattern.matcher.fullmatch(text)
            if found is None:
                continue
            values = [
                self._parameter(provider, found.get(n, "").strip())
                for n in range(1, pattern.inserts + 1)
            ]
            rendered = format_message(
                pattern.template,
                values,
                expand=lambda v: self.renderer.expand(provider, v),
            )
            if _loose(rendered) == _loose(text):
                return values
        return None

    def _parameter(self, provider: ProviderMessages | None, value: str) -> str:
        """``%%N`` for a value that is exactly an entry of the provider's parameter table."""
        if provider is None or not provider.parameters or not value:
            return value
        table = provider.parameters
        reverse = self._reverse.get(table)
        if reverse is None:
            reverse, dropped = {}, set()
            try:
                entries = parameter_table(table)
            except (OSError, ValueError):
                entries = {}
            for number, message in entries.items():
                key = _loose(message)
                if key in reverse or key in dropped:
                    reverse.pop(key, None)
                    dropped.add(key)  # two numbers share the text: no way back
                else:
                    reverse[key] = number
            self._reverse[table] = reverse
        found = reverse.get(_loose(value))
        return value if found is None else f"%%{found}"
