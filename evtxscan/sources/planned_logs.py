"""Large EVTX logs of a nightly run planned together, then each read on its own.

Small logs are planned together inside their batches (``planned_batches``, through
``FileReading._planned``). A large log (more than one chunk range) is read on its own, but
its planner's look at the newest chunk and the watermark chunk costs the same fixed price
as a small log's: a run of large grown logs is therefore planned as a group here (each
held open and read on demand, not copied), with ``plan_together``, those chunks decoded
in one batch per step (their rows handed to the reader, as a log planned alone does: the
context of new records is then decoded already), and each log is then read as before,
what its plan leaves to read within its own time budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from evtxscan.sources import small_evtx
from evtxscan.sources.detect import SNIFF_BYTES, LogFormat
from evtxscan.sources.evtx.reader import chunk_ranges, inspect_header
from evtxscan.sources.files_ahead import open_found
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import MissingInput, Source
from evtxscan.sources.integrity import FileReport, FileStatus
from evtxscan.sources.planned_batches import plan_together
from evtxscan.sources.small_evtx import SmallFile
from evtxscan.sources.worker import CHUNKS_PER_TASK, RangePool

if TYPE_CHECKING:
    from evtxscan.sources.file_reading import FileReading

#: Large logs planned together, at most (each one's file held open meanwhile).
GROUP_FILES = 32


def large_evtx_group(items: Sequence[Source | MissingInput], start: int) -> list[Source]:
    """The large EVTX files from ``items[start]`` on, consecutive, at most
    :data:`GROUP_FILES` (fewer than two: not worth a group)."""
    group: list[Source] = []
    for item in items[start : start + GROUP_FILES]:
        if not _large_evtx(item):
            break
        assert isinstance(item, Source)
        group.append(item)
    return group if len(group) > 1 else []


def _large_evtx(item: Source | MissingInput) -> bool:
    size = small_evtx.evtx_file_size(item)
    return size is not None and size > small_evtx.SMALL_FILE_BYTES


def read_planned_logs(
    reading: FileReading, group: list[Source], pool: RangePool | None = None
) -> Iterator[pd.DataFrame]:
    """Plan the group's logs together, then read each (in input order, reports too; what a
    plan leaves to read by the worker processes of ``pool``, as for a log planned alone)."""
    assert reading.planner is not None
    reports = [FileReport(path=source.display) for source in group]
    files: list[SmallFile] = []
    try:
        for source, report in zip(group, reports, strict=True):
            found = _opened(reading, source, report)
            if found is not None:
                files.append(found)
        plans = plan_together(reading.planner, files, reading.options, decode=True)
        for file, plan in zip(files, plans, strict=True):
            if plan is None:  # planned again, on its own, with a report from scratch
                yield from reading._read_alone(file.source, file.report, reports, file.data)
            else:
                plan = dataclasses.replace(plan, first_offset=file.first_offset)
                yield from reading._guarded(file.source, file.data, file.report, plan, pool)
    finally:
        for file in files:
            if isinstance(file.data, FileView):
                file.data.close()
    for report in reports:
        reading._finish(report)


def _opened(reading: FileReading, source: Source, report: FileReport) -> SmallFile | None:
    """The log, open, hashed and its header inspected; None when it is not to be read
    (cannot be opened, read before, or a reader bug: the report says so)."""
    try:
        content, sha256 = open_found(reading.ahead, source, report)
    except (OSError, ValueError, EOFError) as exc:
        report.status = FileStatus.UNREADABLE
        report.error(f"cannot open: {exc}")
        return None
    try:
        report.size, report.format = len(content), str(LogFormat.EVTX)
        if not reading._duplicate(report, content, sha256):
            first = inspect_header(bytes(content[:SNIFF_BYTES]), report)
            spans = chunk_ranges(len(content), first, CHUNKS_PER_TASK)
            return SmallFile(source, report, content, spans, first)
    except Exception as exc:  # a reader bug must not end the group: record it
        report.error(f"internal error while reading: {type(exc).__name__}: {exc}")
        report.status = FileStatus.UNREADABLE
    if isinstance(content, FileView):
        content.close()
    return None
