"""What a reader needs to skip records it will not decode: the probe protocol and the
per-(computer, file, day) counts of the records skipped.

A scan hands the stream a probe (:class:`RecordProbe`, implemented in
:mod:`evtxscan.correlation.xml_probe`); the EVTX reader asks it per record and, for a record
it may skip, only counts it, so the hosts table and the daily plot still cover every record.
The contract lives here, in the lower layer, so ``sources`` never imports ``correlation``.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

#: (computer, source file, day "YYYY-MM-DD") -> [records, first time, last time]
SkippedStats = dict[tuple[str, str, str], list[object]]


class Skipped(NamedTuple):
    """A record the probe let pass undecoded: just enough to count it per host and day."""

    computer: str
    time: str  # ISO-8601 text as rendered


class RecordProbe(Protocol):
    """Decides from a record's XML text whether to decode it (picklable: sent to workers)."""

    def skip(self, xml: str) -> Skipped | None: ...


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
