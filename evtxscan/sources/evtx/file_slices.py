"""One batch of small files, split per file: rows and frames as slices of the batch's.

A small-file batch is indexed and decoded as one (:func:`~evtxscan.sources.evtx.selective.
read_ranges_decoded`); each file still gets its own frames and counts. Rows come file by file,
so a file's rows are usually one run of the batch's: taken as a slice (a view), not gathered.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd


def file_numbers(rows: pd.DataFrame, items: Sequence[tuple[Any, ...]]) -> np.ndarray:
    """The item number of each decoded row (by its ``source_file``, the name each item
    starts with; one item: all 0)."""
    if len(items) == 1:
        return np.zeros(len(rows), dtype=np.int64)
    number = {name: i for i, (name, *_) in enumerate(items)}
    names = rows["source_file"].astype(str)
    codes, uniques = pd.factorize(names.to_numpy(dtype=object))
    table = np.array([number.get(u, -1) for u in uniques.tolist()] + [-1], dtype=np.int64)
    return table[codes]


def rows_by_number(numbers: np.ndarray, count: int) -> list[slice | np.ndarray]:
    """For each number ``0..count-1``, where it occurs in ``numbers``: a slice when the
    occurrences form one run (rows come file by file), else positions."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if not len(numbers) or bool((np.diff(numbers) >= 0).all()):
        bounds = np.searchsorted(numbers, np.arange(count + 1)).tolist()
        return [slice(a, b) for a, b in pairwise(bounds)]
    return [np.flatnonzero(numbers == n) for n in range(count)]


def rows_at(rows: pd.DataFrame, where: slice | np.ndarray) -> pd.DataFrame:
    """Rows ``where`` of ``rows``, numbered from 0."""
    piece = rows.iloc[where]
    piece.index = pd.RangeIndex(len(piece))
    return piece


def pair_keys(file: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """One integer per (file number, offset) pair of a batch."""
    return np.asarray(file, dtype=np.int64) * (1 << 40) + np.asarray(offset, dtype=np.int64)


def among(keys: np.ndarray, found: np.ndarray) -> np.ndarray:
    """``np.isin(keys, found)``; by binary search when ``found`` is strictly increasing, as
    a batch's record keys are (file, then offset order): ``isin`` sorts both arrays."""
    if len(found) > 1 and bool(np.all(found[1:] > found[:-1])):
        at = np.minimum(np.searchsorted(found, keys), len(found) - 1)
        return np.asarray(found[at] == keys)
    return np.isin(keys, found)


def positions(rows: slice | np.ndarray) -> np.ndarray:
    """Row positions of a slice (or the positions given)."""
    if isinstance(rows, slice):
        return np.arange(rows.start, rows.stop, dtype=np.int64)
    return rows


def used_categories(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with categorical columns holding only values in use (so a stream's frame is
    the same whether its files were read alone or in a batch; a batch's files share the
    batch's categories)."""
    for name, dtype in rows.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            column = rows[name]
            codes = column.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(dtype.categories))
            if not used.all():  # most often every category is in use: nothing to do
                rows[name] = column.cat.remove_unused_categories()
    return rows


def batches(rows: pd.DataFrame, batch_size: int) -> list[pd.DataFrame]:
    """``rows`` in batches of ``batch_size``; the first keeps the frame's attributes (values
    read as missing: counted once)."""
    if len(rows) <= batch_size:
        return [rows] if len(rows) else []
    frames = []
    for start in range(0, len(rows), batch_size):
        piece = rows.iloc[start : start + batch_size].reset_index(drop=True)
        piece.attrs = dict(rows.attrs) if start == 0 else {}
        frames.append(piece)
    return frames
