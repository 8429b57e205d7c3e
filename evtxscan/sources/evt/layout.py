"""The legacy .evt layout: file header, event records, end-of-file record, the ring.

An .evt file is a 48-byte header and a circular buffer: records are appended after the
newest one, overwriting the oldest once the buffer is full (a record reaching its end is split
there). The end-of-file (EOF) record follows the newest and says where the oldest is. The
header is only rewritten when the log is closed: a dirty log's is stale, and the EOF record
is found by scanning. How the buffer is walked is :mod:`evtxscan.sources.evt.walk`'s.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, fields
from enum import IntFlag
from functools import cached_property

HEADER_SIZE = 0x30
RECORD_FIXED_SIZE = 0x38  # EVENTLOGRECORD up to the SourceName
EOF_SIZE = 0x28
SIGNATURE = b"LfLe"
EOF_SIGNATURE = struct.pack("<4I", 0x11111111, 0x22222222, 0x33333333, 0x44444444)
_HEADER = struct.Struct("<I4s10I")
_EOF = struct.Struct("<I16s5I")
U32 = struct.Struct("<I")
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
        return int(U32.unpack_from(self.image, 8)[0])


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
    image = _whole_in_place(ring, offset)
    if image is None:
        head = ring.read(offset, 8)
        if len(head) < 8:
            return "the file ends inside the record"
        length = U32.unpack_from(head)[0]
        if head[4:] != SIGNATURE:
            return "no event record signature"
        if length < RECORD_FIXED_SIZE or length > ring.size:
            return f"implausible record size {length}"
        image = ring.read(offset, length)
        if len(image) < length:
            return "the file ends inside the record"
    length = len(image)
    size_copy_ok = U32.unpack_from(image, length - 4)[0] == length
    if strict and not size_copy_ok:
        return "the record's size copy does not match"
    return RawRecord(offset, image, offset + length > ring.end, size_copy_ok)


def _whole_in_place(ring: Ring, offset: int) -> bytes | None:
    """The plausible record at ``offset`` when it lies whole in a log read into memory
    (most records: one slice, no copy of its head), else None (``record_at`` judges it)."""
    data = ring.data
    if type(data) is not bytes or offset + RECORD_FIXED_SIZE > ring.available:
        return None
    length = U32.unpack_from(data, offset)[0]
    if length < RECORD_FIXED_SIZE or offset + length > ring.available:  # (not beyond size)
        return None
    return data[offset : offset + length] if data.startswith(SIGNATURE, offset + 4) else None


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
