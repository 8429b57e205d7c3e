"""Chunk plans of many small EVTX logs made together, their planners' own reads batched.

A nightly run's planner decodes a little of each grown log before it decides what to skip:
the newest chunk, then the one holding the watermark record and a few new ones. Made one
log at a time, each of those reads pays the index's and decoder's fixed costs (about 6 ms),
twice per log: a night over hundreds of grown logs then costs most of a full scan. Here the
plans of a batch of small logs advance side by side (:data:`~evtxscan.sources.chunk_plan.
PlanSteps`), and each step's ranges of every log are decoded in one batch. The plans are
the ones made log by log: each log's ranges are decoded as alone (its own result), and the
plans finish in input order.

A log whose steps cannot be read in the batch (a reader bug, the time budget, values read
as missing, which are counted per batch) or whose planner fails gets no plan here (None):
it is planned again on its own, where any error is reported as for any log.
"""

from __future__ import annotations

from collections.abc import Sequence

from evtxscan.sources.budget import TimeBudgetExceeded, within
from evtxscan.sources.chunk_plan import ChunkPlan, ChunkPlanner, Decoded, PlanSteps
from evtxscan.sources.evtx.decode import DecodeOptions
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.sources.evtx.selective import read_ranges_decoded
from evtxscan.sources.small_evtx import SmallFile
from evtxscan.sources.worker import ReadOptions


def plan_together(
    planner: ChunkPlanner, files: Sequence[SmallFile], options: ReadOptions
) -> list[ChunkPlan | None]:
    """Each file's plan (None: plan it on its own), the planner's reads batched per step."""
    steps: list[PlanSteps | None] = []
    wanted: list[tuple[ChunkRange, ...]] = []
    for file in files:
        step = planner.planning(file.source, file.data, file.first_offset, file.report)
        first = _advance(step, None)
        steps.append(step if first is not None else None)
        wanted.append(first or ())
    while asking := [i for i, step in enumerate(steps) if step is not None and wanted[i]]:
        outputs = _read_together([files[i] for i in asking], [wanted[i] for i in asking], options)
        for at, i in enumerate(asking):
            asked = steps[i]
            assert asked is not None
            found = None if outputs is None else _advance(asked, outputs[at])
            if found is None:
                asked.close()
                steps[i] = None
            wanted[i] = found or ()
    return [None if step is None else _finish(step) for step in steps]


def _advance(step: PlanSteps, outputs: list[Decoded] | None) -> tuple[ChunkRange, ...] | None:
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


def _read_together(
    files: list[SmallFile], wanted: list[tuple[ChunkRange, ...]], options: ReadOptions
) -> list[list[Decoded]] | None:
    """Every record of the wanted ranges of each file, decoded in one batch (each file's
    output in its own result), within one file's time budget; None when that fails."""
    items = [
        (file.source.display, file.data, list(spans), RangeResult())
        for file, spans in zip(files, wanted, strict=True)
    ]
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
