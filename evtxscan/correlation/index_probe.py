"""A scan's choice of records to decode, made on the EVTX record index's columns.

A scan needs symptom candidates (a signature's provider and event ID), context events (boot
markers, the version banner, service changes), the notable events every timeline shows
(:data:`evtxscan.correlation.notable.NOTABLE_EVENTS`) and errors and warnings. The index gives
every record's provider, event-source name, event ID and level without rendering it, so the
choice is a few array operations per chunk range; the rest is only counted
(:mod:`evtxscan.sources.evtx.selective`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evtxscan.correlation.notable import notable_pairs
from evtxscan.correlation.selection import CONTEXT_EVENTS, ProviderNames
from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.system_fields import Texts

#: Levels always decoded: critical, error, warning.
LEVELS_KEPT = (1, 2, 3)


@dataclass
class IndexProbe:
    """Decides per record, from index columns, whether a scan decodes it (picklable)."""

    wanted: frozenset[tuple[str, int]]  # (canonical provider, event ID)
    levels: tuple[int, ...] = LEVELS_KEPT
    _canon: dict[str, str] = field(default_factory=dict)
    _names: ProviderNames | None = field(default=None, repr=False)

    @classmethod
    def for_signatures(cls, pairs: set[tuple[str, int]], names: ProviderNames) -> IndexProbe:
        """From the signatures' (canonical provider, event ID) pairs plus the context set and
        the notable events every timeline shows."""
        context = {(names(p), i) for p, ids in CONTEXT_EVENTS.items() for i in ids}
        return cls(frozenset(pairs | context | notable_pairs(names)))

    def __getstate__(self) -> dict[str, object]:
        return {"wanted": self.wanted, "levels": self.levels, "_canon": {}, "_names": None}

    def _canonical(self, provider: str) -> str:
        found = self._canon.get(provider)
        if found is None:
            if self._names is None:
                self._names = ProviderNames()
            found = self._names(provider)
            self._canon[provider] = found
        return found

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        """True for the records to decode: wanted (provider or source, event ID) or level."""
        level = index.level
        mask = level.present & np.isin(level.values, np.array(self.levels, dtype=np.uint64))
        event = index.event_id
        by_provider: dict[str, list[int]] = {}
        for provider, event_id in self.wanted:
            by_provider.setdefault(provider, []).append(event_id)
        for names in (index.provider, index.event_source_name):
            mask |= self._named(names, event.values, event.present, by_provider)
        return mask

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
