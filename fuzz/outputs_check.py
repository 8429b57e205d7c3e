"""Drive ``scan`` to its outputs on fuzzed input and check what a user would open.

Every table and the HTML report must stay inside ``--out`` (no path or link escapes it,
whatever host names the logs claim), parse back (CSV, Parquet, HTML), and hold no CSV cell
that a spreadsheet would run as a formula. Every record batch's ``dump`` text must be what
``json.dumps`` and pandas write row by row, and parse back (:func:`check_record_text`).
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from pathlib import Path

import pandas as pd

from evtxscan.outputs.arrow_text import csv_text, pandas_csv
from evtxscan.outputs.record_text import jsonl_row_by_row, jsonl_text, plain_frame
from evtxscan.outputs.report_dir import ReportOptions, write_report
from evtxscan.outputs.spreadsheet import FORMULA_START
from evtxscan.scanning import scan
from fuzz.driver import FUZZ_LIMITS


def check_outputs(inputs: Path, out: Path, backend: str) -> str | None:
    """Scan ``inputs`` into ``out`` (CSV and Parquet runs); a problem's description or None."""
    shutil.rmtree(out, ignore_errors=True)
    try:
        result = scan(
            inputs, backend=backend, timeline="all", time_budget=10.0, bundle_limits=FUZZ_LIMITS
        )
        for fmt in ("csv", "parquet"):
            written = write_report(result, out, ReportOptions(fmt=fmt, keep_runs=1))
            problem = inside(out) or parse_back(written.run, fmt)
            if problem:
                return problem
    except Exception:
        return traceback.format_exc()
    return None


def inside(out: Path) -> str | None:
    root = out.resolve()
    for folder, dirs, files in os.walk(out):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            target = path.resolve()
            if root != target and root not in target.parents:
                return f"{path} leads outside --out: {target}"
    return None


def parse_back(run: Path, fmt: str) -> str | None:
    from lxml import html

    for path in sorted(run.rglob("*")):
        if path.is_dir():
            continue
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            problem = _formulas(frame, path)
            if problem:
                return problem
        elif path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".html":
            page = html.fromstring(path.read_bytes())
            if page.find(".//body") is None:
                return f"{path}: no <body> after parsing"
        elif fmt == "csv" or path.suffix not in (".csv", ".parquet", ".html"):
            return f"unexpected output file {path}"
    return None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _formulas(frame: pd.DataFrame, path: Path) -> str | None:
    for column in frame.columns:
        for cell in frame[column]:
            if isinstance(cell, str) and cell.startswith(FORMULA_START) and not _number(cell):
                return f"{path}: column {column!r} holds a formula-looking cell {cell[:40]!r}"
    return None


def check_record_text(frame: pd.DataFrame) -> str | None:
    """A batch's JSON Lines (built by Arrow) against ``json.dumps`` row by row, each line
    parsed back, and its CSV text against ``pandas_csv`` (pandas' ``to_csv``, a carriage
    return quoted); a problem's description or None."""
    try:
        plain = plain_frame(frame)
        built, expected = bytes(jsonl_text(plain)), jsonl_row_by_row(plain)
        if built != expected:
            pairs = enumerate(zip(built, expected, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), None)
            return (
                f"JSON Lines differ from json.dumps row by row ({len(built)} / {len(expected)}"
                f" bytes, first difference at byte {at}): {built[:300]!r}"
            )
        lines = built.decode("utf-8").split("\n")
        if lines[-1] or len(lines) != len(frame) + 1:
            return f"{len(lines) - 1} JSON lines for {len(frame)} records"
        for line in lines[:-1]:
            json.loads(line)
        expected = pandas_csv(plain).encode("utf-8")
        if bytes(csv_text(plain, header=True)) != expected:
            return f"CSV text differs from pandas_csv: {expected[:300]!r}"
    except Exception:
        return traceback.format_exc()
    return None
