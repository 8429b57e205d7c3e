"""A scan's record probe (:class:`evtxscan.sources.probe.RecordProbe`) on pyevtx-rs' XML text.

A scan keeps only symptom candidates (a signature's provider and event ID), context events
(boot markers, the version banner, service changes) and errors and warnings. Most records
are none of these, so the probe reads the provider name, event ID and level with a few
``str.find`` calls and lets only the useful ones through to full normalization. For the
records it skips it still counts records per (computer, file, day), so the hosts table and the
daily plot cover every record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evtxscan.correlation.selection import CONTEXT_EVENTS, ProviderNames
from evtxscan.sources.probe import Skipped

_LEVELS_KEPT = frozenset("123")


@dataclass
class XmlProbe:
    """Decides per record whether a scan needs it (picklable: sent to worker processes)."""

    wanted: frozenset[tuple[str, int]]
    _canon: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_signatures(cls, pairs: set[tuple[str, int]], names: ProviderNames) -> XmlProbe:
        """From the signatures' (canonical provider, event ID) pairs plus the context set."""
        context = {(names(p), i) for p, ids in CONTEXT_EVENTS.items() for i in ids}
        return cls(frozenset(pairs | context))

    def _canonical(self, provider: str) -> str:
        found = self._canon.get(provider)
        if found is None:
            found = ProviderNames()(provider)
            self._canon[provider] = found
        return found

    def skip(self, xml: str) -> Skipped | None:
        """None when the record must be decoded; else what is needed to count it."""
        start = xml.find('Provider Name="')
        if start < 0:
            return None
        start += 15
        provider = xml[start : xml.find('"', start)]
        open_id = xml.find("<EventID", start)
        close_id = xml.find(">", open_id)
        try:
            event_id = int(xml[close_id + 1 : xml.find("<", close_id)])
        except ValueError:
            return None
        level_at = xml.find("<Level>", close_id)
        level = xml[level_at + 7] if level_at >= 0 else ""
        if level in _LEVELS_KEPT or (self._canonical(provider), event_id) in self.wanted:
            return None
        time_at = xml.find('SystemTime="', close_id) + 12
        time = xml[time_at : xml.find('"', time_at)]
        computer_at = xml.find("<Computer>", time_at) + 10
        return Skipped(xml[computer_at : xml.find("<", computer_at)], time)
