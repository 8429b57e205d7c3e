"""Select symptom records from typed batches: a vectorized prefilter, then exact conditions.

The prefilter keeps only records whose (provider or event-source name, event ID) some
signature names, plus the context the timeline and boot sessions need, using column
operations on the whole batch. Conditions on data and message then run on those few rows.
Provider names are compared through the message catalog's alias groups, case-insensitive,
so a .evt SourceName ``Srv`` matches a signature written for ``Server``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evtxscan.correlation.field_values import field_codes, field_values
from evtxscan.correlation.matching import Known, match_rows
from evtxscan.correlation.notable import notable_pairs
from evtxscan.messages.catalog import MessageCatalog, builtin_catalog
from evtxscan.signatures.model import Role, Selector, Signature

#: Events kept for context even when no signature names them: boot and shutdown markers,
#: the OS version banner, service state changes, unexpected shutdowns; and the notable
#: events (:mod:`evtxscan.correlation.notable`), which every host's timeline shows.
CONTEXT_EVENTS: dict[str, tuple[int, ...]] = {
    "EventLog": (6005, 6006, 6008, 6009, 6013),
    "Microsoft-Windows-Kernel-General": (12, 13),
    "Microsoft-Windows-Kernel-Power": (41,),
    "Service Control Manager": (7035, 7036, 7040),
    "USER32": (1074,),
}
BOOT_START = {("eventlog", 6005), ("microsoft-windows-kernel-general", 12)}
BOOT_END = {("eventlog", 6006), ("microsoft-windows-kernel-general", 13)}
VERSION_BANNER = ("eventlog", 6009)


class ProviderNames:
    """Canonical (case-folded, alias-resolved) provider names, cached per distinct name."""

    def __init__(self, catalog: MessageCatalog | None = None) -> None:
        self.catalog = catalog or builtin_catalog()
        self._cache: dict[str, str] = {}

    def __call__(self, name: Any) -> str:
        if name is None or name is pd.NA or (isinstance(name, float) and name != name):
            return ""
        text = str(name)
        found = self._cache.get(text)
        if found is None:
            provider = self.catalog.provider(text)
            found = (provider.name if provider else text).casefold()
            self._cache[text] = found
        return found

    def column(self, values: pd.Series) -> np.ndarray:
        """Canonical names for a (categorical) column, computed once per category."""
        cat = values.astype("category").cat
        lookup = np.array([self(c) for c in cat.categories] + [""], dtype=object)
        return lookup[cat.codes.to_numpy()]


def _column_of(field: str) -> str:
    """The record column a condition's field reads (``data.Name``, ``data.2``: ``data``)."""
    return "data" if field == "data" or field.startswith("data.") else field


class SignatureIndex:
    """All signatures' selectors, arranged for fast prefiltering and exact matching."""

    def __init__(self, signatures: Sequence[Signature], names: ProviderNames | None = None):
        self.signatures = list(signatures)
        self.names = names or ProviderNames()
        self.wanted: dict[str, set[int]] = defaultdict(set)
        self.selectors: dict[tuple[str, int], list[tuple[Signature, Selector]]] = defaultdict(list)
        #: Condition results per distinct field value, kept across batches (values repeat:
        #: the same services fail on many hosts).
        self.known: Known = {}
        #: The columns exact matching reads (the others are not converted per row).
        self.fields = {"channel", "level", "event_id", "event_source_name"}
        for signature in self.signatures:
            for selector in signature.symptoms:
                self.fields |= {_column_of(condition.field) for condition in selector.where}
                for provider in selector.providers:
                    key = self.names(provider)
                    for event_id in selector.event_ids:
                        self.wanted[key].add(event_id)
                        self.selectors[(key, event_id)].append((signature, selector))
        self.context: dict[str, set[int]] = defaultdict(set)
        for provider, ids in CONTEXT_EVENTS.items():
            self.context[self.names(provider)].update(ids)
        for provider_key, event_id in notable_pairs(self.names):
            self.context[provider_key].add(event_id)

    def _mask(self, canon: np.ndarray, event_ids: np.ndarray, table: dict[str, set[int]]) -> Any:
        mask = np.zeros(len(canon), dtype=bool)
        for provider in set(canon.tolist()) & set(table):
            ids = np.fromiter(table[provider], dtype=np.int64)
            mask |= (canon == provider) & np.isin(event_ids, ids)
        return mask

    def prefilter(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(candidate mask, context mask, canonical provider per row) for a batch."""
        event_ids = frame["event_id"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        by_provider = self.names.column(frame["provider"])
        by_source = self.names.column(frame["event_source_name"])
        canon = np.where(by_provider != "", by_provider, by_source)
        candidates = self._mask(by_provider, event_ids, self.wanted) | self._mask(
            by_source, event_ids, self.wanted
        )
        levels = frame["level"].astype("Int64").fillna(99).to_numpy(dtype=np.int64)
        context = self._mask(canon, event_ids, self.context) | np.isin(levels, (1, 2, 3))
        return candidates, context, canon

    def match(self, rows: pd.DataFrame, canon: Iterable[str]) -> list[list[str]]:
        """For each candidate row, the ``signature:symptom`` names it shows (exact tests,
        selector by selector over the rows of its provider and event ID: see
        :func:`~evtxscan.correlation.matching.match_rows`)."""
        providers = np.asarray(list(canon), dtype=object)
        if not len(rows):
            return []
        sources = self.names.column(rows["event_source_name"])
        return match_rows(
            self.selectors, rows, providers, sources, field_values, self.known, field_codes
        )


def selector_matches(selector: Selector, row: Any) -> bool:
    """Exact test of one selector's channel, level and conditions on one row."""
    return _matches(selector, row, {}, {})


def _matches(
    selector: Selector,
    row: Any,
    values: dict[str, tuple[str, ...]],
    tested: dict[tuple[int, tuple[str, ...]], bool],
) -> bool:
    """:func:`selector_matches`, with the row's field values (``values``) and condition
    results per distinct values (``tested``, keyed by the condition's identity) kept."""
    if selector.channel is not None:
        channel = row["channel"]
        if channel is None or str(channel).casefold() != selector.channel.casefold():
            return False
    if selector.levels:
        level = row["level"]
        if level is pd.NA or level is None or int(level) not in selector.levels:
            return False
    for condition in selector.where:
        texts = values.get(condition.field)
        if texts is None:
            texts = values[condition.field] = tuple(field_values(row, condition.field))
        key = (id(condition), texts)
        hit = tested.get(key)
        if hit is None:
            hit = tested[key] = condition.test(list(texts))
        if not hit:
            return False
    return True


def roles(signature: Signature, *wanted: Role) -> list[Selector]:
    """The signature's symptoms with one of the given roles."""
    return [s for s in signature.symptoms if s.role in wanted]
