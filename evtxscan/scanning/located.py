"""A scan's located records in one table, and the host of each.

The reader locates context records it does not decode (service state changes, shutdown
notices, warnings): computer, provider, event ID, time, chunk and file offset
(``sources.evtx.selective``), per source as rows of a frame (a batch of small logs shares
one: :class:`~evtxscan.sources.evtx.located_rows.LocatedRows`). A 2 GiB collection gives
about a thousand sources; asking pandas anything costs about a millisecond per frame, and
the correlation asks several questions of every record. So the rows are joined once into a
:class:`LocatedTable`, whose names are categorical over all of them, and the frames then
let go: each question is then one vectorized pass (:mod:`evtxscan.scanning.read_plans`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from evtxscan.correlation.sessions import distinct_codes
from evtxscan.records.categories import from_codes
from evtxscan.sources.evtx.file_slices import positions
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.inputs import Source

#: The columns of a located table (``part``: the row's source, an index into ``sources``).
COLUMNS = ("part", "computer", "provider", "event_id", "time", "offset")


@dataclass(frozen=True)
class LocatedTable:
    """Located records side by side: ``part`` (``sources[part]`` is the record's source),
    ``computer`` and ``provider`` (categorical), ``event_id``, ``time`` (UTC), ``offset``."""

    sources: tuple[Source, ...]
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def located_table(located: Sequence[tuple[Source, LocatedRows]]) -> LocatedTable:
    """The located records (one entry per source, or per range of a large file) as one
    table, in their order; empty entries are left out. Consecutive entries that are rows of
    one frame (a batch of small logs) are taken from it at once: pandas is asked per frame,
    not per source."""
    parts = [(source, rows) for source, rows in located if len(rows)]
    runs: list[tuple[pd.DataFrame, list[slice | np.ndarray]]] = []
    for _source, rows in parts:
        if runs and runs[-1][0] is rows.frame:
            runs[-1][1].append(rows.rows)
        else:
            runs.append((rows.frame, [rows.rows]))
    taken = [(frame, _run_rows(rows)) for frame, rows in runs]
    part = np.repeat(np.arange(len(parts), dtype=np.int32), [len(rows) for _s, rows in parts])
    nat = np.datetime64("NaT")
    times = [f["time"].to_numpy(dtype="datetime64[us]", na_value=nat)[at] for f, at in taken]
    table = pd.DataFrame(  # (the columns as made, not copied)
        {
            "part": part,
            "computer": _names([_coded(f["computer"], at) for f, at in taken]),
            "provider": _names([_coded(f["provider"], at) for f, at in taken]),
            "event_id": _joined([f["event_id"].to_numpy()[at] for f, at in taken], np.int32),
            "time": pd.DatetimeIndex(_joined(times, "datetime64[us]")).tz_localize("UTC"),
            "offset": _joined([f["offset"].to_numpy()[at] for f, at in taken], np.int64),
        },
        copy=False,
    )
    return LocatedTable(tuple(source for source, _rows in parts), table)


def _run_rows(pieces: Sequence[slice | np.ndarray]) -> slice | np.ndarray:
    """The rows of consecutive entries of one frame: one slice when they follow each other
    (a batch's files, in order: its columns are then taken as views, not copied)."""
    if all(isinstance(p, slice) for p in pieces):
        runs = cast(Sequence[slice], pieces)
        if all(a.stop == b.start for a, b in pairwise(runs)):
            return slice(runs[0].start, runs[-1].stop)
    return _joined([positions(piece) for piece in pieces], np.int64)


def _coded(column: pd.Series, at: slice | np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Rows ``at`` of a column as codes over its distinct values (see ``distinct_codes``)."""
    codes, names = distinct_codes(column)
    return codes[at], names


def joined(first: LocatedTable, second: LocatedTable) -> LocatedTable:
    """Two tables as one (``second``'s rows after ``first``'s)."""
    if not len(first) or not len(second):
        return second if not len(first) else first
    shifted = second.frame.assign(part=second.frame["part"] + len(first.sources))
    frames = [first.frame, shifted]
    table = pd.DataFrame(
        {
            name: _names([distinct_codes(f[name]) for f in frames])
            if name in ("computer", "provider")
            else pd.concat([f[name] for f in frames], ignore_index=True)
            for name in COLUMNS
        }
    )
    return LocatedTable(first.sources + second.sources, table)


class LocatedHosts:
    """The host of each located record, as the kept rows name it: asked once per (source,
    computer) its records name, and kept (every later choice reuses it)."""

    def __init__(self, host_of: Callable[[str | None, str], str]) -> None:
        self._host_of = host_of  # (computer, file) -> host
        self._found: dict[int, tuple[LocatedRows, np.ndarray]] = {}  # (held: ids stay valid)
        self._table: tuple[LocatedTable, pd.Categorical] | None = None

    def __call__(self, source: Source, located: LocatedRows) -> np.ndarray:
        """The hosts of one source's located records (names, as objects)."""
        held = self._found.get(id(located))
        if held is None or held[0] is not located:
            codes, computers = distinct_codes(located.frame["computer"])
            part = np.zeros(len(located), dtype=np.int32)
            hosts = self._hosts((source,), part, codes[located.positions()], computers)
            held = self._found[id(located)] = (located, np.asarray(hosts.astype(object)))
        return held[1]

    def of(self, table: LocatedTable) -> pd.Categorical:
        """The hosts of a table's records (categorical: choosers group by their codes)."""
        if self._table is None or self._table[0] is not table:
            codes, computers = distinct_codes(table.frame["computer"])
            part = table.frame["part"].to_numpy()
            self._table = (table, self._hosts(table.sources, part, codes, computers))
        return self._table[1]

    def _hosts(
        self,
        sources: Sequence[Source],
        part: np.ndarray,
        codes: np.ndarray,
        computers: Sequence[str | None],
    ) -> pd.Categorical:
        """Hosts asked per run of records of one source and computer (records come in
        such runs: no sort, nothing the size of the table but the result)."""
        change = np.ones(len(part), dtype=bool)
        np.not_equal(part[1:], part[:-1], out=change[1:])
        change[1:] |= codes[1:] != codes[:-1]
        starts = np.flatnonzero(change)
        names: dict[tuple[int, int], str] = {}
        run_hosts = []
        for at, code in zip(part[starts].tolist(), codes[starts].tolist(), strict=True):
            name = names.get((at, code))
            if name is None:
                computer = computers[code] if code >= 0 else None
                name = names[at, code] = self._host_of(computer, sources[at].display)
            run_hosts.append(name)
        host_codes, hosts = pd.factorize(np.array(run_hosts, dtype=object))
        lengths = np.diff(np.append(starts, len(part)))
        joined = np.repeat(host_codes.astype(np.int32), lengths)
        return from_codes(joined, tuple(str(h) for h in hosts))


def _names(coded: Sequence[tuple[np.ndarray, Sequence[str | None]]]) -> pd.Categorical:
    """Columns of codes over their own names, as one categorical over all the names."""
    every = [name for _codes, names in coded for name in names]
    distinct_of, distinct = pd.factorize(np.array(every, dtype=object))  # None: -1
    mapping = np.append(distinct_of, -1).astype(np.int32)  # code -1 (missing) stays -1
    base = np.cumsum([0] + [len(names) for _codes, names in coded])[:-1]
    codes = [np.where(c >= 0, c + at, -1) for (c, _n), at in zip(coded, base, strict=True)]
    return from_codes(mapping[_joined(codes, np.int64)], tuple(str(n) for n in distinct))


def _joined(arrays: Sequence[np.ndarray], dtype: npt.DTypeLike) -> np.ndarray:
    joined = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
    return np.asarray(joined, dtype=dtype)
