"""Run a scan's units on this machine: in this process, or in a pool of worker processes,
and join their outputs in input order (:func:`merge_outputs`), whatever engine ran them.

A worker receives the scanner's config and read options once (the pool's initializer) and
then only unit descriptions; at most two units per worker are in flight, so memory stays
bounded by the units, not the collection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from evtxscan.correlation.engine import SeenRows
from evtxscan.memory import release_free_memory
from evtxscan.scanning.scanner import ScannerConfig
from evtxscan.scanning.units import UnitOutput, WorkUnit, read_ahead, run_unit
from evtxscan.sources.evtx.decode import forget_templates
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.files_ahead import FilesAhead
from evtxscan.sources.inputs import Source
from evtxscan.sources.integrity import FileReport, FileStatus, integrity_frame
from evtxscan.sources.worker import ReadOptions

if TYPE_CHECKING:
    from evtxscan.results import ScanResult
    from evtxscan.scanning.pipeline import ScanPipeline

_WORKER: dict[str, object] = {}


def _start_worker(config: ScannerConfig, options: ReadOptions) -> None:
    _WORKER["config"], _WORKER["options"] = config, options


def _run_in_worker(unit: WorkUnit) -> UnitOutput:
    config, options = _WORKER["config"], _WORKER["options"]
    assert isinstance(config, ScannerConfig) and isinstance(options, ReadOptions)
    return run_unit(unit, config, options)


def run_units(
    units: list[WorkUnit], config: ScannerConfig, options: ReadOptions, workers: int
) -> Iterator[UnitOutput]:
    """Outputs of ``units`` in their order (``workers`` > 1: in worker processes; else here,
    a thread reading each unit's files while the unit before it is read)."""
    if workers <= 1 or len(units) <= 1:
        # Only hashed ahead: reading the small logs whole too was no faster (coll200d, the
        # 2 GiB collection) and held the next unit's bytes, up to 19 MiB more at the peak.
        ahead = FilesAhead(0)
        try:
            for at, unit in enumerate(units):
                for upcoming in units[at : at + 2]:  # this unit's started already, but the first
                    read_ahead(ahead, upcoming)
                output = run_unit(unit, config, options, ahead)
                release_free_memory()  # each unit's batch leaves freed pages: 2 GiB's peak -13%
                yield output
        finally:
            ahead.close()
        return
    pool = ProcessPoolExecutor(
        min(workers, len(units)), initializer=_start_worker, initargs=(config, options)
    )
    try:
        pending: list[Future[UnitOutput]] = []
        queue = iter(units)
        for unit in queue:
            pending.append(pool.submit(_run_in_worker, unit))
            if len(pending) >= 2 * workers:
                break
        while pending:
            output = pending.pop(0).result()
            following = next(queue, None)
            if following is not None:
                pending.append(pool.submit(_run_in_worker, following))
            yield output
    finally:
        pool.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class LocalEngine:
    """The default engine: units in this process (``workers`` <= 1) or a process pool
    (0 = one per core), joined here, all hosts correlated here."""

    workers: int = 1

    def readers(self) -> int:
        """The processes that read units side by side (0 workers: one per core)."""
        return self.workers or (os.cpu_count() or 1)

    def read(
        self, pipeline: ScanPipeline, units: list[WorkUnit], progress: object | None
    ) -> pd.DataFrame:
        """Run ``units``, add what they kept to the pipeline's scanner; the integrity table."""
        workers = self.readers()
        outputs = run_units(units, pipeline.config, pipeline.read_options(), workers)
        merged = merge_outputs(outputs, progress, keep=SeenRows().fresh)
        pipeline.scanner.kept += merged.kept
        pipeline.scanner.days += merged.days
        pipeline.scanner.sigma_hits += merged.sigma_hits
        pipeline.located = merged.deferred
        return integrity_frame(merged.reports)

    def scan(
        self, pipeline: ScanPipeline, units: list[WorkUnit], progress: object | None
    ) -> ScanResult:
        integrity = self.read(pipeline, units, progress)
        forget_templates()  # (a second read parses the few templates it meets again)
        release_free_memory()  # what reading freed, before correlating stacks on it
        rows = pipeline.rows()
        pipeline.scanner.kept = []  # joined into rows (which the result's counts use)
        found = pipeline.correlate(rows, last_read=True)
        release_free_memory()
        return pipeline.result(found, integrity)


@dataclass
class Merged:
    """Unit outputs joined: finished integrity reports in input order, kept rows, counts."""

    reports: list[FileReport] = field(default_factory=list)
    kept: list[pd.DataFrame] = field(default_factory=list)
    days: list[pd.DataFrame] = field(default_factory=list)
    sigma_hits: list[pd.DataFrame] = field(default_factory=list)
    deferred: list[tuple[Source, LocatedRows]] = field(default_factory=list)


def merge_outputs(
    outputs: Iterable[UnitOutput],
    progress: object | None = None,
    keep: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> Merged:
    """Join unit outputs given in unit order: range parts into one report per file, files
    byte-identical to an earlier one marked ``duplicate`` (their rows dropped), every report
    finished. ``keep`` filters each unit's kept rows as they arrive (e.g. rows seen before),
    so memory follows what is kept, not every unit's output."""
    merged = Merged()
    open_parts: dict[str, FileReport] = {}
    first_of: dict[str, str] = {}  # sha256 -> path of the first file with that content
    duplicates: set[str] = set()
    for output in outputs:
        _tell(progress, "records_done", output.records)
        finished: list[FileReport] = []
        if output.part is not None:
            (report,) = output.reports
            path = report.path
            if output.part.part == 0:
                open_parts[path] = report
                merged.reports.append(report)
            else:
                open_parts[path].absorb(report)
            if output.part.part == output.part.parts - 1:
                whole = open_parts.pop(path)
                whole.finish()
                finished.append(whole)
        else:
            finished = list(output.reports)
            merged.reports.extend(output.reports)
        for report in finished:
            earlier = first_of.setdefault(report.sha256, report.path) if report.sha256 else None
            if earlier is not None and earlier != report.path:
                duplicates.add(report.path)
                _make_duplicate(report, earlier)
            _tell(progress, "file_done", report)
        merged.kept += [keep(f) for f in output.kept] if keep is not None else output.kept
        merged.days += output.days
        merged.sigma_hits += output.sigma_hits
        merged.deferred += output.deferred
        merged.kept, merged.days = compacted(merged.kept), compacted(merged.days)
    if duplicates:
        merged.kept = [_without(f, duplicates) for f in merged.kept]
        merged.days = [_without(f, duplicates) for f in merged.days]
        merged.sigma_hits = [_without(f, duplicates) for f in merged.sigma_hits]
        merged.deferred = [(s, f) for s, f in merged.deferred if s.display not in duplicates]
    return merged


#: Frames kept from unit outputs are joined into one once there are this many: each frame
#: costs pandas' fixed overhead (tens of KiB), which would grow with the number of files.
COMPACT_AT = 64


def compacted(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """``frames`` as one frame (categorical columns stay categorical) once there are
    :data:`COMPACT_AT` of them; fewer are left as they are."""
    if len(frames) < COMPACT_AT:
        return frames
    parts = [frame for frame in frames if not frame.empty]
    if len(parts) <= 1:
        return parts
    joined = pd.concat(parts, ignore_index=True)
    for name in joined.columns:
        was = parts[0][name].dtype if name in parts[0].columns else None
        if isinstance(was, pd.CategoricalDtype) and not isinstance(
            joined[name].dtype, pd.CategoricalDtype
        ):
            joined[name] = joined[name].astype("category")
    return [joined]


def _make_duplicate(report: FileReport, first: str) -> None:
    """Turn a read report into the row the reader gives a byte-identical copy."""
    kept = FileReport(
        path=report.path, format=report.format, size=report.size, sha256=report.sha256
    )
    kept.status = FileStatus.DUPLICATE
    kept.duplicate_of = first
    kept.finish()
    report.__dict__.update(kept.__dict__)


def _without(frame: pd.DataFrame, paths: set[str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    return frame[~frame["source_file"].astype(str).isin(paths)].reset_index(drop=True)


def _tell(progress: object | None, name: str, value: object) -> None:
    update = getattr(progress, name, None)
    if callable(update):
        update(value)
