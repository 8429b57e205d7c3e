"""Render event message text offline, in English, from catalogs and insertion strings.

The Event Log stores insertion strings, not text; Event Viewer formats them with the
provider's message file on the machine that reads the log. We do the same, so an event reads
the same from .evtx, .evt or XML and on any OS. For each distinct event shape (provider,
event ID, severity, data names) the template is resolved once, in this order:

1. the curated YAML catalogs (``evtxscan/data/messages/*.yaml``, the user's ``--catalog``),
   including layouts such as Sysmon's "title, then Name: value lines";
2. the template sources: a ``--messages-db`` database, then the built-in compact catalog,
   choosing among candidates by what the record carries (:mod:`.choice`);
3. an external winevt-rc.db (``database=``);

and otherwise the logged text (XML ``RenderingInfo``) is used, or a readable fallback
(provider, ID and the insertion strings): a message is never empty, and never a sentence
the record does not fit. ``%%N`` references in insertion strings resolve through the
provider's own parameter table (:class:`ParameterExpander`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evtxscan.messages.catalog import (
    ExternalMessages,
    MessageCatalog,
    ProviderMessages,
    Template,
    builtin_catalog,
)
from evtxscan.messages.choice import Verdict, choose
from evtxscan.messages.error_tables import hresult_win32_code, parameter_table, win32_errors
from evtxscan.messages.formatting import CompiledTemplate, Insert, compile_template, tidy_layout
from evtxscan.messages.rules import template_rules
from evtxscan.messages.templates import Candidate

_PARAMETER = re.compile(r"%%(\d+)")
_INSERT = re.compile(r"(?<!%)%(\d{1,2})")
_CACHE_LIMIT = 200_000
_IO_ERROR_PACKET_MIN = 0x18
_LAYOUT = re.compile(r"[\t\r\n]")

#: A record's template key: provider, source, event ID, severity qualifiers, data names.
ShapeKey = tuple[str | None, str | None, int | None, int, tuple[str | None, ...]]


def qualifiers_for_level(level: int | None) -> int:
    """The severity bits Windows would have put in the qualifiers for a level."""
    if level in (1, 2):
        return 0xC000
    if level == 3:
        return 0x8000
    return 0x4000


def io_packet_status(
    binary: str | None, event_id: int, qualifiers: int | None, declared: bool
) -> str | None:
    """FinalStatus of a driver's IO_ERROR_LOG_PACKET carried as binary data, as 0xXXXXXXXX.

    The packet's ErrorCode (offset 0x0C) repeats the full 32-bit event ID, which identifies
    the layout when the provider does not declare it; FinalStatus is at offset 0x14.
    """
    if not binary or len(binary) < 2 * _IO_ERROR_PACKET_MIN:
        return None
    try:
        data = bytes.fromhex(binary)
    except ValueError:
        return None
    error_code = int.from_bytes(data[0x0C:0x10], "little")
    full_id = ((qualifiers or 0) << 16) | event_id
    if not declared and error_code != full_id:
        return None
    return f"0x{int.from_bytes(data[0x14:0x18], 'little'):08X}"


def first_dword_status(binary: str | None) -> str | None:
    """The first DWORD of the binary data as Event Viewer's Words view shows it (0x00000002).

    Perflib 1008 ("... The first four bytes (DWORD) of the Data section contains the error
    code") and similar events keep their status there.
    """
    if not binary or len(binary) < 8:
        return None
    try:
        return f"0x{int.from_bytes(bytes.fromhex(binary[:8]), 'little'):08X}"
    except ValueError:
        return None


class ParameterExpander:
    """Resolves ``%%N`` in one provider's insertion strings, and tidies their layout.

    ``table`` is the provider's parameter table (msobjs, Win32); ``lookups`` are asked in
    turn for numbers it lacks (the provider's own messages, an external database). A number
    holding an HRESULT of facility Win32 (``%%2147942414`` = 0x8007000E) reads as the Win32
    text, as FormatMessage gives it. Unknown numbers stay as written.
    """

    def __init__(
        self, table: dict[int, str], lookups: Sequence[Callable[[int], str | None]] = ()
    ) -> None:
        self.table = table
        self.lookups = tuple(lookups)
        self._cache: dict[str, str] = {}

    def _number(self, match: re.Match[str]) -> str:
        number = int(match.group(1))
        text = self.table.get(number)
        for lookup in self.lookups:
            if text is not None:
                break
            text = lookup(number)
        if text is None:
            code = hresult_win32_code(number)
            text = None if code is None else win32_errors().get(code)
        return match.group(0) if text is None else text

    def expand(self, value: str) -> str:
        """``%%N`` references resolved (layout untouched)."""
        return _PARAMETER.sub(self._number, value) if "%%" in value else value

    def clean(self, value: str) -> str:
        """A value as it goes into a message: references resolved, layout tidied."""
        cached = self._cache.get(value)
        if cached is None:
            cached = self.expand(value)
            if _LAYOUT.search(cached):
                cached = tidy_layout(cached)
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            self._cache[value] = cached
        return cached


@dataclass(frozen=True)
class Resolution:
    """How records of one shape render: a compiled template (or none) and where it came from."""

    compiled: CompiledTemplate | None
    origin: str  # catalog, fields, templates, external, none
    expander: ParameterExpander
    verdict: Verdict | None = None
    partial: bool = False
    needs_more: bool = False  # the template uses inserts the record lacks

    @property
    def used(self) -> frozenset[int]:
        return frozenset(p.index for p in self.compiled.inserts) if self.compiled else frozenset()


def fields_template(title: str, names: Sequence[str | None]) -> CompiledTemplate:
    """A title, then one "Name: value" line per data value (Sysmon's own layout)."""
    parts: list[str | Insert] = [f"{title}:" if names else f"{title}."]
    for number, name in enumerate(names, 1):
        parts += [f"\n{name or f'Value {number}'}: ", Insert(number)]
    return CompiledTemplate(tuple(parts))


def fallback_message(provider: str | None, event_id: int | None, inserts: Sequence[str]) -> str:
    """A readable stand-in when no catalog knows the event."""
    head = f"{provider or 'Unknown provider'} event {'?' if event_id is None else event_id}"
    shown = [v for v in inserts if v]
    return f"{head}: " + "; ".join(shown) if shown else head


class MessageRenderer:
    """Resolves templates per record shape (cached) and formats records with them."""

    def __init__(
        self,
        catalog: MessageCatalog | None = None,
        external: ExternalMessages | None = None,
        *,
        explanations: bool = False,
    ) -> None:
        """``explanations``: keep the general paragraphs Windows appends to the messages of
        the providers named in the rules (Security auditing's "This event is generated
        when ..."); left out by default, as they repeat on every record."""
        self.explanations = explanations
        self.catalog = catalog or builtin_catalog()
        self.external = external if external is not None else self.catalog.external
        self.rules = template_rules()
        self._resolutions: dict[ShapeKey, Resolution] = {}
        self._expanders: dict[tuple[Any, ...], ParameterExpander] = {}
        self._own: dict[tuple[str, int], str | None] = {}

    # -- parameters -------------------------------------------------------------------

    def _own_parameter(self, provider: str, number: int) -> str | None:
        """Message ``number`` of the provider's own table, when exactly one sentence."""
        key = (provider.casefold(), number)
        if key not in self._own:
            texts = {
                c.text
                for source in self.catalog.templates
                for c in source.candidates(provider, number)
                if c.own and not c.inserts
            }
            self._own[key] = tidy_layout(texts.pop()) if len(texts) == 1 else None
        return self._own[key]

    def expander(
        self, provider: ProviderMessages | None, names: tuple[str | None, ...] = ()
    ) -> ParameterExpander:
        """The ``%%N`` resolver for a provider (YAML catalog entry and/or provider names)."""
        table_name = provider.parameters if provider else None
        table_name = table_name or self.rules.parameter_table(*names)
        key = (table_name, tuple(n.casefold() for n in names if n))
        found = self._expanders.get(key)
        if found is None:
            lookups: list[Callable[[int], str | None]] = []
            table: dict[int, str] = {}
            if table_name == "own":
                own = next((n for n in names if n), None)
                if own is not None:
                    lookups.append(lambda number: self._own_parameter(own, number))
            elif table_name:
                table = parameter_table(table_name)
            if self.external is not None and names:
                external = self.external
                lookups.append(lambda number: external.parameter(names, number))
            found = ParameterExpander(table, lookups)
            self._expanders[key] = found
        return found

    def expand(
        self, provider: ProviderMessages | None, value: str, names: tuple[str | None, ...] = ()
    ) -> str:
        """Resolve ``%%N`` references in one insertion string via the provider's table."""
        return self.expander(provider, names).expand(value)

    # -- resolution -------------------------------------------------------------------

    def _names(self, provider_name: str | None, source_name: str | None) -> tuple[str, ...]:
        names = [n for n in (provider_name, source_name) if n]
        names += [a for a in map(self.rules.alias, names) if a]
        return tuple(dict.fromkeys(names))

    def _from_templates(
        self, name: str, event_id: int, data_names: tuple[str | None, ...]
    ) -> tuple[str | None, Verdict]:
        verdict = Verdict.NO_CANDIDATE
        for source in self.catalog.templates:
            candidates: tuple[Candidate, ...] = source.candidates(name, event_id)
            if not candidates:
                continue
            choice = choose(candidates, data_names, self.rules.pinned(name, event_id))
            if choice.text is not None:
                return choice.text, choice.verdict
            if verdict is Verdict.NO_CANDIDATE:
                verdict = choice.verdict
        return None, verdict

    def resolve(
        self,
        provider_name: str | None,
        source_name: str | None,
        event_id: int | None,
        qualifiers: int | None,
        level: int | None,
        data_names: tuple[str | None, ...],
    ) -> Resolution:
        """The template (and parameter resolver) for records of this shape; cached."""
        severity = qualifiers if qualifiers is not None else qualifiers_for_level(level)
        key: ShapeKey = (provider_name, source_name, event_id, severity, data_names)
        found = self._resolutions.get(key)
        if found is None:
            found = self._resolve(provider_name, source_name, event_id, severity, data_names)
            if len(self._resolutions) > _CACHE_LIMIT:
                self._resolutions.clear()
            self._resolutions[key] = found
        return found

    def _resolve(
        self,
        provider_name: str | None,
        source_name: str | None,
        event_id: int | None,
        severity: int,
        data_names: tuple[str | None, ...],
    ) -> Resolution:
        names = self._names(provider_name, source_name)
        provider = self.catalog.provider(*names)
        expander = self.expander(provider, names)
        count = len(data_names)
        if event_id is None:
            return Resolution(None, "none", expander, Verdict.NO_CANDIDATE)
        verdict = Verdict.NO_CANDIDATE
        for name in names:  # the most specific name first: provider, source, alias
            own = self.catalog.provider(name)
            variant: Template | None = own.variant(event_id, severity, count) if own else None
            if variant is not None and own is not None and own.layout == "fields":
                return Resolution(fields_template(variant.text, data_names), "fields", expander)
            if variant is not None:
                needs_more = any(int(n) > count for n in _INSERT.findall(variant.text))
                return Resolution(
                    compile_template(variant.text),
                    "catalog",
                    expander,
                    partial=variant.partial,
                    needs_more=needs_more,
                )
            text, found = self._from_templates(name, event_id, data_names)
            if text is not None:
                compiled = compile_template(text)
                if not self.explanations and self.rules.trims(name):
                    compiled = compiled.without_explanation()
                return Resolution(compiled, "templates", expander, found)
            if verdict is Verdict.NO_CANDIDATE:
                verdict = found
        if self.external is not None:
            external = self.external.template(names, event_id, severity)
            if external is not None:
                needs_more = any(int(n) > count for n in _INSERT.findall(external))
                compiled = compile_template(external)
                return Resolution(compiled, "external", expander, needs_more=needs_more)
        return Resolution(None, "none", expander, verdict)

    # -- one record -------------------------------------------------------------------

    def finish(
        self,
        resolution: Resolution,
        values: Sequence[str],
        logged: str | None,
        label: str | None,
        event_id: int | None,
    ) -> str:
        """One record's message from its shape's resolution (see the module docstring)."""
        compiled = resolution.compiled
        unusable = resolution.needs_more or resolution.partial
        if compiled is None or (unusable and logged):
            expand = resolution.expander.expand
            return logged or fallback_message(label, event_id, [expand(v) for v in values])
        clean = resolution.expander.clean
        text = compiled.render([clean(v) for v in values])
        if resolution.partial:
            rest = [clean(v) for i, v in enumerate(values, 1) if v and i not in resolution.used]
            if rest:
                text = f"{text.rstrip()}\n" + "; ".join(rest)
        return text

    def render(
        self,
        provider_name: str | None,
        source_name: str | None,
        event_id: int | None,
        qualifiers: int | None,
        level: int | None,
        inserts: Sequence[str],
        logged: str | None = None,
        names: Sequence[str | None] | None = None,
    ) -> str:
        """One record's message; ``names`` are the data names (None for positional values)."""
        shape = tuple(names) if names is not None else (None,) * len(inserts)
        resolution = self.resolve(provider_name, source_name, event_id, qualifiers, level, shape)
        return self.finish(resolution, inserts, logged, provider_name or source_name, event_id)

    def binary_layout(self, provider_name: str | None, source: str | None) -> str | None:
        """How the provider lays out its binary data (``binary:`` in its catalog), or None."""
        provider = self.catalog.provider(provider_name, source)
        return provider.binary if provider is not None else None

    def binary_status(
        self,
        row_provider: str | None,
        source: str | None,
        binary: str | None,
        event_id: int | None,
        qualifiers: int | None,
    ) -> str | None:
        """The status a provider keeps in the binary data, as 0xXXXXXXXX, or None."""
        if binary is None or event_id is None:
            return None
        layout = self.binary_layout(row_provider, source)
        if layout == "first_dword":
            return first_dword_status(binary)
        declared = layout == "io_error_log_packet"
        return io_packet_status(binary, event_id, qualifiers, declared)
