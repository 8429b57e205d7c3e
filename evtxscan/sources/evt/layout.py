"""The legacy .evt layout: file header, event records, end-of-file record, circular walk.

An .evt file is a 48-byte header and a circular buffer: records are appended after the
newest one, overwriting the oldest once the buffer is full (a record reaching its end is split
there). The end-of-file (EOF) record follows the newest and says where the oldest is. The
header is only rewritten when the log is closed: a dirty log's is stale, and the EOF record
is found by scanning. Records outside the live range that still parse whole are recovered.
"""

from __future__ import annotations

import mmap
import struct
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from enum import IntFlag
from functools import cached_property

HEADER_SIZE = 0x30
RECORD_FIXED_SIZE = 0x38  # EVENTLOGRECORD up to the SourceName
EOF_SIZE = 0x28
SIGNATURE = b"LfLe"
EOF_SIGNATURE = struct.pack("<4I", 0x11111111, 0x22222222, 0x33333333, 0x44444444)
_HEADER = struct.Struct("<I4s10I")
_EOF = struct.Struct("<I16s5I")
_U32 = struct.Struct("<I")
Buffer = bytes | mmap.mmap


class HeaderFlag(IntFlag):
    """ELF_LOGFILE_HEADER flags."""

    DIRTY = 0x1  # open (or not closed cleanly): header offsets may be stale
    WRAPPED = 0x2  # the buffer has wrapped around
    LOGFULL = 0x4  # the last write failed: the log was full
    ARCHIVE = 0x8  # should be archived


def _check_u32(item: object) -> None:
    """Every field of the dataclass ``item`` is a 32-bit unsigned integer, as stored."""
    for name in (f.name for f in fields(item)):  # type: ignore[arg-type]
        value = getattr(item, name)
        if not isinstance(value, int) or not 0 <= value < 2**32:
            raise ValueError(f"{name} must be a 32-bit unsigned integer, got {value!r}")


@dataclass(frozen=True)
class FileHeader:
    """ELF_LOGFILE_HEADER: where the log says its oldest record and EOF record are."""

    major: int
    minor: int
    start_offset: int
    end_offset: int
    current_record_number: int  # the number the next record will get
    oldest_record_number: int  # 0 when the log is empty
    max_size: int
    flags: HeaderFlag
    retention: int

    def __post_init__(self) -> None:
        _check_u32(self)

    @property
    def dirty(self) -> bool:
        return HeaderFlag.DIRTY in self.flags


def parse_header(data: Buffer) -> FileHeader | None:
    """The header at offset 0, or None when its sizes or signature are wrong."""
    if len(data) < HEADER_SIZE:
        return None
    size, magic, *fields, end_size = _HEADER.unpack(bytes(data[:HEADER_SIZE]))
    if size != HEADER_SIZE or magic != SIGNATURE or end_size != HEADER_SIZE:
        return None
    major, minor, start, end, current, oldest, max_size, flags, retention = fields
    return FileHeader(
        major, minor, start, end, current, oldest, max_size, HeaderFlag(flags), retention
    )


@dataclass(frozen=True)
class EofRecord:
    """ELF_EOF_RECORD: written after every new record, so current even in a dirty log."""

    offset: int
    begin_record: int  # offset of the oldest record
    end_record: int  # offset of this EOF record
    current_record_number: int
    oldest_record_number: int

    def __post_init__(self) -> None:
        _check_u32(self)


@dataclass(frozen=True)
class RawRecord:
    """One event record's bytes, reassembled when the buffer's end split it."""

    offset: int  # file offset of the record's first byte
    image: bytes
    wrapped: bool  # split by the end of the buffer
    size_copy_ok: bool  # the trailing copy of the size matches

    def __post_init__(self) -> None:
        if len(self.image) < RECORD_FIXED_SIZE or self.image[4:8] != SIGNATURE:
            raise ValueError("an event record starts with its size and 'LfLe'")

    @property
    def length(self) -> int:
        return len(self.image)

    @property
    def number(self) -> int:
        return int(_U32.unpack_from(self.image, 8)[0])


@dataclass(frozen=True)
class Ring:
    """The circular buffer: file offsets ``[HEADER_SIZE, end)``; bytes past the data are lost."""

    data: Buffer
    end: int  # where the buffer wraps (the file size, or the header's larger MaxSize)

    @cached_property
    def size(self) -> int:  # (asked for at every record: computed once)
        return max(0, self.end - HEADER_SIZE)

    @cached_property
    def available(self) -> int:
        return min(len(self.data), self.end)

    def contains(self, offset: int) -> bool:
        return HEADER_SIZE <= offset < self.end

    def advance(self, offset: int, count: int) -> int:
        return HEADER_SIZE + (offset - HEADER_SIZE + count) % self.size

    def distance(self, start: int, stop: int) -> int:
        """Bytes from ``start`` forward to ``stop``, wrapping."""
        return (stop - start) % self.size

    def read(self, offset: int, count: int) -> bytes:
        """``count`` bytes from ``offset``, wrapping; shorter when the file ends first."""
        first = self.data[offset : min(offset + count, self.available)]
        if offset + count <= self.end or len(first) < self.end - offset:
            return bytes(first)
        rest = count - len(first)
        return bytes(first) + bytes(self.data[HEADER_SIZE : HEADER_SIZE + rest])

    def find_all(self, pattern: bytes, start: int = HEADER_SIZE) -> Iterator[int]:
        """Offsets where ``pattern`` starts, in buffer order from ``start`` round to just
        before it, also where it spans the wrap (bounded: one pass over the buffer)."""
        stop = self.available
        hit = self.data.find(pattern, start, stop)
        while hit >= 0:
            yield hit
            hit = self.data.find(pattern, hit + 1, stop)
        if stop == self.end and self.size >= len(pattern):
            tail = max(HEADER_SIZE, self.end - len(pattern) + 1)
            joined = self.read(tail, len(pattern) - 1 + self.end - tail)
            at = joined.find(pattern)
            while 0 <= at < self.end - tail:
                if tail + at >= start:
                    yield tail + at
                at = joined.find(pattern, at + 1)
        if start > HEADER_SIZE:
            stop = min(start, self.available)
            hit = self.data.find(pattern, HEADER_SIZE, stop)
            while hit >= 0:
                yield hit
                hit = self.data.find(pattern, hit + 1, stop)

    def back(self, offset: int, count: int) -> int:
        return self.advance(offset, self.size - count % self.size)


def make_ring(data: Buffer, header: FileHeader | None) -> Ring:
    """The buffer ends at the file's end, or at the header's MaxSize when the file is shorter
    (a truncated copy)."""
    end = len(data)
    if header is not None and header.max_size > end:
        end = header.max_size
    return Ring(data, max(end, HEADER_SIZE))


def record_at(ring: Ring, offset: int, *, strict: bool = False) -> RawRecord | str:
    """The record at ``offset``, or why there is none. ``strict`` also demands the size copy."""
    if not ring.contains(offset):
        return "offset outside the log's buffer"
    head = ring.read(offset, 8)
    if len(head) < 8:
        return "the file ends inside the record"
    length = _U32.unpack_from(head)[0]
    if head[4:] != SIGNATURE:
        return "no event record signature"
    if length < RECORD_FIXED_SIZE or length > ring.size:
        return f"implausible record size {length}"
    image = ring.read(offset, length)
    if len(image) < length:
        return "the file ends inside the record"
    size_copy_ok = _U32.unpack_from(image, length - 4)[0] == length
    if strict and not size_copy_ok:
        return "the record's size copy does not match"
    return RawRecord(offset, image, offset + length > ring.end, size_copy_ok)


def eof_at(ring: Ring, offset: int) -> EofRecord | None:
    """The EOF record at ``offset`` (possibly split by the wrap), or None."""
    if not ring.contains(offset):
        return None
    raw = ring.read(offset, EOF_SIZE)
    if len(raw) < EOF_SIZE:
        return None
    size, magic, begin, end, current, oldest, end_size = _EOF.unpack(raw)
    if size != EOF_SIZE or magic != EOF_SIGNATURE or end_size != EOF_SIZE:
        return None
    return EofRecord(offset, begin, end, current, oldest)


@dataclass
class Walk:
    """What walking the buffer found besides records: problems (with offsets) and notes."""

    errors: list[tuple[str, int | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # live bytes, file offsets
    torn: list[RawRecord] = field(default_factory=list)  # deleted, size copy disagrees

    def claim(self, ring: Ring, offset: int, length: int) -> None:
        first = min(length, ring.end - offset)
        self.spans.append((offset, offset + first))
        if first < length:
            self.spans.append((HEADER_SIZE, HEADER_SIZE + length - first))


def _overlaps(spans: list[tuple[int, int]], start: int, stop: int) -> bool:
    """Whether ``[start, stop)`` overlaps one of the sorted, disjoint ``spans``."""
    index = bisect_right(spans, (start, 2**63))
    if index and spans[index - 1][1] > start:
        return True
    return index < len(spans) and spans[index][0] < stop


def locate(ring: Ring, header: FileHeader | None, walk: Walk) -> tuple[int | None, int | None]:
    """Where the live records start and where the EOF record is (None: none found).

    The EOF record at the header's end offset is taken when the header is clean; otherwise
    (dirty, stale, or damaged header) the newest intact EOF record found by scanning.
    """
    found_eofs = (eof_at(ring, ring.back(hit, 4)) for hit in ring.find_all(EOF_SIGNATURE))
    eofs = [eof for eof in found_eofs if eof is not None]
    eof = next((e for e in eofs if header and e.offset == header.end_offset), None)
    if eof is None or (header is not None and header.dirty):
        ranked = sorted(eofs, key=lambda e: (e.end_record == e.offset, e.current_record_number))
        eof = ranked[-1] if ranked else None
    if header is not None and ring.available < ring.end:
        walk.notes.append(
            f"the file ({ring.available} bytes) is shorter than the log's size ({ring.end})"
        )
    if eof is None:
        walk.errors.append(("no end-of-file record: records followed from the oldest", None))
        return _oldest_without_eof(ring, header), None
    if header is not None and eof.offset != header.end_offset:
        stale = f"the header's end-of-file offset {header.end_offset} is stale"
        if header.dirty:
            walk.notes.append(f"end-of-file record found at {eof.offset} by scanning ({stale})")
        else:
            walk.errors.append((f"{stale}; end-of-file record found by scanning", eof.offset))
    if eof.oldest_record_number == 0 or eof.begin_record == eof.offset:
        return eof.offset, eof.offset  # an empty log
    found = record_at(ring, eof.begin_record)
    if isinstance(found, RawRecord) and found.number == eof.oldest_record_number:
        return eof.begin_record, eof.offset
    why = found if isinstance(found, str) else f"record {found.number} is there"
    start = _walk_back(ring, eof)
    message = f"oldest record {eof.oldest_record_number} unreadable ({why}); live records "
    walk.errors.append((message + f"from {start}, found from the end", eof.begin_record))
    return start, eof.offset


def _walk_back(ring: Ring, eof: EofRecord) -> int:
    """The oldest record reachable backwards from the EOF record through the size copies."""
    offset, start, number, travelled = eof.offset, eof.offset, None, 0
    while travelled < ring.size:
        copy = ring.read(ring.back(offset, 4), 4)
        if len(copy) < 4:
            break
        length = _U32.unpack(copy)[0]
        if not RECORD_FIXED_SIZE <= length <= ring.size - travelled:
            break
        found = record_at(ring, ring.back(offset, length), strict=True)
        if not isinstance(found, RawRecord) or (number is not None and found.number >= number):
            break
        offset = start = found.offset
        number, travelled = found.number, travelled + length
        if number == eof.oldest_record_number:
            break
    return start


def _oldest_without_eof(ring: Ring, header: FileHeader | None) -> int | None:
    """The header's oldest record when it is there, else the lowest-numbered whole record."""
    if header is not None:
        found = record_at(ring, header.start_offset)
        if isinstance(found, RawRecord):
            return header.start_offset
    best: RawRecord | None = None
    for hit in ring.find_all(SIGNATURE):
        found = record_at(ring, ring.back(hit, 4), strict=True)
        if isinstance(found, RawRecord) and (best is None or found.number < best.number):
            best = found
    return None if best is None else best.offset


def _nearest(ring: Ring, offset: int, limit: int, after: int | None) -> RawRecord | None:
    """The first whole record less than ``limit`` bytes after ``offset`` (to resynchronise
    after damage); with ``after``, only one numbered higher."""
    for hit in ring.find_all(SIGNATURE, ring.advance(offset, 1)):
        start = ring.back(hit, 4)
        gap = ring.distance(offset, start)
        if gap >= limit:
            return None
        found = record_at(ring, start, strict=True)
        if gap and isinstance(found, RawRecord) and (after is None or found.number > after):
            return found
    return None


def walk_live(ring: Ring, start: int, stop: int | None, walk: Walk) -> Iterator[RawRecord]:
    """The records from ``start`` to the EOF record at ``stop``; with no EOF record, along
    the chain while record numbers increase. Damage is skipped by resynchronising."""
    offset, last, travelled = start, None, 0
    while travelled < ring.size and offset != stop:
        found = record_at(ring, offset)
        chained = stop is not None or last is None
        if isinstance(found, RawRecord) and (chained or found.number > (last or 0)):
            if stop is not None and 0 < ring.distance(offset, stop) < found.length:
                walk.errors.append(("a record overlaps the end-of-file record", offset))
                return
            if not found.size_copy_ok:
                walk.errors.append((f"record {found.number}: size copy mismatch", offset))
            walk.claim(ring, offset, found.length)
            yield found
            last = found.number
            offset = ring.advance(offset, found.length)
            travelled += found.length
            continue
        reason = found if isinstance(found, str) else "record numbers stop increasing"
        limit = ring.distance(offset, stop) if stop is not None else ring.size - travelled
        nxt = _nearest(ring, offset, limit, None if stop is not None else last)
        cut = reason == "the file ends inside the record" or offset >= ring.available
        if nxt is not None or stop is not None or cut:
            _report_gap(ring, offset, nxt, reason if not cut else "", walk)
        if nxt is None:
            return
        travelled += ring.distance(offset, nxt.offset)
        offset = nxt.offset


def _report_gap(ring: Ring, offset: int, nxt: RawRecord | None, reason: str, walk: Walk) -> None:
    """Record why live data was skipped (``reason`` empty: the file was cut there)."""
    if not reason:
        missing = f"the file ends {ring.end - ring.available} bytes short of the log's size"
        walk.errors.append((f"truncated: {missing}; records there are lost", offset))
        return
    resumed = nxt.offset if nxt is not None else None
    if resumed == HEADER_SIZE and offset > HEADER_SIZE:
        if ring.data[offset : ring.end].strip(b"\x00'"):  # filler before the wrap is normal
            walk.notes.append(f"{ring.end - offset} bytes of non-record data before the wrap")
        return
    where = f"up to offset {resumed}" if resumed is not None else "up to the end-of-file record"
    walk.errors.append((f"unreadable live data ({reason}) skipped {where}", offset))


def walk_recovered(ring: Ring, walk: Walk) -> Iterator[RawRecord]:
    """Whole records (size copy intact) outside the live ones: left from before a wrap or
    past the EOF record. Overlapping candidates keep the first."""
    spans = sorted(walk.spans)
    cursor = HEADER_SIZE
    for hit in ring.find_all(SIGNATURE):
        offset = ring.back(hit, 4)
        if offset < cursor or _overlaps(spans, offset, offset + 1):
            continue
        found = record_at(ring, offset)
        if not isinstance(found, RawRecord):
            continue
        stop = min(offset + found.length, ring.end)
        rest = found.length - (stop - offset)
        if _overlaps(spans, offset, stop) or (
            rest and _overlaps(spans, HEADER_SIZE, HEADER_SIZE + rest)
        ):
            continue
        if not found.size_copy_ok:
            walk.torn.append(found)
            continue
        cursor = stop
        yield found
