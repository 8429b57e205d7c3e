"""``timeline.csv`` and the per-host timeline CSVs, from one formatting of the timeline.

A report writes one timeline CSV per host beside ``timeline.csv``; with hundreds of hosts,
formatting each host's rows as a table of its own would cost pandas' fixed overhead per
host. Instead the timeline is formatted once, in slices of rows (memory stays bounded):
each slice's text is appended to ``timeline.csv``, cut into records, and every record is
appended to its host's file: a host's file is exactly its rows of ``timeline.csv`` under
the same header. A slice's lines are made by Arrow, one per row
(:func:`~evtxscan.outputs.arrow_text.csv_lines`), and taken by host; a slice Arrow cannot
make is written by pandas and its text cut into records.

CSV as pandas writes it (Python's ``csv`` module, minimal quoting, ``\\n`` line ends): a
field holding a line break, a comma or a quote is quoted, with quotes doubled, so a line
break ends a record exactly where the quotes seen since the record's start are even.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.outputs.arrow_text import csv_lines, pandas_csv, text_bytes
from evtxscan.outputs.tables import atomic_file

#: Rows formatted at a time (the text of one slice is held in memory, up to 4 bytes a
#: character when a message is not ASCII, and again as records): 4,096 rows of a 400-host
#: timeline peaked at 12 MB where 50,000 peaked at 107 MB, in the same time.
SLICE_ROWS = 4096


def csv_records(text: str) -> list[str]:
    """The records of CSV text (each with its line end), line breaks inside quotes kept."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if '"' not in text:
        return [line + "\n" for line in lines]
    records: list[str] = []
    pending: list[str] = []
    quotes = 0
    for line in lines:
        pending.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            records.append("\n".join(pending) + "\n")
            pending, quotes = [], 0
    if pending:  # unbalanced quotes: not CSV as pandas writes it
        raise ValueError("CSV text ends inside a quoted field")
    return records


def write_timeline_csvs(
    frame: pd.DataFrame,
    cells_of: Callable[[pd.DataFrame], pd.DataFrame],
    whole: Path,
    rows: Mapping[str, np.ndarray],
    files: Mapping[str, Path],
    *,
    bom: bool,
) -> bool:
    """Write the whole table (``whole``, atomically) and, for each host of ``files`` (host
    -> path), the header and its rows ``rows[host]`` (positions, in order), from one
    formatting of each slice of ``frame`` (``cells_of``: a slice's cells as the CSV shows
    them); a host without rows gets the header. False when a slice's text could not be cut
    into its rows: ``whole`` is then complete but the hosts' files are not."""
    header = pandas_csv(cells_of(frame.iloc[:0])).encode("utf-8")
    start_bytes = (codecs.BOM_UTF8 if bom else b"") + header
    paths = list(files.values())
    owner = np.full(len(frame), -1, dtype=np.int64)
    for number, host in enumerate(files):
        owner[rows.get(host, np.zeros(0, dtype=np.int64))] = number
    for path in paths:
        path.write_bytes(start_bytes)
    cut = True
    with atomic_file(whole) as temporary, open(temporary, "wb") as out:
        out.write(start_bytes)
        for start in range(0, len(frame), SLICE_ROWS):
            piece = cells_of(frame.iloc[start : start + SLICE_ROWS])
            mine = owner[start : start + len(piece)]
            lines = csv_lines(piece)
            if lines is not None:  # a line per row: cut by row
                out.write(text_bytes(lines))
                if cut:
                    _append_lines(lines, mine, paths)
                continue
            text = pandas_csv(piece, header=False)
            out.write(text.encode("utf-8"))
            if cut:
                cut = _append_records(text, mine, paths)
    return cut


def _append_lines(lines: pa.Array | pa.ChunkedArray, mine: np.ndarray, paths: list[Path]) -> None:
    """Append each CSV line of a slice (one per row) to its host's file (``mine``: the host
    number of each row, -1: none)."""
    for number, positions in _by_host(mine):
        with paths[number].open("ab") as handle:
            handle.write(text_bytes(lines.take(pa.array(positions))))


def _by_host(mine: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(host number, positions in order) of the rows that have a host."""
    order = np.argsort(mine, kind="stable")
    numbers, first = np.unique(mine[order], return_index=True)
    groups = zip(numbers.tolist(), np.split(order, first[1:]), strict=True)
    return [(number, positions) for number, positions in groups if number >= 0]


def _append_records(text: str, mine: np.ndarray, paths: list[Path]) -> bool:
    """Append each record of a slice's CSV text to its host's file (``mine``: the host
    number of each row, -1: none); False, writing nothing, when the text does not cut into
    one record per row."""
    try:
        records = csv_records(text)
    except ValueError:
        return False
    if len(records) != len(mine):
        return False
    for number, positions in _by_host(mine):
        with paths[number].open("ab") as handle:
            handle.write("".join(records[i] for i in positions.tolist()).encode("utf-8"))
    return True
