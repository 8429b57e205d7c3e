"""Chunk plans of many small EVTX logs made together, their planners' own reads batched.

A nightly run's planner looks at a little of each grown log before it decides what to
skip: the newest chunk, then the one holding the watermark record and a few new ones. Made
one log at a time, each look pays the index's and decoder's fixed costs (about 6 ms), twice
per log, and the chunks left to read are then read log by log: a night over hundreds of
grown logs cost most of a full scan. Here the plans of a batch of small logs advance side
by side (:data:`~evtxscan.sources.chunk_plan.PlanSteps`): each step's ranges of every log
are indexed in one batch and given to the planners as index columns only
(:class:`~evtxscan.sources.chunk_plan.Marks`: the System columns the decoded rows would
have, converted to numpy once per batch), and those ranges are left to the reader, which
reads what the plans leave in batched index-first reads (:func:`planned_runs`). The plans
finish in input order, so notes, resets and counts are those of plans made log by log.

A log whose ranges hold records the index leaves to the renderer, whose planner fails, or
whose batch cannot be read (a reader bug, the time budget) gets no plan here (None): it is
planned again on its own, its ranges decoded, where any error is reported as for any log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa

from evtxscan.records.schema import DATA_TYPE
from evtxscan.sources.budget import TimeBudgetExceeded, within
from evtxscan.sources.chunk_plan import (
    ChunkPlan,
    ChunkPlanner,
    Decoded,
    MarkColumns,
    Marks,
    PlanSteps,
)
from evtxscan.sources.evtx.decode import DecodeOptions, index_ranges
from evtxscan.sources.evtx.file_slices import rows_by_number
from evtxscan.sources.evtx.frames import index_frame
from evtxscan.sources.evtx.layout import CHUNK_SIZE
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.sources.evtx.selective import read_ranges_decoded
from evtxscan.sources.inputs import Buffer
from evtxscan.sources.small_evtx import PLANNED_READ_BYTES, SmallFile
from evtxscan.sources.worker import ReadOptions


def plan_together(
    planner: ChunkPlanner, files: Sequence[SmallFile], options: ReadOptions, decode: bool = False
) -> list[ChunkPlan | None]:
    """Each file's plan (None: plan it on its own), the planner's reads batched per step:
    seen as index columns (:class:`Marks`), or ``decode``: every record decoded (large logs:
    their rows are handed to the reader, which then reads the rest of each log on its own,
    and decodes no context of new records later)."""
    read = _decoded_together if decode else _marks_together
    steps: list[PlanSteps | None] = []
    wanted: list[tuple[ChunkRange, ...]] = []
    for file in files:
        step = planner.planning(file.source, file.data, file.first_offset, file.report)
        first = _advance(step, None)
        steps.append(step if first is not None else None)
        wanted.append(first or ())
    while asking := [i for i, step in enumerate(steps) if step is not None and wanted[i]]:
        outputs = read([files[i] for i in asking], [wanted[i] for i in asking], options)
        for at, i in enumerate(asking):
            asked = steps[i]
            assert asked is not None
            seen = None if outputs is None else outputs[at]
            found = None if seen is None else _advance(asked, seen)
            if found is None:
                asked.close()
                steps[i] = None
            wanted[i] = found or ()
    return [None if step is None else _finish(step) for step in steps]


def _advance(
    step: PlanSteps, outputs: list[Decoded] | list[Marks] | None
) -> tuple[ChunkRange, ...] | None:
    """The step's next request (``()``: decided), or None when its planner failed."""
    try:
        return next(step) if outputs is None else step.send(outputs)
    except Exception:  # planned again on its own, where the error is reported
        return None


def _finish(step: PlanSteps) -> ChunkPlan | None:
    """The decided plan, its effects applied (the steps are finished in input order)."""
    try:
        step.send([])
    except StopIteration as done:
        plan: ChunkPlan = done.value
        return plan
    except Exception:  # as in _advance
        return None
    step.close()  # asked for more after it was decided: planned again on its own
    return None


def _marks_together(
    files: list[SmallFile], wanted: list[tuple[ChunkRange, ...]], options: ReadOptions
) -> list[list[Marks] | None] | None:
    """The wanted ranges of each file indexed in one batch (within one file's time budget):
    each file's records as :class:`Marks`, read from the index alone (the reader reads those
    ranges again, as any others: what is new is decoded then). None for a file whose ranges
    the index does not read alone (records left to the renderer: its planner then decodes
    them, planned on its own); None for all when the batch fails."""
    items = _items(files, wanted)
    try:
        found = within(options.time_budget, lambda: index_ranges(items, options.include_recovered))
        index = found.index
        names = [item[0] for item in items]
        data = pa.nulls(len(index), DATA_TYPE)
        binary = pa.nulls(len(index), pa.string())
        frame = index_frame(index, data, binary, source_files=names, host_map=options.host_map)
    except (Exception, TimeBudgetExceeded):  # each file planned on its own
        return None
    columns = MarkColumns.of(frame)  # once for the batch: each file's marks are its rows
    out: list[list[Marks] | None] = []
    for rows in rows_by_number(index.source, len(items)):  # decoded, each would be its row
        out.append(None if index.fallback[rows].any() else [Marks(columns, rows)])
    return out


def _decoded_together(
    files: list[SmallFile], wanted: list[tuple[ChunkRange, ...]], options: ReadOptions
) -> list[list[Decoded] | None] | None:
    """Every record of the wanted ranges of each file, decoded in one batch (each file's
    output in its own result, as when read alone), within one file's time budget; None for
    all when that fails (values read as missing are counted per batch, so such a batch is
    given back too)."""
    items = _items(files, wanted)
    decode = DecodeOptions(options.host_map, options.include_recovered)
    try:
        found = within(
            options.time_budget,
            lambda: read_ranges_decoded(items, None, decode, options.batch_size),
        )
    except (Exception, TimeBudgetExceeded):  # each file planned on its own
        return None
    if found is None:
        return None
    return [[(frames, item[3])] for frames, item in zip(found, items, strict=True)]


def _items(
    files: list[SmallFile], wanted: list[tuple[ChunkRange, ...]]
) -> list[tuple[str, Buffer, list[ChunkRange], RangeResult]]:
    """The reader's batch items for the wanted ranges of each file (each its own result)."""
    return [
        (file.source.display, file.data, list(spans), RangeResult())
        for file, spans in zip(files, wanted, strict=True)
    ]


def planned_runs(
    files: Sequence[SmallFile], plans: Iterable[ChunkPlan | None], reads: bool
) -> Iterator[tuple[list[SmallFile], list[ChunkPlan | None]]]:
    """Runs of ``files`` to read in one batch, each with what its plan leaves to read (at
    most :data:`~evtxscan.sources.small_evtx.PLANNED_READ_BYTES` of chunks a run); a file
    whose plan holds decoded rows, or that has no plan (None: planned again alone), on its
    own; files with nothing left to read are left out. ``reads``: the planner read chunks
    (then a plan's ranges may be a part of the file's)."""
    run: list[tuple[SmallFile, ChunkPlan]] = []
    run_bytes = 0
    for file, plan in zip(files, plans, strict=True):
        if plan is not None:  # (its header was inspected)
            plan = dataclasses.replace(plan, first_offset=file.first_offset)
            if not (plan.decoded or plan.spans):
                continue  # nothing to read (skipped whole): the run goes on
            if not plan.decoded and (plan.spans == tuple(file.spans) or reads):
                size = sum(s.stop - s.start for s in plan.spans) * CHUNK_SIZE
                if run and run_bytes + size > PLANNED_READ_BYTES:
                    yield _split(run)
                    run, run_bytes = [], 0
                run.append((dataclasses.replace(file, spans=list(plan.spans)), plan))
                run_bytes += size
                continue  # read with the batch (what the plan leaves to read, if in part)
        if run:
            yield _split(run)
            run, run_bytes = [], 0
        yield [file], [plan]
    if run:
        yield _split(run)


def _split(
    run: list[tuple[SmallFile, ChunkPlan]],
) -> tuple[list[SmallFile], list[ChunkPlan | None]]:
    """A run's files and their plans, as :func:`planned_runs` gives them."""
    return [file for file, _ in run], [plan for _, plan in run]
