"""Records read but not decoded, counted per (computer, file, day).

Index-first reading (:mod:`evtxscan.sources.evtx.selective`) decodes only what the caller
selects and counts the rest here, so the hosts table and the daily plot still cover every
record.
"""

from __future__ import annotations

#: (computer, source file, day "YYYY-MM-DD") -> [records, first time, last time]
SkippedStats = dict[tuple[str, str, str], list[object]]


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
