"""Fast mode: the whole read path per input, with typing pooled across inputs.

Reading a small fuzzed file costs a few milliseconds of parsing but tens of milliseconds of
pandas work (typing one DataFrame per file, grouping for the integrity counts), so the
full path reaches a few dozen inputs a second. In fast mode the stream runs unchanged
except for two things: :meth:`RecordBatch.frame` hands its rows to a pool that is typed for
thousands of records at once (so typing bugs are still found, and re-typed per input to
name the culprit), and :meth:`FileReport.observe` is skipped. (The on-demand decoder, which
reads pyevtx-rs-backend files, types its own rows; the records it leaves to the renderer
are typed per file as usual, since it merges them with its own.) The driver runs a share of
batches in full mode as well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pandas as pd

from evtxscan.records.batch import RecordBatch
from evtxscan.sources.evtx import decode
from evtxscan.sources.integrity import FileReport

POOL_RECORDS = 20_000
_EMPTY: pd.DataFrame | None = None


class TypingPool:
    """Rows of many readers' batches, typed together."""

    def __init__(self) -> None:
        self.batch = RecordBatch()
        self.sources: list[tuple[str, int]] = []  # (source file, rows) in pool order

    def take(self, batch: RecordBatch, source_file: str) -> None:
        start = len(self.batch)
        for row in range(len(batch)):
            logged = batch.logged.get(row)
            self.batch.system.append(batch.system[row])
            self.batch.items.append(batch.items[row])
            self.batch.escaped.append(batch.escaped[row])
            self.batch.positions.append(batch.positions[row])
            if logged is not None:
                self.batch.logged[start + row] = logged
        self.sources.append((source_file, len(batch)))

    def flush(self, original: Any) -> str | None:
        """Type the pool; the source file whose rows fail typing, or None."""
        if not len(self.batch):
            return None
        try:
            original(self.batch, source_file="pool", source_format="evtx")
        except Exception as exc:
            return self._culprit(original, exc)
        finally:
            self.batch.clear()
            self.sources.clear()
        return None

    def _culprit(self, original: Any, exc: Exception) -> str:
        start = 0
        for source, rows in self.sources:
            single = RecordBatch()
            single.system = self.batch.system[start : start + rows]
            single.items = self.batch.items[start : start + rows]
            single.escaped = self.batch.escaped[start : start + rows]
            single.positions = self.batch.positions[start : start + rows]
            start += rows
            try:
                original(single, source_file="one", source_format="evtx")
            except Exception as again:
                return f"{source}: {type(again).__name__}: {again}"
        return f"(not reproduced per file) {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def pooled_typing(pool: TypingPool) -> Iterator[list[str]]:
    """Within the block, batches are pooled (typed every :data:`POOL_RECORDS` rows) and
    integrity observation is skipped; the list yielded collects typing failures."""
    global _EMPTY
    original_frame = RecordBatch.frame
    original_observe = FileReport.observe
    original_render = decode.render_wanted  # type: ignore[attr-defined]
    failures: list[str] = []
    if _EMPTY is None:
        _EMPTY = original_frame(RecordBatch(), source_file="", source_format="evtx")
    empty = _EMPTY

    def frame(self: RecordBatch, *, source_file: str, **_: Any) -> pd.DataFrame:
        pool.take(self, source_file)
        if len(pool.batch) >= POOL_RECORDS:
            problem = pool.flush(original_frame)
            if problem:
                failures.append(problem)
        return empty

    def observe(self: FileReport, frame: pd.DataFrame) -> None:
        return None

    def render(*args: Any, **kwargs: Any) -> pd.DataFrame:
        # The decoder merges the rows it renders with its own: they must be real rows.
        RecordBatch.frame = original_frame  # type: ignore[method-assign]
        try:
            return original_render(*args, **kwargs)
        finally:
            RecordBatch.frame = frame  # type: ignore[method-assign]

    RecordBatch.frame = frame  # type: ignore[method-assign]
    FileReport.observe = observe  # type: ignore[method-assign]
    decode.render_wanted = render  # type: ignore[attr-defined]
    try:
        yield failures
        problem = pool.flush(original_frame)
        if problem:
            failures.append(problem)
    finally:
        RecordBatch.frame = original_frame  # type: ignore[method-assign]
        FileReport.observe = original_observe  # type: ignore[method-assign]
        decode.render_wanted = original_render  # type: ignore[attr-defined]
