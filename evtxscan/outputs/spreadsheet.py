"""Make text safe for spreadsheets: formula neutralization and Excel's limits.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return can run as
a formula when a CSV is opened in Excel or LibreOffice (CSV injection); event data comes
from the logged machines, so such cells get a leading apostrophe. Excel also cuts cells at
32,767 characters and sheets at 1,048,576 rows: longer cells are truncated with a marker,
and a caller is told when a table has more rows.
"""

from __future__ import annotations

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
    """A copy whose text cells are truncated to Excel's limit and, optionally, neutralized."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if not (
            column.dtype == object
            or isinstance(column.dtype, (pd.StringDtype, pd.CategoricalDtype))
        ):
            continue
        values = column.astype(object)

        def clean(value: object) -> object:
            if not isinstance(value, str):
                return value
            text = fit_cell(value)
            return neutralize(text) if neutralize_formulas else text

        out[name] = values.map(clean)
    return out
