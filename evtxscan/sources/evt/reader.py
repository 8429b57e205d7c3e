"""Read a legacy Windows NT/2000/XP/2003 ``.evt`` log into the normalized record batches.

Fields are read through the record's own offsets and sizes (strings via StringOffset and
NumStrings, binary data via DataOffset and DataLength, the SID via its offset), never by
assuming a layout: Windows pads the SID to a 4-byte boundary. An .evt file does not name its
log, so the channel comes from the file's conventional name when it has one.

Event types become EVTX levels the way Windows renders legacy events in EVTX XML: error 2,
warning 3, information 4, and 0 (LogAlways) for success and both audit types; keywords get
the classic-event bit (0x80000000000000) plus Audit Success (0x20000000000000) or Audit
Failure (0x10000000000000), so audit outcomes survive without an event-type column.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from enum import IntEnum

import pandas as pd

from evtxscan.records.batch import RecordBatch
from evtxscan.records.filetime import FILETIME_TICKS_AT_1970
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import EventFields, RecordPosition
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evt.layout import (
    RECORD_FIXED_SIZE,
    Buffer,
    HeaderFlag,
    RawRecord,
    Walk,
    locate,
    make_ring,
    parse_header,
    walk_live,
    walk_recovered,
)
from evtxscan.sources.integrity import FileReport

#: EVENTLOGRECORD after Length and "LfLe": RecordNumber ... DataOffset.
_FIXED = struct.Struct("<8x4I4H6I")
CLASSIC_KEYWORD = 0x80000000000000
AUDIT_SUCCESS_KEYWORD = 0x20000000000000
AUDIT_FAILURE_KEYWORD = 0x10000000000000


class EventType(IntEnum):
    """EVENTLOGRECORD EventType."""

    SUCCESS = 0x00
    ERROR = 0x01
    WARNING = 0x02
    INFORMATION = 0x04
    AUDIT_SUCCESS = 0x08
    AUDIT_FAILURE = 0x10


#: EventType -> EVTX Level, as Windows renders legacy events (unknown types: no level).
LEVELS: dict[EventType, int] = {
    EventType.SUCCESS: 0,
    EventType.ERROR: 2,
    EventType.WARNING: 3,
    EventType.INFORMATION: 4,
    EventType.AUDIT_SUCCESS: 0,
    EventType.AUDIT_FAILURE: 0,
}
_AUDIT_KEYWORDS = {
    EventType.AUDIT_SUCCESS: AUDIT_SUCCESS_KEYWORD,
    EventType.AUDIT_FAILURE: AUDIT_FAILURE_KEYWORD,
}

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


@dataclass(frozen=True)
class EvtRecord:
    """One decoded EVENTLOGRECORD (before normalization), with what could not be read."""

    number: int
    time_generated: int  # seconds since 1970, UTC
    time_written: int
    event_id: int  # full 32 bits: qualifiers in the high word
    event_type: int
    category: int
    source_name: str | None
    computer: str | None
    user_sid: str | None
    strings: tuple[str, ...]
    data: bytes
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("number", "time_generated", "time_written", "event_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < 2**32:
                raise ValueError(f"{name} must be a 32-bit unsigned integer, got {value!r}")
        if not 0 <= self.event_type < 2**16 or not 0 <= self.category < 2**16:
            raise ValueError("event_type and category are 16-bit")

    def fields(self, channel: str | None) -> EventFields:
        """The normalized fields (see the module docstring for level and keywords)."""
        kind = EventType(self.event_type) if self.event_type in _TYPES else None
        keywords = None if kind is None else CLASSIC_KEYWORD | _AUDIT_KEYWORDS.get(kind, 0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time_generated))
        return EventFields(
            provider=self.source_name,
            provider_guid=None,
            event_source_name=self.source_name,
            event_id=self.event_id & 0xFFFF,
            qualifiers=self.event_id >> 16,
            version=None,
            level=None if kind is None else LEVELS[kind],
            task=self.category,
            opcode=None,
            keywords=keywords,
            time_created=f"{stamp}.000000Z",
            event_record_id=self.number,
            process_id=None,
            thread_id=None,
            channel=channel,
            computer=self.computer,
            user_sid=self.user_sid,
            data=[(None, text) for text in self.strings],
            binary=self.data.hex().upper() or None,
        )

    @property
    def written_filetime(self) -> int:
        return self.time_written * 10_000_000 + FILETIME_TICKS_AT_1970


_TYPES = frozenset(int(t) for t in EventType)


def _utf16z(image: bytes, start: int, limit: int) -> tuple[str, int, bool]:
    """The NUL-terminated UTF-16LE string at ``start``, the offset after it, and whether
    its terminator was found before ``limit``."""
    end = image.find(b"\x00\x00", start, limit)
    while end >= 0 and (end - start) % 2:
        end = image.find(b"\x00\x00", end + 1, limit)
    if end < 0:
        stop = start + (limit - start) // 2 * 2
        return image[start:stop].decode("utf-16-le", "replace"), limit, False
    return image[start:end].decode("utf-16-le", "replace"), end + 2, True


def sid_text(raw: bytes) -> str | None:
    """A binary SID as ``S-1-5-...`` text (authority in hex when it exceeds 32 bits)."""
    if len(raw) < 8 or len(raw) < 8 + 4 * raw[1]:
        return None
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack_from(f"<{raw[1]}I", raw, 8)
    head = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    return "-".join(["S", str(raw[0]), head, *map(str, subs)])


def decode_record(image: bytes) -> EvtRecord:
    """The fields of one record image; bad offsets become ``problems``, never exceptions."""
    (number, generated, written, event_id, event_type, count, category, _flags) = (
        _FIXED.unpack_from(image)[:8]
    )
    string_offset, sid_length, sid_offset, data_length, data_offset = _FIXED.unpack_from(image)[9:]
    body = len(image) - 4  # before the size copy
    problems: list[str] = []
    source_name, after, ok = _utf16z(image, RECORD_FIXED_SIZE, body)
    computer, _, ok2 = _utf16z(image, after, body) if ok else (None, body, False)
    if not (ok and ok2):
        problems.append("source or computer name not terminated")
    user_sid = None
    if sid_length:
        if sid_offset >= RECORD_FIXED_SIZE and sid_offset + sid_length <= body:
            user_sid = sid_text(image[sid_offset : sid_offset + sid_length])
        if user_sid is None:
            problems.append(f"unreadable SID ({sid_length} bytes at {sid_offset})")
    data = b""
    if data_length:
        if data_offset >= RECORD_FIXED_SIZE and data_offset + data_length <= body:
            data = image[data_offset : data_offset + data_length]
        else:
            problems.append(f"data ({data_length} bytes at {data_offset}) outside the record")
    strings: list[str] = []
    if count:
        limit = data_offset if data and data_offset > string_offset else body
        position = string_offset if RECORD_FIXED_SIZE <= string_offset <= limit else limit
        while len(strings) < count and position < limit:
            text, position, ok = _utf16z(image, position, limit)
            strings.append(text)
        if len(strings) < count or not ok:
            problems.append(f"{len(strings)} of {count} strings readable")
    return EvtRecord(
        number,
        generated,
        written,
        event_id,
        event_type,
        category,
        source_name,
        computer,
        user_sid,
        tuple(strings),
        data,
        tuple(problems),
    )


def _records(
    data: Buffer, report: FileReport, include_recovered: bool
) -> Generator[tuple[RawRecord, bool], None, None]:
    """Live records oldest first, then (optionally) the recovered ones, each with its
    ``recovered`` flag; what the walk finds goes to ``report``."""
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
    walk = Walk()
    try:
        start, stop = locate(ring, header, walk)
        if start is not None:
            for found in walk_live(ring, start, stop, walk):
                yield found, False
        if include_recovered:
            for found in walk_recovered(ring, walk):
                yield found, True
    finally:
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
    channel = infer_channel(source)
    name = file_name(source)
    if channel is None:
        report.notes.append(
            f"channel unknown: .evt files do not record their log, and {name!r} is not "
            "a conventional log file name"
        )
    else:
        report.notes.append(f"channel {channel!r} inferred from the file name {name!r}")
    batch = RecordBatch()
    damaged_recovered = 0
    records = _records(data, report, include_recovered)
    try:
        for raw, recovered in records:
            check_budget()
            event = decode_record(raw.image)
            if event.problems and recovered:
                damaged_recovered += 1
            for problem in () if recovered else event.problems:
                report.error(f"record {event.number}: {problem}", None, raw.offset)
            position = RecordPosition(
                event.number, event.written_filetime, None, raw.offset, recovered
            )
            batch.add_fields(event.fields(channel), position)
            if len(batch) >= batch_size:
                yield _frame(batch, source, host_map)
    except Exception as exc:  # a reader bug must not lose the records read so far
        report.error(f"internal error while reading: {type(exc).__name__}: {exc}")
    finally:
        records.close()  # reports the walk's findings now, also after an early stop
    if damaged_recovered:
        report.notes.append(f"{damaged_recovered} recovered records have unreadable fields")
    if len(batch):
        yield _frame(batch, source, host_map)


def _frame(batch: RecordBatch, source: str, host_map: HostMap | None) -> pd.DataFrame:
    frame = batch.frame(source_file=source, source_format="evt", host_map=host_map)
    batch.clear()
    return frame
