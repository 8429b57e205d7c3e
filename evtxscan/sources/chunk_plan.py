"""The hook for incremental reading (evtxscan.nightly): a planner picks an EVTX file's chunks
to read, and may read some ranges itself; of logs read whole, it admits the records to take in."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.sources.evtx.selectors import Admission
from evtxscan.sources.inputs import Buffer, Source
from evtxscan.sources.integrity import FileReport

Decoded = tuple[list[pd.DataFrame], RangeResult]
RangeReader = Callable[[ChunkRange], Decoded]


@dataclass(frozen=True)
class MarkColumns:
    """The columns a planner decides from, of a frame of records, as numpy arrays: made once
    per batch of files (deciding each log from its own pandas slices cost milliseconds)."""

    frame: pd.DataFrame  # the records (exact values of single rows: ``frame.iloc``)
    host: np.ndarray  # object: str, or None when absent
    channel: np.ndarray  # object: str, or None
    record_id: np.ndarray  # uint64 EventRecordID (0 when absent)
    has_record_id: np.ndarray  # bool
    record_number: np.ndarray  # int64
    recovered: np.ndarray  # bool

    @classmethod
    def of(cls, frame: pd.DataFrame) -> MarkColumns:
        ids = frame["event_record_id"]
        return cls(
            frame=frame,
            host=_texts(frame["host"]),
            channel=_texts(frame["channel"]),
            record_id=ids.fillna(0).to_numpy(dtype=np.uint64),
            has_record_id=ids.notna().to_numpy(dtype=bool),
            record_number=frame["record_number"].fillna(-1).to_numpy(dtype=np.int64),
            recovered=frame["recovered"].to_numpy(dtype=bool),
        )


@dataclass(frozen=True)
class Marks:
    """The System columns of every record of some chunk ranges, read from the index alone:
    what a planner needs to decide (the ranges are then read as any others, by the reader).
    ``rows``: where the ranges' records are in ``columns`` (a batch of several files')."""

    columns: MarkColumns
    rows: slice | np.ndarray


def _texts(column: pd.Series) -> np.ndarray:
    """A text column as an object array of str, None where absent."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        table = np.array([*column.cat.categories.astype(str), None], dtype=object)
        return np.asarray(table[column.cat.codes.to_numpy()])
    return np.asarray(column.astype(object).where(column.notna(), None).to_numpy(dtype=object))


#: A step applied to every batch as it leaves the stream (e.g. adding rendered messages).
BatchTransform = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class ChunkPlan:
    """Which chunk slots of one EVTX file to read, the ranges a planner already read (every
    record decoded), and which records of the others to take in at all (``admission``: from
    index columns; None: all)."""

    spans: tuple[ChunkRange, ...]
    decoded: tuple[tuple[list[pd.DataFrame], RangeResult], ...] = ()
    admission: Admission | None = None
    #: Where the file's chunks start, when its header was inspected before planning.
    first_offset: int | None = None


#: A plan made in steps: each step yields the chunk ranges the planner wants to see and is
#: sent their outputs: decoded (every record; any number of outputs together covering the
#: ranges; the plan hands them to the reader) or one :class:`Marks` (the plan leaves those
#: ranges to the reader). An empty step means the plan is decided, and the next one
#: finishes it, returning the plan. Several files' steps can so be read in one batch (see
#: ``planned_batches``).
PlanSteps = Generator[tuple[ChunkRange, ...], list[Decoded] | list[Marks], ChunkPlan]


def run_plan(steps: PlanSteps, read: RangeReader) -> ChunkPlan:
    """Make a plan on its own: each range it asks for read with ``read``."""
    try:
        wanted = next(steps)
        while True:
            wanted = steps.send([read(span) for span in wanted])
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def no_reads(span: ChunkRange) -> Decoded:
    """The range reader of a planner that said it reads no chunks."""
    raise RuntimeError(f"a planner that reads no chunks asked for chunks {span.start}-{span.stop}")


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

    def planning(
        self, source: Source, content: Buffer, first_offset: int, report: FileReport
    ) -> PlanSteps:
        """:meth:`plan` in steps (see :data:`PlanSteps`)."""
        ...

    def reads_chunks(self) -> bool:
        """Whether :meth:`plan` may read chunks itself (then each file is planned on its own,
        within its time budget); else small files may be planned and read in batches."""
        ...

    def admission(self, source: Source) -> Admission:
        """Which records of a log read whole (.evt, XML or text export) to take in: chosen
        from its rows' System columns as an EVTX plan's ``admission`` chooses from the
        index; what it admits and the reader does not pass on comes back to :meth:`absorb`."""
        ...

    def absorb(self, summary: object) -> None:
        """Take what a range's ``admission`` summarized of the records it admitted without
        decoding them (``RangeResult.admitted``)."""
        ...
