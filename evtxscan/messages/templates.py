"""Message-template sources: candidate templates per (provider, event ID).

A template source answers "which message texts could event N of provider P have?" with
every candidate it holds; :mod:`evtxscan.messages.choice` then picks the one that fits the
record, or none. Two sources share this contract:

- :class:`BuiltinTemplates`: the compact catalog shipped in the wheel
  (``evtxscan/data/messages/templates/templates.json.gz``), derived from the ts-evtx message
  database by ``build_catalog.py`` for the providers Windows administrators meet most;
- :class:`evtxscan.messages.template_db.TemplateDatabase`: such a database itself
  (``--messages-db FILE``), for every provider it has.

Rows of one provider may come from a message file other providers share (ntoskrnl's
messages serve Kernel-General, Kernel-Boot, Kernel-IO and more); a newer build's file can be
a strict superset. Candidates of such a "sibling" superset are offered after the provider's
own, marked ``own=False``.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

import numpy as np

BUILTIN_FILE = "templates/templates.json.gz"
_INSERT = re.compile(r"%%|%(\d{1,2})")


def highest_insert(text: str) -> int:
    """The highest ``%N`` a template uses (``%%N`` parameter references are not inserts)."""
    numbers = [int(m.group(1)) for m in _INSERT.finditer(text) if m.group(1)]
    return max(numbers, default=0)


@cache
def used_inserts(text: str) -> frozenset[int]:
    """Every ``%N`` (N >= 1) a template uses."""
    return frozenset(int(m.group(1)) for m in _INSERT.finditer(text) if m.group(1)) - {0}


@dataclass(frozen=True)
class Candidate:
    """One candidate message template of an event."""

    text: str
    own: bool = True  # from the provider's own rows, not a sibling's

    @property
    def inserts(self) -> frozenset[int]:
        return used_inserts(self.text)


class TemplateSource(Protocol):
    """Candidate templates by provider name (case-insensitive) and 16-bit event ID."""

    def candidates(self, provider: str, event_id: int) -> tuple[Candidate, ...]:
        """Every candidate template, the provider's own first; empty when none."""
        ...

    def has_provider(self, provider: str) -> bool:
        """Whether the source knows the provider at all."""
        ...


def dedupe(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """Candidates with distinct texts, first occurrence (the provider's own) kept."""
    seen: dict[str, Candidate] = {}
    for candidate in candidates:
        seen.setdefault(candidate.text, candidate)
    return tuple(seen.values())


@dataclass(frozen=True)
class EventSet:
    """The text indices of each event ID of one message file, as three arrays. Read as a
    dict of lists, the catalog's sets made 86,000 small Python objects: 16 MiB held for the
    whole run, and 20 MiB more at the peak where the first message is rendered. The file
    stores the arrays themselves (:meth:`packed`: little-endian int32, base64)."""

    ids: np.ndarray  # sorted event IDs
    starts: np.ndarray  # where each ID's text indices start in ``texts`` (one more at the end)
    texts: np.ndarray

    @classmethod
    def of(cls, entries: dict[str, Any]) -> EventSet:
        """From the catalog: ``{"event ID": [text index, ...]}`` or :meth:`packed` arrays."""
        if isinstance(entries.get("ids"), str):
            ids, starts, texts = (_unpacked(entries[k]) for k in ("ids", "starts", "texts"))
            return cls(ids, starts, texts)
        pairs = sorted((int(key), texts) for key, texts in entries.items())
        lengths = [len(texts) for _, texts in pairs]
        return cls(
            np.array([key for key, _ in pairs], dtype=np.int32),
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32),
            np.array([i for _, texts in pairs for i in texts], dtype=np.int32),
        )

    def packed(self) -> dict[str, str]:
        """The arrays as the catalog file stores them."""
        arrays = {"ids": self.ids, "starts": self.starts, "texts": self.texts}
        return {k: base64.b64encode(v.astype("<i4").tobytes()).decode() for k, v in arrays.items()}

    def texts_of(self, event_id: int) -> list[int]:
        """The text indices of ``event_id`` (in the catalog's order; empty when none)."""
        at = int(np.searchsorted(self.ids, event_id))
        if at == len(self.ids) or self.ids[at] != event_id:
            return []
        return [int(i) for i in self.texts[self.starts[at] : self.starts[at + 1]]]


def _unpacked(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i4").astype(np.int32)


class BuiltinTemplates:
    """The compact built-in catalog, loaded on first use (one gzip'd JSON file).

    Layout: ``texts`` (every distinct template once), ``sets`` (event ID -> text indices),
    ``providers`` (name -> [own set, sibling sets...]), ``wildcard`` (providers whose message
    file renders every event ID as ``%1``: .NET's EventLogMessages.dll and the like).
    """

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self._document = document
        self._loaded = False
        self.meta: dict[str, Any] = {}
        self._texts: list[str] = []
        self._sets: list[EventSet] = []
        self._providers: dict[str, list[int]] = {}
        self._wildcard: set[str] = set()

    def _load(self) -> None:
        """Read the document on first use (about 0.1 s), so importing costs nothing."""
        document = self._document
        if document is None:
            entry = resources.files("evtxscan.data.messages").joinpath(BUILTIN_FILE)
            document = json.loads(gzip.decompress(entry.read_bytes()).decode("utf-8"))
        self.meta = document.get("meta", {})
        self._texts = document["texts"]
        self._sets = [EventSet.of(entries) for entries in document["sets"]]
        self._providers = {name.casefold(): sets for name, sets in document["providers"].items()}
        self._wildcard = {name.casefold() for name in document.get("wildcard", [])}
        self._document, self._loaded = None, True

    def has_provider(self, provider: str) -> bool:
        if not self._loaded:
            self._load()
        folded = provider.casefold()
        return folded in self._providers or folded in self._wildcard

    def candidates(self, provider: str, event_id: int) -> tuple[Candidate, ...]:
        if not self._loaded:
            self._load()
        folded = provider.casefold()
        if folded in self._wildcard:
            return (Candidate("%1"),)
        found: list[Candidate] = []
        for position, set_index in enumerate(self._providers.get(folded, ())):
            for text_index in self._sets[set_index].texts_of(event_id):
                found.append(Candidate(self._texts[text_index], own=position == 0))
        return dedupe(found)

    @property
    def providers(self) -> list[str]:
        """The provider names the catalog covers (case-folded)."""
        if not self._loaded:
            self._load()
        return sorted(self._providers) + sorted(self._wildcard)


@cache
def builtin_templates() -> BuiltinTemplates:
    """The shipped compact catalog (read once per process, on first use)."""
    return BuiltinTemplates()
