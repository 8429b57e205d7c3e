"""Write result tables (diagnoses, timeline, hosts, integrity) as CSV or Parquet, atomically.

Each file is written to a temporary name beside its target and renamed into place, so a
killed run never leaves a half-written file. CSV is UTF-8 with a byte-order mark by default
(so Excel shows non-English text correctly); list columns become JSON text.
"""

from __future__ import annotations

import codecs
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.outputs.arrow_text import csv_text
from evtxscan.outputs.json_cells import json_cells, python_cells


def _nested(column: pd.Series) -> bool:
    """An Arrow list column (``data``, ``evidence``) or an object column holding lists."""
    if isinstance(column.dtype, pd.ArrowDtype):
        return bool(pa.types.is_list(column.dtype.pyarrow_dtype))
    return column.dtype == object and bool(column.map(lambda v: isinstance(v, list)).any())


def csv_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with text cells only where CSV needs them: nested values (``data``, the
    evidence keys, ``signatures``) as JSON arrays, times as ISO-8601 UTC with a ``Z``."""
    out = frame.copy(deep=False)  # (columns are replaced, never changed in place)
    for name in out.columns:
        column = out[name]
        if _nested(column):
            out[name] = json_cells(column)
        elif str(column.dtype).startswith("datetime64"):
            out[name] = iso_times(column)
    return out


#: Times numpy writes as ``strftime`` does (four-digit years); others are left to pandas.
_NUMPY_YEARS = (np.datetime64("1000-01-01", "us"), np.datetime64("10000-01-01", "us"))


def iso_times(column: pd.Series) -> pd.Series:
    """Each time's wall clock as ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` writes it, missing
    ones missing: written by numpy in one call (pandas formats time by time in Python, a
    tenth of writing a report)."""
    wall = column.dt.tz_localize(None) if column.dt.tz is not None else column
    values = wall.to_numpy(dtype="datetime64[us]")
    text = np.char.add(np.datetime_as_string(values, unit="us"), "Z").astype(object)
    text[np.isnat(values)] = None
    odd = ~np.isnat(values) & ((values < _NUMPY_YEARS[0]) | (values >= _NUMPY_YEARS[1]))
    if odd.any():  # years of other than four digits
        text[odd] = column[odd].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_numpy(dtype=object)
    return pd.Series(text, index=column.index, dtype=object)


def rows_by_host(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Positions of each host's rows in ``frame`` (host as text; rows without one are in no
    group), in frame order."""
    hosts = frame["host"].astype(str).to_numpy(dtype=object)
    groups = pd.Series(np.arange(len(frame))).groupby(hosts).indices  # missing: dropped
    return {str(host): np.asarray(rows) for host, rows in groups.items()}


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Nested Arrow columns as Python lists (pandas cannot read a nested ArrowDtype's name
    back from Parquet metadata) and categoricals as strings (one schema for every file)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.ArrowDtype) and pa.types.is_list(column.dtype.pyarrow_dtype):
            out[name] = pd.Series(
                [v if v is not None else [] for v in python_cells(column)],
                index=out.index,
                dtype=object,
            )
        elif isinstance(column.dtype, pd.CategoricalDtype):
            out[name] = column.astype(pd.StringDtype("pyarrow"))
    return out


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A new temporary file beside ``target``, renamed onto it when the block succeeds
    (removed when it fails). Created with mode 0666 less the umask, as ``open`` creates
    files, so every output of a run gets the same mode (``tempfile`` would give 0600)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        try:
            os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:  # pragma: no cover - a 48-bit name collision
            continue
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(text: str | Iterable[str], target: Path) -> Path:
    """Write a UTF-8 text file (e.g. the HTML report) atomically, with the tables' mode;
    ``text`` may come in parts, written as they are made."""
    with atomic_file(target) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines([text] if isinstance(text, str) else text)
    return target


def write_table(
    frame: pd.DataFrame,
    path: Path,
    fmt: str = "csv",
    *,
    bom: bool = True,
    cells_ready: bool = False,
) -> Path:
    """Write one table atomically; returns the final path (suffix from the format).
    ``cells_ready``: the frame already went through :func:`csv_cells` (CSV only)."""
    target = path.with_suffix(".parquet" if fmt == "parquet" else ".csv")
    with atomic_file(target) as temporary:
        if fmt == "parquet":
            _parquet_ready(frame).to_parquet(temporary, index=False)
        else:
            text = csv_text(frame if cells_ready else csv_cells(frame), header=True)
            with open(temporary, "wb") as handle:
                handle.write(codecs.BOM_UTF8 if bom else b"")
                handle.write(text)
    return target
