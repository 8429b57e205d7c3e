"""Per-host work on a cluster: kept rows, day counts and located context records split into
host groups (a stable hash of the host name, renames joined), each group correlated on its
own, and the groups' tables joined into the one result the local engine would give.

Correlation is per host throughout (de-duplication, sessions, incidents, the timeline
window and its context read, host totals, daily counts), so correlating hosts apart and
concatenating in host order gives the same tables; the rows of one group keep the input
order they have in the local engine, which is all its tie-breaking depends on. What spans
hosts is settled on the driver first: which files are copies of earlier ones, and which
machines were renamed (from every unit's :func:`rename_events` and :func:`host_files`),
since a rename joins two names' rows into one host and so decides the group.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evtxscan.correlation.engine import SeenRows
from evtxscan.correlation.renames import RENAME, HostRenames
from evtxscan.records.batch import concat_frames
from evtxscan.results import ScanResult
from evtxscan.scanning.located import LocatedHosts
from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
from evtxscan.scanning.scanner import ScannerConfig
from evtxscan.scanning.units import UnitOutput
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.inputs import Source
from evtxscan.sources.worker import ReadOptions

Located = tuple[Source, LocatedRows]


@dataclass(frozen=True)
class Shared:
    """What every task of one scan needs, shipped to the cluster once."""

    config: ScannerConfig
    options: ReadOptions
    settings: ScanSettings


@dataclass(frozen=True)
class Settled:
    """What the driver settled over the whole collection before grouping hosts."""

    duplicates: frozenset[str]  # files that are copies of earlier ones: their rows dropped
    renames: HostRenames


@dataclass
class GroupPart:
    """One host group's share of some units: kept rows, day counts, located context."""

    kept: list[pd.DataFrame] = field(default_factory=list)
    days: list[pd.DataFrame] = field(default_factory=list)
    located: list[Located] = field(default_factory=list)


@dataclass(frozen=True)
class GroupTables:
    """One host group's result tables (diagnoses without Sigma's: the driver adds those)."""

    timeline: pd.DataFrame
    diagnoses: pd.DataFrame
    hosts: pd.DataFrame
    daily: pd.DataFrame
    rows: int  # kept rows the timeline was chosen from


def rename_events(kept: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The rename events (EventLog 6011 and the like: a superset the driver narrows by
    provider) among a unit's kept rows."""
    events = []
    for frame in kept:
        if frame.empty:
            continue
        rename = frame["event_id"].astype("Int64").isin(RENAME.event_ids).fillna(False)
        if rename.any():
            events.append(frame[rename.to_numpy(dtype=bool)].reset_index(drop=True))
    return events


def host_files(days: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Which hosts each file holds (from a unit's day counts): the collection's host names."""
    pairs = [d[["host", "source_file"]].drop_duplicates() for d in days if not d.empty]
    return [p.reset_index(drop=True) for p in pairs]


def host_group(hosts: pd.Series, groups: int, renames: HostRenames) -> np.ndarray:
    """The group of each row's host (renames joined): CRC-32 of the name modulo ``groups``
    (the same in every process, unlike ``hash()``); computed once per distinct host."""
    values = hosts if isinstance(hosts.dtype, pd.CategoricalDtype) else hosts.astype("category")
    names = [renames.host(str(n)) for n in values.cat.categories]
    table = np.array([zlib.crc32(n.encode("utf-8")) % groups for n in names] + [0])
    return table[values.cat.codes.to_numpy()]  # code -1 (no host) takes the last entry: 0


def split_outputs(
    outputs: list[UnitOutput], groups: int, shared: Shared, settled: Settled
) -> list[GroupPart]:
    """The kept rows, day counts and located context records of ``outputs`` (in unit
    order) by host group; each frame is split apart, never joined to another, as the local
    engine keeps them. Rows of duplicate files are dropped here already."""
    parts = [GroupPart() for _ in range(groups)]
    renames, duplicates = settled.renames, settled.duplicates
    host_map = shared.options.host_map
    located_hosts = LocatedHosts(lambda c, path: str(host_map.host_for(c or None, path)))
    for output in outputs:
        for frames, pick in ((output.kept, "kept"), (output.days, "days")):
            for frame in frames:
                frame = _without(frame, duplicates)
                if frame.empty:
                    continue
                where = host_group(frame["host"], groups, renames)
                for group in np.unique(where):
                    piece = frame[where == group].reset_index(drop=True)
                    getattr(parts[int(group)], pick).append(piece)
        for source, located in output.deferred:
            if not len(located) or source.display in duplicates:
                continue
            hosts = pd.Series(located_hosts(source, located), dtype="category")
            where = host_group(hosts, groups, renames)
            frame = located.table()  # a group's worker gets its own rows, not a batch's
            for group in np.unique(where):
                piece = LocatedRows.whole(frame[where == group].reset_index(drop=True))
                parts[int(group)].located.append((source, piece))
    return parts


def correlate_group(shared: Shared, settled: Settled, parts: list[GroupPart]) -> GroupTables:
    """Correlate one host group as the local engine does all hosts: rows seen before
    dropped, de-duplicated, ordered, renames joined, incidents, the context near symptoms
    read again (here, on the worker), then the tables."""
    config = shared.config
    pipeline = ScanPipeline(list(config.signatures), shared.settings, config=config)
    pipeline.given_renames = settled.renames
    scanner, seen = pipeline.scanner, SeenRows()  # rows seen before dropped, as locally
    for part in parts:
        scanner.kept += [seen.fresh(f) for f in part.kept]
        scanner.days += part.days
        pipeline.located += part.located
    rows = pipeline.rows()
    scanner.kept = []  # joined into rows (which the result's counts use)
    found = pipeline.correlate(rows, last_read=True)
    result = pipeline.result(found, pd.DataFrame())
    return GroupTables(
        found.timeline, result.diagnoses, result.hosts, result.daily, len(found.rows)
    )


def _without(frame: pd.DataFrame, paths: frozenset[str]) -> pd.DataFrame:
    if not paths or frame.empty:
        return frame
    return frame[~frame["source_file"].astype(str).isin(paths)].reset_index(drop=True)


def assemble(
    groups: list[GroupTables],
    integrity: pd.DataFrame,
    pipeline: ScanPipeline,
    sigma_rows: pd.DataFrame,
) -> ScanResult:
    """The groups' tables as one result, in the local engine's row order; ``sigma_rows``
    (the driver's Sigma diagnoses) after the KB rows and in the hosts' counts, as locally."""
    # Only groups with rows: a group without any has the typed empty timeline, whose
    # categories are not those of rows.
    timelines = [g.timeline for g in groups if g.rows]
    timeline = _timeline(timelines) if timelines else groups[0].timeline
    diagnoses = _joined([g.diagnoses for g in groups], ["host", "signature_id"])
    hosts = _joined([g.hosts for g in groups], ["host"])
    if len(sigma_rows):
        diagnoses = pd.concat([diagnoses, sigma_rows] if len(diagnoses) else [sigma_rows])
        diagnoses = diagnoses.reset_index(drop=True)
        counts = sigma_rows.groupby("host").size()
        added = hosts["host"].map(counts).fillna(0).astype("int64")
        hosts = hosts.assign(diagnoses=hosts["diagnoses"] + added.to_numpy())
    return ScanResult(
        timeline=timeline,
        diagnoses=diagnoses,
        hosts=hosts,
        integrity=integrity,
        daily=_joined([g.daily for g in groups], ["host", "day"]),
        signatures=tuple(pipeline.signatures),
        sigma=pipeline.sigma,
    )


def _timeline(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Group timelines in host order; each categorical column gets the categories of every
    group's rows (also groups without a timeline row), sorted as one concatenation of all
    kept rows gives them."""
    joined = concat_frames(frames) if len(frames) > 1 else frames[0]
    for name in joined.columns:
        if not isinstance(joined[name].dtype, pd.CategoricalDtype) or len(frames) < 2:
            continue
        first = frames[0][name].cat.categories
        if all(f[name].cat.categories.equals(first) for f in frames):
            joined[name] = pd.Categorical(joined[name], categories=first)  # declared, kept
        else:
            union = sorted(set().union(*(f[name].cat.categories for f in frames)))
            # Typed as the local engine's: inferred from the values, or as a group's if none.
            categories = pd.Index(union) if union else frames[0][name].cat.categories
            joined[name] = pd.Categorical(joined[name], categories=categories)
    return joined.sort_values("host", kind="stable", ignore_index=True)


def _joined(frames: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    """Frames of disjoint hosts, concatenated and ordered as one table built at once."""
    filled = [f for f in frames if not f.empty]
    if not filled:
        return frames[0] if frames else pd.DataFrame()
    joined = pd.concat(filled, ignore_index=True) if len(filled) > 1 else filled[0]
    return joined.sort_values(order, kind="stable", ignore_index=True)
