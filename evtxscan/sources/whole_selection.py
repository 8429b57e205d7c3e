"""A selector's choice applied to the rows of a log read whole (.evt, XML or text export).

EVTX is read index-first: a scan decodes its symptom candidates, notable events and errors,
only locates context records (service changes, shutdowns, warnings) to decode again near a
symptom, and counts the rest per computer and day (:mod:`evtxscan.sources.evtx.selective`).
A log read whole is decoded as it is read (an .evt log cheaply, column-wise), but keeping
its context rows decoded made a scan's memory grow with the collection. :func:`selected_rows`
makes the same choice on the decoded rows (:func:`~evtxscan.sources.row_index.rows_index`):
it passes on the rows to decode, locates those left for later by file offset
(:func:`evtxscan.sources.whole_files.read_whole_at` reads them again; a row without an
offset is passed on) and counts the rest, as the index-first reader does. The caller has
folded every row into the file's integrity report before. A nightly run's selector admits
only rows above its watermarks first, and learns what the rows not passed on tell them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from evtxscan.sources.evtx.index_counts import count_skipped, located_frame
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.reader import RangeResult
from evtxscan.sources.evtx.selectors import Admitted, IndexSelector, choose
from evtxscan.sources.inputs import Source
from evtxscan.sources.row_index import rows_index
from evtxscan.sources.skipped import SkippedStats, merge_stats


def selected_rows(
    frames: Iterable[pd.DataFrame],
    selector: IndexSelector,
    source: Source,
    located: list[tuple[Source, LocatedRows]],
    skipped: SkippedStats,
    absorb: Callable[[object], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows of ``frames`` that ``selector`` decodes; those it leaves for later are
    appended to ``located`` and every row not passed on but taken in (a time window may
    leave some out) is counted in ``skipped`` (batch by batch: a time budget that stops the
    file loses nothing already read). ``selector`` :class:`Admitted` (a nightly run's
    watermarks): what its admission says of the rows not passed on goes to ``absorb``, as
    an EVTX range's ``RangeResult.admitted`` does."""
    for frame in frames:
        if frame.empty:
            yield frame
            continue
        index = rows_index(frame)
        choice = choose(selector, index)
        decode = np.asarray(choice.decode, dtype=bool)
        later = choice.later
        if later is not None and later.any():
            unplaced = later & (index.offset < 0)  # (cannot be found again: kept decoded)
            decode, later = decode | unplaced, later & ~unplaced
            if later.any():
                located.append((source, LocatedRows.whole(located_frame(index.take(later)))))
        counted = ~decode if choice.admitted is None else ~decode & choice.admitted
        if counted.any():
            result = RangeResult()
            count_skipped(result, index.take(np.flatnonzero(counted)))
            merge_stats(
                skipped, {(c, source.display, d): v for (c, _, d), v in result.skipped.items()}
            )
        if absorb is not None and isinstance(selector, Admitted):
            passed = np.flatnonzero(~decode)
            taken = passed[choice.admitted[passed]]  # type: ignore[index]
            absorb(selector.admissions[0].summary(index.take(taken), len(passed)))
        if decode.any():
            yield frame if decode.all() else frame[decode].reset_index(drop=True)
