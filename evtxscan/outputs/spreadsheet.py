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
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.outputs.arrow_text import strings, text_series

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_CELL_LIMIT = 32_767
EXCEL_ROW_LIMIT = 1_048_576
TRUNCATION_MARKER = "…[truncated by evtxscan; see the Parquet output for the full text]"
_FORMULA_START = "^[=+\\-@\\t\\r]"  # (a regular expression: texts starting as FORMULA_START)
#: Columns this long or longer are cleaned by Arrow; shorter ones (most result tables) cost
#: less cleaned in Python than Arrow's fixed cost per call.
_ARROW_FROM = 1024


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

    Column-wise: a categorical column is cleaned once per category (and stays categorical
    when its cleaned categories stay distinct), a long column of texts by Arrow (Arrow text
    out), other text columns by a Python pass; only the (rare) cells that change are
    rewritten one by one."""
    out = frame.copy(deep=False)  # (columns are replaced, never changed in place)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            out[name] = _clean_categorical(column, neutralize_formulas)
            continue
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            continue
        texts = strings(column) if len(column) >= _ARROW_FROM else None
        if texts is not None:
            cleaned = _clean_texts(texts, neutralize_formulas)
            out[name] = text_series(cleaned, column)
        else:  # other values than text: as they are
            cells = _clean(column.to_numpy(dtype=object), neutralize_formulas)
            out[name] = pd.Series(cells, index=column.index, dtype=object)
    return out


def _clean_categorical(column: pd.Series, neutralize_formulas: bool) -> pd.Series:
    categories = column.cat.categories.to_numpy(dtype=object)
    cleaned = _clean(categories, neutralize_formulas)
    if cleaned is categories:
        return column
    if len(set(cleaned.tolist())) == len(cleaned):
        return column.cat.rename_categories(cleaned.tolist())
    codes = column.cat.codes.to_numpy()  # two categories became one text: as objects
    cells = cleaned.take(np.maximum(codes, 0))
    cells[codes < 0] = column.to_numpy(dtype=object)[codes < 0]  # missing stays
    return pd.Series(cells, index=column.index, dtype=object)


def _clean_texts(texts: pa.Array, neutralize_formulas: bool) -> pa.Array:
    """``texts`` with long ones truncated and formula starts neutralized (the texts that
    change found by Arrow, changed one by one)."""
    changing = pc.greater(pc.utf8_length(texts), EXCEL_CELL_LIMIT)
    if neutralize_formulas:
        changing = pc.or_(changing, pc.match_substring_regex(texts, _FORMULA_START))
    changing = pc.fill_null(changing, False)
    if not pc.any(changing).as_py():
        return texts
    old = pc.filter(texts, changing).to_pylist()
    new = [fit_cell(text) for text in old]
    if neutralize_formulas:
        new = [neutralize(text) for text in new]
    return pc.replace_with_mask(texts, changing, pa.array(new, pa.string()))


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
