"""Units of scan work: what one task reads and keeps, runnable in any process.

A scan plans its inputs into units (:func:`plan_units`): runs of small files read together,
and chunk ranges of large EVTX files, so two workers (or a cluster's) share even a single
large log. A unit reads its records and keeps what the scan needs (:class:`Scanner`): the
symptom candidates and context rows, and per host, file and day counts of every record. It
returns that compact :class:`UnitOutput` with one (possibly partial) integrity report per
file; :func:`merge_outputs` joins the outputs in input order, settles duplicates and finishes
the reports. Units carry only picklable descriptions; a worker opens the files itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from evtxscan.scanning.scanner import Scanner, ScannerConfig
from evtxscan.sources.budget import TimeBudgetExceeded, within
from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, read_head, sniff
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, chunk_ranges, inspect_header
from evtxscan.sources.files_ahead import FilesAhead
from evtxscan.sources.inputs import (
    Buffer,
    MissingInput,
    Source,
    open_source,
    release_pages,
    sha256_of,
)
from evtxscan.sources.integrity import FileReport, FileStatus
from evtxscan.sources.remote import url_size
from evtxscan.sources.stream import RecordStream
from evtxscan.sources.worker import RangeTask, ReadOptions, read_range

#: Small files are grouped into units of up to this size. A unit's small files are
#: indexed and decoded in batches and fed to the scanner at once, so larger units share
#: fixed costs more (each batch and feed costs some milliseconds of pandas and Arrow
#: calls, whatever its rows), but hold more at once. `scan --jobs 1` of the 2 GiB
#: collection (2026-12-06, the CLI): 12 / 32 / 48 MiB took 12.5 / 11.2 / 10.8 s and
#: peaked at 262 / 277 / 283 MiB, against a target of 300 MB (286 MiB).
GROUP_BYTES = 32 * 1024**2
#: Units planned per reading process at least: fewer, larger units leave a process idle
#: while another reads the last one (the samples' 77 MiB in units of 32 MiB took 1.96 s
#: with two workers, in units of 12 MiB 1.73 s).
UNITS_PER_READER = 4
#: EVTX files larger than this are split into ranges of RANGE_CHUNKS 64 KiB chunk slots
#: (12 MiB), which units read side by side (a 30 MiB log is three units, not one).
SPLIT_BYTES = 12 * 1024**2
RANGE_CHUNKS = 192


@dataclass(frozen=True)
class FileRange:
    """Chunk slots ``span`` of one EVTX file, part ``part`` of ``parts``."""

    source: Source
    span: ChunkRange
    part: int
    parts: int


@dataclass(frozen=True)
class WorkUnit:
    """Whole files read in order, or one range of a large EVTX file."""

    files: tuple[Source | MissingInput, ...] = ()
    range: FileRange | None = None

    @property
    def size_hint(self) -> int:
        return len(self.files) if self.range is None else 1


@dataclass
class UnitOutput:
    """What one unit found: reports (partial for a range), kept rows and day counts."""

    reports: list[FileReport]
    kept: list[pd.DataFrame]
    days: list[pd.DataFrame]
    records: int = 0
    part: FileRange | None = None
    #: Records left for a second read (window context), per source: computer, time, offset.
    deferred: list[tuple[Source, LocatedRows]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sigma_hits: list[pd.DataFrame] = field(default_factory=list)  # Sigma matches


def plan_units(
    items: Iterable[Source | MissingInput],
    group_bytes: int | None = None,
    range_chunks: int = RANGE_CHUNKS,
    split_bytes: int = SPLIT_BYTES,
    readers: int = 0,
) -> list[WorkUnit]:
    """Units in input order: small files grouped up to ``group_bytes``, EVTX files larger
    than ``split_bytes`` (or ``group_bytes``, if less) split into chunk ranges. Sizes come
    from the file system; bundles stay whole. Without ``group_bytes``: up to
    :data:`GROUP_BYTES` for ``readers`` processes reading side by side (at least
    :data:`UNITS_PER_READER` units each where the input allows), else ``split_bytes``."""
    sized = [(item, _size(item)) for item in items]
    if group_bytes is None:
        total = sum(size for _, size in sized)
        share = total // (UNITS_PER_READER * readers) if readers > 0 else 0
        group_bytes = min(GROUP_BYTES, max(split_bytes, share))
    units: list[WorkUnit] = []
    group: list[Source | MissingInput] = []
    group_size = 0

    def close_group() -> None:
        nonlocal group, group_size
        if group:
            units.append(WorkUnit(files=tuple(group)))
            group, group_size = [], 0

    for item, size in sized:
        if size > min(group_bytes, split_bytes) and isinstance(item, Source):
            spans = _evtx_spans(item, size, range_chunks)
            if spans:
                close_group()
                units += [
                    WorkUnit(range=FileRange(item, span, i, len(spans)))
                    for i, span in enumerate(spans)
                ]
                continue
        if group and group_size + size > group_bytes:
            close_group()
        group.append(item)
        group_size += size
    close_group()
    return units


def _size(item: Source | MissingInput) -> int:
    if isinstance(item, Source) and item.kind == "url":
        return url_size(item.path)  # read whole by one unit (never split into ranges)
    if not isinstance(item, Source) or item.kind != "file":
        return 0
    try:
        return os.stat(item.path).st_size
    except OSError:
        return 0


def _evtx_spans(source: Source, size: int, range_chunks: int) -> list[ChunkRange]:
    """Chunk ranges of a large EVTX file (none when it is not EVTX or has one range)."""
    if source.kind != "file":
        return []
    try:
        head, _size = read_head(source.path)
    except OSError:
        return []
    if sniff(head) is not LogFormat.EVTX:
        return []
    spans = chunk_ranges(size, inspect_header(head, FileReport(path="")), range_chunks)
    return spans if len(spans) > 1 else []


def read_ahead(ahead: FilesAhead, unit: WorkUnit) -> None:
    """Start finding a unit's files ahead (a range: its file, which its first part hashes)."""
    if unit.range is None:
        ahead.start(unit.files)
    elif unit.range.part == 0:
        ahead.start([unit.range.source])


def run_unit(
    unit: WorkUnit, config: ScannerConfig, options: ReadOptions, ahead: FilesAhead | None = None
) -> UnitOutput:
    """Read one unit and keep what the scan needs (any process; the files are reopened;
    ``ahead``: where they may have been read and hashed already, see :func:`read_ahead`)."""
    scanner = Scanner.from_config(config)
    if unit.range is not None:
        return _run_range(unit.range, scanner, options, ahead)
    stream = RecordStream(
        list(unit.files),
        backend=options.backend,
        batch_size=options.batch_size,
        host_map=options.host_map,
        include_recovered=options.include_recovered,
        selector=options.selector,
        tz=config.input_tz,
        catalog=scanner.renderer.catalog,
        time_budget=options.time_budget,
        bundle_limits=options.bundle_limits,
        files_ahead=ahead,
    )
    records = 0
    for batch in _gathered(stream, config.feed_rows):
        records += len(batch)
        scanner.feed(batch)
    scanner.add_skipped(stream.skipped, stream.options.host_map)
    output = UnitOutput(
        stream.reports, scanner.kept, scanner.days, records, sigma_hits=scanner.sigma_hits
    )
    output.deferred = stream.deferred
    return output


def _gathered(batches: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Small batches joined up to ``rows`` rows (fewer per-batch fixed costs)."""
    from evtxscan.records.batch import concat_frames

    pending: list[pd.DataFrame] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += len(batch)
        if count >= rows:
            yield concat_frames(pending) if len(pending) > 1 else pending[0]
            pending, count = [], 0
    if pending:
        yield concat_frames(pending) if len(pending) > 1 else pending[0]


def _read_part(
    part: FileRange, options: ReadOptions, content: Buffer, report: FileReport
) -> tuple[list[pd.DataFrame], RangeResult]:
    """The range's batches; a reader bug becomes an error of the file, as in the stream, and
    so does a range over the file's time budget (each range of a large file has the budget,
    as in a worker of the stream)."""
    span = part.span
    try:
        task = RangeTask(part.source, span, options)
        return within(options.time_budget, lambda: read_range(task, content))
    except TimeBudgetExceeded:
        report.error(
            f"time budget of {options.time_budget:g} s exceeded while reading chunks "
            f"{span.start}-{span.stop - 1}: they are not read",
            span.start,
        )
        return [], RangeResult()
    except Exception as exc:
        reason = f"internal error while reading chunks {span.start}-{span.stop - 1}"
        report.error(f"{reason}: {type(exc).__name__}: {exc}", span.start)
        return [], RangeResult()


def _run_range(
    part: FileRange, scanner: Scanner, options: ReadOptions, ahead: FilesAhead | None
) -> UnitOutput:
    report = FileReport(path=part.source.display)
    try:
        content = open_source(part.source, options.bundle_limits)
    except (OSError, ValueError, EOFError) as exc:
        report.status = FileStatus.UNREADABLE
        report.error(f"cannot open: {exc}")
        return UnitOutput([report], [], [], part=part)
    try:
        report.size = len(content)
        report.format = str(LogFormat.EVTX)
        inspect_header(bytes(content[:SNIFF_BYTES]), report if part.part == 0 else FileReport(""))
        frames, result = _read_part(part, options, content, report)
        if part.part == 0:  # hashed ahead meanwhile (the merge settles duplicates)
            found = ahead.take(part.source) if ahead is not None else None
            made = found.hash_of(content) if found is not None else None
            report.sha256 = made or sha256_of(content)
        release_pages(content)
    finally:
        if hasattr(content, "close"):
            content.close()
    records = 0
    if result.observed is not None:
        report.absorb(result.observed)
    for batch in _gathered(frames, scanner.config.feed_rows):
        if result.observed is None:
            report.observe(batch)
        records += len(batch)
        scanner.feed(batch)
    skipped = {(c, report.path, d): v for (c, _, d), v in result.skipped.items()}
    scanner.add_skipped(skipped, options.host_map)
    report.errors.extend(result.errors)
    report.chunks += result.chunks
    report.chunks_skipped += result.chunks_skipped
    output = UnitOutput(
        [report], scanner.kept, scanner.days, records, part=part, sigma_hits=scanner.sigma_hits
    )
    if result.deferred is not None:
        output.deferred = [(part.source, result.deferred)]
    return output
