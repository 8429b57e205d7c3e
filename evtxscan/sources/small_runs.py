"""Batches of small EVTX files read in worker processes (a stream with a worker pool).

Read in one process, a batch of small logs (:mod:`evtxscan.sources.small_evtx`) skips the
files byte-identical to one read before it is decoded. A worker cannot know which files the
stream has seen, so it hashes and decodes every file of its batch (:func:`read_small_run`)
and the stream settles the batch in input order (:func:`settle_run`): a file seen before
gets the same duplicate row it gets when read in one process, and its rows are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import pandas as pd

from evtxscan.sources.evtx.file_slices import used_categories
from evtxscan.sources.evtx.reader import RangeResult
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, MissingInput, Source, sha256_of
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.small_evtx import (
    SMALL_FILE_BYTES,
    decode_small_files,
    open_small_files,
    small_evtx_run,
)
from evtxscan.sources.worker import ReadOptions

#: Small-file batches a stream keeps in flight per worker.
RUNS_AHEAD_PER_WORKER = 2


@dataclass(frozen=True)
class SmallRunTask:
    """Read these consecutive small EVTX files as one batch (picklable)."""

    sources: tuple[Source, ...]
    options: ReadOptions


@dataclass
class SmallRun:
    """What a worker read of a batch: each file's report (hashed, header read; or why it
    did not open), which files were decoded, their batches and counts (None: the batch
    must be read file by file), and whether the worker transformed the batches."""

    reports: list[FileReport]
    decoded: list[int]  # positions in the batch of the files opened and decoded
    outputs: list[list[pd.DataFrame]] | None
    results: list[RangeResult]
    transformed: bool = False


def _hash_only(report: FileReport, content: Buffer, sha256: str | None) -> bool:
    """Hash the file for the stream to judge later; never a duplicate here."""
    if isinstance(content, FileView):
        report.mtime_ns = content.mtime_ns
    report.sha256 = sha256 or sha256_of(content)
    return False


def read_small_run(task: SmallRunTask) -> SmallRun:
    """Entry point in a worker: open, hash and decode the batch (the worker's own
    transform applied to its batches)."""
    reports = [FileReport(path=source.display) for source in task.sources]
    files = open_small_files(task.sources, reports, _hash_only)
    results = [RangeResult() for _ in files]
    outputs = decode_small_files(files, results, task.options)
    transform = task.options.worker_transform
    if outputs is not None and transform is not None:
        outputs = [[transform(frame) for frame in frames] for frames in outputs]
    decoded = [reports.index(file.report) for file in files]
    return SmallRun(reports, decoded, outputs, results, transform is not None)


@dataclass
class SettledRun:
    """A worker's batch as the stream takes it: every file's report in input order, and per
    decoded file that is not a duplicate, its source, report, batches and counts."""

    reports: list[FileReport]
    kept: list[tuple[Source, FileReport, list[pd.DataFrame], RangeResult]] = field(
        default_factory=list
    )
    again: list[tuple[Source, FileReport]] = field(default_factory=list)  # read one by one


def settle_run(
    task: SmallRunTask, run: SmallRun, duplicate: Callable[[FileReport, str], bool]
) -> SettledRun:
    """Judge each decoded file against the files seen before (``duplicate(report, sha256)``
    marks a duplicate's report), in input order; drop the duplicates' rows."""
    settled = SettledRun(list(run.reports))
    dropped: set[str] = set()
    kept: list[int] = []
    for number, position in enumerate(run.decoded):
        found = run.reports[position]
        fresh = FileReport(path=found.path)
        fresh.size, fresh.format, fresh.mtime_ns = found.size, found.format, found.mtime_ns
        if duplicate(fresh, found.sha256 or ""):
            settled.reports[position] = fresh  # as read in one process: no header read
            dropped.add(found.path)
        else:
            kept.append(number)
    if run.outputs is None:  # the batch failed as a whole: its files are read one by one
        settled.again = [
            (task.sources[run.decoded[n]], settled.reports[run.decoded[n]]) for n in kept
        ]
        return settled
    frames = [frame for frames in run.outputs for frame in frames]
    if dropped:
        frames = [_without(frame, dropped) for frame in frames]
        frames = [frame for frame in frames if len(frame)]
    for order, number in enumerate(kept):
        position = run.decoded[number]
        mine = frames if order == 0 else []  # the batch's rows come with its first file
        item = (task.sources[position], settled.reports[position], mine, run.results[number])
        settled.kept.append(item)
    return settled


def _without(frame: pd.DataFrame, paths: set[str]) -> pd.DataFrame:
    """The rows of ``frame`` not from ``paths`` (categories cut to those still used)."""
    keep = ~frame["source_file"].astype(object).isin(paths).to_numpy(dtype=bool)
    if keep.all():
        return frame
    return used_categories(frame[keep].reset_index(drop=True)) if keep.any() else frame[:0]


class RunsAhead:
    """The small-file batches of a stream's inputs (found once each), started on the workers
    ahead of the stream (``depth`` in flight; ``submit`` None: no workers), each taken once,
    in input order."""

    def __init__(
        self,
        submit: Callable[[SmallRunTask], Future[SmallRun]] | None,
        items: Sequence[Source | MissingInput],
        limit: int,
        options: ReadOptions,
        depth: int,
    ) -> None:
        self.submit, self.items, self.limit = submit, items, limit
        self.options, self.depth = options, depth
        self._runs: dict[int, list[Source]] = {}
        self._started: dict[int, tuple[SmallRunTask, Future[SmallRun]]] = {}
        self._planned = 0  # inputs before this index are planned

    def run_at(self, index: int) -> list[Source]:
        """The batch starting at input ``index`` (empty: that input is read on its own)."""
        found = self._runs.get(index)
        if found is None:
            found = self._runs[index] = small_evtx_run(self.items, index, self.limit)
        return found

    def take(self, index: int) -> tuple[SmallRunTask, Future[SmallRun]]:
        """The batch at ``index``, started if it was not; the following ones started."""
        self._planned = max(self._planned, index + len(self.run_at(index)))
        started = self._started.pop(index, None)
        if started is None:
            started = self._start(index)
        self._top_up()
        return started

    def cancel(self) -> None:
        for _, future in self._started.values():
            future.cancel()
        self._started.clear()

    def _start(self, index: int) -> tuple[SmallRunTask, Future[SmallRun]]:
        assert self.submit is not None  # taken only from a stream with workers
        task = SmallRunTask(tuple(self.run_at(index)), self.options)
        return task, self.submit(task)

    def _top_up(self) -> None:
        while (
            self.submit is not None
            and len(self._started) < self.depth
            and self._planned < len(self.items)
        ):
            index = self._planned
            run = self.run_at(index)
            self._planned += max(len(run), 1)
            if run and index not in self._started:
                self._started[index] = self._start(index)


def more_than_one_task(items: Sequence[Source | MissingInput]) -> bool:
    """Whether the inputs make more than one task for workers (files, or the chunk ranges
    of one large log): worth starting worker processes for."""
    if len(items) != 1:
        return len(items) > 1
    item = items[0]
    if not isinstance(item, Source):
        return False
    try:
        return item.kind != "file" or os.path.getsize(item.path) > SMALL_FILE_BYTES
    except OSError:
        return False
