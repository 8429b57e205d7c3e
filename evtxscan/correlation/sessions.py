"""Boot sessions and host facts, from the context events kept during a scan.

A boot session starts at a start marker of the System log (EventLog 6005, or Kernel-General
12 on Vista and later) and lasts until the next one; it applies to the host's other logs by
time (Exchange's failures are in Application). A host with no marker at all has unknown
sessions, and signatures fall back to their time window at lower confidence. The 6009
banner gives the OS version, build, service pack and processor kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evtxscan.correlation.selection import BOOT_START, VERSION_BANNER
from evtxscan.correlation.windows_release import (
    SERVER_PROVIDERS,
    SERVER_SERVICES,
    release_name,
    shared_build,
)
from evtxscan.records.schema import data_values

UNKNOWN_SESSION = -1
SCM = "service control manager"
SERVICE_STATE = (7036, 7040)  # entered a state; start type changed


@dataclass
class HostFacts:
    """What the logs say about one host's system."""

    os_version: str | None = None
    build: str | None = None
    service_pack: str | None = None
    processors: str = "unknown"  # "uniprocessor", "multiprocessor" or "unknown"
    boot_starts: list[pd.Timestamp] = field(default_factory=list)
    server_role: bool = False  # the logs show a server role (DNS Server, a DC, ...)

    @property
    def release(self) -> str | None:
        """The Windows release, e.g. "Windows Server 2022 (20348)" (see windows_release)."""
        return release_name(self.build, self.server_role) if self.build else None

    @property
    def sessions_known(self) -> bool:
        return bool(self.boot_starts)

    @property
    def kernel_files(self) -> str:
        """Which NT kernel image a fix must put in place, from the processor kind."""
        if self.processors == "multiprocessor":
            return "NTKRNLMP.EXE (copied and renamed to NTOSKRNL.EXE)"
        if self.processors == "uniprocessor":
            return "NTOSKRNL.EXE"
        return (
            "NTOSKRNL.EXE on a single-processor system, or NTKRNLMP.EXE renamed to "
            "NTOSKRNL.EXE on a multiprocessor system"
        )

    def as_template_fields(self) -> dict[str, str]:
        return {
            "os_version": self.os_version or "(unknown)",
            "build": self.build or "(unknown)",
            "service_pack": self.service_pack or "(none seen)",
            "processors": self.processors,
            "kernel_files": self.kernel_files,
        }


def host_facts(context: pd.DataFrame, canon: pd.Series) -> dict[str, HostFacts]:
    """Per-host facts from context rows (``canon``: canonical provider per row)."""
    facts: dict[str, HostFacts] = {}
    if context.empty:
        return facts
    markers = {provider for provider, _ in BOOT_START} | {VERSION_BANNER[0]}
    relevant = canon.isin(markers).to_numpy()  # only boot markers and banners matter here
    order = (
        context[relevant]
        .assign(provider_key=canon.to_numpy()[relevant])
        .sort_values(["host", "time"], kind="stable")
    )
    order = order[order["host"].notna().to_numpy()]  # as a groupby by host would drop them
    # Column-wise over all hosts (the report may hold thousands); Python only for the few
    # boot markers and version banners themselves, in (host, time) order.
    hosts = order["host"].astype(str).to_numpy(dtype=object)
    provider = order["provider_key"].to_numpy(dtype=object)
    event = order["event_id"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    boot = np.zeros(len(order), dtype=bool)
    for marker, event_id in BOOT_START:
        boot |= (provider == marker) & (event == event_id)
    boot &= order["time"].notna().to_numpy()
    banner = (provider == VERSION_BANNER[0]) & (event == VERSION_BANNER[1])
    for host in pd.unique(hosts):
        facts.setdefault(str(host), HostFacts())
    starts: dict[str, set[pd.Timestamp]] = {}
    for host, time in zip(hosts[boot].tolist(), order["time"][boot].tolist(), strict=True):
        starts.setdefault(host, set()).add(time)
    for host, times in starts.items():
        facts[host].boot_starts = sorted(times)
    processor_texts: dict[str, list[str]] = {}
    rows = np.flatnonzero(banner)
    for host, data in zip(hosts[rows].tolist(), order["data"].iloc[rows], strict=True):
        fact, values = facts[host], data_values(data)
        processor_texts.setdefault(host, []).extend(v.casefold() for v in values)
        if values:
            fact.os_version = values[0].rstrip(".") or fact.os_version
        if len(values) > 1:
            fact.build = values[1] or fact.build
        if len(values) > 2:
            fact.service_pack = values[2] or fact.service_pack
    for host, texts in processor_texts.items():
        if any("multiprocessor" in t for t in texts):
            facts[host].processors = "multiprocessor"
        elif any("uniprocessor" in t for t in texts):
            facts[host].processors = "uniprocessor"
    for host in server_hosts(context, canon):
        facts.setdefault(host, HostFacts()).server_role = True
    return facts


def needs_role(facts: dict[str, HostFacts]) -> set[str]:
    """Hosts whose release the logs seen so far cannot name: a build a client and a server
    release share, and no server role seen (their service changes may tell)."""
    return {h for h, f in facts.items() if not f.server_role and shared_build(f.build)}


def server_hosts(rows: pd.DataFrame, canon: pd.Series) -> set[str]:
    """Hosts whose rows show a server role: a server-only provider, or a server-only
    service changing state (Service Control Manager 7036/7040, the service's name first)."""
    role = canon.isin(SERVER_PROVIDERS).to_numpy(dtype=bool, copy=True)
    if "provider" in rows.columns:  # as logged, for names the catalog resolves elsewhere
        role |= rows["provider"].astype(str).str.casefold().isin(SERVER_PROVIDERS).to_numpy()
    scm = (canon == SCM).to_numpy() & rows["event_id"].isin(SERVICE_STATE).to_numpy(dtype=bool)
    changes = np.flatnonzero(scm & ~role)
    for position, data in zip(changes.tolist(), rows["data"].iloc[changes].tolist(), strict=True):
        values = data_values(data)
        role[position] = bool(values) and values[0].strip().casefold() in SERVER_SERVICES
    return set(rows.loc[role, "host"].astype(str))


def service_changes(
    frame: pd.DataFrame, names: Callable[[str], str], event_ids: Sequence[int] = SERVICE_STATE
) -> np.ndarray:
    """Which records of ``frame`` (``provider``, ``event_id`` columns, e.g. located ones)
    are Service Control Manager events ``event_ids``; ``names``: canonical provider names,
    asked once per distinct provider."""
    codes, providers = distinct_codes(frame["provider"])
    scm = names(SCM)
    own = [p is not None and names(p) == scm for p in providers]
    of_scm = np.array([*own, False], dtype=bool)[codes]
    return np.asarray(of_scm & frame["event_id"].isin(event_ids).to_numpy(dtype=bool))


def distinct_codes(column: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """A column's text values and each row's code among them (-1: absent, None or NaN); a
    categorical's own codes and categories, unused ones too (no factorizing: a located
    frame's columns are categorical, and frames are many)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categorical = column.array
        assert isinstance(categorical, pd.Categorical)
        codes, values = np.asarray(categorical.codes), categorical.categories.tolist()
    else:
        codes, uniques = pd.factorize(column)
        values = uniques.tolist()
    return codes, [v if isinstance(v, str) else None for v in values]


def assign_sessions(times: pd.Series, facts: HostFacts | None) -> np.ndarray:
    """The boot session index of each time (UNKNOWN_SESSION when the host has no markers).

    Events before the first marker belong to session 0 (the boot whose start the log no
    longer holds); each marker starts the next session.
    """
    if facts is None or not facts.sessions_known:
        return np.full(len(times), UNKNOWN_SESSION, dtype=np.int64)
    starts = pd.DatetimeIndex(facts.boot_starts)
    return np.searchsorted(starts.asi8, pd.DatetimeIndex(times).asi8, side="right").astype(np.int64)
