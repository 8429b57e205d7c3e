"""Context decoded where it is needed: the second, targeted read of a scan.

A scan decodes symptom candidates, notable events and errors as it reads; context events
(service state changes, shutdown notices, warnings), most of a System log, are only located
from the record index (host, time, file offset). Once correlation knows each host's symptom
times, the context records within the timeline window of one are read again by offset and
decoded (:func:`read_deferred`, runnable in any process), so a scan decodes context in
proportion to its findings, not to the collection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.correlation.sessions import server_hosts
from evtxscan.messages.catalog import MessageCatalog
from evtxscan.scanning.read_plans import DeferredRead
from evtxscan.scanning.scanner import Scanner, ScannerConfig
from evtxscan.sources.budget import TimeBudgetExceeded, within
from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, sniff
from evtxscan.sources.evtx.backend_kind import Backend
from evtxscan.sources.evtx.backends import backend_function
from evtxscan.sources.evtx.decode import DecodeOptions, decode_offsets
from evtxscan.sources.evtx.file_slices import file_numbers, pair_keys
from evtxscan.sources.evtx.layout import CHUNK_SIZE
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, inspect_header
from evtxscan.sources.evtx.selective import read_range_selected
from evtxscan.sources.evtx.selectors import OffsetSelector
from evtxscan.sources.inputs import Buffer, open_source
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.whole_files import WHOLE_FORMATS, read_whole_at
from evtxscan.sources.worker import ReadOptions


def read_again(
    reads: list[DeferredRead], options: ReadOptions, config: ScannerConfig
) -> Iterator[pd.DataFrame]:
    """The records of ``reads`` decoded, as a scan keeps rows (frames, in read order, each
    as soon as its group is decoded: a caller that needs no join holds one at a time).

    With the default backend, the chunk runs of several files are decoded together, up to
    :data:`GROUP_CHUNKS` chunks at a time (a second read touches few records of many files)."""
    context = Scanner(config)

    def kept(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            context.keep(frame)
            yield from context.kept
            context.kept = []

    again = WholeReads(config.input_tz, context.renderer.catalog)
    if Backend(options.backend) is not Backend.RUST:
        for task in reads:
            yield from kept(read_deferred(task, options, again))
        return
    batch = _Batch(DecodeOptions(options.host_map, options.include_recovered), options.time_budget)
    for task in reads:
        try:
            content = open_source(task.source, options.bundle_limits)
        except (OSError, ValueError, EOFError):
            continue  # gone since the first read: the first read's integrity row stands
        fmt = sniff(bytes(content[:SNIFF_BYTES]))
        if fmt is not LogFormat.EVTX:
            yield from kept(again.read(task, content, fmt, options))
            continue
        batch.opened.append(content)
        for group in _groups(_spans(content, task.offsets)):
            if batch.chunks and (
                batch.chunks + _count(group) > GROUP_CHUNKS or batch.holds(task.source.display)
            ):
                yield from kept(batch.flush(keep=content))
            batch.add(task, content, group)
    yield from kept(batch.flush())


def server_role_hosts(
    reads: list[DeferredRead],
    options: ReadOptions,
    config: ScannerConfig,
    relabel: Callable[[pd.Series], pd.Series],
) -> set[str]:
    """The hosts (named by ``relabel``: renames joined) whose records in ``reads`` show a
    server role, decoded and judged frame by frame: a role needs no other row, so nothing
    is joined, and thousands of service changes cost one frame of memory at a time."""
    found: set[str] = set()
    for frame in read_again(reads, options, config):
        named = frame.assign(host=relabel(frame["host"]))
        found |= server_hosts(named, named["provider_key"])
    return found


class _Batch:
    """Chunk runs of several files decoded together; the files stay open until decoded."""

    def __init__(self, options: DecodeOptions, time_budget: float | None) -> None:
        self.options = options
        self.time_budget = time_budget  # per batch, as for one file
        self.items: list[tuple[str, Buffer, list[ChunkRange]]] = []
        self.offsets: list[tuple[int, ...]] = []
        self.opened: list[Buffer] = []
        self.chunks = 0

    def holds(self, name: str) -> bool:
        return any(item[0] == name for item in self.items)

    def add(self, task: DeferredRead, content: Buffer, group: list[ChunkRange]) -> None:
        self.items.append((task.source.display, content, group))
        self.offsets.append(task.offsets)
        self.chunks += _count(group)

    def _decoded(self) -> pd.DataFrame:
        """The batch's wanted records (and, from chunks left to the renderer, others)."""
        return decode_offsets(self.items, self.offsets, self.options)

    def _wanted(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows of ``frame`` at an offset wanted of their own file (a chunk rendered
        whole gives its other records too); file names are distinct within a batch."""
        offsets = frame["offset"].to_numpy(dtype=np.int64, na_value=-1)
        wanted = [pair_keys(np.full(len(o), n), np.array(o, dtype=np.int64))
                  for n, o in enumerate(self.offsets)]  # fmt: skip
        return np.isin(pair_keys(file_numbers(frame, self.items), offsets), np.concatenate(wanted))

    def flush(self, keep: Buffer | None = None) -> list[pd.DataFrame]:
        """Decode the gathered runs; close the files, but ``keep`` (still being added)."""
        try:
            frames = [within(self.time_budget, self._decoded)] if self.items else []
        except TimeBudgetExceeded:  # hostile files: their context costs a budget at most
            frames = []
        found = []
        for frame in frames:
            wanted = frame[self._wanted(frame)]
            if not wanted.empty:
                found.append(wanted.reset_index(drop=True))
        for content in self.opened:
            if content is not keep and hasattr(content, "close"):
                content.close()
        self.opened = [keep] if keep is not None else []
        self.items, self.offsets, self.chunks = [], [], 0
        return found


def _spans(content: Buffer, offsets: tuple[int, ...]) -> list[ChunkRange]:
    """The runs of chunks holding ``offsets``."""
    first = inspect_header(bytes(content[:SNIFF_BYTES]), FileReport(path=""))
    slots = np.unique((np.array(offsets, dtype=np.int64) - first) // CHUNK_SIZE)
    breaks = np.flatnonzero(np.diff(slots) != 1) + 1
    return [ChunkRange(first, int(r[0]), int(r[-1]) + 1) for r in np.split(slots, breaks)]


def _count(group: list[ChunkRange]) -> int:
    return sum(span.stop - span.start for span in group)


def read_deferred(
    task: DeferredRead, options: ReadOptions, whole: WholeReads | None = None
) -> list[pd.DataFrame]:
    """Decode the records at ``task.offsets`` (any process; the source is reopened;
    ``whole``: how logs read as one piece are read again, default: UTC, no catalog)."""
    try:
        content = open_source(task.source, options.bundle_limits)
    except (OSError, ValueError, EOFError):
        return []  # gone since the first read: the first read's integrity row stands
    fmt = sniff(bytes(content[:SNIFF_BYTES]))
    if fmt is not LogFormat.EVTX:
        return (whole or WholeReads()).read(task, content, fmt, options)
    frames: list[pd.DataFrame] = []
    _bounded(content, options, lambda: _read_offsets(task, content, options, frames))
    return frames


def _bounded(content: Buffer, options: ReadOptions, work: Callable[[], None]) -> None:
    """``work`` within the time budget of a file (a hostile file's context costs that at
    most; what it read by then stands), ``content`` closed after."""
    try:
        within(options.time_budget, work)
    except TimeBudgetExceeded:
        pass
    finally:
        if hasattr(content, "close"):
            content.close()


@dataclass(frozen=True)
class WholeReads:
    """How a second read reads a log read as one piece (.evt, XML and text exports) again:
    with the first read's time zone of text exports and message catalog."""

    tz: str = "UTC"
    catalog: MessageCatalog | None = None

    def read(
        self, task: DeferredRead, content: Buffer, fmt: LogFormat, options: ReadOptions
    ) -> list[pd.DataFrame]:
        """The records at ``task.offsets`` (none if the file is no longer such a log), within
        the time budget of a file; ``content`` is closed after."""
        frames: list[pd.DataFrame] = []

        def read() -> None:
            records = read_whole_at(
                fmt,
                content,
                task.offsets,
                source=task.source.display,
                host_map=options.host_map,
                batch_size=options.batch_size,
                include_recovered=options.include_recovered,
                tz=self.tz,
                catalog=self.catalog,
            )
            frames.extend(records)

        if fmt in WHOLE_FORMATS:  # (else changed since the first read: nothing to read)
            _bounded(content, options, read)
        elif hasattr(content, "close"):
            content.close()
        return frames


def _read_offsets(
    task: DeferredRead, content: Buffer, options: ReadOptions, frames: list[pd.DataFrame]
) -> None:
    """Decode the records at ``task.offsets`` of ``content`` into ``frames``."""
    offsets = np.array(task.offsets, dtype=np.int64)
    selector = OffsetSelector(task.offsets)
    for span in _spans(content, task.offsets):
        for frame in read_range_selected(
            content,  # type: ignore[arg-type]
            span,
            backend_function(options.backend),
            selector,
            source=task.source.display,
            host_map=options.host_map,
            batch_size=options.batch_size,
            include_recovered=options.include_recovered,
            result=RangeResult(),
        ):
            wanted = frame[frame["offset"].isin(offsets).to_numpy()]
            if not wanted.empty:
                frames.append(wanted.reset_index(drop=True))


#: Chunks decoded together by a second read (their copy is at most 4 MiB; the index of a
#: group's records and its decoding temporaries grow with it: 256 chunks cost ~30 MB more
#: peak memory on the 2 GiB collection, for no speed).
GROUP_CHUNKS = 64


def _groups(spans: list[ChunkRange]) -> list[list[ChunkRange]]:
    """Runs of chunks gathered into groups of at most :data:`GROUP_CHUNKS` chunks (a run
    longer than that is a group of its own)."""
    groups: list[list[ChunkRange]] = [[]]
    count = 0
    for span in spans:
        size = span.stop - span.start
        if groups[-1] and count + size > GROUP_CHUNKS:
            groups.append([])
            count = 0
        groups[-1].append(span)
        count += size
    return [group for group in groups if group]
