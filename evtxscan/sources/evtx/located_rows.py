"""A source's located records as positions in a frame that may hold other sources' too.

A selector leaves context records for later: they are located (computer, provider, event
ID, time, chunk, offset; :mod:`evtxscan.sources.evtx.selective`), not decoded.
A batch of small logs is indexed as one, and its located records make one frame. Cutting a
frame of its own for each file, and joining those frames again when correlation asks, cost
pandas about half a millisecond per file (2,000 small logs: a second); a file's share is
its positions in the batch's frame instead, and the frame is shared (pickled once with a
unit's output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.sources.evtx.file_slices import positions, rows_at


@dataclass(frozen=True, eq=False)
class LocatedRows:
    """Rows ``rows`` of ``frame``, a frame of located records: a run of rows (a slice,
    which holds no array: a file's records come together) or positions, in order."""

    frame: pd.DataFrame
    rows: slice | np.ndarray

    def __post_init__(self) -> None:
        size, rows = len(self.frame), self.rows
        if isinstance(rows, slice):
            start = 0 if rows.start is None else int(rows.start)
            stop = size if rows.stop is None else int(rows.stop)
            if rows.step not in (None, 1) or not 0 <= start <= stop <= size:
                raise ValueError(f"located rows must be a run of a frame of {size} rows: {rows}")
            object.__setattr__(self, "rows", slice(start, stop))
            return
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise ValueError(f"located rows must be 1-D positions, not {rows.dtype} {rows.shape}")
        if len(rows) and (rows.min() < 0 or rows.max() >= size):
            raise ValueError(f"located rows outside a frame of {size} rows")
        object.__setattr__(self, "rows", rows.astype(np.int64, copy=False))

    @classmethod
    def whole(cls, frame: pd.DataFrame) -> LocatedRows:
        """Every row of ``frame``."""
        return cls(frame, slice(0, len(frame)))

    def __len__(self) -> int:
        rows = self.rows
        return rows.stop - rows.start if isinstance(rows, slice) else len(rows)

    def positions(self) -> np.ndarray:
        """The rows' positions in ``frame``."""
        return positions(self.rows)

    def table(self) -> pd.DataFrame:
        """The rows as a frame of their own (numbered from 0)."""
        return rows_at(self.frame, self.rows)
