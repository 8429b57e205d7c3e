"""Many small EVTX files read as one batch: one index and one decode for all of them.

A collection from hundreds of hosts is mostly small logs (a few chunks each). Read one by
one, each pays the fixed costs of an index, a decode and a typed frame, which then cost
more than its records. Consecutive small EVTX files of the input are therefore gathered
(up to :data:`BATCH_BYTES`) and read by
:func:`~evtxscan.sources.evtx.selective.read_ranges_decoded` as one batch; each still gets
its own integrity report, counts and located records, and its batches come out in input
order, so results are the same as file by file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, sniff
from evtxscan.sources.evtx.layout import CHUNK_SIZE, FILE_HEADER_SIZE
from evtxscan.sources.evtx.reader import ChunkRange, chunk_ranges, inspect_header
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, MissingInput, Source, open_source
from evtxscan.sources.integrity import FileReport, FileStatus
from evtxscan.sources.worker import CHUNKS_PER_TASK

#: A file this size or smaller is one chunk range: it can join a batch.
SMALL_FILE_BYTES = FILE_HEADER_SIZE + CHUNKS_PER_TASK * CHUNK_SIZE
#: Bytes of small files read together (the batch's copy of their chunks is this big).
BATCH_BYTES = 16 << 20


def small_evtx_size(item: Source | MissingInput) -> int | None:
    """The size of a plain file that is a small EVTX log, else None (looked up cheaply:
    the file's first bytes and its size)."""
    if not isinstance(item, Source) or item.kind != "file":
        return None
    try:
        with open(item.path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    if sniff(head) is not LogFormat.EVTX or size > SMALL_FILE_BYTES:
        return None
    return size


def small_evtx_run(items: Sequence[Source | MissingInput], start: int) -> list[Source]:
    """The small EVTX files from ``items[start]`` on, consecutive, up to
    :data:`BATCH_BYTES` (fewer than two: not worth a batch, read them alone)."""
    run: list[Source] = []
    total = 0
    for item in items[start:]:
        size = small_evtx_size(item)
        if size is None or (run and total + size > BATCH_BYTES):
            break
        assert isinstance(item, Source)
        run.append(item)
        total += size
    return run if len(run) > 1 else []


#: A file of a batch, opened: its source, report, bytes and chunk ranges.
SmallFile = tuple[Source, FileReport, bytes, list[ChunkRange]]


def open_small_files(
    run: list[Source], duplicate: Callable[[FileReport, Buffer], bool]
) -> tuple[list[FileReport], list[SmallFile]]:
    """A report for every file of ``run`` and the files to read (not unreadable, not a
    ``duplicate`` of one read before), their contents copied so none stays open."""
    reports = [FileReport(path=source.display) for source in run]
    files: list[SmallFile] = []
    for source, report in zip(run, reports, strict=True):
        try:
            content = open_source(source)
        except (OSError, ValueError, EOFError) as exc:
            report.status = FileStatus.UNREADABLE
            report.error(f"cannot open: {exc}")
            continue
        try:
            report.size, report.format = len(content), str(LogFormat.EVTX)
            if not duplicate(report, content):
                first = inspect_header(bytes(content[:SNIFF_BYTES]), report)
                spans = chunk_ranges(len(content), first, CHUNKS_PER_TASK)
                files.append((source, report, bytes(content[: len(content)]), spans))
        finally:
            if isinstance(content, FileView):
                content.close()
    return reports, files
