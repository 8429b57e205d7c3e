"""Nightly reading on a cluster (``evtxscan nightly --scheduler``): the state stays here.

The state (SQLite) is read and written by this process (the driver) only; workers get
read-only snapshots and return what they found:

1. **Survey** (tasks, one per input): every file's SHA-256 and, for EVTX, the fingerprints
   of its chunks; bundles are opened and their members surveyed.
2. **Plan** (driver): files an earlier run read, or read earlier in this run, become
   duplicates (:meth:`RecordStream.remember`); the chunk fingerprints are looked up in the
   state (``known_chunks``), once per input.
3. **Read** (tasks, one per input): the local planner (:class:`IncrementalPlanner`) and
   admission (:class:`WatermarkBook`) run on the worker against the snapshot: the watermarks
   in force (shipped once) and the input's known chunks. Planning and admission are per
   file, so reading files apart gives what one process reading them in turn gives.
4. **Join** (driver, input order): reports, kept rows and day counts into the pipeline;
   the workers' admissions, watermark tops, resets, notes and chunk counts into the run's
   book and planner, which the run then commits as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd

from evtxscan.nightly.incremental import IncrementalPlanner, WatermarkBook, chunk_heads
from evtxscan.nightly.incremental import _Fingerprints as Fingerprints
from evtxscan.nightly.model import StreamKey, Watermark
from evtxscan.records.batch import concat_frames
from evtxscan.scanning.engines import TaskRunner
from evtxscan.scanning.pipeline import ScanPipeline
from evtxscan.scanning.scanner import Scanner, ScannerConfig
from evtxscan.sources.bundles import BundleBudget, BundleLimits
from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, sniff
from evtxscan.sources.evtx.reader import inspect_header
from evtxscan.sources.inputs import (
    Buffer,
    MissingInput,
    PathLike,
    Source,
    bundle_members,
    expand_paths,
    open_source,
    sha256_of,
)
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.stream import RecordStream
from evtxscan.sources.worker import ReadOptions

Item = Source | MissingInput


@dataclass(frozen=True)
class Snapshot:
    """What every read task needs, shipped once: how to read and keep, and the watermarks."""

    config: ScannerConfig
    options: ReadOptions
    watermarks: dict[StreamKey, Watermark]


@dataclass(frozen=True)
class Survey:
    """One input's files (display path, SHA-256) in reading order, and its chunk prints."""

    files: tuple[tuple[str, str], ...] = ()
    prints: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ReadTask:
    """Read one input: files to treat as duplicates, and which of its chunks were read."""

    item: Item
    remember: dict[str, str]
    known: frozenset[bytes]


@dataclass
class ReadOutput:
    """What one input gave: reports, kept rows, counts, and the book's and planner's part."""

    reports: list[FileReport]
    kept: list[pd.DataFrame]
    days: list[pd.DataFrame]
    records: int
    book: WatermarkBook
    chunks_read: list[bytes] = field(default_factory=list)
    skipped_known: int = 0
    skipped_below: int = 0


def survey(item: Item, limits: BundleLimits | None = None) -> Survey:
    """SHA-256 of every file of an input (bundle members too, within ``limits``) and its
    EVTX chunk prints."""
    if isinstance(item, MissingInput):
        return Survey()
    files: list[tuple[str, str]] = []
    prints: list[bytes] = []
    try:
        content = open_source(item, limits)
    except (OSError, ValueError, EOFError):
        return Survey()  # the read task reports it
    try:
        limits = limits or BundleLimits()
        budget = BundleBudget(limits, len(content))
        _survey_content(item, content, files, prints, budget)
    finally:
        if hasattr(content, "close"):
            content.close()
    return Survey(tuple(files), tuple(prints))


def _survey_content(
    source: Source,
    content: Buffer,
    files: list[tuple[str, str]],
    prints: list[bytes],
    budget: BundleBudget,
) -> None:
    """Hash ``content`` (members of a bundle, each within the bundle's limits, as the read
    task will read them) and fingerprint its EVTX chunks."""
    head = bytes(content[:SNIFF_BYTES])
    fmt = sniff(head)
    if fmt in (LogFormat.ZIP, LogFormat.GZIP):
        try:
            for member in bundle_members(source, content, str(fmt), budget):
                if isinstance(member, str) or member.found.content is None:
                    continue  # a problem of the bundle: the read task reports it
                inner = member.found.content
                try:
                    _survey_content(member.source, inner, files, prints, budget)
                finally:
                    if hasattr(inner, "close"):
                        inner.close()
        except Exception:  # a broken bundle: the read task reports it
            return
        return
    files.append((source.display, sha256_of(content)))
    if fmt is LogFormat.EVTX:
        heads = chunk_heads(content, inspect_header(head, FileReport(path="")))
        fingerprints = Fingerprints(content, heads)
        prints += [fingerprints(h.index) for h in heads]


def read_input(task: ReadTask, snapshot: Snapshot) -> ReadOutput:
    """Read one input as the local nightly run does (planner, admission, keeping)."""
    book = WatermarkBook(dict(snapshot.watermarks))
    known = task.known
    options = snapshot.options
    planner = IncrementalPlanner(
        book, lambda prints: {p for p in prints if p in known}, options.host_map
    )
    scanner = Scanner(snapshot.config)
    stream = RecordStream(
        [task.item],
        backend=options.backend,
        batch_size=options.batch_size,
        host_map=options.host_map,
        include_recovered=options.include_recovered,
        selector=options.selector,
        tz=snapshot.config.input_tz,
        catalog=scanner.renderer.catalog,
        time_budget=options.time_budget,
        bundle_limits=options.bundle_limits,
    )
    stream.planner = planner
    if task.remember:
        stream.remember(task.remember)
    records = 0
    for batch in _gathered(stream, snapshot.config.feed_rows):
        records += len(batch)
        scanner.feed(book.admit(batch))
    scanner.add_skipped(stream.skipped, options.host_map)
    return ReadOutput(
        stream.reports,
        scanner.kept,
        scanner.days,
        records,
        book,
        planner.chunks_read,
        planner.skipped_known,
        planner.skipped_below,
    )


def _gathered(batches: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    pending: list[pd.DataFrame] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += len(batch)
        if count >= rows:
            yield concat_frames(pending)
            pending, count = [], 0
    if pending:
        yield concat_frames(pending)


def read_on_cluster(
    runner: TaskRunner,
    pipeline: ScanPipeline,
    paths: PathLike | Iterable[PathLike],
    *,
    book: WatermarkBook,
    planner: IncrementalPlanner,
    remember: Mapping[str, str],
    progress: object | None = None,
    after_input: Callable[[], None] | None = None,
) -> list[FileReport]:
    """Read ``paths`` on ``runner``'s workers into ``pipeline`` (kept rows, day counts),
    ``book`` and ``planner``, as ``pipeline.read_stream`` with nightly's hooks does here;
    returns the integrity reports in input order."""
    items = list(expand_paths(paths))
    limits = pipeline.read_options().bundle_limits
    surveys = list(runner.run_ordered(survey, items, limits))
    tasks = _plan(items, surveys, remember, planner.known_chunks)
    snapshot = Snapshot(pipeline.config, pipeline.read_options(), dict(book.prior))
    reports: list[FileReport] = []
    for output in runner.run_ordered(read_input, tasks, snapshot):
        _join(output, pipeline, book, planner)
        reports += output.reports
        _tell(progress, "records_done", output.records)
        for report in output.reports:
            _tell(progress, "file_done", report)
        if after_input is not None:
            after_input()
    return reports


def _plan(
    items: list[Item],
    surveys: list[Survey],
    remember: Mapping[str, str],
    known_chunks: Callable[[list[bytes]], set[bytes]],
) -> list[ReadTask]:
    """Per input: the files to report as duplicates (of an earlier run's, or of a file
    earlier in this run, as the local stream's own check would) and its known chunks."""
    first: dict[str, str] = {}
    tasks = []
    for item, found in zip(items, surveys, strict=True):
        duplicates = {}
        for path, digest in found.files:
            if digest in remember:
                duplicates[digest] = remember[digest]
            elif digest in first and first[digest] != path:
                duplicates[digest] = first[digest]
        for path, digest in found.files:
            first.setdefault(digest, path)
        known = known_chunks(list(found.prints)) if found.prints else set()
        tasks.append(ReadTask(item, duplicates, frozenset(known)))
    return tasks


def _join(
    output: ReadOutput, pipeline: ScanPipeline, book: WatermarkBook, planner: IncrementalPlanner
) -> None:
    pipeline.scanner.kept += output.kept
    pipeline.scanner.days += output.days
    part = output.book
    book.reset |= part.reset
    book.notes += part.notes
    book.decoded += part.decoded
    book.admitted += part.admitted
    for host, newest in part.admitted_hosts.items():
        before = book.admitted_hosts.get(host)
        if before is not None and (newest is None or before > newest):
            newest = before
        book.admitted_hosts[host] = newest
    for key, mark in part.tops.items():
        old = book.tops.get(key)
        if old is None or mark.record_id > old.record_id:
            book.tops[key] = mark
    planner.chunks_read += output.chunks_read
    planner.skipped_known += output.skipped_known
    planner.skipped_below += output.skipped_below


def _tell(progress: object | None, name: str, value: object) -> None:
    update = getattr(progress, name, None)
    if callable(update):
        update(value)
