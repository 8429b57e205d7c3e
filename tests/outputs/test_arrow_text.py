"""CSV text made by Arrow is byte for byte what pandas' ``to_csv`` writes (a field holding a
carriage return quoted too: ``pandas_csv``)."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from evtxscan.outputs.arrow_text import csv_lines, csv_text, pandas_csv, text_bytes
from evtxscan.outputs.tables import write_table

AWKWARD = ["plain", 'say "hi"', "two\nlines", "cr\ronly", "a,b", '"', "", "é ☃", " pad "]


def _frame(rows: int = 27) -> pd.DataFrame:
    texts = [AWKWARD[i % len(AWKWARD)] for i in range(rows)]
    return pd.DataFrame(
        {
            "host": pd.Categorical([None if i % 4 == 0 else texts[i] for i in range(rows)]),
            "text": [None if i % 6 == 0 else t for i, t in enumerate(texts)],
            "arrow text": pd.array([t + "!" for t in texts], dtype="string[pyarrow]"),
            "number": pd.array([None if i % 5 == 0 else i - 9 for i in range(rows)], dtype="Int64"),
            "big": pd.array([2**64 - 1 - i for i in range(rows)], dtype="UInt64"),
            "flag": np.array([i % 3 == 0 for i in range(rows)]),
            "plain int": np.arange(rows, dtype=np.int32),
        }
    )


@pytest.mark.parametrize("header", [True, False])
def test_csv_text_is_what_to_csv_writes(header: bool) -> None:
    frame = _frame()
    assert csv_lines(frame) is not None  # made by Arrow
    expected = pandas_csv(frame, header).encode()
    assert bytes(csv_text(frame, header)) == expected


def test_tables_arrow_cannot_make_are_written_by_pandas() -> None:
    for frame in (_frame().assign(ratio=0.5), _frame()[["text"]], _frame().iloc[:0]):
        assert csv_lines(frame) is None
        expected = pandas_csv(frame).encode()
        assert bytes(csv_text(frame, True)) == expected


@pytest.mark.parametrize("bom", [True, False])
def test_a_written_table_is_what_to_csv_writes(tmp_path: Path, bom: bool) -> None:
    frame = _frame()
    written = write_table(frame, tmp_path / "table", bom=bom, cells_ready=True)
    expected = (codecs.BOM_UTF8 if bom else b"") + pandas_csv(frame).encode()
    assert written.read_bytes() == expected


@pytest.mark.parametrize("start", [0, 3])
def test_text_bytes_are_the_texts_one_after_the_other(start: int) -> None:
    texts = pa.array(AWKWARD).slice(start)
    whole = "".join(AWKWARD[start:]).encode()
    assert bytes(text_bytes(texts)) == whole
    assert bytes(text_bytes(texts.cast(pa.large_string()))) == whole
    chunked = pa.chunked_array([texts.slice(0, 2), texts.slice(2)])
    assert bytes(text_bytes(chunked)) == whole


def test_large_text_is_quoted_as_text() -> None:
    """Arrow's large strings (64-bit offsets, as pandas may hold them) are quoted alike."""
    from evtxscan.outputs.arrow_text import _csv_fields
    from evtxscan.outputs.json_cells import quoted

    texts = pa.array([*AWKWARD, None])
    large = texts.cast(pa.large_string())
    assert quoted(large).cast(pa.string()).equals(quoted(texts))
    assert _csv_fields(large).cast(pa.string()).equals(_csv_fields(texts))


def test_lines_with_a_missing_piece_are_not_given() -> None:
    """A row whose text came out missing would be lost from the bytes: no lines then."""
    from evtxscan.outputs.arrow_text import joined_lines

    assert joined_lines(["a,", pa.array(["x", "y"])], "\n").to_pylist() == ["a,x\n", "a,y\n"]
    assert joined_lines(["a,", pa.array(["x", None])], "\n") is None
