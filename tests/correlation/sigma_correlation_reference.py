"""A brute-force reference for Sigma correlations, written without the engine.

Events are plain tuples; for every (host, group) and every anchor event, the window is the
anchor and the events after it (in time order) up to ``timespan`` later; the condition is
checked by counting in Python; satisfied windows that share events are joined. Quadratic and
obvious on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

OPS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Event:
    """One event: when, on which host, from which referenced rule, with which values."""

    host: str
    time: float  # seconds
    position: int  # index of the referenced rule
    group: tuple[str | None, ...]
    value: str | None
    records: frozenset[int]  # the records behind it (one for a detection match)


def _windows(events: list[Event], span: float) -> list[list[int]]:
    """Per anchor i, the indexes of the window (events sorted by time, then position)."""
    out = []
    for i, anchor in enumerate(events):
        out.append([j for j in range(i, len(events)) if events[j].time <= anchor.time + span])
    return out


def satisfied(
    kind: str, op: str, count: float, events: list[Event], rules: int, span: float
) -> list[tuple[int, int]]:
    """(first, last) indexes of the satisfied windows of one group's sorted events."""
    found = []
    for i, window in enumerate(_windows(events, span)):
        members = [events[j] for j in window]
        if kind == "event_count":
            ok = OPS[op](len(members), count)
        elif kind == "value_count":
            ok = OPS[op](len({m.value for m in members if m.value is not None}), count)
        elif kind == "temporal":
            ok = OPS[op](len({m.position for m in members}), count)
        else:  # temporal_ordered: anchored at a first-rule event, rules found in order
            if events[i].position != 0:
                continue
            at, ok = i, True
            for wanted in range(1, rules):
                later = [j for j in window if j > at and events[j].position == wanted]
                if not later:
                    ok = False
                    break
                at = later[0]
            if ok:
                found.append((i, at))
            continue
        if ok:
            found.append((i, window[-1]))
    return found


def occurrences(
    kind: str,
    op: str,
    count: float,
    events: list[Event],
    rules: int,
    span: float,
) -> tuple[list[tuple[str, frozenset[int]]], list[Event]]:
    """The occurrences (host, records) and the satisfied windows as events (for chains)."""
    groups: dict[tuple[str, tuple[str | None, ...]], list[Event]] = {}
    for event in events:
        groups.setdefault((event.host, event.group), []).append(event)
    found: list[tuple[str, frozenset[int]]] = []
    chained: list[Event] = []
    for (host, group), members in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        members.sort(key=lambda e: (e.time, e.position))
        windows = satisfied(kind, op, count, members, rules, span)
        for first, last in windows:
            records = frozenset().union(*(m.records for m in members[first : last + 1]))
            chained.append(Event(host, members[last].time, 0, group, None, records))
        joined: list[list[int]] = []
        for first, last in sorted(windows):
            if joined and first <= joined[-1][1]:
                joined[-1][1] = max(joined[-1][1], last)
            else:
                joined.append([first, last])
        for first, last in joined:
            records = frozenset().union(*(m.records for m in members[first : last + 1]))
            found.append((host, records))
    return found, chained
