"""The record stream: every input, any format, as typed record batches, in input order.

The stream never raises for bad input: a file that cannot be read becomes an integrity row
(:attr:`RecordStream.integrity`) and the rest of the batch goes on. Byte-identical files are
read once and reported as duplicates.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from evtxscan.messages.catalog import MessageCatalog
from evtxscan.records.batch import concat_frames
from evtxscan.records.hosts import HostMap
from evtxscan.sources import small_evtx, small_runs
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.chunk_plan import BatchTransform
from evtxscan.sources.evtx.backend_kind import Backend
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.selectors import IndexSelector
from evtxscan.sources.file_reading import FileReading
from evtxscan.sources.files_ahead import FilesAhead
from evtxscan.sources.inputs import (
    MissingInput,
    PathLike,
    Source,
    expand_paths,
)
from evtxscan.sources.integrity import FileReport, FileStatus, integrity_frame
from evtxscan.sources.known_files import KnownFiles
from evtxscan.sources.planned_logs import large_evtx_group, read_planned_logs
from evtxscan.sources.skipped import SkippedStats
from evtxscan.sources.small_runs import RunsAhead
from evtxscan.sources.text.times import check_zone
from evtxscan.sources.worker import (
    PREFETCH_FILES,
    RangePool,
    ReadOptions,
)

HostMapOption = HostMap | Mapping[str, str] | str | Path | None


class RecordStream(FileReading):
    """An iterator of record batches; ``integrity`` fills in as files finish.

    Iterate it for DataFrame batches, or call :meth:`frame` for one DataFrame. After the
    iteration, :attr:`integrity` has one row per input file.
    """

    def __init__(
        self,
        paths: PathLike | Iterable[PathLike | Source | MissingInput],
        *,
        backend: Backend | str = Backend.RUST,
        batch_size: int = 10_000,
        host_map: HostMapOption = None,
        include_recovered: bool = True,
        workers: int = 1,
        catalog: MessageCatalog | None = None,
        transform: BatchTransform | None = None,
        transform_in_workers: bool = False,
        progress: object | None = None,
        tz: str = "UTC",
        selector: IndexSelector | None = None,
        time_budget: float | None = DEFAULT_TIME_BUDGET,
        bundle_limits: BundleLimits | None = None,
        files_ahead: FilesAhead | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if workers < 0:
            raise ValueError("workers must be 0 (all cores) or more")
        if time_budget is not None and not time_budget > 0:
            raise ValueError("time_budget must be a positive number of seconds, or None")
        self.tz = check_zone(tz)  # zone of the local times in text exports
        self.time_budget = time_budget
        self.limits = bundle_limits or BundleLimits()
        self._paths = paths
        self.options = ReadOptions(
            backend=Backend(backend),
            batch_size=batch_size,
            host_map=HostMap.from_option(host_map),
            include_recovered=include_recovered,
            selector=selector,
            time_budget=time_budget,
            bundle_limits=self.limits,
        )
        self.skipped: SkippedStats = {}  # records a prefilter skipped, counted per host/day
        #: Records the selector left for later, per source (see ``IndexSelector.defer_mask``).
        self.deferred: list[tuple[Source, LocatedRows]] = []
        self.workers = workers or (os.cpu_count() or 1)
        self.auto_workers = workers == 0  # then a pool only for more than one unit of work
        self.progress = progress
        self.ahead = files_ahead  # a thread reading ahead, shared by a process's streams
        self.catalog = catalog  # message templates: recover text exports' insertion strings
        self.transform = transform  # applied to every batch before it is counted and yielded
        self.transform_in_workers = transform_in_workers  # picklable: worker processes apply it
        self.reports: list[FileReport] = []
        self.known = KnownFiles()  # byte-identical files are read once
        self._iterator: Generator[pd.DataFrame, None, None] | None = None

    def remember(
        self, files: Mapping[str, str], stats: Mapping[str, tuple[int, int, str]] | None = None
    ) -> None:
        """Files read by an earlier run: see :meth:`KnownFiles.remember`."""
        self.known.remember(files, stats)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    def __next__(self) -> pd.DataFrame:
        return next(iter(self))

    def close(self) -> None:
        """Stop reading: its worker processes and threads end now. A stream left part-read
        holds them until it is garbage-collected (it refers to itself), and a process
        exiting waits for them; ``with read_records(...) as records:`` closes it."""
        if self._iterator is not None:
            self._iterator.close()  # a generator: its ``finally`` shuts the pool down

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def integrity(self) -> pd.DataFrame:
        """One row per input file read so far (all of them once the stream is exhausted)."""
        return integrity_frame(self.reports)

    def frame(self) -> pd.DataFrame:
        """Read everything into one DataFrame."""
        return concat_frames(list(self))

    # -- the pipeline -------------------------------------------------------------------

    def _files_ahead(self, one_process: bool) -> FilesAhead | None:
        """A thread hashing the next files ahead (and reading small logs whole), when this
        stream reads in one process and was given none. An incremental read (nightly) reads
        little of most files, so there it only hashes, once a file needed hashing, and not
        the files whose size and time say an earlier run read them."""
        if self.ahead is not None or not one_process:
            return None
        if self.planner is None and not self.known.by_stats:
            self.ahead = FilesAhead(small_evtx.SMALL_FILE_BYTES)
        else:
            self.ahead = FilesAhead(0, self.known.unchanged, lambda: self.known.hashed > 0)
        return self.ahead

    def _start_next(
        self,
        runs: RunsAhead,
        items: list[Source | MissingInput],
        at: int,
        group: Sequence[Source] = (),
    ) -> None:
        """Start finding what is read at input ``at`` (a batch of small logs, or a file) while
        this is read; ``group``: large logs about to be planned together (started too)."""
        if self.ahead is None:
            return
        if group:  # needed at once: this thread finds them with the other one
            self.ahead.share(group)
        if at < len(items):
            self.ahead.start(runs.run_at(at) or items[at : at + 1])

    def _run(self) -> Generator[pd.DataFrame, None, None]:
        in_workers = self.transform if self.transform_in_workers else None
        options = dataclasses.replace(self.options, worker_transform=in_workers)
        items = list(expand_paths(self._paths))
        pooled = self.workers > 1 and (
            not self.auto_workers or small_runs.more_than_one_task(items)
        )
        pool = RangePool(self.workers, options) if pooled else None
        # A planner plans each file here; small logs are batched here too (when it reads
        # chunks itself, their plans are made together: see ``planned_batches``).
        batching = self.options.backend is Backend.RUST
        planned = batching and self.planner is not None and self.planner.reads_chunks()
        limit = self.batch_bytes or (
            small_evtx.BATCH_BYTES
            if self.options.selector is not None
            else small_evtx.WORKER_DECODE_ALL_BATCH_BYTES
            if pool is not None
            else small_evtx.DECODE_ALL_BATCH_BYTES
        )
        if planned:  # most logs and chunks are skipped: larger batches share fixed costs
            limit = max(limit, small_evtx.PLANNED_RUN_BYTES)
        depth = small_runs.RUNS_AHEAD_PER_WORKER * self.workers
        submit = None
        if pool is not None and self.planner is None:
            submit = functools.partial(pool.submit, small_runs.read_small_run)
        runs = RunsAhead(submit, items, limit, options, depth)
        own = self._files_ahead(pool is None)
        try:
            index = 0
            while index < len(items):
                run = runs.run_at(index) if batching else []
                if run:  # consecutive small logs: one index and one decode for all
                    if submit is None:  # a night's long run: hashed by both threads first
                        self._start_next(runs, items, index + len(run), run if planned else ())
                        yield from self._read_small_files(run)
                    else:  # read by a worker, started ahead
                        yield from self._settle(*runs.take(index))
                    index += len(run)
                    continue
                group = large_evtx_group(items, index) if planned else []
                if group:  # large logs planned together, then each read on its own
                    self._start_next(runs, items, index + len(group), group)
                    yield from read_planned_logs(self, group, pool)
                    index += len(group)
                    continue
                item = items[index]
                index += 1
                self._start_next(runs, items, index)
                if pool is not None and self.planner is None:  # not the files batches read
                    pool.prefetch(_read_alone_ahead(runs if batching else None, items, index))
                if isinstance(item, MissingInput):
                    report = FileReport(path=item.path, status=FileStatus.UNREADABLE)
                    report.error(item.reason)
                    self._finish(report)
                    continue
                yield from self._read_source(item, pool)
        finally:
            runs.cancel()
            if own is not None:
                own.close()
                self.ahead = None
            elif self.ahead is not None:
                self.ahead.drop(items)
            if pool is not None:
                pool.shutdown()


def _read_alone_ahead(
    runs: RunsAhead | None, items: list[Source | MissingInput], start: int
) -> list[Source | MissingInput]:
    """The inputs among the next :data:`PREFETCH_FILES` from ``start`` that are read on
    their own, not in a batch of small logs (``runs``; None: no batches), as ``_run`` steps
    through them. A small log whose neighbours leave no room for a batch is one of them:
    were it left out, every such log would wait for one worker while the others idle."""
    found: list[Source | MissingInput] = []
    at, stop = start, min(start + PREFETCH_FILES, len(items))
    while at < stop:
        run = runs.run_at(at) if runs is not None else []
        if run:
            at += len(run)
            continue
        found.append(items[at])
        at += 1
    return found
