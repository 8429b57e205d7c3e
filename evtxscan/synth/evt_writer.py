"""Write small, valid legacy .evt files from event descriptions, for tests.

Records are laid out as Windows lays them out (names, the SID padded to a 4-byte boundary,
strings, data, padding, size copy) and written into the circular buffer the way the
event-log service writes them: the oldest records are dropped until the new record and the
end-of-file record fit, a record reaching the end of the buffer continues after the header,
and dropped records stay in the file until overwritten. Options damage the result the ways
real logs are damaged (dirty header with stale offsets, truncation). Same input, same bytes.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypedDict, Unpack

from evtxscan.synth.binxml import Sid

HEADER_SIZE = 0x30
EOF_SIZE = 0x28
RECORD_FIXED_SIZE = 0x38
_DIRTY, _WRAPPED = 0x1, 0x2


def _check_int(value: object, low: int, high: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high}, got {value!r}")


def _check_text(value: object, what: str, empty: bool = False) -> None:
    if not isinstance(value, str) or (not value and not empty) or "\x00" in value:
        raise ValueError(f"{what} must be a{'' if empty else ' non-empty'} string without NUL")


def _seconds(value: object, what: str) -> int:
    """A datetime (naive = UTC) as whole seconds since 1970, as the record stores it."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {value!r}")
    stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    seconds = int(stamp.timestamp() // 1)
    _check_int(seconds, 0, 2**32 - 1, f"{what} (seconds since 1970)")
    return seconds


@dataclass(frozen=True)
class EvtEventSpec:
    """One event to write as an EVENTLOGRECORD.

    ``event_id`` is the full 32-bit value (qualifiers in the high word, e.g. 0xC0001B6F) or,
    with ``qualifiers``, the 16-bit ID. ``event_type``: 1 error, 2 warning, 4 information,
    8 audit success, 16 audit failure (any 16-bit value is written). Times are stored in
    whole seconds; naive datetimes are UTC. ``time_written`` defaults to ``time_generated``.
    """

    source: str
    event_id: int
    time_generated: datetime
    qualifiers: int | None = None
    event_type: int = 4
    category: int = 0
    time_written: datetime | None = None
    computer: str = "HOST01"
    strings: tuple[str, ...] = ()
    data: bytes = b""
    sid: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.source, "source")
        _check_text(self.computer, "computer")
        if self.qualifiers is None:
            _check_int(self.event_id, 0, 2**32 - 1, "event_id")
        else:
            _check_int(self.event_id, 0, 0xFFFF, "event_id (with qualifiers)")
            _check_int(self.qualifiers, 0, 0xFFFF, "qualifiers")
        _check_int(self.event_type, 0, 0xFFFF, "event_type")
        _check_int(self.category, 0, 0xFFFF, "category")
        _seconds(self.time_generated, "time_generated")
        if self.time_written is not None:
            _seconds(self.time_written, "time_written")
        object.__setattr__(self, "strings", tuple(self.strings))
        if len(self.strings) > 0xFFFF:
            raise ValueError("at most 65535 strings")
        for text in self.strings:
            _check_text(text, "each string", empty=True)
        if not isinstance(self.data, bytes):
            raise ValueError(f"data must be bytes, got {type(self.data).__name__}")
        if self.sid is not None:
            Sid(self.sid)  # raises ValueError when malformed

    @property
    def full_event_id(self) -> int:
        """The 32-bit EventID field."""
        if self.qualifiers is None:
            return self.event_id
        return self.qualifiers << 16 | self.event_id


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def record_bytes(event: EvtEventSpec, number: int, sid_padding: int | None = None) -> bytes:
    """One EVENTLOGRECORD. ``sid_padding``: bytes between the computer name and the SID
    (None: Windows' 4-byte alignment, i.e. 0 or 2)."""
    _check_int(number, 0, 2**32 - 1, "record number")
    body = bytearray(_utf16z(event.source) + _utf16z(event.computer))
    offset = RECORD_FIXED_SIZE + len(body)
    sid = Sid(event.sid).to_bytes() if event.sid is not None else b""
    if sid:
        pad = -offset % 4 if sid_padding is None else sid_padding
        _check_int(pad, 0, 64, "sid_padding")
        body += bytes(pad)
        offset += pad
    sid_offset = offset
    body += sid
    string_offset = sid_offset + len(sid)
    body += b"".join(_utf16z(text) for text in event.strings)
    data_offset = RECORD_FIXED_SIZE + len(body)
    body += event.data
    body += bytes(4 - len(body) % 4)  # Windows pads 1 to 4 bytes, never 0
    length = RECORD_FIXED_SIZE + len(body) + 4
    written = event.time_generated if event.time_written is None else event.time_written
    fixed = struct.pack(
        "<I4s4I4H6I",
        length,
        b"LfLe",
        number,
        _seconds(event.time_generated, "time_generated"),
        _seconds(written, "time_written"),
        event.full_event_id,
        event.event_type,
        len(event.strings),
        event.category,
        0,  # ReservedFlags
        0,  # ClosingRecordNumber
        string_offset,
        len(sid),
        sid_offset,
        len(event.data),
        data_offset,
    )
    return fixed + bytes(body) + struct.pack("<I", length)


class _Live(NamedTuple):
    offset: int
    length: int
    number: int


class _State(NamedTuple):
    """What the header says at one moment: oldest offset, EOF offset, next/oldest number."""

    start: int
    end: int
    current: int
    oldest: int
    wrapped: bool


class _Buffer:
    """The circular buffer as the event-log service fills it."""

    def __init__(self, size: int, first_number: int) -> None:
        self.image = bytearray(size)
        self.size = size
        self.write = HEADER_SIZE
        self.live: deque[_Live] = deque()
        self.next_number = first_number
        self.wrapped = False
        self._write_eof()

    def put(self, offset: int, data: bytes) -> None:
        first = min(len(data), self.size - offset)
        self.image[offset : offset + first] = data[:first]
        self.image[HEADER_SIZE : HEADER_SIZE + len(data) - first] = data[first:]

    def advance(self, offset: int, count: int) -> int:
        span = self.size - HEADER_SIZE
        return HEADER_SIZE + (offset - HEADER_SIZE + count) % span

    def free(self) -> int:
        if not self.live:
            return self.size - HEADER_SIZE
        return (self.live[0].offset - self.write) % (self.size - HEADER_SIZE)

    def append(self, record: bytes) -> None:
        if len(record) + EOF_SIZE > self.size - HEADER_SIZE:
            raise ValueError(f"a {len(record)}-byte record does not fit into the buffer")
        while self.free() < len(record) + EOF_SIZE:
            self.live.popleft()
            self.wrapped = True
        self.put(self.write, record)
        self.live.append(_Live(self.write, len(record), self.next_number))
        self.wrapped = self.wrapped or self.write + len(record) >= self.size
        self.write = self.advance(self.write, len(record))
        self.next_number += 1
        self._write_eof()

    def _write_eof(self) -> None:
        """ELF_EOF_RECORD after the newest record (split by the wrap if need be)."""
        signatures = (0x11111111, 0x22222222, 0x33333333, 0x44444444)
        eof = struct.pack("<5I4II", EOF_SIZE, *signatures, *self.state()[:4], EOF_SIZE)
        self.put(self.write, eof)

    def leave_stale(self, records: list[bytes]) -> None:
        """Older records in the free space after the EOF record, as a reorganised or grown
        log leaves them (they are recovered, not live)."""
        if sum(map(len, records)) + EOF_SIZE > self.free():
            raise ValueError("the stale records do not fit into the free space")
        offset = self.advance(self.write, EOF_SIZE)
        for record in records:
            self.put(offset, record)
            offset = self.advance(offset, len(record))

    def state(self) -> _State:
        start = self.live[0].offset if self.live else HEADER_SIZE
        oldest = self.live[0].number if self.live else 0
        return _State(start, self.write, self.next_number, oldest, self.wrapped)


def _records(
    events: Iterable[EvtEventSpec], first_number: int, sid_padding: int | None
) -> list[bytes]:
    records: list[bytes] = []
    for number, event in enumerate(events, start=first_number):
        if not isinstance(event, EvtEventSpec):
            raise TypeError(f"expected EvtEventSpec, got {type(event).__name__}")
        records.append(record_bytes(event, number & 0xFFFFFFFF, sid_padding))
    return records


def evt_bytes(
    events: Iterable[EvtEventSpec],
    *,
    max_size: int | None = None,
    wrap: bool = False,
    dirty: bool = False,
    truncate_at: int | None = None,
    sid_padding: int | None = None,
    first_record_number: int = 1,
    retention: int = 0,
    stale: Iterable[EvtEventSpec] = (),
) -> bytes:
    """The .evt image of ``events``, records numbered from ``first_record_number``.

    ``max_size``: the file (= buffer) size; by default just large enough. ``wrap``: write
    circularly into ``max_size``, dropping the oldest records (which stay in the file until
    overwritten) and splitting a record at the end of the buffer; without it, events that
    do not fit raise ValueError. ``dirty``: set the dirty flag and leave the header as it
    was halfway through (stale offsets and numbers). ``truncate_at``: cut the file there.
    ``sid_padding``: see :func:`record_bytes`. ``stale``: older events left whole in the
    free space after the EOF record, numbered just below ``first_record_number``.
    """
    _check_int(first_record_number, 0, 2**32 - 1, "first_record_number")
    _check_int(retention, 0, 2**32 - 1, "retention")
    records = _records(events, first_record_number, sid_padding)
    stale_events = list(stale)
    if len(stale_events) > first_record_number:
        raise ValueError("stale records are numbered below first_record_number: too many")
    old = _records(stale_events, first_record_number - len(stale_events), sid_padding)
    needed = HEADER_SIZE + sum(map(len, records + old)) + EOF_SIZE
    if max_size is None:
        if wrap:
            raise ValueError("wrap=True needs max_size (the buffer to wrap in)")
        max_size = needed
    _check_int(max_size, HEADER_SIZE + EOF_SIZE, 2**32 - 4, "max_size")
    if max_size % 4:
        raise ValueError("max_size must be a multiple of 4")
    if not wrap and needed > max_size:
        raise ValueError(f"the events need {needed} bytes, more than max_size (use wrap=True)")
    buffer = _Buffer(max_size, first_record_number)
    snapshot = buffer.state()
    for index, record in enumerate(records):
        if index == len(records) // 2:
            snapshot = buffer.state()
        buffer.append(record)
    buffer.leave_stale(old)
    state = snapshot if dirty else buffer.state()
    flags = (_DIRTY if dirty else 0) | (_WRAPPED if state.wrapped else 0)
    header = struct.pack(
        "<I4s10I",
        HEADER_SIZE,
        b"LfLe",
        1,
        1,
        *state[:4],
        max_size,
        flags,
        retention,
        HEADER_SIZE,
    )
    buffer.image[:HEADER_SIZE] = header
    data = bytes(buffer.image)
    if truncate_at is not None:
        _check_int(truncate_at, 0, len(data), "truncate_at")
        data = data[:truncate_at]
    return data


class EvtOptions(TypedDict, total=False):
    """The keyword options of :func:`evt_bytes`, for :func:`write_evt`."""

    max_size: int | None
    wrap: bool
    dirty: bool
    truncate_at: int | None
    sid_padding: int | None
    first_record_number: int
    retention: int
    stale: Iterable[EvtEventSpec]


def write_evt(
    path: str | os.PathLike[str], events: Iterable[EvtEventSpec], **options: Unpack[EvtOptions]
) -> Path:
    """Write :func:`evt_bytes` of ``events`` (same options) to ``path``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(evt_bytes(events, **options))
    return target
