"""A scan's choice of records to decode, made on the EVTX record index's columns.

A scan decodes at once its symptom candidates (a signature's provider and event ID), the
notable events every timeline shows (:data:`evtxscan.correlation.notable.NOTABLE_EVENTS`)
and errors. Context events (service state changes, shutdowns, warnings) matter only near a
symptom, so they are only located now and decoded after correlation, where a symptom is
near (:mod:`evtxscan.scanning.deferred`). The index gives every record's provider,
event-source name, event ID and level without rendering it, so the choice is a few array
operations per chunk range; the rest is only counted (:mod:`evtxscan.sources.evtx.selective`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evtxscan.correlation.notable import notable_pairs
from evtxscan.correlation.selection import CONTEXT_EVENTS, ProviderNames
from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.system_fields import Texts

#: Levels decoded at once: critical and error (notable on every host's timeline).
LEVELS_DECODED = (1, 2)
#: Levels located for later: warnings are context, shown only near a symptom.
LEVELS_DEFERRED = (3,)


@dataclass
class IndexProbe:
    """Decides per record, from index columns, what a scan decodes at once and what it only
    locates, to decode later if it falls near a symptom (picklable)."""

    wanted: frozenset[tuple[str, int]]  # (canonical provider, event ID): decode
    context: frozenset[tuple[str, int]] = frozenset()  # locate; decode near a symptom
    levels: tuple[int, ...] = LEVELS_DECODED
    context_levels: tuple[int, ...] = LEVELS_DEFERRED
    _canon: dict[str, str] = field(default_factory=dict)
    _names: ProviderNames | None = field(default=None, repr=False)

    @classmethod
    def for_signatures(cls, pairs: set[tuple[str, int]], names: ProviderNames) -> IndexProbe:
        """Decode the signatures' (canonical provider, event ID) pairs and the notable events
        every timeline shows; locate the context events (service changes, shutdowns ...)."""
        wanted = pairs | notable_pairs(names)
        context = {(names(p), i) for p, ids in CONTEXT_EVENTS.items() for i in ids}
        return cls(frozenset(wanted), frozenset(context - wanted))

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.update(_canon={}, _names=None)
        return state

    def _canonical(self, provider: str) -> str:
        found = self._canon.get(provider)
        if found is None:
            if self._names is None:
                self._names = ProviderNames()
            found = self._names(provider)
            self._canon[provider] = found
        return found

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        """The records to decode now: wanted (provider or source, event ID) or level."""
        return self._mask(index, self.wanted, self.levels)

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        """The context records to locate now and decode only if a symptom is near."""
        return self._mask(index, self.context, self.context_levels)

    def _mask(
        self, index: RecordIndex, pairs: frozenset[tuple[str, int]], levels: tuple[int, ...]
    ) -> np.ndarray:
        level = index.level
        mask = level.present & np.isin(level.values, np.array(levels, dtype=np.uint64))
        event = index.event_id
        by_provider: dict[str, list[int]] = {}
        for provider, event_id in pairs:
            by_provider.setdefault(provider, []).append(event_id)
        for names in (index.provider, index.event_source_name):
            mask |= self._named(names, event.values, event.present, by_provider)
        return np.asarray(mask)

    def _named(
        self,
        names: Texts,
        event_ids: np.ndarray,
        present: np.ndarray,
        by_provider: dict[str, list[int]],
    ) -> np.ndarray:
        mask = np.zeros(len(names.codes), dtype=bool)
        for code, name in enumerate(names.values):
            ids = by_provider.get(self._canonical(name))
            if ids:
                rows = (names.codes == code) & present
                mask |= rows & np.isin(event_ids, np.array(ids, dtype=np.uint64))
        return mask
