"""Grown logs are planned together: the planner's own reads of a batch of small logs are
indexed in one batch per step (``sources/planned_batches.py``), those of a group of large
logs decoded in one batch per step (``sources/planned_logs.py``). Outcome and state must equal
plans made one log at a time, night by night; a batch that fails leaves each log to be
planned on its own; and the zero-filled slots a log has pre-allocated at its end are not
read (the reader skips them anyway)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from nightly_compare import every_folder, same_outcome
from nightly_scenario import run_at, state_tables

from evtxscan.scanning import pipeline
from evtxscan.sources import (
    file_reading,
    files_ahead,
    planned_batches,
    planned_logs,
    small_evtx,
    small_runs,
    stream,
)
from evtxscan.sources.chunk_plan import ChunkPlan, PlanSteps
from evtxscan.sources.evtx import decode
from evtxscan.sources.evtx.layout import CHUNK_SIZE, FILE_HEADER_SIZE


def test_plans_made_together_equal_plans_made_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    real = decode.index_ranges

    def spy(items: list[object], *args: object, **kwargs: object) -> object:
        batches.append(len(items))
        return real(items, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planned_batches, "index_ranges", spy)
    for night in (1, 2, 3):
        paths = every_folder(tmp_path / "collected", night)
        together = run_at(paths, tmp_path / "together.db", tmp_path / "out-together", night)
        with monkeypatch.context() as alone_here:  # a failed batch: every log planned alone
            alone_here.setattr(planned_batches, "_marks_together", lambda *args: None)
            alone = run_at(paths, tmp_path / "alone.db", tmp_path / "out-alone", night)
        same_outcome(together, alone)
        assert state_tables(tmp_path / "together.db") == state_tables(tmp_path / "alone.db")
    assert max(batches) > 1  # several logs' reads decoded in one batch
    assert together.stats.chunks_below_watermark > 0


def test_a_planner_that_fails_in_the_batch_plans_that_log_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log whose steps fail in the batch is planned again on its own (where an error is
    reported as for any log); the other logs keep the batch's plans; the outcome and state
    are those of a night where nothing failed."""
    run_at(every_folder(tmp_path / "collected", 1), tmp_path / "s.db", tmp_path / "o", 1)
    shutil.copy(tmp_path / "s.db", tmp_path / "t.db")
    paths = every_folder(tmp_path / "collected", 2)
    fine = run_at(paths, tmp_path / "t.db", tmp_path / "p", 2)
    failed: list[object] = []
    real = planned_batches._advance

    def first_fails(step: PlanSteps, outputs: object) -> object:
        if not failed:  # the first log's planner fails at its first step
            failed.append(step)
            return None
        return real(step, outputs)  # type: ignore[arg-type]

    monkeypatch.setattr(planned_batches, "_advance", first_fails)
    failing = run_at(paths, tmp_path / "s.db", tmp_path / "o", 2)
    assert failed
    same_outcome(fine, failing)
    assert state_tables(tmp_path / "s.db") == state_tables(tmp_path / "t.db")


def test_zeros_preallocated_at_a_logs_end_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans: list[tuple[str, ChunkPlan]] = []
    real = planned_batches.plan_together

    def spy(planner: object, files: list[small_evtx.SmallFile], options: object) -> object:
        made = real(planner, files, options)  # type: ignore[arg-type]
        plans.extend((f.source.display, p) for f, p in zip(files, made, strict=True) if p)
        return made

    monkeypatch.setattr(file_reading, "plan_together", spy)
    batches = _decoded_batch_sizes(monkeypatch)
    for night in (1, 2):
        paths = every_folder(tmp_path / "collected", night)
        for log in sorted((tmp_path / "collected").rglob("*.evtx")):
            if not log.name.startswith("padded"):
                data = log.read_bytes() + bytes(3 * CHUNK_SIZE)  # pre-allocated, as Windows does
                padded = log.with_name("padded-" + log.name)
                padded.write_bytes(data)
                os.utime(padded, (log.stat().st_mtime, log.stat().st_mtime))
                log.unlink()
        outcome = run_at(paths, tmp_path / "s.db", tmp_path / "o", night)
        assert "damaged" not in set(outcome.result.integrity["status"])
        if night == 1:  # nothing to skip on a first night: the logs are read in one batch
            assert not plans and len(batches) == 1 and batches[0] > 1
    in_part = 0  # logs partly skipped: the rest, without the zeros, is read apart
    for path, plan in plans:
        used = (Path(path).stat().st_size - 3 * CHUNK_SIZE - FILE_HEADER_SIZE) // CHUNK_SIZE
        if plan.spans and (plan.spans[0].start, plan.spans[-1].stop) != (0, used + 3):
            in_part += 1
            assert all(span.stop <= used for span in plan.spans), (path, plan.spans)
    assert in_part  # grown logs, planned from what their planners read


def test_large_logs_planned_together_equal_logs_planned_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large logs (here: every log, the size bound lowered) are planned as a group, their
    planners' chunks decoded in one batch per step; each is then read as before. Outcome
    and state equal logs planned one by one, night by night."""
    monkeypatch.setattr(small_evtx, "SMALL_FILE_BYTES", 0)
    groups: list[int] = []
    real = planned_logs.read_planned_logs

    def spy(reading: object, group: list[object], pool: object) -> object:
        groups.append(len(group))
        return real(reading, group, pool)  # type: ignore[arg-type]

    monkeypatch.setattr(stream, "read_planned_logs", spy)
    for night in (1, 2, 3):
        paths = every_folder(tmp_path / "collected", night)
        together = run_at(paths, tmp_path / "together.db", tmp_path / "out-together", night)
        with monkeypatch.context() as alone_here:  # no groups: every log planned alone
            alone_here.setattr(stream, "large_evtx_group", lambda *args: [])
            alone = run_at(paths, tmp_path / "alone.db", tmp_path / "out-alone", night)
        same_outcome(together, alone)
        assert state_tables(tmp_path / "together.db") == state_tables(tmp_path / "alone.db")
        pooled = run_at(paths, tmp_path / "pooled.db", tmp_path / "out-pooled", night, workers=2)
        same_outcome(together, pooled)  # what plans leave read by worker processes
        assert state_tables(tmp_path / "together.db") == state_tables(tmp_path / "pooled.db")
    assert groups and max(groups) > 1  # planned in groups (from the second night on)
    assert together.stats.chunks_below_watermark > 0


def test_nights_with_watermarks_plan_larger_batches_read_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A night with watermarks takes longer runs of small logs, opened into batches of the
    logs not read before (most of each log is then skipped); what the plans leave is read
    in parts of at most ``PLANNED_READ_BYTES`` of chunks. Outcome and state equal reading
    each log as a part of its own, and batches of one log each."""
    limits: list[int | None] = []
    real_run = small_runs.small_evtx_run

    def run_spy(items: list[object], start: int, limit: int | None = None) -> object:
        limits.append(limit)
        return real_run(items, start, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(small_runs, "small_evtx_run", run_spy)
    parts = _decoded_batch_sizes(monkeypatch)
    planned: list[int] = []
    real_plans = planned_batches.plan_together

    def plans_spy(planner: object, files: list[small_evtx.SmallFile], options: object) -> object:
        planned.append(len(files))
        return real_plans(planner, files, options)  # type: ignore[arg-type]

    monkeypatch.setattr(file_reading, "plan_together", plans_spy)
    shared: list[int] = []
    real_share = files_ahead.FilesAhead.share

    def share_spy(self: files_ahead.FilesAhead, sources: list[object]) -> None:
        shared.append(len(sources))
        real_share(self, sources)  # type: ignore[arg-type]

    monkeypatch.setattr(files_ahead.FilesAhead, "share", share_spy)
    for night in (1, 2, 3):
        paths = every_folder(tmp_path / "collected", night)
        limits.clear()
        parts.clear()
        shared.clear()
        together = run_at(paths, tmp_path / "together.db", tmp_path / "out-together", night)
        first = night == 1  # no watermark yet: batches as any stream's
        expected = pipeline.STREAM_BATCH_BYTES if first else small_evtx.PLANNED_RUN_BYTES
        assert limits and set(limits) == {expected}
        assert max(parts) > 1  # several logs read in one part
        assert (not shared) if first else max(shared) > 1  # a run hashed by both threads
        with monkeypatch.context() as apart:
            apart.setattr(planned_batches, "PLANNED_READ_BYTES", 1)  # a part per log
            apart.setattr(small_evtx, "PLANNED_BATCH_BYTES", 1)  # and a batch per log
            parts.clear()
            planned.clear()
            alone = run_at(paths, tmp_path / "alone.db", tmp_path / "out-alone", night)
            assert not parts or max(parts) == 1
            assert first or (planned and max(planned) == 1)
        same_outcome(together, alone)
        assert state_tables(tmp_path / "together.db") == state_tables(tmp_path / "alone.db")
    assert together.stats.chunks_below_watermark > 0


def _decoded_batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of logs of each batch of small logs decoded together, as they come."""
    sizes: list[int] = []
    real = small_evtx.decode_small_files

    def spy(files: list[small_evtx.SmallFile], *args: object) -> object:
        sizes.append(len(files))
        return real(files, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(small_evtx, "decode_small_files", spy)
    return sizes
