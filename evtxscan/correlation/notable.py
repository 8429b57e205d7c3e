"""The notable events: what belongs in every host's timeline, declared once.

A host's story is its boots and shutdowns, crashes, failing services, version banners,
cleared logs, time changes and renames, and every critical or error event. A scan keeps these
records whatever its signatures ask for (the record probe and the selection read
:data:`NOTABLE_EVENTS`), the default timeline shows them for every host, and ``hosts.csv``
counts them by kind (:func:`notable_counts`).

Windows often records one happening twice (each boot: EventLog 6005 and Kernel-General 12;
an unexpected shutdown: EventLog 6008 and Kernel-Power 41). Sources that share a ``tally``
record the same happening, and a host's count of a kind adds, per tally, the largest count
among its sources, so such a pair counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd


class Notable(StrEnum):
    """Kinds of notable event (the ``notable`` column of the timeline)."""

    CRITICAL = "critical"  # level 1, not of a kind below
    ERROR = "error"  # level 2, not of a kind below
    UNEXPECTED_SHUTDOWN = "unexpected_shutdown"
    BUGCHECK = "bugcheck"
    SERVICE_CRASH = "service_crash"
    SERVICE_START_FAILURE = "service_start_failure"
    BOOT = "boot"
    SHUTDOWN = "shutdown"
    OS_VERSION = "os_version"
    LOG_CLEARED = "log_cleared"
    TIME_CHANGED = "time_changed"
    HOST_RENAMED = "host_renamed"


@dataclass(frozen=True)
class NotableEvent:
    """One source of a notable kind: a provider's event IDs; ``tally`` as described above
    (empty: a happening of its own)."""

    kind: Notable
    provider: str
    event_ids: tuple[int, ...]
    tally: str = ""


_SCM = "Service Control Manager"
#: The notable events by provider and event ID (levels 1 and 2 are notable as well).
NOTABLE_EVENTS: tuple[NotableEvent, ...] = (
    NotableEvent(Notable.UNEXPECTED_SHUTDOWN, "EventLog", (6008,), "unexpected"),
    NotableEvent(
        Notable.UNEXPECTED_SHUTDOWN, "Microsoft-Windows-Kernel-Power", (41,), "unexpected"
    ),
    # WER-SystemErrorReporting is also logged as "BugCheck"; XP/2003 log "Save Dump" 1001
    # and "System Error" 1003 for the same crash.
    NotableEvent(Notable.BUGCHECK, "Microsoft-Windows-WER-SystemErrorReporting", (1001,), "bsod"),
    NotableEvent(Notable.BUGCHECK, "Save Dump", (1001,), "bsod"),
    NotableEvent(Notable.BUGCHECK, "System Error", (1003,), "bsod"),
    # 7031/7034: terminated unexpectedly (7032: its recovery action failed).
    NotableEvent(Notable.SERVICE_CRASH, _SCM, (7031, 7032, 7034)),
    # could not start: failed, timed out, dependency failed or missing, logon failed, hung.
    NotableEvent(
        Notable.SERVICE_START_FAILURE,
        _SCM,
        (7000, 7001, 7002, 7003, 7009, 7011, 7022, 7023, 7024, 7026, 7038, 7041),
    ),
    NotableEvent(Notable.BOOT, "EventLog", (6005,), "boot"),
    NotableEvent(Notable.BOOT, "Microsoft-Windows-Kernel-General", (12,), "boot"),
    NotableEvent(Notable.SHUTDOWN, "EventLog", (6006,), "shutdown"),
    NotableEvent(Notable.SHUTDOWN, "Microsoft-Windows-Kernel-General", (13,), "shutdown"),
    NotableEvent(Notable.OS_VERSION, "EventLog", (6009,)),
    # 104: a log other than Security was cleared; 1102 (517 before Vista): the Security log.
    NotableEvent(Notable.LOG_CLEARED, "Microsoft-Windows-Eventlog", (104,)),
    NotableEvent(Notable.LOG_CLEARED, "Microsoft-Windows-Eventlog", (1102,), "security"),
    NotableEvent(Notable.LOG_CLEARED, "Security", (517,), "security"),
    NotableEvent(Notable.TIME_CHANGED, "Microsoft-Windows-Kernel-General", (1,), "time"),
    NotableEvent(Notable.TIME_CHANGED, "Microsoft-Windows-Security-Auditing", (4616,), "time"),
    NotableEvent(Notable.TIME_CHANGED, "Security", (520,), "time"),
    NotableEvent(Notable.HOST_RENAMED, "EventLog", (6011,)),
)
#: Levels notable whatever the event (1 critical, 2 error).
NOTABLE_LEVELS: dict[int, Notable] = {1: Notable.CRITICAL, 2: Notable.ERROR}
#: The ``hosts`` column counting each kind.
COUNT_COLUMNS: dict[Notable, str] = {
    Notable.CRITICAL: "critical",
    Notable.ERROR: "errors",
    Notable.UNEXPECTED_SHUTDOWN: "unexpected_shutdowns",
    Notable.BUGCHECK: "bugchecks",
    Notable.SERVICE_CRASH: "service_crashes",
    Notable.SERVICE_START_FAILURE: "service_start_failures",
    Notable.BOOT: "boots",
    Notable.SHUTDOWN: "shutdowns",
    Notable.LOG_CLEARED: "log_clears",
    Notable.TIME_CHANGED: "time_changes",
    Notable.HOST_RENAMED: "renames",
}
#: Every kind, in declared order: the categories of the timeline's ``notable`` column.
KINDS: list[str] = [str(kind) for kind in Notable]
NOTABLE_DTYPE = pd.CategoricalDtype(KINDS)


def notable_pairs(names: Callable[[str], str]) -> set[tuple[str, int]]:
    """(canonical provider, event ID) of every notable source, for record selection."""
    return {(names(e.provider), i) for e in NOTABLE_EVENTS for i in e.event_ids}


def notable_kinds(
    provider_keys: Iterable[str],
    event_ids: pd.Series,
    levels: pd.Series,
    names: Callable[[str], str],
) -> pd.Categorical:
    """The kind of each row (provider key, event ID, level), or missing: its source's kind
    first, else its level's (vectorized over the table, one pass per source)."""
    keys = _objects(provider_keys)
    ids = event_ids.astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    level = levels.astype("Int64").fillna(0).to_numpy(dtype=np.int64)
    codes = np.full(len(keys), -1, dtype=np.int64)
    for source in NOTABLE_EVENTS:
        mine = (keys == names(source.provider)) & np.isin(ids, source.event_ids) & (codes < 0)
        codes[mine] = KINDS.index(source.kind)
    for value, kind in NOTABLE_LEVELS.items():
        codes[(codes < 0) & (level == value)] = KINDS.index(kind)
    return pd.Categorical.from_codes(codes, dtype=NOTABLE_DTYPE)


def notable_counts(
    hosts: pd.Series,
    provider_keys: Iterable[str],
    event_ids: pd.Series,
    levels: pd.Series,
    names: Callable[[str], str],
) -> pd.DataFrame:
    """Per host, the count of each kind (columns :data:`COUNT_COLUMNS`): critical and error
    events by level, every other kind by its sources with same-happening tallies counted
    once (see the module docstring)."""
    keys = _objects(provider_keys)
    ids = event_ids.astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    level = levels.astype("Int64").fillna(0).to_numpy(dtype=np.int64)
    host = hosts.astype(str).to_numpy()
    columns: dict[str, pd.Series] = {}
    for value, kind in NOTABLE_LEVELS.items():
        columns[COUNT_COLUMNS[kind]] = pd.Series(host[level == value]).value_counts()
    tallies: dict[tuple[Notable, str], list[pd.Series]] = {}
    for number, source in enumerate(NOTABLE_EVENTS):
        mine = (keys == names(source.provider)) & np.isin(ids, source.event_ids)
        counted = pd.Series(host[mine]).value_counts()
        tallies.setdefault((source.kind, source.tally or f"#{number}"), []).append(counted)
    for (kind, _), found in tallies.items():
        if kind not in COUNT_COLUMNS:
            continue
        most = pd.concat(found, axis=1).max(axis=1) if found else pd.Series(dtype="int64")
        name = COUNT_COLUMNS[kind]
        columns[name] = columns[name].add(most, fill_value=0) if name in columns else most
    frame = pd.DataFrame(columns, columns=list(COUNT_COLUMNS.values()))
    return frame.fillna(0).astype("int64").rename_axis("host")


def _objects(values: Iterable[str]) -> np.ndarray:
    """``values`` as an object array, missing ones None (a column converted at once:
    iterating pandas' text columns in Python made a value at a time, 73 ms for 127,623
    timeline rows; and an Arrow column's ``pd.NA`` cannot be compared)."""
    if isinstance(values, pd.Series):
        keys = np.array(values.to_numpy(dtype=object), dtype=object)  # (a copy: writable)
        keys[pd.isna(keys)] = None
        return keys
    return np.asarray(list(values), dtype=object)
