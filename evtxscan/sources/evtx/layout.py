"""The .evtx container: file header, 64 KiB chunks and record headers, read by us, not a parser.

Both backends parse events one chunk at a time from an image this module builds (a fresh,
valid file header followed by one chunk). That way a stale header chunk count (dirty logs),
a zeroed or damaged file header, a bad chunk or a file truncated mid-chunk never stops a
parser from reaching the good chunks, and every record is tied to its chunk and offset.
Layout facts follow libyal's "Windows XML Event Log (EVTX)" format description.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
RECORD_MAGIC = 0x00002A2A  # "**\0\0"
FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_HEADER_SIZE = 24
_MIN_RECORD_SIZE = 28

FLAG_DIRTY = 0x1
FLAG_FULL = 0x2


@dataclass(frozen=True)
class FileHeader:
    """The 4 KiB file header. ``checksum_ok`` is the CRC32 of its first 120 bytes."""

    first_chunk: int
    last_chunk: int
    next_record_id: int
    minor_version: int
    major_version: int
    chunk_count: int
    flags: int
    checksum_ok: bool

    @property
    def dirty(self) -> bool:
        return bool(self.flags & FLAG_DIRTY)

    @property
    def full(self) -> bool:
        return bool(self.flags & FLAG_FULL)


def parse_file_header(data: bytes) -> FileHeader | None:
    """The file header, or None when the first bytes are not an EVTX header."""
    if len(data) < 128 or data[:8] != FILE_MAGIC:
        return None
    first, last, next_id, _size, minor, major, _block, count = struct.unpack_from(
        "<QQQIHHHH", data, 8
    )
    flags, checksum = struct.unpack_from("<II", data, 120)
    return FileHeader(
        first_chunk=first,
        last_chunk=last,
        next_record_id=next_id,
        minor_version=minor,
        major_version=major,
        chunk_count=count,
        flags=flags,
        checksum_ok=zlib.crc32(data[:120]) == checksum,
    )


class RecordHeader(NamedTuple):
    """One record's header: offset within the chunk, size, number and written FILETIME."""

    offset: int
    size: int
    record_number: int
    written_time: int


@dataclass(frozen=True)
class Chunk:
    """One 64 KiB chunk slot of the file and what we found in it."""

    index: int
    file_offset: int
    data: bytes  # always CHUNK_SIZE bytes (a truncated chunk is zero-padded)
    records: tuple[RecordHeader, ...]
    slack_records: tuple[RecordHeader, ...]  # valid records past the free-space offset
    header_crc_ok: bool
    data_crc_ok: bool
    truncated: bool  # the file ends inside this chunk


@dataclass(frozen=True)
class ChunkProblem:
    """A chunk slot that holds no readable chunk."""

    index: int
    file_offset: int
    reason: str


def walk_records(chunk: bytes, start: int, end: int) -> list[RecordHeader]:
    """Consecutive records from ``start`` up to ``end``, stopping at the first bad header.

    The trailing size copy is not required to match: parsers read such records, and a
    damaged copy says nothing about the event itself.
    """
    out: list[RecordHeader] = []
    offset = start
    unpack = struct.unpack_from
    while offset + RECORD_HEADER_SIZE <= end:
        magic, size, number, written = unpack("<IIQQ", chunk, offset)
        if magic != RECORD_MAGIC or size < _MIN_RECORD_SIZE or offset + size > end:
            break
        out.append(RecordHeader(offset, size, number, written))
        offset += size
    return out


def _chunk_header_crc(chunk: bytes) -> int:
    return zlib.crc32(chunk[128:512], zlib.crc32(chunk[:120]))


def read_chunk(data: bytes, index: int, file_offset: int) -> Chunk | ChunkProblem:
    """Read the chunk slot at ``file_offset``: validate it and walk its records."""
    raw = data[file_offset : file_offset + CHUNK_SIZE]
    if raw[:8] != CHUNK_MAGIC:
        if not raw.strip(b"\x00"):
            return ChunkProblem(index, file_offset, "empty chunk slot (zero-filled)")
        return ChunkProblem(index, file_offset, f"bad chunk magic {raw[:8]!r}")
    truncated = len(raw) < CHUNK_SIZE
    if len(raw) < CHUNK_HEADER_SIZE:
        return ChunkProblem(index, file_offset, f"file ends {len(raw)} bytes into the chunk")
    chunk = raw.ljust(CHUNK_SIZE, b"\x00")
    free_space, data_crc = struct.unpack_from("<II", chunk, 48)
    header_crc = struct.unpack_from("<I", chunk, 124)[0]
    end = min(max(free_space, CHUNK_HEADER_SIZE), CHUNK_SIZE, len(raw))
    records = walk_records(chunk, CHUNK_HEADER_SIZE, end)
    live_end = records[-1].offset + records[-1].size if records else CHUNK_HEADER_SIZE
    slack = walk_records(chunk, live_end, len(raw)) if live_end >= end else []
    return Chunk(
        index=index,
        file_offset=file_offset,
        data=chunk,
        records=tuple(records),
        slack_records=tuple(slack),
        header_crc_ok=_chunk_header_crc(chunk) == header_crc,
        data_crc_ok=(
            free_space <= CHUNK_SIZE and zlib.crc32(chunk[CHUNK_HEADER_SIZE:free_space]) == data_crc
        ),
        truncated=truncated,
    )


def iter_chunks(data: bytes) -> Iterator[Chunk | ChunkProblem]:
    """Every 64 KiB slot after the 4 KiB header, whatever the header's chunk count says.

    Trailing zero-filled slots (a log pre-allocated but not yet written) are not reported.
    """
    offsets = range(FILE_HEADER_SIZE, len(data), CHUNK_SIZE)
    pending: list[ChunkProblem] = []
    for index, offset in enumerate(offsets):
        found = read_chunk(data, index, offset)
        if isinstance(found, ChunkProblem) and found.reason.startswith("empty chunk slot"):
            pending.append(found)
            continue
        yield from pending
        pending.clear()
        yield found


def file_header_image(chunk_count: int) -> bytes:
    """A fresh, valid 4 KiB file header (clean flags, correct CRC) for ``chunk_count`` chunks."""
    head = FILE_MAGIC + struct.pack(
        "<QQQIHHHH", 0, max(chunk_count - 1, 0), 1, 128, 1, 3, FILE_HEADER_SIZE, chunk_count
    )
    head = head.ljust(120, b"\x00")
    return (head + struct.pack("<II", 0, zlib.crc32(head))).ljust(FILE_HEADER_SIZE, b"\x00")


def chunk_with_records(chunk: Chunk, records: tuple[RecordHeader, ...]) -> bytes:
    """The chunk's bytes with its header rewritten to cover exactly ``records``.

    Used for truncated chunks (only complete records) and for chunk slack (records past the
    free-space offset). The data CRC is recomputed so strict parsers accept the image.
    """
    buf = bytearray(chunk.data)
    if records:
        last = records[-1]
        end = last.offset + last.size
        struct.pack_into("<QQ", buf, 8, records[0].record_number, last.record_number)
        struct.pack_into("<II", buf, 44, last.offset, end)
        struct.pack_into("<I", buf, 52, zlib.crc32(bytes(buf[CHUNK_HEADER_SIZE:end])))
        struct.pack_into("<I", buf, 124, _chunk_header_crc(bytes(buf)))
    return bytes(buf)


def chunk_image(*chunks: bytes) -> bytes:
    """An EVTX file image of the given chunks that any parser reads from start to end."""
    return file_header_image(len(chunks)) + b"".join(chunks)
