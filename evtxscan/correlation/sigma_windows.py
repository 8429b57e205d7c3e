"""Sliding time windows for Sigma correlations, on one group's events sorted by time.

A window is anchored at each event: the events from it up to ``timespan`` later (inclusive),
so no fixed bucket boundary splits a burst (the Sigma specification asks for this where the
engine allows). Each function returns the satisfied windows as (first index, end index
exclusive) pairs; :func:`merge` joins overlapping windows into one occurrence. Counts, sums
and rule presence use prefix sums and ``searchsorted`` (numpy, no per-event loop); only
``value_count``'s distinct count walks the window edges in a loop over the matched events.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from evtxscan.signatures.sigma.model import (
    CorrelationRule,
    CorrelationType,
    RuleTerm,
    TemporalTerm,
    TermAnd,
    TermNot,
)

Windows = tuple[np.ndarray, np.ndarray]  # (starts, ends exclusive), int64


def window_ends(times: np.ndarray, span_ns: int) -> np.ndarray:
    """For each anchor i, the end (exclusive) of the events within ``span_ns`` after it."""
    return np.searchsorted(times, times + span_ns, side="right").astype(np.int64)


def _compare(rule: CorrelationRule, values: np.ndarray) -> np.ndarray:
    """Vectorized ``rule.satisfied`` (same operators)."""
    bound = rule.count
    op = rule.op.value
    with np.errstate(invalid="ignore"):
        if op == "lt":
            result = values < bound
        elif op == "lte":
            result = values <= bound
        elif op == "gt":
            result = values > bound
        elif op == "gte":
            result = values >= bound
        elif op == "eq":
            result = values == bound
        else:
            result = values != bound
    return np.asarray(result, dtype=bool)


def _distinct_counts(values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distinct non-null values in each window [i, ends[i]) (two pointers over the events)."""
    counts = np.zeros(len(values), dtype=np.int64)
    seen: Counter[object] = Counter()
    right = 0
    for left in range(len(values)):
        while right < ends[left]:
            if values[right] is not None:
                seen[values[right]] += 1
            right += 1
        counts[left] = len(seen)
        value = values[left]
        if value is not None:
            seen[value] -= 1
            if seen[value] == 0:
                del seen[value]
    return counts


def _numbers(values: np.ndarray) -> np.ndarray:
    """Text -> numbers (NaN where not a number)."""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    out: np.ndarray = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _term(term: TemporalTerm, present: dict[str, np.ndarray]) -> np.ndarray:
    if isinstance(term, RuleTerm):
        return present[term.key]
    if isinstance(term, TermNot):
        return ~_term(term.term, present)
    left, right = _term(term.left, present), _term(term.right, present)
    joined: np.ndarray = left & right if isinstance(term, TermAnd) else left | right
    return joined


def _present(positions: np.ndarray, count: int, ends: np.ndarray) -> list[np.ndarray]:
    """Per referenced rule, whether it occurs in each window [i, ends[i])."""
    out = []
    starts = np.arange(len(positions))
    for rule in range(count):
        prefix = np.concatenate([[0], np.cumsum(positions == rule)])
        out.append(prefix[ends] - prefix[starts] > 0)
    return out


def _ordered(positions: np.ndarray, count: int, ends: np.ndarray) -> Windows:
    """Windows anchored at a first-rule event holding every rule in order; end = last + 1."""
    size = len(positions)
    nxt = []
    for rule in range(count):
        index = np.where(positions == rule, np.arange(size), size)
        nxt.append(np.concatenate([np.minimum.accumulate(index[::-1])[::-1], [size]]))
    anchors = np.flatnonzero(positions == 0)
    at = anchors.copy()
    for rule in range(1, count):
        at = nxt[rule][np.minimum(at + 1, size)]
        at = np.where(at >= size, size, at)
    ok = at < ends[anchors]
    return anchors[ok], at[ok] + 1


def satisfied_windows(
    rule: CorrelationRule,
    times: np.ndarray,
    positions: np.ndarray,
    values: np.ndarray,
) -> Windows:
    """The windows of one group (events sorted by time) that meet the rule's condition.

    ``positions``: which referenced rule each event comes from (index into ``rule.rules``);
    ``values``: the condition field's text per event (value_* types), else unused.
    """
    ends = window_ends(times, rule.timespan_seconds * 1_000_000_000)
    starts = np.arange(len(times), dtype=np.int64)
    kind = rule.type
    if kind is CorrelationType.EVENT_COUNT:
        ok = _compare(rule, (ends - starts).astype(np.float64))
    elif kind is CorrelationType.VALUE_COUNT:
        ok = _compare(rule, _distinct_counts(values, ends).astype(np.float64))
    elif kind in (CorrelationType.VALUE_SUM, CorrelationType.VALUE_AVG):
        numbers = _numbers(values)
        valid = ~np.isnan(numbers)
        sums = np.concatenate([[0.0], np.cumsum(np.where(valid, numbers, 0.0))])
        counts = np.concatenate([[0], np.cumsum(valid)])
        total = sums[ends] - sums[starts]
        present = counts[ends] - counts[starts]
        if kind is CorrelationType.VALUE_SUM:
            ok = _compare(rule, total) & (present > 0)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                ok = _compare(rule, total / present) & (present > 0)
    elif kind is CorrelationType.TEMPORAL:
        present = _present(positions, len(rule.rules), ends)
        if rule.extended is not None:
            ok = _term(rule.extended, dict(zip(rule.rules, present, strict=True)))
            ok &= np.logical_or.reduce(present)  # a window holds at least one of its events
        else:
            ok = _compare(rule, np.sum(present, axis=0).astype(np.float64))
    else:
        return _ordered(positions, len(rule.rules), ends)
    return starts[ok], ends[ok]


def merge(starts: np.ndarray, ends: np.ndarray) -> Windows:
    """Overlapping windows joined: (group starts, group ends exclusive), sorted."""
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.concatenate([[True], starts[1:] >= reach[:-1]])
    group = np.cumsum(new) - 1
    group_ends = np.zeros(group[-1] + 1, dtype=np.int64)
    np.maximum.at(group_ends, group, ends)
    return starts[new], group_ends
