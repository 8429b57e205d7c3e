"""Write result tables (diagnoses, timeline, hosts, integrity) as CSV or Parquet, atomically.

Each file is written to a temporary name beside its target and renamed into place, so a
killed run never leaves a half-written file. CSV is UTF-8 with a byte-order mark by default
(so Excel shows non-English text correctly); list columns become JSON text.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd


def _texty(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if name == "data" or (
            column.dtype == object and column.map(lambda v: isinstance(v, list)).any()
        ):
            out[name] = [
                json.dumps(list(v) if v is not None else [], ensure_ascii=False, default=str)
                if not isinstance(v, str)
                else v
                for v in column
            ]
        elif str(column.dtype).startswith("datetime64"):
            out[name] = column.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return out


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "data" in out.columns:
        values = [[dict(d) for d in v] if v is not None else [] for v in out["data"]]
        out["data"] = pd.Series(values, index=out.index, dtype=object)
    return out


def write_table(frame: pd.DataFrame, path: Path, fmt: str = "csv", *, bom: bool = True) -> Path:
    """Write one table atomically; returns the final path (suffix from the format)."""
    target = path.with_suffix(".parquet" if fmt == "parquet" else ".csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        if fmt == "parquet":
            plain = _json_ready(frame)
            for name in plain.columns:
                if isinstance(plain[name].dtype, pd.CategoricalDtype):
                    plain[name] = plain[name].astype(pd.StringDtype("pyarrow"))
            plain.to_parquet(temporary, index=False)
        else:
            _texty(frame).to_csv(
                temporary,
                index=False,
                encoding="utf-8-sig" if bom else "utf-8",
                lineterminator="\n",
            )
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
