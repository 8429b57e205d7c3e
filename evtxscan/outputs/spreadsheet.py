"""Make text safe for spreadsheets: formula neutralization and Excel's limits.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return can run as
a formula when a CSV is opened in Excel or LibreOffice (CSV injection); event data comes
from the logged machines, so such cells get a leading apostrophe. Excel also cuts cells at
32,767 characters and sheets at 1,048,576 rows: longer cells are truncated with a marker,
and a caller is told when a table has more rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_CELL_LIMIT = 32_767
EXCEL_ROW_LIMIT = 1_048_576
TRUNCATION_MARKER = "…[truncated by evtxscan; see the Parquet output for the full text]"


def neutralize(text: str) -> str:
    """Prefix a formula-looking cell with an apostrophe (shown as text by spreadsheets)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def fit_cell(text: str) -> str:
    """Truncate a cell longer than Excel allows, with a visible marker."""
    if len(text) <= EXCEL_CELL_LIMIT:
        return text
    return text[: EXCEL_CELL_LIMIT - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def spreadsheet_safe(frame: pd.DataFrame, *, neutralize_formulas: bool = True) -> pd.DataFrame:
    """A copy whose text cells are truncated to Excel's limit and, optionally, neutralized.

    Column-wise: a categorical column is cleaned once per category, other text columns by
    vectorized string tests, with Python only for the (rare) cells that change."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = _clean(column.cat.categories.to_numpy(dtype=object), neutralize_formulas)
            codes = column.cat.codes.to_numpy()
            cells = categories.take(np.maximum(codes, 0)) if len(categories) else categories
            if len(categories) and (codes < 0).any():
                cells[codes < 0] = column.to_numpy(dtype=object)[codes < 0]  # missing stays
            elif not len(categories):
                cells = column.to_numpy(dtype=object)
            out[name] = pd.Series(cells, index=column.index, dtype=object)
        elif column.dtype == object or isinstance(column.dtype, pd.StringDtype):
            cells = _clean(column.to_numpy(dtype=object), neutralize_formulas)
            out[name] = pd.Series(cells, index=column.index, dtype=object)
    return out


def _clean(cells: np.ndarray, neutralize_formulas: bool) -> np.ndarray:
    """``cells`` (object array) with long texts truncated and formula starts neutralized.

    One pass in plain Python over the texts (pandas' string methods cost more per cell on
    object arrays); only the cells that change are rewritten."""
    starts = FORMULA_START if neutralize_formulas else ()
    changing = [
        position
        for position, cell in enumerate(cells.tolist())
        if isinstance(cell, str) and (len(cell) > EXCEL_CELL_LIMIT or cell.startswith(starts))
    ]
    if not changing:
        return cells
    out = cells.copy()
    for position in changing:
        text = fit_cell(out[position])
        out[position] = neutralize(text) if neutralize_formulas else text
    return out
