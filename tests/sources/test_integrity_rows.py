"""A batch of files' reports made in one pass equal each file's report made on its own."""

from __future__ import annotations

import numpy as np
import pytest

from evtxscan.sources.integrity import FileReport


def _columns(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Index columns as ``observed_columns`` gives them: NaT times, missing numbers and
    EventRecordIDs, ids equal to numbers or not, a few chunks, huge numbers."""
    number = rng.integers(0, 2**53, rows).astype(np.float64)
    number[rng.random(rows) < 0.1] = np.nan
    record_id = np.where(rng.random(rows) < 0.5, number, rng.integers(0, 50, rows).astype(float))
    record_id[rng.random(rows) < 0.2] = np.nan
    time = np.datetime64("2020-01-01", "us") + rng.integers(0, 10**12, rows).astype(
        "timedelta64[us]"
    )
    time[rng.random(rows) < 0.2] = np.datetime64("NaT", "us")
    return {
        "recovered": rng.random(rows) < 0.2,
        "torn": rng.random(rows) < 0.2,
        "time": time,
        "chunk": rng.integers(0, 4, rows).astype(np.int64),
        "number": number,
        "record_id": record_id,
    }


@pytest.mark.parametrize("seed", range(40))
def test_reports_of_a_batch_equal_reports_made_file_by_file(seed: int) -> None:
    rng = np.random.default_rng(seed)
    files, rows = int(rng.integers(1, 6)), int(rng.integers(0, 80))
    file_of = rng.integers(-1, files, rows)  # -1: a row of no file (not readable)
    columns = _columns(rng, rows)
    paths = [f"f{number}.evtx" for number in range(files)]
    together = FileReport.of_rows(paths, file_of, columns)
    for number, path in enumerate(paths):
        alone = FileReport(path=path)
        mine = np.flatnonzero(file_of == number)
        alone.observe_rows(**{name: column[mine] for name, column in columns.items()})
        assert together[number] == alone
        assert together[number].row() == alone.row()
