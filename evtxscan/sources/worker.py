"""One unit of reading work (a chunk range of one source), runnable in a worker process.

Tasks carry only picklable descriptions (the source, the chunk range, the options); a worker
reopens the source itself, so nothing large crosses process boundaries except the result
batches.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd

from evtxscan.records.hosts import HostMap
from evtxscan.sources.evtx.backends import Backend, backend_function
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, read_chunk_range
from evtxscan.sources.inputs import Source, open_source, release_pages
from evtxscan.sources.probe import RecordProbe


@dataclass(frozen=True)
class ReadOptions:
    """How records are read; the same for every task of a stream."""

    backend: Backend = Backend.RUST
    batch_size: int = 10_000
    host_map: HostMap = field(default_factory=HostMap)
    include_recovered: bool = True
    probe: RecordProbe | None = None  # a scan's probe: skip records it cannot use


@dataclass(frozen=True)
class RangeTask:
    """Read chunk slots ``span`` of ``source``."""

    source: Source
    span: ChunkRange
    options: ReadOptions


def read_range(
    task: RangeTask, content: bytes | mmap.mmap
) -> tuple[list[pd.DataFrame], RangeResult]:
    """Run a task on already-open content."""
    result = RangeResult()
    probe = task.options.probe
    frames = list(
        read_chunk_range(
            content,  # type: ignore[arg-type]
            task.span,
            backend_function(task.options.backend, probe),
            source=task.source.display,
            host_map=task.options.host_map,
            batch_size=task.options.batch_size,
            include_recovered=task.options.include_recovered,
            result=result,
        )
    )
    return frames, result


@lru_cache(maxsize=2)
def _cached_content(source: Source) -> bytes | mmap.mmap:
    return open_source(source)


def read_range_in_worker(task: RangeTask) -> tuple[list[pd.DataFrame], RangeResult]:
    """Entry point in a worker process: open (or reuse) the source, then read the range."""
    content = _cached_content(task.source)
    try:
        return read_range(task, content)
    finally:
        release_pages(content)
