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
    """Rows ``rows`` (positions, in order) of ``frame``, a frame of located records."""

    frame: pd.DataFrame
    rows: np.ndarray

    def __post_init__(self) -> None:
        rows = np.asarray(self.rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise ValueError(f"located rows must be 1-D positions, not {rows.dtype} {rows.shape}")
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.frame)):
            raise ValueError(f"located rows outside a frame of {len(self.frame)} rows")
        object.__setattr__(self, "rows", rows.astype(np.int64, copy=False))

    @classmethod
    def whole(cls, frame: pd.DataFrame) -> LocatedRows:
        """Every row of ``frame``."""
        return cls(frame, np.arange(len(frame), dtype=np.int64))

    @classmethod
    def part(cls, frame: pd.DataFrame, where: slice | np.ndarray) -> LocatedRows:
        """Rows ``where`` (a slice or positions) of ``frame``."""
        return cls(frame, positions(where))

    def __len__(self) -> int:
        return len(self.rows)

    def table(self) -> pd.DataFrame:
        """The rows as a frame of their own (numbered from 0)."""
        return rows_at(self.frame, self.rows)
