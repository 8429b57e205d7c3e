"""A record-by-record decoder of .evt record images: the rules of the column-wise one
(:mod:`evtxscan.sources.evt.columns`, :mod:`evtxscan.sources.evt.frame`) written out plainly,
one record at a time (the reader's own code before it decoded batches), for comparing the
two on every record of real and damaged logs."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import pandas as pd

from evtxscan.records.batch import build_frame
from evtxscan.records.filetime import FILETIME_TICKS_AT_1970
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import EventFields, RecordPosition
from evtxscan.sources.evt.columns import sid_text
from evtxscan.sources.evt.frame import KEYWORDS, LEVELS, EventType
from evtxscan.sources.evt.layout import RECORD_FIXED_SIZE, RawRecord

#: EVENTLOGRECORD after Length and "LfLe": RecordNumber ... DataOffset.
_FIXED = struct.Struct("<8x4I4H6I")
_TYPES = frozenset(int(t) for t in EventType)


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
        keywords = None if kind is None else KEYWORDS[kind]
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


def reference_frame(
    found: list[tuple[RawRecord, bool]],
    *,
    channel: str | None,
    source_file: str,
    host_map: HostMap | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """The typed frame of records decoded one by one, and each record's problems."""
    events = [decode_record(raw.image) for raw, _ in found]
    positions = [
        RecordPosition(e.number, e.written_filetime, None, raw.offset, recovered)
        for e, (raw, recovered) in zip(events, found, strict=True)
    ]
    frame = build_frame(
        [e.fields(channel) for e in events],
        positions,
        source_file=source_file,
        source_format="evt",
        host_map=host_map,
    )
    return frame, [e.problems for e in events]
