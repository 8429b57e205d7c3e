"""One unit of reading work (a chunk range of one source), runnable in a worker process.

Tasks carry only picklable descriptions (the source, the chunk range, the options); a worker
reopens the source itself, so nothing large crosses process boundaries except the result
batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

import pandas as pd

from evtxscan.records.hosts import HostMap
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET, TimeBudgetExceeded, within
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.chunk_plan import BatchTransform
from evtxscan.sources.detect import LogFormat, read_head, sniff
from evtxscan.sources.evtx.backends import Backend, backend_function
from evtxscan.sources.evtx.reader import (
    ChunkRange,
    RangeResult,
    chunk_ranges,
    inspect_header,
)
from evtxscan.sources.evtx.selective import read_range_selected
from evtxscan.sources.evtx.selectors import IndexSelector
from evtxscan.sources.inputs import (
    Buffer,
    FileIdentity,
    MissingInput,
    Source,
    file_identity,
    open_source,
)
from evtxscan.sources.integrity import FileReport, ReadError

#: Chunk slots per unit of work (64 slots = 4 MiB of log).
CHUNKS_PER_TASK = 64
#: With workers, how many upcoming files may be started while the current one is read.
PREFETCH_FILES = 8

RangeOutput = tuple[list[pd.DataFrame], RangeResult]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ReadOptions:
    """How records are read; the same for every task of a stream."""

    backend: Backend = Backend.RUST
    batch_size: int = 10_000
    host_map: HostMap = field(default_factory=HostMap)
    include_recovered: bool = True
    #: Index-first reading: decode only what this selects (every record still counted).
    selector: IndexSelector | None = None
    time_budget: float | None = DEFAULT_TIME_BUDGET  # seconds per file (None: no limit)
    bundle_limits: BundleLimits = field(default_factory=BundleLimits)
    #: Applied to each batch by the worker process that read it (picklable; e.g. message
    #: rendering), so the process gathering the batches does not do it for all of them.
    worker_transform: BatchTransform | None = None


@dataclass(frozen=True)
class RangeTask:
    """Read chunk slots ``span`` of ``source``."""

    source: Source
    span: ChunkRange
    options: ReadOptions


def read_range(task: RangeTask, content: Buffer) -> RangeOutput:
    """Run a task on already-open content."""
    result = RangeResult()
    options = task.options
    frames = read_range_selected(
        content,  # type: ignore[arg-type]
        task.span,
        backend_function(options.backend),
        options.selector,
        source=task.source.display,
        host_map=options.host_map,
        batch_size=options.batch_size,
        include_recovered=options.include_recovered,
        result=result,
    )
    return frames, result


@lru_cache(maxsize=2)
def _cached_content(source: Source, limits: BundleLimits, identity: FileIdentity) -> Buffer:
    """A source kept open for its next ranges while the file at its path is the same one
    (``identity``): a worker forked from a process that lives on must not read a file
    replaced since as the one it had open. Members are read within the reading process's
    bounds, so both see the same content."""
    del identity  # part of the key only
    return open_source(source, limits)


def read_range_in_worker(task: RangeTask) -> RangeOutput:
    """Entry point in a worker process: open (or reuse) the source, then read the range
    within the file's time budget (the range is given up when it runs over: the stream
    then stops the file, as it does when reading in its own process)."""
    source, limits, span = task.source, task.options.bundle_limits, task.span
    try:
        content = _cached_content(source, limits, file_identity(source.path))
    except (OSError, ValueError, EOFError) as exc:  # gone, or another file, since it was listed
        reason = f"chunks {span.start}-{span.stop - 1} not read: cannot open it again: {exc}"
        return [], RangeResult(errors=[ReadError(reason, span.start)])
    transform = task.options.worker_transform
    try:
        frames, result = within(
            task.options.time_budget, functools.partial(read_range, task, content)
        )
    except TimeBudgetExceeded:
        return [], RangeResult(over_budget=True)
    return ([transform(f) for f in frames] if transform is not None else frames), result


class RangePool:
    """Worker processes reading chunk ranges, results always taken in file order.

    A bounded number of ranges is in flight (two per worker), and the next small EVTX files
    are started ahead (:meth:`prefetch`) so a collection of many small logs keeps every worker
    busy.
    """

    def __init__(self, workers: int, options: ReadOptions) -> None:
        self.workers = workers
        self.options = options
        self._executor = ProcessPoolExecutor(workers)
        self._started: dict[tuple[Source, int], Future[RangeOutput]] = {}
        self._seen: set[Source] = set()

    def prefetch(self, upcoming: Iterable[Source | MissingInput]) -> None:
        """Start reading the first ranges of upcoming EVTX files while there is room."""
        budget = 2 * self.workers - sum(not f.done() for f in self._started.values())
        for source in upcoming:
            if budget <= 0:
                return
            if not isinstance(source, Source) or source.kind != "file" or source in self._seen:
                continue
            self._seen.add(source)
            try:
                head, size = read_head(source.path)
            except OSError:
                continue
            if sniff(head) is not LogFormat.EVTX:
                continue
            first_offset = inspect_header(head, FileReport(path=source.path))
            for span in chunk_ranges(size, first_offset, CHUNKS_PER_TASK):
                if budget <= 0:
                    return
                task = RangeTask(source, span, self.options)
                self._started[(source, span.start)] = self._executor.submit(
                    read_range_in_worker, task
                )
                budget -= 1

    def ordered(self, tasks: Iterable[RangeTask]) -> Iterator[RangeOutput]:
        """Run ``tasks`` on the workers and yield their outputs in task order."""
        pending: list[Future[RangeOutput]] = []
        queue = iter(tasks)
        for task in queue:
            pending.append(self._submit(task))
            if len(pending) >= 2 * self.workers:
                break
        try:
            while pending:
                output = pending.pop(0).result()
                following = next(queue, None)
                if following is not None:
                    pending.append(self._submit(following))
                yield output
        finally:  # the caller stopped early (e.g. the file's time budget): drop the rest
            for future in pending:
                future.cancel()

    def submit(self, function: Callable[[T], R], argument: T) -> Future[R]:
        """Run any picklable task on the workers (e.g. a batch of small files)."""
        return self._executor.submit(function, argument)

    def drop(self, source: Source) -> None:
        """Cancel what was started ahead for ``source`` (e.g. it turned out a duplicate)."""
        for key in [k for k in self._started if k[0] == source]:
            self._started.pop(key).cancel()

    def shutdown(self) -> None:
        self._executor.shutdown(cancel_futures=True)

    def _submit(self, task: RangeTask) -> Future[RangeOutput]:
        started = self._started.pop((task.source, task.span.start), None)
        return started if started is not None else self._executor.submit(read_range_in_worker, task)
