"""The hook of incremental reading (:mod:`evtxscan.nightly`): a planner that chooses which
chunk slots of an EVTX file a :class:`~evtxscan.sources.stream.RecordStream` reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.sources.inputs import Buffer, Source
from evtxscan.sources.integrity import FileReport

RangeReader = Callable[[ChunkRange], tuple[list[pd.DataFrame], RangeResult]]


@dataclass(frozen=True)
class ChunkPlan:
    """Which chunk slots of one EVTX file to read, and the ranges a planner already read."""

    spans: tuple[ChunkRange, ...]
    decoded: tuple[tuple[list[pd.DataFrame], RangeResult], ...] = ()


class ChunkPlanner(Protocol):
    """Chooses the chunk slots of an EVTX file to read (e.g. only chunks not read before)."""

    def plan(
        self,
        source: Source,
        content: Buffer,
        first_offset: int,
        report: FileReport,
        read: RangeReader,
    ) -> ChunkPlan: ...
