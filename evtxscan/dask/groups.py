"""Per-host work on a cluster: kept rows and day counts split into host groups (a stable
hash of the host name), each group correlated on its own, and the groups' tables joined
into the one result the local engine would give.

Correlation is per host throughout (de-duplication, sessions, incidents, the timeline
window, host totals, daily counts), so correlating hosts apart and concatenating in host
order gives the same tables; the rows of one group keep the input order they have in the
local engine, which is all its tie-breaking depends on.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evtxscan.correlation.engine import SeenRows
from evtxscan.records.batch import concat_frames
from evtxscan.results import ScanResult
from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
from evtxscan.scanning.scanner import ScannerConfig
from evtxscan.scanning.units import UnitOutput
from evtxscan.sources.worker import ReadOptions


@dataclass(frozen=True)
class Shared:
    """What every task of one scan needs, shipped to the cluster once."""

    config: ScannerConfig
    options: ReadOptions
    settings: ScanSettings


@dataclass
class GroupPart:
    """One host group's share of some units: kept row frames and day-count frames."""

    kept: list[pd.DataFrame] = field(default_factory=list)
    days: list[pd.DataFrame] = field(default_factory=list)


@dataclass(frozen=True)
class GroupTables:
    """One host group's result tables."""

    timeline: pd.DataFrame
    diagnoses: pd.DataFrame
    hosts: pd.DataFrame
    daily: pd.DataFrame
    rows: int  # kept rows the timeline was chosen from


def host_group(hosts: pd.Series, groups: int) -> np.ndarray:
    """The group of each row's host: CRC-32 of the name modulo ``groups`` (the same in every
    process, unlike ``hash()``); computed once per distinct host."""
    values = hosts if isinstance(hosts.dtype, pd.CategoricalDtype) else hosts.astype("category")
    names = values.cat.categories
    table = np.array([zlib.crc32(str(n).encode("utf-8")) % groups for n in names] + [0])
    return table[values.cat.codes.to_numpy()]  # code -1 (no host) takes the last entry: 0


def split_outputs(outputs: list[UnitOutput], groups: int) -> list[GroupPart]:
    """The kept rows and day counts of ``outputs`` (in unit order) by host group; each frame
    is split apart, never joined to another, as the local engine keeps them."""
    parts = [GroupPart() for _ in range(groups)]
    for output in outputs:
        for frames, pick in ((output.kept, "kept"), (output.days, "days")):
            for frame in frames:
                if frame.empty:
                    continue
                where = host_group(frame["host"], groups)
                for group in np.unique(where):
                    piece = frame[where == group].reset_index(drop=True)
                    getattr(parts[int(group)], pick).append(piece)
    return parts


def correlate_group(
    shared: Shared, duplicates: frozenset[str], parts: list[GroupPart]
) -> GroupTables:
    """Correlate one host group as the local engine does all hosts: rows of files found to
    be copies of earlier ones dropped, de-duplicated, ordered, then incidents and tables."""
    pipeline = ScanPipeline(list(shared.config.signatures), shared.settings, shared.config)
    scanner, seen = pipeline.scanner, SeenRows()  # rows seen before dropped, as locally
    for part in parts:
        scanner.kept += [_without(seen.fresh(f), duplicates) for f in part.kept]
        scanner.days += [_without(f, duplicates) for f in part.days]
    found = pipeline.correlate(pipeline.rows())
    result = pipeline.result(found, pd.DataFrame())
    return GroupTables(
        found.timeline, result.diagnoses, result.hosts, result.daily, len(found.rows)
    )


def _without(frame: pd.DataFrame, paths: frozenset[str]) -> pd.DataFrame:
    if not paths:
        return frame
    return frame[~frame["source_file"].astype(str).isin(paths)].reset_index(drop=True)


def assemble(
    groups: list[GroupTables], integrity: pd.DataFrame, pipeline: ScanPipeline
) -> ScanResult:
    """The groups' tables as one result, in the local engine's row order."""
    # Only groups with rows: a group without any has the typed empty timeline, whose
    # categories are not those of rows.
    timelines = [g.timeline for g in groups if g.rows]
    timeline = _timeline(timelines) if timelines else groups[0].timeline
    return ScanResult(
        timeline=timeline,
        diagnoses=_joined([g.diagnoses for g in groups], ["host", "signature_id"]),
        hosts=_joined([g.hosts for g in groups], ["host"]),
        integrity=integrity,
        daily=_joined([g.daily for g in groups], ["host", "day"]),
        signatures=tuple(pipeline.signatures),
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
