"""Write a scan's outputs as one consistent set: a new run directory, then one atomic switch.

Layout of ``DIR``::

    runs/<run-id>/diagnoses.csv, timeline.csv, hosts.csv, integrity.csv, report.html,
                  timelines/<host>.csv, timelines/index.csv
    current -> runs/<run-id>          (a symlink, replaced atomically)
    diagnoses.csv -> current/diagnoses.csv   (and the same for every output)

Everything is written into ``runs/<run-id>.partial`` first, renamed into place, and only then
is ``current`` switched with one ``rename``: a run killed at any point leaves the previous
complete set in place (and at most a ``.partial`` directory, removed by the next run).
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from evtxscan.memory import release_free_memory
from evtxscan.outputs.host_csv import write_timeline_csvs
from evtxscan.outputs.html_report import report_parts
from evtxscan.outputs.names import unique_file_names
from evtxscan.outputs.spreadsheet import EXCEL_ROW_LIMIT, spreadsheet_safe
from evtxscan.outputs.tables import csv_cells, rows_by_host, write_table, write_text
from evtxscan.results import ScanResult
from evtxscan.results.repeats import group_repeats

OUTPUTS = ("diagnoses", "timeline", "hosts", "integrity")


@dataclass(frozen=True)
class ReportOptions:
    """How tables are written."""

    fmt: str = "csv"  # "csv" or "parquet"
    bom: bool = True  # UTF-8 byte-order mark in CSV (Excel reads non-English text right)
    neutralize: bool = True  # neutralize formula-looking CSV cells
    tz: str = "UTC"  # time zone for the HTML report
    keep_runs: int = 10  # run directories kept
    html: bool = True
    group_repeats: bool = False  # timeline tables: one row per group of identical events


@dataclass
class WrittenReport:
    """Where a report went, and warnings for the user (e.g. Excel's row limit)."""

    directory: Path
    run: Path
    warnings: list[str] = field(default_factory=list)


def _csv_ready(frame: pd.DataFrame, options: ReportOptions) -> pd.DataFrame:
    """``frame``'s cells as the CSV shows them (text for nested values and times, safe for
    spreadsheets)."""
    return spreadsheet_safe(csv_cells(frame), neutralize_formulas=options.neutralize)


def _table(
    frame: pd.DataFrame,
    path: Path,
    options: ReportOptions,
    warnings: list[str],
    *,
    ready: bool = False,
) -> None:
    """Write one table; ``ready``: a CSV table's cells are already :func:`_csv_ready`."""
    if options.fmt == "csv":
        _row_limit(len(frame), f"{path.name}.csv", warnings)
        if not ready:
            frame = _csv_ready(frame, options)
    write_table(frame, path, options.fmt, bom=options.bom, cells_ready=options.fmt == "csv")


def _timeline_tables(timeline: pd.DataFrame, hosts: Mapping[str, str], options: ReportOptions,
                     directory: Path, warnings: list[str]) -> None:  # fmt: skip
    """``timeline`` and one timeline table per host (``hosts``: host -> file name) in the
    run ``directory``. As CSV, each slice of rows is formatted once for both: timeline.csv
    gets its text and each host's file its records, cut from it
    (:mod:`evtxscan.outputs.host_csv`); inside the run's partial directory, which only
    becomes visible whole, the host files need no atomic rename each."""
    positions = rows_by_host(timeline)
    if options.fmt != "csv":
        _table(timeline, directory / "timeline", options, warnings)
    else:  # (timeline.csv's row limit was told with the other tables)
        noted = len(warnings)
        files = {h: directory / "timelines" / f"{Path(n).stem}.csv" for h, n in hosts.items()}
        for host, path in files.items():
            _row_limit(len(positions.get(host, ())), path.name, warnings)
        cells_of = functools.partial(_csv_ready, options=options)
        whole = directory / "timeline.csv"
        if write_timeline_csvs(timeline, cells_of, whole, positions, files, bom=options.bom):
            return
        del warnings[noted:]  # text not cut as expected: each host's table on its own
    cells = _csv_ready(timeline, options) if options.fmt == "csv" else timeline
    for host, file_name in hosts.items():
        rows = positions.get(host, np.zeros(0, dtype=np.int64))
        mine = cells.iloc[rows].reset_index(drop=True)
        _table(mine, directory / "timelines" / Path(file_name).stem, options, warnings, ready=True)


def _row_limit(rows: int, name: str, warnings: list[str]) -> None:
    """Warn when a CSV table has more rows than Excel opens."""
    if rows > EXCEL_ROW_LIMIT:
        warnings.append(
            f"{name} has {rows:,} rows, more than Excel's {EXCEL_ROW_LIMIT:,}; "
            "use --format parquet for the whole table"
        )


def _link(target: str, link: Path) -> None:
    """Create or atomically replace the symlink ``link`` -> ``target``."""
    temporary = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(target, temporary)
    os.replace(temporary, link)


def write_report(
    result: ScanResult,
    directory: str | Path,
    options: ReportOptions | None = None,
    *,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    before_switch: Callable[[Path], None] | None = None,
) -> WrittenReport:
    """Write every output of ``result`` into a new run of ``directory`` and switch to it.

    ``extra_tables`` (name -> frame) are written beside the standard tables, in the same run
    (e.g. the nightly ``new``/``resolved``/``stale``); ``before_switch`` is called with the
    complete, not yet visible run directory just before the switch.
    """
    options = options or ReportOptions()
    root = Path(directory)
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for stale in runs.glob("*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    partial = runs / f"{run_id}.partial"
    partial.mkdir()
    warnings: list[str] = []
    timeline = group_repeats(result.timeline) if options.group_repeats else result.timeline
    for name in OUTPUTS:
        if name != "timeline":
            _table(getattr(result, name), partial / name, options, warnings)
        elif options.fmt == "csv":  # written with the hosts' timelines, below
            _row_limit(len(timeline), "timeline.csv", warnings)
    extra = dict(extra_tables or {})
    for name, frame in extra.items():
        if name in OUTPUTS or name in ("timelines", "report") or not name.isidentifier():
            raise ValueError(f"extra table name {name!r} is reserved or not a plain name")
        _table(frame, partial / name, options, warnings)
    names = unique_file_names(
        result.hosts["host"].astype(str), ".parquet" if options.fmt == "parquet" else ".csv"
    )
    (partial / "timelines").mkdir()
    _timeline_tables(timeline, names, options, partial, warnings)
    release_free_memory()  # what formatting the CSV text freed, before the page is made
    index = pd.DataFrame({"host": list(names), "file": list(names.values())})
    index = spreadsheet_safe(index, neutralize_formulas=options.neutralize)
    write_table(index, partial / "timelines" / "index", "csv", bom=options.bom)
    if options.html:
        page = report_parts(result, tz=options.tz, timeline_files=names)
        write_text(page, partial / "report.html")
    if before_switch is not None:
        before_switch(partial)
    final = runs / run_id
    os.replace(partial, final)
    _link(f"runs/{run_id}", root / "current")
    suffix = ".parquet" if options.fmt == "parquet" else ".csv"
    top = (
        [f"{n}{suffix}" for n in (*OUTPUTS, *extra)]
        + ["timelines"]
        + (["report.html"] if options.html else [])
    )
    for name in top:
        link = root / name
        if link.is_symlink() and os.readlink(link) == f"current/{name}":
            continue
        if link.exists() and not link.is_symlink():
            if link.is_dir():
                shutil.rmtree(link)
            else:
                link.unlink()
        _link(f"current/{name}", link)
    _prune(runs, options.keep_runs, keep=final)
    return WrittenReport(root, final, warnings)


def _prune(runs: Path, keep_runs: int, keep: Path) -> None:
    finished = sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.endswith(".partial"))
    for old in finished[: max(0, len(finished) - max(keep_runs, 1))]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
