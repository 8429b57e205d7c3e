"""Read a legacy Windows NT/2000/XP/2003 ``.evt`` log into the normalized record batches.

The walk (:mod:`layout`) finds the records; each batch of them is decoded column-wise
(:mod:`columns`) and typed (:mod:`frame`). An .evt file does not name its log, so the
channel comes from the file's conventional name when it has one.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.records.hosts import HostMap
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evt.columns import EvtColumns, decode_images
from evtxscan.sources.evt.frame import evt_frame
from evtxscan.sources.evt.layout import (
    RECORD_FIXED_SIZE,
    Buffer,
    HeaderFlag,
    RawRecord,
    make_ring,
    parse_header,
)
from evtxscan.sources.evt.walk import Walk, locate, walk_live, walk_recovered
from evtxscan.sources.integrity import FileReport

#: Logs up to this size are read into memory whole (NT's default size is 512 KiB; few were
#: set above 64 MiB); larger ones are read where the walk needs them.
WHOLE_READ_BYTES = 64 << 20

#: Conventional file names (and log names) of the classic logs, without spaces, lower case.
_CHANNELS = {
    "sysevent": "System",
    "appevent": "Application",
    "secevent": "Security",
    "dnsevent": "DNS Server",
    "ntds": "Directory Service",
    "ntfrs": "File Replication Service",
    "internet": "Internet Explorer",
    "windowspowershell": "Windows PowerShell",
}
_CHANNELS.update({name.replace(" ", "").lower(): name for name in list(_CHANNELS.values())})


def file_name(source: str) -> str:
    """The last component of a path or bundle member (``a.zip!logs/SysEvent.Evt``)."""
    return re.split(r"[/\\!]", source)[-1]


def infer_channel(source: str) -> str | None:
    """The log a file name conventionally holds (``SysEvent.Evt`` -> ``System``), or None."""
    stem, dot, extension = file_name(source).rpartition(".")
    if not dot or extension.lower() != "evt":
        return None
    return _CHANNELS.get(stem.replace(" ", "").lower())


def _records(
    data: Buffer, report: FileReport, include_recovered: bool, walk: Walk
) -> Generator[tuple[RawRecord, bool], None, None]:
    """Live records oldest first, then (optionally) the recovered ones, each with its
    ``recovered`` flag; what the header says goes to ``report``, what the walk finds to
    ``walk`` (see :func:`_report_walk`)."""
    header = parse_header(data)
    if header is None:
        report.error("file header missing or damaged; records found by scanning", None, 0)
    else:
        report.header_dirty = header.dirty
        if header.dirty:
            report.notes.append("dirty: the log was not closed cleanly (header offsets stale)")
        if HeaderFlag.LOGFULL in header.flags:
            report.notes.append("the log was full: a write failed for lack of space")
        if (header.major, header.minor) != (1, 1):
            report.notes.append(f"unexpected format version {header.major}.{header.minor}")
    ring = make_ring(data, header)
    if ring.size < RECORD_FIXED_SIZE:
        report.error(f"too small to hold an event record ({len(data)} bytes)", None, 0)
        return
    start, stop = locate(ring, header, walk)
    if start is not None:
        for found in walk_live(ring, start, stop, walk):
            yield found, False
    if include_recovered:
        for found in walk_recovered(ring, walk):
            yield found, True


def _report_walk(walk: Walk, report: FileReport) -> None:
    """What the walk found, after the problems of the records it found (also after an
    early stop)."""
    for reason, offset in walk.errors:
        report.error(reason, None, offset)
    report.notes.extend(walk.notes)
    if walk.torn:  # said, not dropped silently
        first = walk.torn[0]
        report.notes.append(
            f"{len(walk.torn)} deleted record(s) not recovered, first record "
            f"{first.number} at offset {first.offset}: the size copy at their end "
            "disagrees (overwritten in part)"
        )


@dataclass(frozen=True)
class EvtBatch:
    """Records of an .evt log decoded column-wise, not yet typed: ``offsets`` (file
    offsets) and ``recovered`` per record, the log's ``channel`` (from its file name)."""

    columns: EvtColumns
    offsets: np.ndarray
    recovered: np.ndarray
    channel: str | None

    def frame(self, source: str, host_map: HostMap | None = None) -> pd.DataFrame:
        """The typed frame of every record."""
        return evt_frame(self.columns, self.offsets, self.recovered, channel=self.channel,
                         source_file=source, host_map=host_map)  # fmt: skip

    def take(self, rows: np.ndarray) -> EvtBatch:
        """The records at ``rows`` (positions, in order)."""
        return EvtBatch(self.columns.take(rows), self.offsets[rows], self.recovered[rows],
                        self.channel)  # fmt: skip


def read_evt(
    data: Buffer,
    *,
    source: str,
    report: FileReport,
    host_map: HostMap | None = None,
    batch_size: int = 10_000,
    include_recovered: bool = True,
) -> Iterator[pd.DataFrame]:
    """Typed batches of every record of an .evt image: live records oldest first, then those
    recovered outside the live range. Problems go to ``report`` (errors with their offsets,
    notes, the dirty flag); bad data never raises. The caller folds the batches into the
    report (:meth:`FileReport.observe`), as for EVTX."""
    for batch in evt_batches(data, source=source, report=report, batch_size=batch_size,
                             include_recovered=include_recovered):  # fmt: skip
        yield batch.frame(source, host_map)


def evt_batches(
    data: Buffer,
    *,
    source: str,
    report: FileReport,
    batch_size: int = 10_000,
    include_recovered: bool = True,
) -> Iterator[EvtBatch]:
    """:func:`read_evt`'s batches before they are typed (a scan types only the records it
    keeps); the problems of their records are in ``report`` when each is given."""
    data = _in_memory(data)
    channel = infer_channel(source)
    name = file_name(source)
    if channel is None:
        report.notes.append(
            f"channel unknown: .evt files do not record their log, and {name!r} is not "
            "a conventional log file name"
        )
    else:
        report.notes.append(f"channel {channel!r} inferred from the file name {name!r}")
    pending: list[tuple[RawRecord, bool]] = []
    damaged_recovered, last, walk = 0, None, Walk()
    records = _records(data, report, include_recovered, walk)
    try:
        failure = None
        try:
            for found in records:
                check_budget()
                pending.append(found)
                if len(pending) >= batch_size:
                    batch, damaged = _batch(pending, report, channel)
                    damaged_recovered += damaged
                    pending.clear()
                    yield batch
        except Exception as exc:  # a reader bug must not lose the records read so far
            failure = f"internal error while reading: {type(exc).__name__}: {exc}"
        if pending:  # (their problems go to the report before the walk's findings)
            last, damaged = _batch(pending, report, channel)
            damaged_recovered += damaged
        if failure is not None:
            report.error(failure)
    finally:
        records.close()
        _report_walk(walk, report)
    if damaged_recovered:
        report.notes.append(f"{damaged_recovered} recovered records have unreadable fields")
    if last is not None:
        yield last


def read_evt_at(
    data: Buffer,
    offsets: Iterable[int],
    *,
    source: str,
    host_map: HostMap | None = None,
    batch_size: int = 10_000,
    include_recovered: bool = True,
) -> Iterator[pd.DataFrame]:
    """Typed batches of the records of an .evt image at file ``offsets``, as :func:`read_evt`
    gives them (a second read: a scan locates context records and decodes them again near a
    symptom). The walk is made again and only the wanted records are decoded; what it
    finds was reported by the first read."""
    data = _in_memory(data)
    wanted = set(offsets)
    channel = infer_channel(source)
    report = FileReport(path=source)  # (the first read's report stands)
    records = _records(data, report, include_recovered, Walk())
    pending: list[tuple[RawRecord, bool]] = []
    try:
        for found in records:
            check_budget()
            if found[0].offset not in wanted:
                continue
            pending.append(found)
            if len(pending) >= batch_size:
                yield _batch(pending, report, channel)[0].frame(source, host_map)
                pending = []
    finally:
        records.close()
    if pending:
        yield _batch(pending, report, channel)[0].frame(source, host_map)


def _in_memory(data: Buffer) -> Buffer:
    """A log up to :data:`WHOLE_READ_BYTES` as bytes: one read, not one or two per record
    (and its records then cut from it in place)."""
    if not isinstance(data, bytes) and len(data) <= WHOLE_READ_BYTES:
        return data[0 : len(data)]
    return data


def _batch(
    found: list[tuple[RawRecord, bool]], report: FileReport, channel: str | None
) -> tuple[EvtBatch, int]:
    """The records found by the walk, decoded, and how many of the recovered ones have
    unreadable fields; the live ones' problems go to ``report``."""
    columns = decode_images([raw.image for raw, _ in found])
    recovered = np.fromiter((flag for _, flag in found), dtype=bool, count=len(found))
    damaged = 0
    for (raw, flag), problems in zip(found, columns.problems, strict=True):
        if problems and flag:
            damaged += 1
        elif problems:
            number = raw.number
            for problem in problems:
                report.error(f"record {number}: {problem}", None, raw.offset)
    offsets = np.fromiter((raw.offset for raw, _ in found), dtype=np.int64, count=len(found))
    return EvtBatch(columns, offsets, recovered, channel), damaged
