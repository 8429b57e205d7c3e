"""The Dask engine: a scan's units as tasks on a cluster, its hosts correlated in groups.

1. Every unit (:func:`~evtxscan.scanning.units.plan_units`) is one task running
   :func:`~evtxscan.scanning.units.run_unit`; the scanner config and read options travel
   once (one task every unit depends on, recomputed like any other if its worker dies).
2. The driver takes only each unit's integrity reports and Sigma hits (compact: the
   matched records' keys), in unit order, and joins them with the local engine's
   :func:`~evtxscan.scanning.local_engine.merge_outputs` (range parts into one report,
   byte-identical copies settled); Sigma's diagnoses are made here, as locally, since a
   Sigma correlation may span hosts.
3. Renames span hosts too: each unit's summary also carries its rename events and which
   hosts its files hold (:func:`~evtxscan.dask.groups.rename_events`,
   :func:`~evtxscan.dask.groups.host_files`), and the driver finds the renames once.
4. The kept rows, day counts and located context records stay on the workers: batches of
   units are split by host group (renames joined), each group is correlated by one task,
   which also reads its context near symptoms again (:mod:`evtxscan.dask.groups`), and the
   driver concatenates the groups' tables. No process holds the whole collection's rows.

A task lost with its worker is rerun by Dask. A unit that still fails (its worker died
every time, e.g. a reader crashing the process) becomes integrity rows of its files.
"""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
from distributed import Client, Future, as_completed

from evtxscan.correlation.renames import HostRenames, find_renames
from evtxscan.dask.groups import (
    GroupTables,
    Settled,
    Shared,
    assemble,
    correlate_group,
    host_files,
    rename_events,
    split_outputs,
)
from evtxscan.records.batch import concat_frames
from evtxscan.results import ScanResult
from evtxscan.scanning.local_engine import merge_outputs
from evtxscan.scanning.pipeline import ScanPipeline
from evtxscan.scanning.units import UnitOutput, WorkUnit, run_unit
from evtxscan.sources.inputs import MissingInput
from evtxscan.sources.integrity import FileReport, FileStatus, integrity_frame

T = TypeVar("T")

#: At most this many split tasks per host group (each joins a batch of unit outputs).
BATCHES_PER_GROUP = 4


def _shared(value: T) -> T:
    return value


def _run(unit: WorkUnit, shared: Shared) -> UnitOutput:
    return run_unit(unit, shared.config, shared.options)


def _reports(output: UnitOutput) -> UnitOutput:
    """The part of a unit's output the driver needs: reports, counts, Sigma hits and what
    renames are found from: of the kept rows only the rename events (EventLog 6011), of the
    day counts only which hosts each file holds."""
    return UnitOutput(
        output.reports,
        rename_events(output.kept),
        host_files(output.days),
        output.records,
        output.part,
        notes=output.notes,
        sigma_hits=output.sigma_hits,
    )


@dataclass
class DaskEngine:
    """Run scans on the Dask cluster of ``client`` (:class:`~evtxscan.scanning.pipeline.
    ScanEngine`). ``host_groups``: how many correlation tasks (default: two per worker)."""

    client: Client
    host_groups: int | None = None

    def scan(
        self, pipeline: ScanPipeline, units: list[WorkUnit], progress: object | None
    ) -> ScanResult:
        client, tag = self.client, uuid.uuid4().hex[:8]
        shared = client.submit(
            _shared,
            Shared(pipeline.config, pipeline.read_options(), pipeline.settings),
            key=f"evtxscan-shared-{tag}",
        )
        # One batched submission each (client.map), in input order (Dask runs FIFO).
        keys = range(len(units))
        futures = client.map(
            _run, units, shared=shared, key=[f"evtxscan-unit-{tag}-{i}" for i in keys]
        )
        summaries = client.map(_reports, futures, key=[f"evtxscan-reports-{tag}-{i}" for i in keys])
        outputs = _in_order(summaries, units)
        merged = merge_outputs(outputs, progress)
        good = [f for f in futures if f.status == "finished"]
        del futures, summaries
        duplicates = frozenset(r.path for r in merged.reports if r.status is FileStatus.DUPLICATE)
        sigma_rows = pd.DataFrame()
        if pipeline.sigma is not None:
            from evtxscan.scanning.sigma_stage import sigma_diagnoses

            sigma_rows = sigma_diagnoses(pipeline.sigma, merged.sigma_hits)
        renames = _renames(pipeline, merged.kept, merged.days)
        batches = self._batches(good, tag)
        tables = self._correlate(shared, batches, Settled(duplicates, renames), tag)
        return assemble(tables, integrity_frame(merged.reports), pipeline, sigma_rows)

    def run_ordered(
        self, function: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any
    ) -> Iterator[Any]:
        """``function(item, shared)`` as tasks (a :class:`~evtxscan.scanning.pipeline.
        TaskRunner`); results in item order; a failed task raises."""
        client, tag = self.client, uuid.uuid4().hex[:8]
        name = getattr(function, "__name__", "task")
        once = client.submit(_shared, shared, key=f"evtxscan-shared-{tag}")
        futures = [
            client.submit(function, item, once, key=f"evtxscan-{name}-{tag}-{i}", priority=-i)
            for i, item in enumerate(items)
        ]
        position = {f.key: i for i, f in enumerate(futures)}
        ready: dict[int, Any] = {}
        following = 0
        for future, value in as_completed(futures, with_results=True):
            ready[position[future.key]] = value
            while following in ready:
                yield ready.pop(following)
                following += 1

    def _groups(self) -> int:
        return self.host_groups or max(2, 2 * len(self.client.scheduler_info()["workers"]))

    def _batches(self, outputs: list[Future], tag: str) -> list[list[Future]]:
        """Unit outputs in batches (in unit order), a few per host group."""
        size = max(1, math.ceil(len(outputs) / (BATCHES_PER_GROUP * self._groups())))
        return [outputs[i : i + size] for i in range(0, len(outputs), size)]

    def _correlate(
        self,
        shared: Future,
        batches: list[list[Future]],
        settled: Settled,
        tag: str,
    ) -> list[GroupTables]:
        client, groups = self.client, self._groups()
        once = client.submit(_shared, settled, key=f"evtxscan-settled-{tag}")
        splits = [
            client.submit(
                split_outputs, batch, groups, shared, once, key=f"evtxscan-split-{tag}-{i}"
            )
            for i, batch in enumerate(batches)
        ]
        results = []
        for group in range(groups):
            parts = [
                client.submit(operator.getitem, b, group, key=f"evtxscan-part-{tag}-{i}-{group}")
                for i, b in enumerate(splits)
            ]
            results.append(
                client.submit(
                    correlate_group, shared, once, parts, key=f"evtxscan-group-{tag}-{group}"
                )
            )
        tables: list[GroupTables] = client.gather(results)
        return tables


def _renames(
    pipeline: ScanPipeline, events: list[pd.DataFrame], hosts: list[pd.DataFrame]
) -> HostRenames:
    """The collection's renames, from every unit's rename events and host names (those of
    files found to be copies already dropped), as the local engine finds them."""
    rows = concat_frames([e for e in events if not e.empty]) if events else pd.DataFrame()
    known = {str(h) for frame in hosts for h in frame["host"].unique()}
    names, join = pipeline.scanner.index.names, pipeline.settings.join_renamed
    return find_renames(rows, pipeline.host_map.host_for, known, names, join)


def _in_order(futures: Sequence[Future], units: Sequence[WorkUnit]) -> Iterator[UnitOutput]:
    """Results of ``futures`` in their order, as they complete; a failed unit's own
    integrity rows in its place."""
    position = {f.key: i for i, f in enumerate(futures)}
    ready: dict[int, UnitOutput] = {}
    following = 0
    for future, value in as_completed(futures, with_results=True, raise_errors=False):
        index = position[future.key]
        ready[index] = value if future.status == "finished" else failed(units[index], value)
        while following in ready:
            yield ready.pop(following)
            following += 1


def failed(unit: WorkUnit, error: Any) -> UnitOutput:
    """Integrity rows for a unit whose task failed on the cluster (rows of its files lost)."""
    reason = f"read failed on the cluster: {type(error).__name__}: {error}"
    if unit.range is not None:
        part = unit.range
        report = FileReport(path=part.source.display)
        span = part.span
        report.error(f"{reason} (chunks {span.start}-{span.stop - 1})", span.start)
        return UnitOutput([report], [], [], part=part)
    reports = []
    for item in unit.files:
        path = item.path if isinstance(item, MissingInput) else item.display
        report = FileReport(path=path, status=FileStatus.UNREADABLE)
        report.error(reason)
        report.finish()
        reports.append(report)
    return UnitOutput(reports, [], [])
