"""A selector's choice applied to the rows of a log read whole (.evt, XML or text export).

EVTX is read index-first: a scan decodes its symptom candidates, notable events and errors,
only locates context records (service changes, shutdowns, warnings) to decode again near a
symptom, and counts the rest per computer and day (:mod:`evtxscan.sources.evtx.selective`).
A log read whole is decoded as it is read (an .evt log cheaply, column-wise), but keeping
its context rows decoded made a scan's memory grow with the collection. :class:`WholeChoice`
makes the same choice on the decoded rows (:func:`~evtxscan.sources.row_index.rows_index`;
an .evt log's before they are typed, :func:`~evtxscan.sources.row_index.evt_index`):
it passes on the rows to decode, locates those left for later by file offset
(:func:`evtxscan.sources.whole_files.read_whole_at` reads them again; a row without an
offset is passed on) and counts the rest, as the index-first reader does. The caller has
folded every row into the file's integrity report before. A nightly run's selector admits
only rows above its watermarks first, and learns what the rows not passed on tell them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.sources.chunk_plan import ChunkPlanner
from evtxscan.sources.evt.reader import evt_batches
from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.index_counts import count_skipped, located_frame
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.reader import RangeResult
from evtxscan.sources.evtx.selectors import Admitted, IndexSelector, choose
from evtxscan.sources.inputs import Buffer, Source
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.row_index import evt_index, evt_observed, rows_index
from evtxscan.sources.skipped import SkippedStats, merge_stats
from evtxscan.sources.worker import ReadOptions


@dataclass(frozen=True)
class WholeChoice:
    """A selector's choice among the rows of one log read whole: what it leaves for later is
    appended to ``located``, every row not passed on but taken in (a time window may leave
    some out) is counted in ``skipped`` (batch by batch: a time budget that stops the file
    loses nothing already read). A selector :class:`Admitted` (a nightly run's watermarks):
    what its admission says of the rows not passed on goes to ``absorb``, as an EVTX
    range's ``RangeResult.admitted`` does."""

    selector: IndexSelector
    source: Source
    located: list[tuple[Source, LocatedRows]]
    skipped: SkippedStats
    absorb: Callable[[object], None] | None = None

    def rows(self, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The rows of typed ``frames`` that the selector decodes (the caller folded every
        row into the file's integrity report)."""
        for frame in frames:
            if frame.empty:
                yield frame
                continue
            decode = self._decoded(rows_index(frame))
            if decode.any():
                yield frame if decode.all() else frame[decode].reset_index(drop=True)

    def evt_rows(
        self, content: Buffer, report: FileReport, options: ReadOptions
    ) -> Iterator[pd.DataFrame]:
        """The records of an .evt log that the selector decodes, typed (and only they: a
        scan keeps few); every record folded into ``report`` from its batch's columns, as
        its typed row would be."""
        batches = evt_batches(
            content,  # type: ignore[arg-type]  # (a FileView or memoryview reads as bytes do)
            source=self.source.display,
            report=report,
            batch_size=options.batch_size,
            include_recovered=options.include_recovered,
        )
        for batch in batches:
            index = evt_index(batch)
            observed, lost = evt_observed(batch, index)
            report.observe_rows(**observed)
            decode = self._decoded(index)
            undecoded_lost = int(np.count_nonzero(lost & ~decode))  # (decoded rows: their own)
            if undecoded_lost:
                report.add_lost({"written_time": undecoded_lost})
            if decode.any():
                chosen = batch if decode.all() else batch.take(np.flatnonzero(decode))
                yield chosen.frame(self.source.display, options.host_map)

    def _decoded(self, index: RecordIndex) -> np.ndarray:
        """Which records of ``index`` to pass on; the others located, counted, absorbed."""
        choice = choose(self.selector, index)
        decode = np.asarray(choice.decode, dtype=bool)
        later = choice.later
        if later is not None and later.any():
            unplaced = later & (index.offset < 0)  # (cannot be found again: kept decoded)
            decode, later = decode | unplaced, later & ~unplaced
            if later.any():
                whole = LocatedRows.whole(located_frame(index.take(later)))
                self.located.append((self.source, whole))
        counted = ~decode if choice.admitted is None else ~decode & choice.admitted
        if counted.any():
            result = RangeResult()
            count_skipped(result, index.take(np.flatnonzero(counted)))
            name = self.source.display
            merge_stats(self.skipped, {(c, name, d): v for (c, _, d), v in result.skipped.items()})
        if self.absorb is not None and isinstance(self.selector, Admitted):
            passed = np.flatnonzero(~decode)
            taken = passed[choice.admitted[passed]]  # type: ignore[index]
            self.absorb(self.selector.admissions[0].summary(index.take(taken), len(passed)))
        return decode


def whole_choice(
    selector: IndexSelector | None,
    planner: ChunkPlanner | None,
    source: Source,
    located: list[tuple[Source, LocatedRows]],
    skipped: SkippedStats,
) -> WholeChoice | None:
    """The choice a stream makes among the rows of ``source`` (None: every row passes on);
    with a ``planner`` (nightly), only rows above its watermarks are taken in."""
    if selector is None:
        return None
    if planner is None:
        return WholeChoice(selector, source, located, skipped)
    admitted = Admitted(selector, (planner.admission(source),))
    return WholeChoice(admitted, source, located, skipped, planner.absorb)
