"""Skip records a scan cannot use before decoding them: a probe on pyevtx-rs' XML text.

A scan keeps only symptom candidates (a signature's provider and event ID), context events
(boot markers, the version banner, service changes) and errors and warnings. Most records
are none of these, so the probe reads the provider name, event ID and level with a few
``str.find`` calls and lets only the useful ones through to full normalization. For the
records it skips it still counts records per (computer, file, day), so the hosts table and the
daily plot cover every record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from evtxscan.correlation.selection import CONTEXT_EVENTS, ProviderNames

#: (computer, source file, day "YYYY-MM-DD") -> [records, first time, last time]
SkippedStats = dict[tuple[str, str, str], list[object]]
_LEVELS_KEPT = frozenset("123")


class Skipped(NamedTuple):
    """A record the probe let pass undecoded: just enough to count it per host and day."""

    computer: str
    time: str  # ISO-8601 text as rendered


@dataclass
class XmlPrefilter:
    """Decides per record whether a scan needs it (picklable: sent to worker processes)."""

    wanted: frozenset[tuple[str, int]]
    _canon: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_signatures(cls, pairs: set[tuple[str, int]], names: ProviderNames) -> XmlPrefilter:
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


def count_skipped(stats: SkippedStats, source: str, skipped: Skipped) -> None:
    """Add one skipped record to the per (computer, file, day) counts."""
    key = (skipped.computer, source, skipped.time[:10])
    entry = stats.get(key)
    if entry is None:
        stats[key] = [1, skipped.time, skipped.time]
        return
    entry[0] = int(entry[0]) + 1  # type: ignore[call-overload]
    if skipped.time < str(entry[1]):
        entry[1] = skipped.time
    if skipped.time > str(entry[2]):
        entry[2] = skipped.time


def merge_stats(into: SkippedStats, more: SkippedStats) -> None:
    """Add one unit of work's skipped-record counts to the total."""
    for key, (records, first, last) in more.items():
        entry = into.get(key)
        if entry is None:
            into[key] = [records, first, last]
        else:
            entry[0] = int(entry[0]) + int(records)  # type: ignore[call-overload]
            entry[1] = min(str(entry[1]), str(first))
            entry[2] = max(str(entry[2]), str(last))
