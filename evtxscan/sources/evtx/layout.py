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
RECORD_MAGIC_BYTES = RECORD_MAGIC.to_bytes(4, "little")
FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_HEADER_SIZE = 24
#: The smallest record: its header and the trailing size copy.
MIN_RECORD_SIZE = 28

#: File header, bytes 0..128: magic, first chunk, last chunk, next record id, header size
#: (128), minor and major version, header block size (4096), chunk count, 76 reserved bytes,
#: flags, CRC32 of bytes 0..120.
FILE_HEADER = struct.Struct("<8sQQQIHHHH76xII")
#: Where the file header's CRC32 sits; it covers bytes 0..120 (not the flags).
FILE_HEADER_CRC_AT = 124
FILE_HEADER_CRC_SPAN = 120

#: Chunk header, bytes 0..128: magic, first and last record number, first and last event
#: record id, header size (128), offset of the last record, free-space offset, CRC32 of the
#: records, 64 reserved bytes, flags, CRC32 of bytes 0..120 and 128..512. Bytes 128..384
#: index the chunk's names (64 buckets), 384..512 its templates (32 buckets).
CHUNK_HEADER = struct.Struct("<8sQQQQIIII64xII")
CHUNK_RECORD_NUMBERS_AT = 8  # first and last record number ("<QQ")
CHUNK_LAST_RECORD_AT = 44  # last record offset, free-space offset ("<II")
CHUNK_FREE_SPACE_AT = 48  # free-space offset, records CRC32 ("<II")
CHUNK_DATA_CRC_AT = 52
CHUNK_HEADER_CRC_AT = 124
CHUNK_HEADER_CRC_SPANS = ((0, 120), (128, CHUNK_HEADER_SIZE))

#: Record header: magic, size (header, event data and trailing copy), record number,
#: written time (FILETIME). The size is repeated in the record's last 4 bytes.
RECORD_HEADER = struct.Struct("<IIQQ")
RECORD_SIZE_COPY = struct.Struct("<I")

_U32_PAIR = struct.Struct("<II")
_U32 = struct.Struct("<I")
_NUMBERS = struct.Struct("<QQ")

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
    _magic, first, last, next_id, _size, minor, major, _block, count, flags, checksum = (
        FILE_HEADER.unpack_from(data)
    )
    return FileHeader(
        first_chunk=first,
        last_chunk=last,
        next_record_id=next_id,
        minor_version=minor,
        major_version=major,
        chunk_count=count,
        flags=flags,
        checksum_ok=zlib.crc32(data[:FILE_HEADER_CRC_SPAN]) == checksum,
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
    torn_headers: tuple[int, ...] = ()  # chunk offsets of bad headers the walk went past


@dataclass(frozen=True)
class ChunkProblem:
    """A chunk slot that holds no readable chunk."""

    index: int
    file_offset: int
    reason: str


def walk_records(
    chunk: bytes, start: int, end: int, *, resync: bool = False, torn: list[int] | None = None
) -> list[RecordHeader]:
    """Consecutive records from ``start`` up to ``end``, stopping at the first bad header.

    The trailing size copy is not required to match: parsers read such records, and a
    damaged copy says nothing about the event itself. With ``resync`` (the live records of
    a chunk), a bad header does not end the walk: it goes on at the next record whose size
    copy does match (:func:`next_record`), so one torn record costs only itself; the torn
    headers' offsets go to ``torn``.
    """
    out: list[RecordHeader] = []
    offset = start
    unpack = RECORD_HEADER.unpack_from
    while offset + RECORD_HEADER_SIZE <= end:
        magic, size, number, written = unpack(chunk, offset)
        if magic != RECORD_MAGIC or size < MIN_RECORD_SIZE or offset + size > end:
            resumed = next_record(chunk, offset + 1, end) if resync else -1
            if resumed < 0:
                break
            if torn is not None:
                torn.append(offset)
            offset = resumed
            continue
        out.append(RecordHeader(offset, size, number, written))
        offset += size
    return out


def next_record(chunk: bytes | memoryview, start: int, end: int) -> int:
    """The first offset from ``start`` of a whole record below ``end`` whose size copy (its
    last four bytes) agrees with its header; -1 when there is none."""
    data = bytes(chunk[:end])
    position = data.find(RECORD_MAGIC_BYTES, start)
    while position >= 0:
        if position + RECORD_HEADER_SIZE <= end:
            size = int.from_bytes(data[position + 4 : position + 8], "little")
            tail = data[position + size - 4 : position + size] if size >= MIN_RECORD_SIZE else b""
            if position + size <= end and int.from_bytes(tail, "little") == size and tail:
                return position
        position = data.find(RECORD_MAGIC_BYTES, position + 1)
    return -1


def chunk_header_crc(chunk: bytes | memoryview) -> int:
    """The CRC32 a chunk header stores at byte 124 (of bytes 0..120 and 128..512)."""
    crc = 0
    for start, stop in CHUNK_HEADER_CRC_SPANS:
        crc = zlib.crc32(chunk[start:stop], crc)
    return crc


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
    free_space, data_crc = _U32_PAIR.unpack_from(chunk, CHUNK_FREE_SPACE_AT)
    header_crc = _U32.unpack_from(chunk, CHUNK_HEADER_CRC_AT)[0]
    end = min(max(free_space, CHUNK_HEADER_SIZE), CHUNK_SIZE, len(raw))
    torn: list[int] = []
    records = walk_records(chunk, CHUNK_HEADER_SIZE, end, resync=True, torn=torn)
    live_end = records[-1].offset + records[-1].size if records else CHUNK_HEADER_SIZE
    slack = walk_records(chunk, live_end, len(raw)) if live_end >= end else []
    return Chunk(
        index=index,
        file_offset=file_offset,
        data=chunk,
        records=tuple(records),
        slack_records=tuple(slack),
        header_crc_ok=chunk_header_crc(chunk) == header_crc,
        data_crc_ok=(
            free_space <= CHUNK_SIZE and zlib.crc32(chunk[CHUNK_HEADER_SIZE:free_space]) == data_crc
        ),
        truncated=truncated,
        torn_headers=tuple(torn),
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
    return file_header_bytes(
        first_chunk=0,
        last_chunk=max(chunk_count - 1, 0),
        next_record_id=1,
        chunk_count=chunk_count,
        flags=0,
    )


def file_header_bytes(
    *, first_chunk: int, last_chunk: int, next_record_id: int, chunk_count: int, flags: int
) -> bytes:
    """A 4 KiB file header (format version 3.1) with its CRC32 computed."""
    fields = (FILE_MAGIC, first_chunk, last_chunk, next_record_id, 128, 1, 3)
    head = FILE_HEADER.pack(*fields, FILE_HEADER_SIZE, chunk_count, flags, 0)
    crc = zlib.crc32(head[:FILE_HEADER_CRC_SPAN])
    return (head[:FILE_HEADER_CRC_AT] + _U32.pack(crc)).ljust(FILE_HEADER_SIZE, b"\x00")


def chunk_with_records(chunk: Chunk, records: tuple[RecordHeader, ...]) -> bytes:
    """The chunk's bytes with its header rewritten to cover exactly ``records``.

    Used for truncated chunks (only complete records) and for chunk slack (records past the
    free-space offset). The data CRC is recomputed so strict parsers accept the image.
    """
    buf = bytearray(chunk.data)
    if records:
        last = records[-1]
        end = last.offset + last.size
        numbers = (records[0].record_number, last.record_number)
        _NUMBERS.pack_into(buf, CHUNK_RECORD_NUMBERS_AT, *numbers)
        _U32_PAIR.pack_into(buf, CHUNK_LAST_RECORD_AT, last.offset, end)
        _U32.pack_into(buf, CHUNK_DATA_CRC_AT, zlib.crc32(bytes(buf[CHUNK_HEADER_SIZE:end])))
        _U32.pack_into(buf, CHUNK_HEADER_CRC_AT, chunk_header_crc(bytes(buf)))
    return bytes(buf)


def chunk_image(*chunks: bytes) -> bytes:
    """An EVTX file image of the given chunks that any parser reads from start to end (and
    never walks in circles: see :func:`without_link_cycles`)."""
    return file_header_image(len(chunks)) + b"".join(map(without_link_cycles, chunks))


#: The chunk header's hash buckets: (table offset, entries) of names and of templates.
_LINK_TABLES = ((0x80, 64), (0x180, 32))


def without_link_cycles(chunk: bytes) -> bytes:
    """``chunk`` with every link that closes a circle in its name or template buckets set to
    zero (the same bytes when there is none).

    Each bucket entry's first four bytes link to the next entry of its bucket. A damaged
    chunk can link entries in a circle, and both parsers then walk it forever while filling
    their caches; pyevtx-rs does so in native code that holds the interpreter lock, where no
    time budget of ours can stop it (found by fuzzing: a 2-entry circle). The chains only
    pre-fill caches (records find names and templates by offset), so cutting the circle
    costs nothing. A records CRC that was right is recomputed after the cut."""
    buf: bytearray | None = None
    if len(chunk) < CHUNK_HEADER_SIZE:
        return chunk
    for table, entries in _LINK_TABLES:
        for bucket in range(entries):
            view = chunk if buf is None else buf
            offset, seen, previous = _U32.unpack_from(view, table + 4 * bucket)[0], set(), -1
            while 0 < offset <= len(view) - 4:
                if offset in seen:
                    buf = bytearray(chunk) if buf is None else buf
                    _U32.pack_into(buf, previous if previous >= 0 else table + 4 * bucket, 0)
                    break
                seen.add(offset)
                previous = offset
                offset = _U32.unpack_from(view, offset)[0]
    if buf is None:
        return chunk
    return crc_kept(chunk, buf)


def crc_kept(original: bytes, changed: bytearray) -> bytes:
    """``changed`` with its records CRC (and then header CRC) recomputed where the original's
    was right, so a cut link (or another change) does not turn into a checksum error."""
    if len(original) < CHUNK_HEADER_SIZE:
        return bytes(changed)
    end = min(_U32.unpack_from(original, CHUNK_FREE_SPACE_AT)[0], len(original))
    stored = _U32.unpack_from(original, CHUNK_DATA_CRC_AT)[0]
    if end > CHUNK_HEADER_SIZE and zlib.crc32(original[CHUNK_HEADER_SIZE:end]) == stored:
        header_right = (
            chunk_header_crc(original) == _U32.unpack_from(original, CHUNK_HEADER_CRC_AT)[0]
        )
        _U32.pack_into(
            changed, CHUNK_DATA_CRC_AT, zlib.crc32(bytes(changed[CHUNK_HEADER_SIZE:end]))
        )
        if header_right:
            _U32.pack_into(changed, CHUNK_HEADER_CRC_AT, chunk_header_crc(bytes(changed)))
    return bytes(changed)
