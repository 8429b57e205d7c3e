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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pandas as pd

from evtxscan.sources.budget import TimeBudgetExceeded, within
from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, read_head, sniff
from evtxscan.sources.evtx.decode import DecodeOptions
from evtxscan.sources.evtx.layout import CHUNK_SIZE, FILE_HEADER_SIZE
from evtxscan.sources.evtx.packed import PackedFiles, packed_capacity
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, chunk_ranges, inspect_header
from evtxscan.sources.evtx.selective import read_ranges_decoded
from evtxscan.sources.files_ahead import FilesAhead, open_found
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, MissingInput, Source
from evtxscan.sources.integrity import FileReport, FileStatus
from evtxscan.sources.worker import CHUNKS_PER_TASK, ReadOptions

#: A file this size or smaller is one chunk range: it can join a batch.
SMALL_FILE_BYTES = FILE_HEADER_SIZE + CHUNKS_PER_TASK * CHUNK_SIZE
#: Bytes of small files read together, into one buffer (``evtx/packed.py``): held once, as
#: a scan's unit is at most this big, one batch per unit. coll200d's `scan --jobs 1` took
#: 10% less time than at 16 MiB (when a batch's bytes were also copied: 16 MiB held twice).
BATCH_BYTES = 32 << 20
#: The same when every record is decoded (``read_records``, ``dump``): then the batch's
#: typed rows, not its bytes, are the peak of memory, so batches are smaller.
DECODE_ALL_BATCH_BYTES = 4 << 20
#: The same, read by worker processes: a worker holds only its batch (the main process
#: writes), so batches can be larger and share more fixed costs. coll200d's `dump` took 7.4
#: s at 4 MiB and 5.9 s at 8 MiB, its largest process 198 and 222 MiB.
WORKER_DECODE_ALL_BATCH_BYTES = 8 << 20
#: The same when a planner that reads chunks (a nightly run with watermarks) plans them,
#: counting only logs not read before (:func:`open_in_batches`): most of each log is then
#: skipped, and a batch's planning reads and the reading of what it leaves cost a fixed few
#: milliseconds each whatever they hold. Each MiB costs about 5 MiB at a night's peak: a
#: night over the 2 GiB collection that is mostly new logs peaked at 240-263 MB at 10 MiB,
#: 273-290 MB at 16 and 328-348 MB at 24 (over the 300 MB target); coll200d grown by its
#: logs' newest chunks of records (5% new records) took 5.3-6.2, 4.8-5.2, 3.6-4.8 s.
PLANNED_BATCH_BYTES = 16 << 20
#: The consecutive small logs a nightly run with watermarks takes as one run: opened slice by
#: slice into batches of up to ``PLANNED_BATCH_BYTES`` of logs not read before
#: (:func:`open_in_batches`), as logs read before are dropped once hashed.
PLANNED_RUN_BYTES = 256 << 20
#: What is left to read of a planned batch is read in parts of at most these chunk bytes
#: (a night with many new logs, read whole, holds no more decoded rows than at 10 MiB).
PLANNED_READ_BYTES = 10 << 20


def small_evtx_size(item: Source | MissingInput) -> int | None:
    """The size of a plain file that is a small EVTX log, else None (looked up cheaply:
    the file's first bytes and its size)."""
    size = evtx_file_size(item)
    return None if size is None or size > SMALL_FILE_BYTES else size


def evtx_file_size(item: Source | MissingInput) -> int | None:
    """The size of a plain file that is an EVTX log, else None (its first bytes sniffed)."""
    if not isinstance(item, Source) or item.kind != "file":
        return None
    try:
        head, size = read_head(item.path)
    except OSError:
        return None
    return size if sniff(head) is LogFormat.EVTX else None


def small_evtx_run(
    items: Sequence[Source | MissingInput], start: int, limit: int | None = None
) -> list[Source]:
    """The small EVTX files from ``items[start]`` on, consecutive, up to ``limit`` bytes
    (default :data:`BATCH_BYTES`; fewer than two: not worth a batch, read them alone)."""
    limit = BATCH_BYTES if limit is None else limit
    run: list[Source] = []
    total = 0
    for item in items[start:]:
        size = small_evtx_size(item)
        if size is None or (run and total + size > limit):
            break
        assert isinstance(item, Source)
        run.append(item)
        total += size
    return run if len(run) > 1 else []


@dataclass(frozen=True)
class SmallFile:
    """A small EVTX file of a batch: its contents (read into the batch's buffer, ``packed``)
    and chunk ranges (a large log planned with others holds its open file instead:
    ``planned_logs``)."""

    source: Source
    report: FileReport
    data: Buffer
    spans: list[ChunkRange]
    first_offset: int  # where its chunks start (its header inspected)
    packed: PackedFiles | None = None  # the buffer ``data`` views, if it was read into one


def open_small_files(
    run: Sequence[Source],
    reports: Sequence[FileReport],
    duplicate: Callable[[FileReport, Buffer, str | None], bool],
    ahead: FilesAhead | None = None,
) -> list[SmallFile]:
    """The files of ``run`` that open and are not ``duplicate``; each report says what it
    found (size, format, header; or why the file is not read). ``ahead``: where the files
    may have been read and hashed already (:mod:`~evtxscan.sources.files_ahead`)."""
    files = []
    packed = PackedFiles(packed_capacity([_size_now(source) for source in run]))
    for source, report in zip(run, reports, strict=True):
        try:
            content, sha256 = open_found(ahead, source, report)
        except (OSError, ValueError, EOFError) as exc:
            report.status = FileStatus.UNREADABLE
            report.error(f"cannot open: {exc}")
            continue
        try:
            report.size, report.format = len(content), str(LogFormat.EVTX)
            if not duplicate(report, content, sha256):
                data: Buffer | None = packed.add(content)
                mine = packed if data is not None else None
                if data is None:  # grown since its size was taken: a buffer of its own
                    data = content if isinstance(content, bytes) else content[:]
                first = inspect_header(bytes(data[:SNIFF_BYTES]), report)
                spans = chunk_ranges(len(content), first, CHUNKS_PER_TASK)
                files.append(SmallFile(source, report, data, spans, first, mine))
        finally:
            if isinstance(content, FileView):
                content.close()
    return files


def open_in_batches(
    run: Sequence[Source],
    reports: Sequence[FileReport],
    duplicate: Callable[[FileReport, Buffer, str | None], bool],
    ahead: FilesAhead | None,
    limit: int,
) -> Iterator[list[SmallFile]]:
    """The files of ``run`` that open and are not ``duplicate`` (see
    :func:`open_small_files`), in batches holding at most ``limit`` bytes of them (or one
    larger file): slices of the run are opened while there is room, so a batch of a nightly
    run, where most logs were read before, gathers the new ones of many slices."""
    sizes = [_size_now(source) for source in run]
    held: list[SmallFile] = []
    held_bytes = start = 0
    while start < len(run):
        stop, total = start, 0
        while stop < len(run) and total + sizes[stop] <= limit - held_bytes:
            total += sizes[stop]
            stop += 1
        if stop == start:  # no room for the next file
            if held:
                yield held
                held, held_bytes = [], 0
                continue
            stop += 1  # a file over the limit: a batch of its own
        found = open_small_files(run[start:stop], reports[start:stop], duplicate, ahead)
        held += found
        held_bytes += sum(len(file.data) for file in found)
        start = stop
    if held:
        yield held


def _size_now(source: Source) -> int:
    """The file's size (0 if it cannot be read: its open says why)."""
    try:
        return os.path.getsize(source.path)
    except OSError:
        return 0


def decode_small_files(
    files: Sequence[SmallFile], results: Sequence[RangeResult], options: ReadOptions
) -> list[list[pd.DataFrame]] | None:
    """The decoded batches of every file (as the first file's, in input order: see
    ``joined`` in :func:`read_ranges_decoded`; each file's counts in its result), the batch
    read within one file's time budget; None when the files must be read one by one instead
    (a reader bug, a batch over the budget, or values read as missing, counted per file)."""
    batch = [
        (file.source.display, file.data, file.spans, result)
        for file, result in zip(files, results, strict=True)
    ]
    decode = DecodeOptions(options.host_map, options.include_recovered)
    packed = next((file.packed for file in files if file.packed is not None), None)
    try:
        return within(
            options.time_budget,
            lambda: read_ranges_decoded(
                batch, options.selector, decode, options.batch_size, joined=True, packed=packed
            ),
        )
    except (Exception, TimeBudgetExceeded):  # read alone, each file gets its own error row
        return None
