"""Sigma findings per host, from the hit table: detection matches and correlation groups.

A detection rule's finding on a host is every record it matched there. A correlation rule is
evaluated per host and per ``group-by`` value (aliases resolved per referenced rule; an
absent value is a value of its own, like SQL's GROUP BY), on sliding windows of
``timespan`` (:mod:`evtxscan.correlation.sigma_windows`); overlapping satisfied windows form
one occurrence, whose evidence is the records of its windows. Chained correlations use the
inner rule's satisfied windows as events (at the time of their last record, carrying their
records and group values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.correlation.sigma_windows import merge, satisfied_windows
from evtxscan.signatures.sigma.hits import FIELD_PREFIX
from evtxscan.signatures.sigma.loading import SigmaRuleSet
from evtxscan.signatures.sigma.model import CorrelationRule

ABSENT = "\x00absent"  # group value of an event without the field
FINDING_COLUMNS = ["rule", "host", "occurrences", "first_seen", "last_seen", "hits"]


@dataclass(frozen=True)
class Occurrence:
    """One correlated group on one host."""

    rule: str
    host: str
    hits: np.ndarray  # rows of the hit table
    first: pd.Timestamp
    last: pd.Timestamp


def _group_value(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype=object)
    out = np.full(len(values), ABSENT, dtype=object)
    present = pd.notna(values)
    out[present] = [str(v).casefold() for v in values[present]]
    return out


@dataclass
class _Evaluated:
    """A correlation's events (sorted by host, group, time) and its satisfied windows."""

    events: pd.DataFrame  # host, time, position, g*, value, hit (or -1), lo, hi (chained)
    windows: pd.DataFrame  # host, time, lo, hi (range of ``events``), g:<name>...
    occurrences: list[tuple[str, int, int]]  # (host, lo, hi) merged ranges of ``events``


class _Correlator:
    def __init__(self, rule_set: SigmaRuleSet, hits: pd.DataFrame) -> None:
        self.hits = hits
        self.correlations = {c.info.key: c for c in rule_set.correlations}
        self.done: dict[str, _Evaluated] = {}
        times = hits["time"] if len(hits) else pd.Series([], dtype="datetime64[us, UTC]")
        self.times = times.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
        self.rule_column = hits["rule"].to_numpy(dtype=object) if len(hits) else np.zeros(0)

    def _base_events(self, key: str, rule: CorrelationRule, position: int) -> pd.DataFrame:
        index = np.flatnonzero((self.rule_column == key) & ~np.isnat(self.times))
        mine = self.hits.iloc[index]
        events = pd.DataFrame(
            {
                "host": mine["host"].astype(str).to_numpy(),
                "time": self.times[index].astype(np.int64),
                "position": position,
                "hit": index.astype(np.int64),
                "lo": -1,
                "hi": -1,
            }
        )
        for j, name in enumerate(rule.group_by):
            column = FIELD_PREFIX + rule.field_for(name, key)
            events[f"g{j}"] = (
                _group_value(mine[column]) if column in mine else np.full(len(mine), ABSENT)
            )
        value_field = rule.value_field
        column = FIELD_PREFIX + rule.field_for(value_field, key) if value_field else ""
        events["value"] = (
            mine[column].to_numpy(dtype=object) if column in mine else np.full(len(mine), None)
        )
        return events

    def _chained_events(self, inner: str, rule: CorrelationRule, position: int) -> pd.DataFrame:
        windows = self.evaluate(self.correlations[inner]).windows
        events = windows[["host", "time", "lo", "hi"]].copy()
        events["position"] = position
        events["hit"] = -1
        for j, name in enumerate(rule.group_by):
            column = "g:" + rule.field_for(name, inner)
            events[f"g{j}"] = windows[column].to_numpy() if column in windows else ABSENT
        events["value"] = None
        return events

    def evaluate(self, rule: CorrelationRule) -> _Evaluated:
        """A correlation's events, satisfied windows and occurrences (memoized)."""
        found = self.done.get(rule.info.key)
        if found is not None:
            return found
        parts = [
            self._chained_events(key, rule, position)
            if key in self.correlations
            else self._base_events(key, rule, position)
            for position, key in enumerate(rule.rules)
        ]
        groups = [f"g{j}" for j in range(len(rule.group_by))]
        events = pd.concat(parts, ignore_index=True)
        events = events.sort_values(["host", *groups, "time", "position"], kind="stable")
        events = events.reset_index(drop=True)
        windows: list[pd.DataFrame] = []
        occurrences: list[tuple[str, int, int]] = []
        for keys, part in events.groupby(["host", *groups], sort=False, dropna=False):
            values = keys if isinstance(keys, tuple) else (keys,)
            offset = int(part.index[0])
            times = part["time"].to_numpy(dtype=np.int64)
            starts, ends = satisfied_windows(
                rule,
                times,
                part["position"].to_numpy(dtype=np.int64),
                part["value"].to_numpy(dtype=object),
            )
            if not len(starts):
                continue
            window = pd.DataFrame(
                {"host": str(values[0]), "time": times[ends - 1], "lo": starts + offset}
            )
            window["hi"] = ends + offset
            for name, value in zip(rule.group_by, values[1:], strict=True):
                window["g:" + name] = str(value)
            windows.append(window)
            merged_starts, merged_ends = merge(starts, ends)
            occurrences += [
                (str(values[0]), int(lo) + offset, int(hi) + offset)
                for lo, hi in zip(merged_starts, merged_ends, strict=True)
            ]
        columns = ["host", "time", "lo", "hi"] + ["g:" + n for n in rule.group_by]
        result = _Evaluated(
            events=events,
            windows=pd.concat(windows, ignore_index=True)
            if windows
            else pd.DataFrame(columns=columns),
            occurrences=occurrences,
        )
        self.done[rule.info.key] = result
        return result

    def resolve(self, rule: CorrelationRule, lo: int, hi: int) -> np.ndarray:
        """The hit rows behind events ``lo:hi`` of a correlation (through chains)."""
        events = self.evaluate(rule).events.iloc[lo:hi]
        hit = events["hit"].to_numpy(dtype=np.int64)
        found = [hit[hit >= 0]]
        chained = events[hit < 0]
        positions = chained["position"].to_numpy(dtype=np.int64)
        for position in np.unique(positions):
            part = chained[positions == position]
            inner = self.correlations[rule.rules[int(position)]]
            starts, ends = merge(part["lo"].to_numpy(np.int64), part["hi"].to_numpy(np.int64))
            for start, end in zip(starts, ends, strict=True):
                found.append(self.resolve(inner, int(start), int(end)))
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    def occurrences(self, rule: CorrelationRule) -> list[Occurrence]:
        """The rule's occurrences with their hit rows and time span."""
        evaluated = self.evaluate(rule)
        times = evaluated.events["time"].to_numpy(dtype=np.int64)
        return [
            Occurrence(
                rule=rule.info.key,
                host=host,
                hits=self.resolve(rule, lo, hi),
                first=pd.Timestamp(int(times[lo:hi].min()), tz="UTC"),
                last=pd.Timestamp(int(times[lo:hi].max()), tz="UTC"),
            )
            for host, lo, hi in evaluated.occurrences
        ]


def correlate(rule_set: SigmaRuleSet, hits: pd.DataFrame) -> list[Occurrence]:
    """Every occurrence of every correlation rule (reported or not)."""
    correlator = _Correlator(rule_set, hits)
    found: list[Occurrence] = []
    for rule in rule_set.correlations:
        found.extend(correlator.occurrences(rule))
    return found


def sigma_findings(rule_set: SigmaRuleSet, hits: pd.DataFrame) -> pd.DataFrame:
    """One row per (reported rule, host): occurrences, time span, and the hit rows."""
    rows: list[dict[str, object]] = []
    reported = {d.info.key for d in rule_set.detections if d.reported}
    if len(hits):
        mine = hits[hits["rule"].isin(reported)]
        for (key, host), part in mine.groupby(["rule", "host"], sort=True):
            times = part["time"].dropna()
            rows.append(
                {
                    "rule": key,
                    "host": host,
                    "occurrences": len(part),
                    "first_seen": times.min() if len(times) else pd.NaT,
                    "last_seen": times.max() if len(times) else pd.NaT,
                    "hits": part.index.to_numpy(),
                }
            )
    shown = {c.info.key for c in rule_set.correlations if c.reported}
    by_host: dict[tuple[str, str], list[Occurrence]] = {}
    for occurrence in correlate(rule_set, hits):
        if occurrence.rule in shown:
            by_host.setdefault((occurrence.rule, occurrence.host), []).append(occurrence)
    for (key, host), found in sorted(by_host.items()):
        rows.append(
            {
                "rule": key,
                "host": host,
                "occurrences": len(found),
                "first_seen": min(o.first for o in found),
                "last_seen": max(o.last for o in found),
                "hits": np.unique(np.concatenate([o.hits for o in found])),
            }
        )
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    for name in ("first_seen", "last_seen"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    return frame
