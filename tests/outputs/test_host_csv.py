"""Per-host CSVs cut from the whole timeline's text equal each host's rows written alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evtxscan.outputs import host_csv
from evtxscan.outputs.host_csv import csv_records, write_host_csvs
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
    text = frame.to_csv(index=False, header=False, lineterminator="\n")
    records = csv_records(text)
    assert len(records) == len(frame)
    assert "".join(records) == text
    for i, record in enumerate(records):
        alone = frame.iloc[[i]].to_csv(index=False, header=False, lineterminator="\n")
        assert record == alone


def test_unbalanced_quotes_are_refused() -> None:
    with pytest.raises(ValueError, match="quoted field"):
        csv_records('a,"b\nc\n')


@pytest.mark.parametrize("bom", [True, False])
def test_each_host_file_is_its_rows_written_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bom: bool
) -> None:
    monkeypatch.setattr(host_csv, "SLICE_ROWS", 9)  # several slices, hosts across them
    frame = _frame(100)
    rows = rows_by_host(frame)
    files = {host: tmp_path / f"{host}.csv" for host in [*sorted(rows), "empty"]}
    write_host_csvs(frame, rows, files, bom=bom)
    encoding = "utf-8-sig" if bom else "utf-8"
    for host, path in files.items():
        mine = frame.iloc[rows.get(host, np.zeros(0, dtype=np.int64))]
        expected = tmp_path / "expected.csv"
        mine.to_csv(expected, index=False, encoding=encoding, lineterminator="\n")
        assert path.read_bytes() == expected.read_bytes(), host
