"""Per-file integrity: what was read, what was skipped and why, in one row per input file.

Bad input never raises out of a scan: each problem becomes a :class:`ReadError` with its
location (chunk, offset) and reason, and the file's status says how much to trust it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum, nonmember
from typing import Any

import numpy as np
import pandas as pd

from evtxscan.records.batch import VALUES_LOST


class FileStatus(StrEnum):
    """How far a file's records can be trusted."""

    OK = "ok"  # read completely, closed cleanly
    DIRTY = "dirty"  # not closed cleanly (copied from a live system): normal, fully read
    DAMAGED = "damaged"  # some chunks or records could not be read; the rest were
    UNREADABLE = "unreadable"  # nothing could be read (empty, not an event log, broken)
    DUPLICATE = "duplicate"  # byte-identical to a file already read; skipped

    #: The statuses reported as problems (summary lines, ``--fail-on integrity``, reports).
    PROBLEMS = nonmember(("damaged", "unreadable"))


@dataclass(frozen=True)
class ReadError:
    """One problem in a file, with where it is."""

    reason: str
    chunk: int | None = None
    offset: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"chunk": self.chunk, "offset": self.offset, "reason": self.reason}


@dataclass
class FileReport:
    """Accumulates while one file is read; becomes one integrity row."""

    path: str
    format: str = "unknown"
    size: int = 0
    sha256: str = ""
    mtime_ns: int | None = None  # a file on disk: when it was last written (not a column)
    status: FileStatus | None = None
    records: int = 0
    recovered: int = 0
    torn: int = 0
    chunks: int = 0
    chunks_skipped: int = 0
    header_chunk_count: int | None = None
    header_dirty: bool = False
    first_time: pd.Timestamp | None = None
    last_time: pd.Timestamp | None = None
    missing_records: int = 0
    filtered_export: bool = False
    duplicate_of: str | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    _number_ranges: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    _id_ranges: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    _ids_differ: bool = False
    _values_lost: dict[str, int] = field(default_factory=dict)

    def error(self, reason: str, chunk: int | None = None, offset: int | None = None) -> None:
        self.errors.append(ReadError(reason, chunk, offset))

    def observe(self, frame: pd.DataFrame) -> None:
        """Fold one batch of records into the counts, time range and numbering checks."""
        if frame.empty:
            return
        live = frame[~frame["recovered"]]
        self.records += len(live)
        self.recovered += int(frame["recovered"].sum())
        self.torn += int(frame["torn"].sum())
        self.count_lost(frame)
        times = live["time"].dropna()
        if not times.empty:
            low, high = times.min(), times.max()
            self.first_time = low if self.first_time is None else min(self.first_time, low)
            self.last_time = high if self.last_time is None else max(self.last_time, high)
        self._observe_numbers(live)

    def observe_rows(
        self,
        *,
        recovered: np.ndarray,
        torn: np.ndarray,
        time: np.ndarray,
        chunk: np.ndarray,
        number: np.ndarray,
        record_id: np.ndarray,
    ) -> None:
        """Fold records given as arrays (as an index reads them) into the counts, time range
        and numbering checks, exactly as :meth:`observe` folds a typed batch. ``time`` is
        datetime64 (NaT when missing); ``number`` and ``record_id`` are floats (NaN when
        missing)."""
        if not len(recovered):
            return
        live = ~recovered
        self.records += int(live.sum())
        self.recovered += int(recovered.sum())
        self.torn += int(torn.sum())
        times = time[live]
        times = times[~np.isnat(times)]
        if len(times):
            low = pd.Timestamp(times.min()).tz_localize("UTC")
            high = pd.Timestamp(times.max()).tz_localize("UTC")
            self.first_time = low if self.first_time is None else min(self.first_time, low)
            self.last_time = high if self.last_time is None else max(self.last_time, high)
        self._fold_numbers(chunk[live], number[live], record_id[live])
        both = live & ~np.isnan(record_id)
        self._ids_differ = self._ids_differ or bool((number[both] != record_id[both]).any())

    @classmethod
    def of_rows(
        cls, paths: Sequence[str], file_of: np.ndarray, columns: Mapping[str, np.ndarray]
    ) -> list[FileReport]:
        """A new report per path, each having observed its rows of ``columns`` (what
        :meth:`observe_rows` takes; row ``i`` is ``paths[file_of[i]]``'s, -1: nobody's)
        exactly as :meth:`observe_rows` would: a batch of small files in one pass, not a
        dozen array operations per file."""
        reports = [cls(path=path) for path in paths]
        mine = file_of >= 0
        if not mine.any():
            return reports
        file = file_of[mine]
        recovered, torn, time = (columns[k][mine] for k in ("recovered", "torn", "time"))
        chunk, number, record_id = (columns[k][mine] for k in ("chunk", "number", "record_id"))
        live = ~recovered
        count = len(paths)
        tallies = zip(
            np.bincount(file[live], minlength=count).tolist(),
            np.bincount(file[recovered], minlength=count).tolist(),
            np.bincount(file[torn], minlength=count).tolist(),
            strict=True,
        )
        for report, (records, recovered_count, torn_count) in zip(reports, tallies, strict=True):
            report.records, report.recovered, report.torn = records, recovered_count, torn_count
        timed = live & ~np.isnat(time)
        for key, low, high in _per_group(file[timed], [], time[timed]):
            reports[key].first_time = pd.Timestamp(low).tz_localize("UTC")
            reports[key].last_time = pd.Timestamp(high).tz_localize("UTC")
        for values, attribute in ((number, "_number_ranges"), (record_id, "_id_ranges")):
            known = live & ~np.isnan(values)
            groups = _per_group(file[known], [chunk[known]], values[known], counts=True)
            for key, sub, low, high, seen in groups:
                getattr(reports[key], attribute)[sub] = (int(low), int(high), seen)
        both = live & ~np.isnan(record_id)
        differ = file[both][number[both] != record_id[both]]
        for key in np.unique(differ).tolist():
            reports[key]._ids_differ = True
        return reports

    def _observe_numbers(self, live: pd.DataFrame) -> None:
        """Keep (min, max, count) of record numbers and EventRecordIDs per chunk.

        Gaps are counted on the merged ranges at the end, so a circular log whose newest
        chunk sits before its oldest one shows no false gap, and memory stays one tuple per
        chunk.
        """
        keys = live["chunk"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        self._fold_numbers(
            keys,
            live["record_number"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
            live["event_record_id"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        )
        self._ids_differ = self._ids_differ or bool(
            (live["record_number"] != live["event_record_id"]).fillna(False).any()
        )

    def _fold_numbers(self, chunk: np.ndarray, number: np.ndarray, record_id: np.ndarray) -> None:
        """Per chunk (min, max, count) of record numbers and EventRecordIDs (floats, NaN when
        missing) into the running ranges (:func:`_per_group`: no groupby per batch)."""
        chunk = np.asarray(chunk, dtype=np.int64)
        for column, ranges in ((number, self._number_ranges), (record_id, self._id_ranges)):
            values = np.asarray(column, dtype=np.float64)
            known = ~np.isnan(values)
            for key, low_value, high_value, count in _per_group(
                chunk[known], [], values[known], counts=True
            ):
                # Kept as floats until Python ints: a damaged number near 2**64 must not wrap
                # around in int64 (it is judged an implausible jump later, not a negative one).
                low, high = int(low_value), int(high_value)
                old = ranges.get(key)
                ranges[key] = (
                    (low, high, count)
                    if old is None
                    else (min(old[0], low), max(old[1], high), old[2] + count)
                )

    def count_lost(self, frame: pd.DataFrame) -> None:
        """Fold a batch's count of values read as missing (out of range, malformed)."""
        self.add_lost(frame.attrs.get(VALUES_LOST, {}))

    def add_lost(self, counts: Mapping[str, int]) -> None:
        """Fold counts of values read as missing, per column."""
        for name, count in counts.items():
            self._values_lost[name] = self._values_lost.get(name, 0) + count

    def absorb(self, part: FileReport) -> None:
        """Add what another reader of the same file saw (a later chunk range of it)."""
        for name, count in part._values_lost.items():
            self._values_lost[name] = self._values_lost.get(name, 0) + count
        self.records += part.records
        self.recovered += part.recovered
        self.torn += part.torn
        self.chunks += part.chunks
        self.chunks_skipped += part.chunks_skipped
        if part.first_time is not None:
            low = part.first_time
            self.first_time = low if self.first_time is None else min(self.first_time, low)
        if part.last_time is not None:
            high = part.last_time
            self.last_time = high if self.last_time is None else max(self.last_time, high)
        for ranges, more in (
            (self._number_ranges, part._number_ranges),
            (self._id_ranges, part._id_ranges),
        ):
            for chunk, (least, most, count) in more.items():
                old = ranges.get(chunk)
                ranges[chunk] = (
                    (least, most, count)
                    if old is None
                    else (min(old[0], least), max(old[1], most), old[2] + count)
                )
        self._ids_differ = self._ids_differ or part._ids_differ
        self.errors.extend(part.errors)
        self.notes.extend(part.notes)

    def finish(self) -> None:
        """Settle status, gaps and the filtered-export label."""
        number_gaps = _missing(self._number_ranges, self.notes)
        id_gaps = _missing(self._id_ranges)
        self.filtered_export = self._ids_differ and number_gaps == 0 and id_gaps > 0
        self.missing_records = number_gaps
        if self.filtered_export:
            self.notes.append(
                "filtered export: record-header numbers are renumbered 1..n while "
                f"EventRecordIDs skip {id_gaps} numbers (not missing records)"
            )
        if self._values_lost:
            counts = ", ".join(f"{n} {name}" for name, n in sorted(self._values_lost.items()))
            self.notes.append(f"values out of range or malformed, read as missing: {counts}")
        if self.status is not None:
            return
        if self.records == 0 and self.recovered == 0 and self.errors:
            self.status = FileStatus.UNREADABLE
        elif self.errors or self.missing_records:
            self.status = FileStatus.DAMAGED
        elif self.header_dirty:
            self.status = FileStatus.DIRTY
        else:
            self.status = FileStatus.OK

    def row(self) -> dict[str, object]:
        return {
            "path": self.path,
            "format": self.format,
            "status": str(self.status or FileStatus.OK),
            "size": self.size,
            "sha256": self.sha256,
            "records": self.records,
            "recovered": self.recovered,
            "torn": self.torn,
            "chunks": self.chunks,
            "chunks_skipped": self.chunks_skipped,
            "header_chunk_count": self.header_chunk_count,
            "header_dirty": self.header_dirty,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "missing_records": self.missing_records,
            "filtered_export": self.filtered_export,
            "duplicate_of": self.duplicate_of,
            "error_count": len(self.errors),
            "errors": json.dumps([e.as_dict() for e in self.errors], ensure_ascii=False),
            "notes": "; ".join(self.notes),
        }


#: A numbering gap larger than this many times the records seen (plus a chunk's worth) is a
#: damaged record number, not missing records: one flipped bit would claim 10^18 of them.
IMPLAUSIBLE_GAP_FACTOR = 16
_GAP_ALLOWANCE = 65_536


def _missing(ranges: dict[int, tuple[int, int, int]], notes: list[str] | None = None) -> int:
    """Numbers absent between the lowest and highest seen, from per-chunk (min, max, count).

    Gaps too large to be real (see :data:`IMPLAUSIBLE_GAP_FACTOR`) are left out, and said in
    ``notes``."""
    seen = sum(count for _, _, count in ranges.values())
    limit = IMPLAUSIBLE_GAP_FACTOR * seen + _GAP_ALLOWANCE
    missing, implausible = 0, []
    reach: int | None = None
    for low, high, count in sorted(ranges.values()):
        gaps = [high - low + 1 - count]
        if reach is not None and low > reach + 1:
            gaps.append(low - reach - 1)
        for gap in gaps:
            if gap > limit:
                implausible.append((low, high, gap))
            else:
                missing += max(0, gap)
        reach = high if reach is None else max(reach, high)
    if implausible and notes is not None:
        low, high, gap = implausible[0]
        notes.append(
            f"record numbers jump implausibly ({len(implausible)} time(s), first by {gap} "
            f"around {low}..{high}): damaged numbers, not counted as missing records"
        )
    return missing


INTEGRITY_COLUMNS = list(FileReport(path="").row())


def integrity_frame(reports: list[FileReport]) -> pd.DataFrame:
    """One typed row per input file."""
    frame = pd.DataFrame([r.row() for r in reports], columns=INTEGRITY_COLUMNS)
    frame["status"] = pd.Categorical(frame["status"], categories=[s.value for s in FileStatus])
    frame["format"] = frame["format"].astype("category")
    for name in ("first_time", "last_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    frame["header_chunk_count"] = frame["header_chunk_count"].astype("Int64")
    return frame


def _per_group(
    key: np.ndarray, subkeys: list[np.ndarray], values: np.ndarray, counts: bool = False
) -> list[tuple[Any, ...]]:
    """(key, *subkeys, min, max[, count]) of ``values`` per distinct key (and subkeys), in
    key order: one sort and two reductions for every group at once."""
    if not len(values):
        return []
    order = np.lexsort((*reversed(subkeys), key))
    columns = [key[order], *(sub[order] for sub in subkeys)]
    values = values[order]
    change = np.zeros(len(values), dtype=bool)
    change[0] = True
    for column in columns:
        change[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(change)
    found: list[list[Any]] = [column[starts].tolist() for column in columns]
    found += [list(np.minimum.reduceat(values, starts)), list(np.maximum.reduceat(values, starts))]
    if counts:
        found.append(np.diff(np.r_[starts, len(values)]).tolist())
    return list(zip(*found, strict=True))
