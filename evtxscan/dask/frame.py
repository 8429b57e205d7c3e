"""A collection's records as one lazy ``dask.dataframe.DataFrame`` (one partition per file,
or per chunk range of a large EVTX file), typed as the record schema (``evtxscan.COLUMNS``).

Byte-identical copies are read once, as by :func:`evtxscan.read_records`: a first pass
hashes every file (tasks too, nothing is read on the driver) and each partition of a copy
is empty. Write it partitioned by host with ``ddf.to_parquet(DIR, partition_on=["host"])``
and read it back with ``dask.dataframe.read_parquet(DIR, dtype_backend="pyarrow")`` (pandas
cannot rebuild the nested ``data`` dtype from its own metadata).

A file that cannot be read (gone or unreadable by the time its partition runs, not an event
log, damaged beyond reading) gives its partitions the records that could be read, none at
worst, and a warning on the ``evtxscan.dask`` logger naming the file and the reason (on a
cluster: the worker's log, ``client.get_worker_logs()``); the frame has no integrity table,
so the other partitions go on as ``evtxscan.read_records`` goes on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
from dask.dataframe.utils import clear_known_categories

from evtxscan.messages import MessageRenderer, add_messages, load_catalog
from evtxscan.records.batch import concat_frames, empty_frame
from evtxscan.records.hosts import HostMap
from evtxscan.scanning.pipeline import HostMapOption
from evtxscan.scanning.units import RANGE_CHUNKS, WorkUnit, plan_units
from evtxscan.sources.evtx.backends import Backend
from evtxscan.sources.inputs import (
    PathLike,
    Source,
    expand_paths,
    open_source,
    release_pages,
    sha256_of,
)
from evtxscan.sources.integrity import FileReport, FileStatus, ReadError
from evtxscan.sources.stream import RecordStream
from evtxscan.sources.worker import RangeTask, ReadOptions, read_range

_LOG = logging.getLogger("evtxscan.dask")


@dataclass(frozen=True)
class FrameOptions:
    """How every partition reads (shipped with the graph)."""

    read: ReadOptions
    messages: bool
    catalogs: tuple[str, ...]
    messages_db: str | None
    tz: str


def read_records(
    paths: PathLike | Iterable[PathLike],
    *,
    backend: Backend | str = Backend.RUST,
    batch_size: int = 10_000,
    host_map: HostMapOption = None,
    include_recovered: bool = True,
    messages: bool = False,
    catalogs: Iterable[str | Path] = (),
    messages_db: str | Path | None = None,
    tz: str = "UTC",
    skip_copies: bool = True,
    range_chunks: int = RANGE_CHUNKS,
) -> dd.DataFrame:
    """Every record of ``paths`` as a Dask DataFrame (options as :func:`evtxscan.
    read_records`). ``skip_copies``: read byte-identical files once (costs a hashing pass);
    ``range_chunks``: EVTX files larger than this many 64 KiB chunks are split into
    partitions of that many chunks. Nothing is read until the frame is computed."""
    options = FrameOptions(
        read=ReadOptions(
            backend=Backend(backend),
            batch_size=batch_size,
            host_map=HostMap.from_option(host_map),
            include_recovered=include_recovered,
        ),
        messages=messages,
        catalogs=tuple(str(c) for c in catalogs),
        messages_db=None if messages_db is None else str(messages_db),
        tz=tz,
    )
    units = plan_units(expand_paths(paths), group_bytes=-1, range_chunks=range_chunks)
    copies = _copies(units) if skip_copies else dask.delayed(frozenset())
    parts = [dask.delayed(read_partition)(unit, options, copies) for unit in units]
    meta = clear_known_categories(_typed(empty_frame(), options))
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def read_partition(unit: WorkUnit, options: FrameOptions, copies: frozenset[str]) -> pd.DataFrame:
    """The records of one file or chunk range (none for a copy of an earlier file)."""
    source = unit.range.source if unit.range is not None else unit.files[0]
    if not isinstance(source, Source) or source.display in copies:
        return _typed(empty_frame(), options)
    if unit.range is not None:
        try:
            content = open_source(source, options.read.bundle_limits)
        except (OSError, ValueError, EOFError) as exc:  # e.g. gone since the frame was planned
            _LOG.warning("%s: not read: %s: %s", source.display, type(exc).__name__, exc)
            return _typed(empty_frame(), options)
        try:
            frames, result = read_range(RangeTask(source, unit.range.span, options.read), content)
        finally:
            release_pages(content)
        if result.errors:
            _warn(source.display, "damaged", result.errors)
        return _typed(concat_frames(frames), options)
    read = options.read
    stream = RecordStream(
        [source],
        backend=read.backend,
        batch_size=read.batch_size,
        host_map=read.host_map,
        include_recovered=read.include_recovered,
        tz=options.tz,
        catalog=_catalog(options.catalogs, options.messages_db)
        if options.messages or options.catalogs
        else None,
    )
    frame = stream.frame()
    for report in stream.reports:
        _warn_problems(report)
    return _typed(frame, options)


def _warn_problems(report: FileReport) -> None:
    """A file read with problems, logged: the frame itself has no integrity table."""
    if report.status in (FileStatus.DAMAGED, FileStatus.UNREADABLE):
        _warn(report.path, report.status.value, report.errors)


def _warn(path: str, status: str, errors: list[ReadError]) -> None:
    where = [
        f"{e.reason} (chunk {e.chunk})" if e.chunk is not None else e.reason for e in errors[:3]
    ]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    _LOG.warning("%s: %s: %s%s", path, status, "; ".join(where) or "no records", more)


def _typed(frame: pd.DataFrame, options: FrameOptions) -> pd.DataFrame:
    """Only categories the partition holds (no empty ``host=`` directory when written
    partitioned); messages added when asked for."""
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    if not options.messages:
        return frame
    catalog = _catalog(options.catalogs, options.messages_db)
    return add_messages(frame, MessageRenderer(catalog))


@functools.lru_cache(maxsize=2)
def _catalog(catalogs: tuple[str, ...], messages_db: str | None) -> Any:
    return load_catalog(*catalogs, messages_db=messages_db)


def _copies(units: list[WorkUnit]) -> Any:
    """A delayed set of the files byte-identical to an earlier one (input order)."""
    files: list[Source] = []
    for unit in units:
        source = unit.range.source if unit.range is not None else unit.files[0]
        if isinstance(source, Source) and (unit.range is None or unit.range.part == 0):
            files.append(source)
    hashes = [dask.delayed(_hash)(source) for source in files]
    return dask.delayed(_later_copies)([s.display for s in files], hashes)


def _hash(source: Source) -> str:
    try:
        content = open_source(source)
    except (OSError, ValueError, EOFError):
        return ""
    try:
        return sha256_of(content) if len(content) else ""
    finally:
        release_pages(content)


def _later_copies(paths: list[str], hashes: list[str]) -> frozenset[str]:
    first: dict[str, str] = {}
    copies = set()
    for path, digest in zip(paths, hashes, strict=True):
        if digest and first.setdefault(digest, path) != path:
            copies.add(path)
    return frozenset(copies)
