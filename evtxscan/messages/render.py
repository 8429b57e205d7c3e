"""Render event message text offline, in English, from catalogs and insertion strings.

The Event Log stores insertion strings, not text; Event Viewer formats them with the
provider's message file on the machine that reads the log. We do the same with built-in
catalogs, so an event reads the same from .evtx, .evt or XML and on any OS. ``%%N``
references in insertion strings resolve through the provider's own parameter table. Without
a catalog entry an external message database (``external=``, e.g. plaso's winevt-rc.db) is
asked, then the logged text (XML ``RenderingInfo``) is used, and without that a readable
fallback (provider, ID and the insertion strings); a message is never empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from evtxscan.messages.catalog import (
    ExternalMessages,
    MessageCatalog,
    ProviderMessages,
    Template,
    builtin_catalog,
)
from evtxscan.messages.errors import parameter_table
from evtxscan.messages.formatting import format_message

_PARAMETER = re.compile(r"%%(\d+)")
_INSERT = re.compile(r"(?<!%)%(\d{1,2})")
_CACHE_LIMIT = 200_000
_IO_ERROR_PACKET_MIN = 0x18


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


class MessageRenderer:
    """Formats messages for records, caching by (provider, ID, inserts).

    ``external`` (default: the catalog's own) is consulted for events the catalogs do not
    know, and for ``%%N`` parameters of providers without a built-in parameter table.
    """

    def __init__(
        self, catalog: MessageCatalog | None = None, external: ExternalMessages | None = None
    ) -> None:
        self.catalog = catalog or builtin_catalog()
        self.external = external if external is not None else self.catalog.external
        self._cache: dict[tuple[Any, ...], str] = {}

    def expand(
        self, provider: ProviderMessages | None, value: str, names: tuple[str | None, ...] = ()
    ) -> str:
        """Resolve ``%%N`` references in one insertion string via the provider's table.

        Only the provider's own table is used (then the external database's parameter files
        for ``names``): a number is never looked up in a table the provider did not name.
        """
        if "%%" not in value:
            return value
        table = parameter_table(provider.parameters) if provider and provider.parameters else {}
        external = self.external if names else None
        if not table and external is None:
            return value

        def lookup(match: re.Match[str]) -> str:
            number = int(match.group(1))
            text = table.get(number)
            if text is None and external is not None:
                text = external.parameter(names, number)
            return match.group(0) if text is None else text

        return _PARAMETER.sub(lookup, value)

    def _variant(
        self,
        provider: ProviderMessages | None,
        names: tuple[str | None, ...],
        event_id: int,
        severity: int,
        inserts: int,
    ) -> Template | None:
        found = provider.variant(event_id, severity, inserts) if provider else None
        if found is None and self.external is not None:
            text = self.external.template(names, event_id, severity)
            found = None if text is None else Template(text)
        return found

    def render(
        self,
        provider_name: str | None,
        source_name: str | None,
        event_id: int | None,
        qualifiers: int | None,
        level: int | None,
        inserts: Sequence[str],
        logged: str | None = None,
    ) -> str:
        """One record's message (see the module docstring for the fallbacks)."""
        key = (provider_name, source_name, event_id, qualifiers, level, tuple(inserts), logged)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        names = (provider_name, source_name)
        provider = self.catalog.provider(provider_name, source_name)
        variant = None
        if event_id is not None:
            severity = qualifiers if qualifiers is not None else qualifiers_for_level(level)
            variant = self._variant(provider, names, event_id, severity, len(inserts))
        if variant is not None and logged and _needs_more(variant.text, len(inserts)):
            variant = None  # a text export without its strings: the logged text is better
        if variant is not None and not (variant.partial and logged):
            text = format_message(
                variant.text, inserts, expand=lambda v: self.expand(provider, v, names)
            )
            if variant.partial:
                used = {int(n) for n in _INSERT.findall(variant.text)}
                rest = [v for i, v in enumerate(inserts, 1) if v and i not in used]
                if rest:
                    text = f"{text.rstrip()}\n" + "; ".join(
                        self.expand(provider, v, names) for v in rest
                    )
        elif logged:
            text = logged
        else:
            text = fallback_message(provider_name or source_name, event_id, inserts)
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = text
        return text

    def binary_status(
        self,
        row_provider: str | None,
        source: str | None,
        binary: str | None,
        event_id: int | None,
        qualifiers: int | None,
    ) -> str | None:
        if binary is None or event_id is None:
            return None
        provider = self.catalog.provider(row_provider, source)
        declared = provider is not None and provider.binary == "io_error_log_packet"
        return io_packet_status(binary, event_id, qualifiers, declared)


def _needs_more(template: str, available: int) -> bool:
    """True when the template uses an insert the record does not have."""
    return any(int(n) > available for n in _INSERT.findall(template))


def fallback_message(provider: str | None, event_id: int | None, inserts: Sequence[str]) -> str:
    """A readable stand-in when no catalog knows the event."""
    head = f"{provider or 'Unknown provider'} event {'?' if event_id is None else event_id}"
    shown = [v for v in inserts if v]
    return f"{head}: " + "; ".join(shown) if shown else head


def _none(value: Any) -> Any:
    return (
        None
        if value is None or value is pd.NA or (isinstance(value, float) and value != value)
        else value
    )


def add_messages(frame: pd.DataFrame, renderer: MessageRenderer | None = None) -> pd.DataFrame:
    """The frame with ``message`` (our English rendering) and ``binary_status`` columns."""
    renderer = renderer or MessageRenderer()
    logged = frame["message_logged"] if "message_logged" in frame.columns else None
    messages: list[str] = []
    statuses: list[str | None] = []
    columns = zip(
        frame["provider"].astype(object),
        frame["event_source_name"].astype(object),
        frame["event_id"].astype(object),
        frame["qualifiers"].astype(object),
        frame["level"].astype(object),
        frame["data"],
        frame["binary"].astype(object),
        logged.astype(object) if logged is not None else [None] * len(frame),
        strict=True,
    )
    for provider, source, event_id, qualifiers, level, data, binary, logged_text in columns:
        provider, source = _none(provider), _none(source)
        event_id, qualifiers, level = _none(event_id), _none(qualifiers), _none(level)
        inserts = [] if data is None else [item["value"] or "" for item in data]
        messages.append(
            renderer.render(
                provider, source, event_id, qualifiers, level, inserts, _none(logged_text)
            )
        )
        statuses.append(
            renderer.binary_status(provider, source, _none(binary), event_id, qualifiers)
        )
    out = frame.copy()
    out["message"] = pd.array(messages, dtype=pd.StringDtype("pyarrow"))
    out["binary_status"] = pd.array(statuses, dtype=pd.StringDtype("pyarrow"))
    return out
