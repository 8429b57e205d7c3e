"""Per-host CSVs cut from the whole timeline's text equal each host's rows written alone."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evtxscan.outputs import host_csv
from evtxscan.outputs.arrow_text import csv_lines, pandas_csv
from evtxscan.outputs.host_csv import csv_records, write_timeline_csvs
from evtxscan.outputs.tables import rows_by_host

AWKWARD = ["plain", 'say "hi"', "two\nlines", 'both "x"\nand, more', "", "a,b", '"', "\r\n"]


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": [f"h{i % 7}" for i in range(rows)],
            "text": [AWKWARD[i % len(AWKWARD)] + str(i) for i in range(rows)],
            "number": pd.array([None if i % 5 == 0 else i for i in range(rows)], dtype="Int64"),
            "ratio": [i / 3 for i in range(rows)],
        }
    )


def test_records_keep_line_breaks_inside_quotes() -> None:
    frame = _frame(40)
    text = pandas_csv(frame, header=False)
    records = csv_records(text)
    assert len(records) == len(frame)
    assert "".join(records) == text
    for i, record in enumerate(records):
        alone = pandas_csv(frame.iloc[[i]], header=False)
        assert record == alone


def test_unbalanced_quotes_are_refused() -> None:
    with pytest.raises(ValueError, match="quoted field"):
        csv_records('a,"b\nc\n')


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("by_arrow", [True, False])
def test_each_host_file_is_its_rows_written_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bom: bool, by_arrow: bool
) -> None:
    """Lines made by Arrow and taken by row, or (floats: Arrow makes none) text made by
    pandas and cut into records."""
    monkeypatch.setattr(host_csv, "SLICE_ROWS", 9)  # several slices, hosts across them
    frame = _frame(100).drop(columns=["ratio"] if by_arrow else [])
    assert (csv_lines(frame) is not None) == by_arrow
    rows = rows_by_host(frame)
    files = {host: tmp_path / f"{host}.csv" for host in [*sorted(rows), "empty"]}
    whole = tmp_path / "whole.csv"
    assert write_timeline_csvs(frame, lambda cells: cells, whole, rows, files, bom=bom)
    start = codecs.BOM_UTF8 if bom else b""
    assert whole.read_bytes() == start + pandas_csv(frame).encode()  # written slice by slice
    for host, path in files.items():
        mine = frame.iloc[rows.get(host, np.zeros(0, dtype=np.int64))]
        assert path.read_bytes() == start + pandas_csv(mine).encode(), host


def test_a_text_that_cannot_be_cut_still_gives_the_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_csv, "SLICE_ROWS", 9)
    monkeypatch.setattr(host_csv, "csv_records", lambda text: text.split("\n"))  # miscounts
    frame = _frame(30)
    whole = tmp_path / "whole.csv"
    files = {"h1": tmp_path / "h1.csv"}
    assert not write_timeline_csvs(frame, lambda cells: cells, whole, rows_by_host(frame), files,
                                   bom=False)  # fmt: skip
    assert whole.read_bytes() == pandas_csv(frame).encode()
