"""Renamed machines: EventLog 6011 joins a machine's old and new names into one host.

6011 says "The NetBIOS name and DNS host name of this machine have been changed from A to
B" (its two values). A machine's older records carry the old Computer name, so without a
join one machine shows as two hosts. Names are mapped as records' Computer names are (the
host map, else case-folded without DNS suffix); a NetBIOS name cut at 15 characters is
matched to the one host whose name starts with it.

A name renamed to several different names (a template machine's name, as on every
instance built from one image) is ambiguous and is not joined. Chains (A to B, then B to C)
end at the last name; a machine renamed back and forth ends at the newest target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evtxscan.correlation.notable import NOTABLE_EVENTS, Notable
from evtxscan.records.schema import data_values

#: The rename event, as ``correlation.notable`` declares it.
RENAME = next(e for e in NOTABLE_EVENTS if e.kind is Notable.HOST_RENAMED)
NETBIOS_LENGTH = 15


@dataclass(frozen=True)
class Rename:
    """One 6011: ``old`` renamed to ``new`` (hosts), logged at ``time``."""

    old: str
    new: str
    time: pd.Timestamp


@dataclass(frozen=True)
class HostRenames:
    """The renames a collection logs, and what they do to host names."""

    renames: tuple[Rename, ...] = ()
    joined: bool = True
    joins: dict[str, str] = field(default_factory=dict)  # old host -> the host it joins
    notes: dict[str, str] = field(default_factory=dict)  # host -> note for hosts.csv

    def host(self, name: str) -> str:
        return self.joins.get(name, name)

    def relabel(self, hosts: pd.Series) -> pd.Series:
        """A host column with joined names (categories mapped once each)."""
        if not self.joins:
            return hosts
        values = hosts.astype("category")
        lookup = np.array([self.host(str(c)) for c in values.cat.categories] + [None], object)
        mapped = lookup[values.cat.codes.to_numpy()]
        return pd.Series(pd.Categorical(mapped), index=hosts.index, name=hosts.name)


def _match(name: str, known: set[str]) -> str:
    """``name``, or the one known host a 15-character NetBIOS name is the start of."""
    if name in known or len(name) != NETBIOS_LENGTH:
        return name
    longer = [k for k in known if k.startswith(name)]
    return longer[0] if len(longer) == 1 else name


def find_renames(
    rows: pd.DataFrame,
    host_for: Callable[[str | None, str], str],
    known: Iterable[str],
    names: Callable[[str], str],
    join: bool = True,
) -> HostRenames:
    """The renames among ``rows`` (kept rows with ``provider_key``); ``host_for(computer,
    source_file)`` maps a name as records are mapped; ``known``: the hosts of the scan;
    ``names``: canonical provider names."""
    if rows.empty:
        return HostRenames(joined=join)
    mask = (rows["provider_key"] == names(RENAME.provider)).to_numpy() & (
        rows["event_id"].astype("Int64").isin(RENAME.event_ids)
    ).fillna(False).to_numpy(dtype=bool)
    hosts = set(known)
    found: set[Rename] = set()
    for data, source, time in zip(
        rows.loc[mask, "data"], rows.loc[mask, "source_file"], rows.loc[mask, "time"], strict=True
    ):
        values = data_values(data)
        if len(values) < 2 or not values[0].strip() or not values[1].strip():
            continue
        old = _match(host_for(values[0], str(source)), hosts)
        new = _match(host_for(values[1], str(source)), hosts)
        if old != new:
            found.add(Rename(old, new, time))
    renames = tuple(sorted(found, key=lambda r: (r.time, r.old, r.new)))
    return _settle(renames, join)


def _settle(renames: tuple[Rename, ...], join: bool) -> HostRenames:
    targets: dict[str, set[str]] = {}
    for rename in renames:
        targets.setdefault(rename.old, set()).add(rename.new)
    unique = {old: next(iter(new)) for old, new in targets.items() if len(new) == 1}
    notes: dict[str, list[str]] = {}
    for old, new in sorted(targets.items()):
        if len(new) > 1:
            notes.setdefault(old, []).append(
                f"renamed to {', '.join(sorted(new))} (one name on several machines, e.g. "
                "built from one image): not joined"
            )
    joins = {old: _end(old, unique, renames) for old in unique} if join else {}
    for rename in renames:
        if rename.old not in unique:
            continue
        when = _when(rename.time)
        if join:
            final = joins[rename.old]
            notes.setdefault(final, []).append(f"renamed from {rename.old} to {rename.new}{when}")
        else:
            notes.setdefault(rename.old, []).append(f"renamed to {rename.new}{when} (not joined)")
            notes.setdefault(rename.new, []).append(f"renamed from {rename.old}{when} (not joined)")
    if join and joins:
        for final in set(joins.values()):
            notes.setdefault(final, []).append("old names joined into this host")
    return HostRenames(renames, join, joins, {h: "; ".join(n) for h, n in notes.items()})


def _end(name: str, unique: dict[str, str], renames: tuple[Rename, ...]) -> str:
    """Where a chain of renames from ``name`` ends (a cycle: at the newest rename's target)."""
    seen = [name]
    while name in unique:
        name = unique[name]
        if name in seen:
            cycle = set(seen[seen.index(name) :])
            newest = [r for r in renames if r.old in cycle and unique.get(r.old) == r.new]
            return newest[-1].new if newest else name
        seen.append(name)
    return name


def _when(time: pd.Timestamp) -> str:
    if time is None or pd.isna(time):
        return ""
    return f" at {pd.Timestamp(time).tz_convert('UTC').strftime('%Y-%m-%d %H:%M:%S UTC')}"
