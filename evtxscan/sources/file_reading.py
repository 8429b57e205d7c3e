"""Reading the inputs of a record stream one after another: formats, bundles, EVTX chunk
ranges and small-file batches, each file's batches folded into its integrity report.

:class:`~evtxscan.sources.stream.RecordStream` is built on this: it holds the options and
the public interface, this holds the steps a file goes through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from concurrent.futures import Future

import pandas as pd

from evtxscan.messages.catalog import MessageCatalog
from evtxscan.sources import small_evtx, small_runs
from evtxscan.sources.budget import TimeBudgetExceeded, timed
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.bundles import BundleBudget, BundleLimits
from evtxscan.sources.chunk_plan import BatchTransform, ChunkPlan, ChunkPlanner, no_reads
from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, describe_start, sniff
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, chunk_ranges, inspect_header
from evtxscan.sources.evtx.selectors import Admitted
from evtxscan.sources.files_ahead import FilesAhead, open_found
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, Member, Source, bundle_members, open_source
from evtxscan.sources.integrity import FileReport, FileStatus
from evtxscan.sources.known_files import KnownFiles
from evtxscan.sources.planned_batches import plan_together, planned_runs
from evtxscan.sources.skipped import SkippedStats, merge_stats
from evtxscan.sources.small_runs import SmallRun, SmallRunTask
from evtxscan.sources.whole_files import whole_file_reader
from evtxscan.sources.whole_selection import whole_choice
from evtxscan.sources.worker import (
    CHUNKS_PER_TASK,
    RangeOutput,
    RangePool,
    RangeTask,
    ReadOptions,
    read_range,
)


class FileReading:
    """The per-file steps of a record stream (the stream sets these attributes)."""

    options: ReadOptions
    limits: BundleLimits
    known: KnownFiles
    reports: list[FileReport]
    progress: object | None
    transform: BatchTransform | None
    skipped: SkippedStats
    deferred: list[tuple[Source, LocatedRows]]
    time_budget: float | None
    tz: str
    catalog: MessageCatalog | None
    #: Incremental reading (evtxscan.nightly): a planner that picks the EVTX chunks to read.
    planner: ChunkPlanner | None = None
    #: Small logs read as one batch up to this size (None: ``small_evtx``'s defaults).
    batch_bytes: int | None = None
    #: Small logs read and hashed ahead by a thread (in one process; see ``files_ahead``).
    ahead: FilesAhead | None = None

    def _finish(self, report: FileReport) -> None:
        report.finish()
        self.reports.append(report)
        update = getattr(self.progress, "file_done", None)
        if callable(update):
            update(report)

    def _read_source(
        self,
        source: Source,
        pool: RangePool | None,
        member: Member | None = None,
        budget: BundleBudget | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Read one file or bundle member (``member``: its content, already decompressed)."""
        report = FileReport(path=source.display)
        if member is not None:
            for problem in member.found.errors:
                report.error(problem)
        content: Buffer | None = member.found.content if member is not None else None
        if content is None and member is not None:
            report.status = FileStatus.UNREADABLE
            self._finish(report)
            return
        sha256 = None  # made ahead
        try:
            if content is None:
                content, sha256 = open_found(self.ahead, source, report)
        except (OSError, ValueError, EOFError) as exc:
            report.status = FileStatus.UNREADABLE
            report.error(f"cannot open: {exc}")
            self._finish(report)
            return
        try:
            yield from self._read_content(source, content, report, pool, budget, sha256)
        except Exception as exc:  # a reader bug must not end the batch: record it
            report.error(f"internal error while reading: {type(exc).__name__}: {exc}")
            report.status = FileStatus.DAMAGED if report.records else FileStatus.UNREADABLE
        finally:
            if isinstance(content, FileView):
                content.close()
        self._finish(report)

    def _read_bundle(
        self,
        source: Source,
        content: Buffer,
        fmt: LogFormat,
        report: FileReport,
        pool: RangePool | None,
        budget: BundleBudget | None,
    ) -> Iterator[pd.DataFrame]:
        """Each member of a zip/gzip bundle as a file of its own, within the bundle limits."""
        if source.depth >= self.limits.max_depth:
            report.status = FileStatus.UNREADABLE
            report.error(
                f"bundle bound max_depth ({self.limits.max_depth}) reached: "
                "this nested bundle is not read"
            )
            return
        budget = budget or BundleBudget(self.limits, len(content))
        for item in bundle_members(source, content, str(fmt), budget):
            if isinstance(item, str):
                report.error(item)
                continue
            yield from self._read_source(item.source, pool, item, budget)
            if item.found.stopped_by is not None:
                report.error(f"{item.found.stopped_by}: the rest of the bundle is not read")
        report.status = FileStatus.DAMAGED if report.errors else FileStatus.OK
        report.notes.append(f"{fmt} bundle: members listed separately")

    def _read_content(
        self,
        source: Source,
        content: Buffer,
        report: FileReport,
        pool: RangePool | None,
        budget: BundleBudget | None = None,
        sha256: str | None = None,
    ) -> Iterator[pd.DataFrame]:
        report.size = len(content)
        head = bytes(content[:SNIFF_BYTES])
        fmt = sniff(head)
        report.format = str(fmt)
        if fmt in (LogFormat.ZIP, LogFormat.GZIP):
            yield from self._read_bundle(source, content, fmt, report, pool, budget)
            return
        if self._duplicate(report, content, sha256):
            if pool is not None:
                pool.drop(source)
            return
        if fmt is LogFormat.EMPTY:
            report.status = FileStatus.UNREADABLE
            report.error("empty file (0 bytes)")
            return
        if fmt is LogFormat.UNKNOWN:
            report.status = FileStatus.UNREADABLE
            report.error(f"not an event log: starts with {describe_start(head)}")
            return
        if fmt is LogFormat.EVTX:
            frames = self._read_evtx(source, content, report, pool)
        else:
            frames = self._read_whole(source, content, fmt, report)
        yield from self._within_budget(frames, report)

    def _read_whole(
        self, source: Source, content: Buffer, fmt: LogFormat, report: FileReport
    ) -> Iterator[pd.DataFrame]:
        """A log read as one piece, each row in its report; its rows chosen as EVTX's are."""
        options = self.options
        chosen = whole_choice(options.selector, self.planner, source, self.deferred, self.skipped)
        if chosen is not None and fmt is LogFormat.EVT:  # only the records kept are typed
            selected = chosen.evt_rows(content, report, options)  # (folds every record in)
            return self._fold(selected, RangeResult(observed=FileReport(report.path)), report)
        read = whole_file_reader(fmt, options.include_recovered, self.tz, self.catalog)
        frames = read(content, source=source.display, report=report,
                      host_map=options.host_map, batch_size=options.batch_size)  # fmt: skip
        folded = self._fold(frames, RangeResult(), report)
        return folded if chosen is None else chosen.rows(folded)

    def _within_budget(
        self, frames: Iterator[pd.DataFrame], report: FileReport
    ) -> Iterator[pd.DataFrame]:
        """One file's batches, stopped (with an error) at the file's time budget."""
        try:
            yield from timed(frames, self.time_budget)
        except TimeBudgetExceeded:
            report.error(
                f"time budget of {self.time_budget:g} s per file exceeded after "
                f"{report.records} records: the rest of the file is not read"
            )

    def _duplicate(self, report: FileReport, content: Buffer, sha256: str | None = None) -> bool:
        return self.known.duplicate(report, content, sha256)

    def _read_small_files(self, run: list[Source]) -> Iterator[pd.DataFrame]:
        """Small EVTX files read as one batch (if that fails, one by one), in input order."""
        reports = [FileReport(path=source.display) for source in run]
        if self.planner is not None and self.planner.reads_chunks():  # a night: few are new
            limit = small_evtx.PLANNED_BATCH_BYTES
            for files in small_evtx.open_in_batches(
                run, reports, self._duplicate, self.ahead, limit
            ):
                yield from self._read_opened(files, reports)
        else:
            files = small_evtx.open_small_files(run, reports, self._duplicate, self.ahead)
            yield from self._read_opened(files, reports)
        for report in reports:
            self._finish(report)

    def _read_opened(
        self, files: list[small_evtx.SmallFile], reports: list[FileReport]
    ) -> Iterator[pd.DataFrame]:
        """A batch of opened small files read, planned first if a planner is given."""
        for part, plans in self._planned(files):
            if len(part) == 1 and plans:  # read on its own (its plan: whole, or in part)
                file, plan = part[0], plans[0]
                if plan is None:  # not planned in the batch: planned again, on its own
                    yield from self._read_alone(file.source, file.report, reports, file.data)
                else:
                    yield from self._guarded(file.source, file.data, file.report, plan)
                continue
            options = self.options
            if plans:
                admitted = tuple(plan.admission for plan in plans if plan and plan.admission)
                if len(admitted) == len(plans):
                    selector = Admitted(options.selector, admitted)
                    options = dataclasses.replace(options, selector=selector)
            results = [RangeResult() for _ in part]
            outputs = small_evtx.decode_small_files(part, results, options)
            if outputs is None:  # a reader bug, a slow file, or values read as missing
                for at, file in enumerate(part):
                    plan = plans[at] if plans else None
                    yield from self._read_alone(file.source, file.report, reports, file.data, plan)
            else:
                for file, frames, result in zip(part, outputs, results, strict=True):
                    yield from self._fold(frames, result, file.report, file.source)

    def _planned(
        self, files: list[small_evtx.SmallFile]
    ) -> Iterator[tuple[list[small_evtx.SmallFile], list[ChunkPlan | None]]]:
        """Runs of files to read in one batch, with their plans (none without a planner; made
        together when it reads chunks: ``planned_batches``); None: planned alone again."""
        if self.planner is None:
            yield files, []
            return
        reads = self.planner.reads_chunks()
        plans = (
            plan_together(self.planner, files, self.options)
            if reads
            else (self.planner.plan(f.source, f.data, f.first_offset, f.report, no_reads)
                  for f in files)
        )  # fmt: skip
        yield from planned_runs(files, plans, reads)

    def _settle(self, task: SmallRunTask, future: Future[SmallRun]) -> Iterator[pd.DataFrame]:
        """A batch of small files a worker read, taken in input order (see ``small_runs``)."""
        try:
            output = future.result()
        except Exception:  # the worker failed or died: this process reads the batch instead
            yield from self._read_small_files(list(task.sources))
            return
        settled = small_runs.settle_run(task, output, self.known.seen_before)
        for source, report, frames, result in settled.kept:
            yield from self._fold(frames, result, report, source, output.transformed)
        for source, found in settled.again:  # the batch failed: each file read on its own
            yield from self._read_alone(source, found, settled.reports)
        for report in settled.reports:
            self._finish(report)

    def _read_alone(
        self,
        source: Source,
        found: FileReport,
        reports: list[FileReport],
        data: Buffer | None = None,
        plan: ChunkPlan | None = None,
    ) -> Iterator[pd.DataFrame]:
        """A file of a batch that failed as a whole, read on its own with a report from
        scratch (its header is read again) in place of ``found`` in ``reports``; ``data``:
        its bytes, else it is opened again."""
        alone = FileReport(path=found.path)
        alone.size, alone.format, alone.sha256 = found.size, found.format, found.sha256
        alone.mtime_ns = found.mtime_ns
        reports[reports.index(found)] = alone
        if data is None:
            try:
                content = open_source(source)
            except (OSError, ValueError, EOFError) as exc:  # gone since the worker read it
                alone.status = FileStatus.UNREADABLE
                alone.error(f"cannot open: {exc}")
                return
            try:
                data = bytes(content[:])
            finally:
                if isinstance(content, FileView):
                    content.close()
        if plan is not None:  # its header is read again: the plan's first offset stands
            plan = dataclasses.replace(plan, first_offset=None)
        yield from self._guarded(source, data, alone, plan)

    def _guarded(
        self,
        source: Source,
        data: Buffer,
        report: FileReport,
        plan: ChunkPlan | None = None,
        pool: RangePool | None = None,
    ) -> Iterator[pd.DataFrame]:
        """One file's EVTX read on its own (``plan``: planned already, its header inspected
        when the plan says where chunks start); a reader bug becomes an error in its report."""
        try:
            frames = self._read_evtx(source, data, report, pool, plan)
            yield from self._within_budget(frames, report)
        except Exception as exc:
            report.error(f"internal error while reading: {type(exc).__name__}: {exc}")
            report.status = FileStatus.DAMAGED if report.records else FileStatus.UNREADABLE

    def _read_evtx(
        self,
        source: Source,
        content: Buffer,
        report: FileReport,
        pool: RangePool | None,
        plan: ChunkPlan | None = None,
    ) -> Iterator[pd.DataFrame]:
        if plan is not None and plan.first_offset is not None:
            first_offset = plan.first_offset
        else:
            first_offset = inspect_header(bytes(content[:SNIFF_BYTES]), report)
        spans = chunk_ranges(len(content), first_offset, CHUNKS_PER_TASK)
        options = self.options
        if self.planner is not None:  # incremental reading: only the chunks it chooses
            every = dataclasses.replace(options, selector=None)  # the planner's: every record

            def read_one(span: ChunkRange) -> RangeOutput:
                return read_range(RangeTask(source, span, every), content)

            plan = plan or self.planner.plan(source, content, first_offset, report, read_one)
            for frames, result in plan.decoded:
                yield from self._fold(frames, result, report, source)
            spans = list(plan.spans)
            if plan.admission is not None:
                options = dataclasses.replace(
                    options, selector=Admitted(options.selector, (plan.admission,))
                )
        tasks = [RangeTask(source, span, options) for span in spans]
        if pool is None or len(tasks) == 0:
            for task in tasks:
                frames, result = read_range(task, content)
                yield from self._fold(frames, result, report, source)
            return
        done = pool.options.worker_transform is not None  # the workers transformed them
        pooled = dataclasses.replace(pool.options, selector=options.selector)
        for frames, result in pool.ordered([RangeTask(source, t.span, pooled) for t in tasks]):
            yield from self._fold(frames, result, report, source, transformed=done)
            check_budget()  # waiting for workers counts too: stop at a range boundary

    def _fold(
        self,
        frames: Iterable[pd.DataFrame],
        result: RangeResult,
        report: FileReport,
        source: Source | None = None,
        transformed: bool = False,
    ) -> Iterator[pd.DataFrame]:
        transform = None if transformed else self.transform
        for batch in frames:
            frame = transform(batch) if transform is not None else batch
            if result.observed is None:  # else the index counted every record already
                report.observe(frame)
            else:
                report.count_lost(frame)
            update = getattr(self.progress, "records_done", None)
            if callable(update):
                update(len(frame))
            yield frame
        merge_stats(
            self.skipped, {(c, report.path, d): v for (c, _, d), v in result.skipped.items()}
        )
        if result.observed is not None:
            report.absorb(result.observed)
        if result.deferred is not None and source is not None:
            self.deferred.append((source, result.deferred))
        if result.admitted is not None and self.planner is not None:
            self.planner.absorb(result.admitted)
        report.errors.extend(result.errors)
        report.chunks += result.chunks
        report.chunks_skipped += result.chunks_skipped
        if result.over_budget:  # a worker gave the range up at the time budget
            raise TimeBudgetExceeded
