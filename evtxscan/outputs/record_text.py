"""Record batches as CSV and JSON Lines text, built column by column with numpy and Arrow.

``dump`` writes JSON Lines by default, and CSV for spreadsheets. Written record by record
(``json.dumps`` of each row; pandas' ``to_csv``; each ``data`` list and each time
formatted in Python), the text took longer than reading the records: a default ``dump`` of
coll200d's 571,757 records took 25 s as JSON Lines and 17 s as CSV, against 7 s as Parquet
(two reading processes; the main process writing). Here each column becomes its text once:

* ``data`` pairs as JSON by Arrow (:func:`~evtxscan.outputs.json_cells.pairs_json`),
  times by numpy (:func:`~evtxscan.outputs.tables.iso_times`), ``keywords`` as hex once
  per distinct value, all kept as Arrow text (:func:`plain_frame`);
* a JSON line is each column's ``"name": value`` joined by Arrow
  (:func:`~evtxscan.outputs.arrow_text.column_texts` in the :data:`JSON` style); a CSV
  line is made the same way (:mod:`~evtxscan.outputs.arrow_text`); their bytes are
  written as they are.

The text is exactly what the row-by-row writers wrote (``json.dumps(..., ensure_ascii=
False)`` and pandas' ``to_csv``: a test, and the fuzzing harness, compare them); a batch
with a column of a kind not handled here (none today) is written by them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.outputs.arrow_text import (
    TextStyle,
    column_texts,
    joined_lines,
    strings,
    text_bytes,
    text_series,
)
from evtxscan.outputs.json_cells import PAIRS, pairs_json, quoted
from evtxscan.outputs.tables import iso_times

#: What ``json.dumps(..., ensure_ascii=False)`` writes.
JSON = TextStyle(quoted, "true", "false", "null")
#: How ``keywords`` are shown: hex, as Windows shows them (and safe for JSON readers).
_KEYWORDS = "0x{:016x}"


def plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A text-friendly copy: ``data`` as JSON text, ``keywords`` as hex, times as ISO-8601
    with a Z (missing values stay missing)."""
    out = frame.copy(deep=False)  # (columns are replaced, never changed in place)
    if "data" in out.columns:
        out["data"] = _data_text(out["data"])
    if "keywords" in out.columns:
        out["keywords"] = _hex_texts(out["keywords"])
    for name in out.columns:
        if str(out[name].dtype).startswith("datetime64"):
            out[name] = _time_texts(out[name])
    return out


def data_as_json(values: Iterable[Any]) -> list[str]:
    """The ``data`` column as JSON array text, one per record (pair by pair, in Python)."""
    out = []
    for pairs in values:
        if pairs is None or pairs is pd.NA:
            pairs = []
        items = [{"name": p["name"], "value": p["value"]} for p in pairs]
        out.append(json.dumps(items, ensure_ascii=False))
    return out


def jsonl_text(plain: pd.DataFrame) -> bytes | memoryview:
    """The JSON Lines text of a :func:`plain_frame`, UTF-8: built by Arrow
    (:func:`json_lines`), or row by row when that cannot be."""
    lines = json_lines(plain)
    return text_bytes(lines) if lines is not None else jsonl_row_by_row(plain)


def jsonl_row_by_row(plain: pd.DataFrame) -> bytes:
    """The same text as :func:`jsonl_text`, made row by row by ``json.dumps``."""
    records = plain.astype(object).where(plain.notna(), None).to_dict("records")
    for record in records:
        if "data" in record and isinstance(record["data"], str):
            record["data"] = json.loads(record["data"])
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    return text.encode("utf-8")


def json_lines(plain: pd.DataFrame) -> pa.Array | None:
    """One JSON object per row of a :func:`plain_frame` (``json.dumps`` of the row as a
    dict, ``data`` parsed back into its list), each ending in a newline; None when a
    column is of a kind not handled here, or the text outgrows an Arrow array."""
    pieces: list[pa.Array | str] = []
    for number, name in enumerate(plain.columns):
        value = _data_json(plain[name]) if name == "data" else column_texts(plain[name], JSON)
        if value is None or not isinstance(name, str):
            return None
        key = json.dumps(name, ensure_ascii=False)
        pieces += [("{" if number == 0 else ", ") + key + ": ", value]
    if not pieces or not len(plain):
        return None
    return joined_lines(pieces, "}\n")


def _data_text(column: pd.Series) -> pd.Series | list[str]:
    if isinstance(column.dtype, pd.ArrowDtype) and column.dtype.pyarrow_dtype == PAIRS:
        return text_series(pairs_json(column.array._pa_array), column)
    return data_as_json(column)


def _hex_texts(column: pd.Series) -> pd.Series | list[str | None]:
    """``0x`` and 16 hex digits per value (missing: None), each distinct value once."""
    if not pd.api.types.is_unsigned_integer_dtype(column.dtype):  # one by one
        return [None if pd.isna(k) else _KEYWORDS.format(int(k)) for k in column]
    missing = column.isna().to_numpy(dtype=bool)
    values = column.to_numpy(dtype=np.uint64, na_value=0)
    distinct, inverse = np.unique(values, return_inverse=True)
    texts = pa.array([_KEYWORDS.format(v) for v in distinct.tolist()], type=pa.string())
    return text_series(texts.take(pa.array(inverse.reshape(-1), mask=missing)), column)


def _time_texts(column: pd.Series) -> pd.Series:
    """Times as :func:`~evtxscan.outputs.tables.iso_times` writes them, as Arrow text."""
    texts = iso_times(column).to_numpy(dtype=object)
    return text_series(pa.array(texts, type=pa.string(), from_pandas=True), column)


def _data_json(column: pd.Series) -> pa.Array | None:
    """The ``data`` texts as they are (JSON already), missing ones ``null``."""
    texts = strings(column)
    return None if texts is None else pc.fill_null(texts, "null")
