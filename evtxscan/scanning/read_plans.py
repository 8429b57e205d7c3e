"""Which located records a scan reads again: plans of the second, targeted read.

The record index locates context events (service state changes, shutdown notices,
warnings) without decoding them: per source, a small frame of their host, time, provider,
EventID and file offset. Once correlation knows what it looks for (each host's symptom
times, the boots whose server role is unsure), a chooser picks located records and
:func:`plan_reads` turns the picks into one :class:`DeferredRead` per source
(:mod:`evtxscan.scanning.deferred` reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from evtxscan.correlation.sessions import distinct_codes, service_changes
from evtxscan.results.timeline import near_sorted
from evtxscan.sources.inputs import Source

#: Picks located records: a mask over a located frame's rows, given their hosts.
Chooser = Callable[[np.ndarray, pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class DeferredRead:
    """Records of one source to decode, by file offset."""

    source: Source
    offsets: tuple[int, ...]


class LocatedHosts:
    """The host of each located record, as the kept rows name it, worked out once per
    source's frame (every later choice reuses it)."""

    def __init__(self, host_of: Callable[[str | None, str], str]) -> None:
        self._host_of = host_of  # (computer, file) -> host
        self._memo: dict[int, np.ndarray] = {}

    def __call__(self, source: Source, frame: pd.DataFrame) -> np.ndarray:
        found = self._memo.get(id(frame))
        if found is None:  # objects (8 bytes a row), not fixed-width text (4 bytes a letter)
            codes, computers = distinct_codes(frame["computer"])
            used, rows = np.unique(codes, return_inverse=True)  # a unit's categories: many
            names = [
                self._host_of(computers[c] if c >= 0 else None, source.display)
                for c in used.tolist()
            ]
            found = np.array(names, dtype=object)[rows]
            self._memo[id(frame)] = found
        return found


def marks_by_host(marks: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each host's mark times (``host``, ``time`` columns), sorted, NaT dropped (worked out
    once; every located frame is then judged against it)."""
    times = marks["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    hosts = marks["host"].astype(str).to_numpy(dtype=object)
    found: dict[str, np.ndarray] = {}
    for host, where in pd.Series(np.arange(len(hosts))).groupby(hosts).indices.items():
        mine = np.sort(times[where])
        mine = mine[~np.isnat(mine)]
        if len(mine):
            found[str(host)] = mine
    return found


def near_marks(
    hosts: np.ndarray, times: np.ndarray, by_host: Mapping[str, np.ndarray], window: timedelta
) -> np.ndarray:
    """True where a (host, time) is within ``window`` of a mark of the same host (``by_host``:
    :func:`marks_by_host`): the nearest mark on either side decides, per host, vectorized."""
    near = np.zeros(len(hosts), dtype=bool)
    if not by_host or not len(hosts):
        return near
    step = np.timedelta64(int(window.total_seconds() * 1_000_000), "us")
    times = np.asarray(times, dtype="datetime64[us]")
    for host in pd.unique(np.asarray(hosts, dtype=object)).tolist():  # hashed, not sorted
        mine = by_host.get(host)
        if mine is not None:
            where = np.flatnonzero(hosts == host)
            near[where] = near_sorted(times[where], mine, step)
    return near


def plan_deferred(
    located: Iterable[tuple[Source, pd.DataFrame]],
    symptoms: pd.DataFrame,
    window: timedelta,
    hosts_of: Callable[[Source, pd.DataFrame], np.ndarray],
) -> list[DeferredRead]:
    """The located records near a symptom, as one read per source (in input order).

    ``symptoms``: one row per symptom (``host``, ``time``); ``hosts_of(source, frame)``: the
    host of each located record (see :class:`LocatedHosts`)."""
    if symptoms.empty:
        return []
    return plan_reads(located, near_chooser(symptoms, window), hosts_of)


def near_chooser(marks: pd.DataFrame, window: timedelta) -> Chooser:
    """A chooser (see :func:`plan_reads`) of the located records within ``window`` of a mark
    (``host``, ``time``) of the same host."""
    by_host = marks_by_host(marks)

    def near(hosts: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        times = frame["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        return near_marks(hosts, times, by_host, window)

    return near


def plan_reads(
    located: Iterable[tuple[Source, pd.DataFrame]],
    choose: Callable[[np.ndarray, pd.DataFrame], np.ndarray],
    hosts_of: Callable[[Source, pd.DataFrame], np.ndarray],
) -> list[DeferredRead]:
    """The located records ``choose(hosts, frame)`` picks (a mask over a source's located
    rows, ``hosts`` their host names), as one read per source (in input order)."""
    wanted: dict[Source, list[np.ndarray]] = {}  # a file split in ranges is located per range
    for source, frame in located:
        if frame.empty:
            continue
        hosts = hosts_of(source, frame)
        chosen = np.asarray(choose(hosts, frame), dtype=bool)
        if chosen.any():
            wanted.setdefault(source, []).append(frame["offset"].to_numpy(dtype=np.int64)[chosen])
    return [
        DeferredRead(source, tuple(np.unique(np.concatenate(parts)).tolist()))
        for source, parts in wanted.items()
    ]


#: How long after a boot a server role's services are looked for in service changes.
ROLE_WINDOW = timedelta(minutes=30)
#: The latest boots looked at (what the host runs now; older ones add cost, not answers).
ROLE_BOOTS = 3


def role_evidence(
    boots: Mapping[str, Sequence[pd.Timestamp]], names: Callable[[str], str]
) -> Callable[[np.ndarray, pd.DataFrame], np.ndarray]:
    """A chooser of the located service state changes (Service Control Manager 7036, 7040)
    of the hosts in ``boots`` that can show a server role: a role's services start with the
    machine, so those within :data:`ROLE_WINDOW` after one of the host's last
    :data:`ROLE_BOOTS` boots (all of them for a host without known boots). ``names``:
    canonical provider names."""
    wanted = set(boots)
    step = np.timedelta64(int(ROLE_WINDOW.total_seconds() * 1_000_000), "us")
    starts = {host: _utc_times(times)[-ROLE_BOOTS:] for host, times in boots.items()}

    def choose(hosts: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        chosen = service_changes(frame, names)
        candidates = np.flatnonzero(chosen)  # hosts compared on these rows only
        chosen[candidates] = [host in wanted for host in hosts[candidates].tolist()]
        times = frame["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        for host in pd.unique(hosts[chosen]).tolist():
            mine = np.flatnonzero(chosen & (hosts == host))
            boot = starts[host]
            if len(boot):
                after = np.searchsorted(boot, times[mine], side="right") - 1
                since = times[mine] - boot[np.maximum(after, 0)]
                chosen[mine] = (after >= 0) & (since <= step)
        return np.asarray(chosen)

    return choose


def _utc_times(times: Sequence[pd.Timestamp]) -> np.ndarray:
    """Sorted UTC datetime64[us] of tz-aware timestamps (NaT dropped)."""
    index = pd.DatetimeIndex(list(times))
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    values = np.sort(index.to_numpy(dtype="datetime64[us]"))
    return np.asarray(values[~np.isnat(values)])
