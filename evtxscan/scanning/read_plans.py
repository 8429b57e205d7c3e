"""Which located records a scan reads again: plans of the second, targeted read.

The record index locates context events (service state changes, shutdown notices,
warnings) without decoding them: per source, a small frame of their host, time, provider,
EventID and file offset. Once correlation knows what it looks for (each host's symptom
times, the boots whose server role is unsure), a chooser picks located records and
:func:`plan_reads` turns the picks into one :class:`DeferredRead` per source
(:mod:`evtxscan.scanning.deferred` reads them). Choosers judge every located record at once,
in one :class:`~evtxscan.scanning.located.LocatedTable`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from evtxscan.correlation.sessions import service_changes
from evtxscan.results.timeline import near_sorted
from evtxscan.scanning.located import LocatedTable
from evtxscan.sources.inputs import Source

#: Picks located records: a mask over a located table's rows, given their hosts.
Chooser = Callable[[pd.Categorical, pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class DeferredRead:
    """Records of one source to decode, by file offset."""

    source: Source
    offsets: tuple[int, ...]


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
    hosts: pd.Categorical, times: np.ndarray, by_host: Mapping[str, np.ndarray], window: timedelta
) -> np.ndarray:
    """True where a (host, time) is within ``window`` of a mark of the same host (``by_host``:
    :func:`marks_by_host`): the nearest mark on either side decides, per host, vectorized."""
    near = np.zeros(len(hosts), dtype=bool)
    if not by_host or not len(hosts):
        return near
    step = np.timedelta64(int(window.total_seconds() * 1_000_000), "us")
    times = np.asarray(times, dtype="datetime64[us]")
    for host, where in rows_by_host(hosts).items():
        mine = by_host.get(host)
        if mine is not None:
            near[where] = near_sorted(times[where], mine, step)
    return near


def rows_by_host(hosts: pd.Categorical, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``rows`` (positions; None: every row) grouped by their host, by the hosts' codes (one
    pass, not one per host: a collection may name hundreds)."""
    codes = np.asarray(hosts.codes) if rows is None else np.asarray(hosts.codes)[rows]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    distinct, starts = np.unique(sorted_codes, return_index=True)
    ends = np.append(starts[1:], len(order)) if len(starts) else starts
    names = hosts.categories
    found: dict[str, np.ndarray] = {}
    for code, start, end in zip(distinct.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if code >= 0:
            where = order[start:end]
            found[str(names[code])] = where if rows is None else rows[where]
    return found


def hosts_among(hosts: pd.Categorical, wanted: Collection[str]) -> np.ndarray:
    """Which rows' host is one of ``wanted`` (a row without a host is not), judged once per
    category rather than once per row."""
    chosen = np.isin(np.asarray(hosts.categories, dtype=object).astype(str), list(wanted))
    return np.append(chosen, False)[np.asarray(hosts.codes)]


def plan_deferred(
    located: LocatedTable, hosts: pd.Categorical, symptoms: pd.DataFrame, window: timedelta
) -> list[DeferredRead]:
    """The located records near a symptom (``symptoms``: one row per symptom, ``host`` and
    ``time``), as one read per source (in input order); ``hosts``: the records' hosts."""
    if symptoms.empty:
        return []
    return plan_reads(located, hosts, near_chooser(symptoms, window))


def near_chooser(marks: pd.DataFrame, window: timedelta) -> Chooser:
    """A chooser (see :func:`plan_reads`) of the located records within ``window`` of a mark
    (``host``, ``time``) of the same host."""
    by_host = marks_by_host(marks)

    def near(hosts: pd.Categorical, frame: pd.DataFrame) -> np.ndarray:
        times = frame["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        return near_marks(hosts, times, by_host, window)

    return near


def plan_reads(located: LocatedTable, hosts: pd.Categorical, choose: Chooser) -> list[DeferredRead]:
    """The located records ``choose(hosts, frame)`` picks (a mask over the table's rows;
    ``hosts``: theirs, :class:`~evtxscan.scanning.located.LocatedHosts`), as one read per
    source (in input order; a file split in ranges was located per range, and is read once)."""
    if not len(located):
        return []
    chosen = np.flatnonzero(np.asarray(choose(hosts, located.frame), dtype=bool))
    if not len(chosen):
        return []
    part = located.frame["part"].to_numpy()[chosen]  # ascending: parts are joined in order
    offsets = located.frame["offset"].to_numpy(dtype=np.int64)[chosen]
    parts, starts = np.unique(part, return_index=True)
    wanted: dict[Source, list[np.ndarray]] = {}
    for at, piece in zip(parts.tolist(), np.split(offsets, starts[1:]), strict=True):
        wanted.setdefault(located.sources[at], []).append(piece)
    return [
        DeferredRead(source, tuple(np.unique(np.concatenate(pieces)).tolist()))
        for source, pieces in wanted.items()
    ]


#: How long after a boot a server role's services are looked for in service changes.
ROLE_WINDOW = timedelta(minutes=30)
#: The latest boots looked at (what the host runs now; older ones add cost, not answers).
ROLE_BOOTS = 3


def role_evidence(
    boots: Mapping[str, Sequence[pd.Timestamp]], names: Callable[[str], str]
) -> Chooser:
    """A chooser of the located service state changes (Service Control Manager 7036, 7040)
    of the hosts in ``boots`` that can show a server role: a role's services start with the
    machine, so those within :data:`ROLE_WINDOW` after one of the host's last
    :data:`ROLE_BOOTS` boots (all of them for a host without known boots). ``names``:
    canonical provider names."""
    wanted = set(boots)
    step = np.timedelta64(int(ROLE_WINDOW.total_seconds() * 1_000_000), "us")
    starts = {host: _utc_times(times)[-ROLE_BOOTS:] for host, times in boots.items()}

    def choose(hosts: pd.Categorical, frame: pd.DataFrame) -> np.ndarray:
        chosen = service_changes(frame, names) & hosts_among(hosts, wanted)
        times = frame["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        for host, rows in rows_by_host(hosts, np.flatnonzero(chosen)).items():
            boot = starts[host]
            if len(boot):
                after = np.searchsorted(boot, times[rows], side="right") - 1
                since = times[rows] - boot[np.maximum(after, 0)]
                chosen[rows] = (after >= 0) & (since <= step)
        return np.asarray(chosen)

    return choose


def _utc_times(times: Sequence[pd.Timestamp]) -> np.ndarray:
    """Sorted UTC datetime64[us] of tz-aware timestamps (NaT dropped)."""
    index = pd.DatetimeIndex(list(times))
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    values = np.sort(index.to_numpy(dtype="datetime64[us]"))
    return np.asarray(values[~np.isnat(values)])
