"""Members of .zip and .gz bundles, read one by one within bounds the user can see and set.

A bundle is untrusted: it may be a decompression bomb (a few KiB that expand to GiB, zips
nested in zips, entries that share one compressed stream), or damaged (a bad CRC, an unknown
compression method, a password, a corrupt stream, a truncated central directory). Each
member is read on its own: a bad one costs that member (its integrity row says why, and
keeps what was decompressed before the damage), never the others; a bundle over a bound
(:class:`BundleLimits`) stops with a row naming the bound. Members larger than
:attr:`BundleLimits.memory_bytes` are decompressed into an unlinked temporary file, not
into memory.
"""

from __future__ import annotations

import lzma
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from evtxscan.sources.fileview import FileView

Buffer = bytes | FileView

GiB = 1 << 30
PIECE = 1 << 20
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"
#: Decompression errors of the codecs zip and gzip use (a damaged stream or archive).
STREAM_ERRORS = (zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, zipfile.BadZipFile)


@dataclass(frozen=True)
class BundleLimits:
    """Bounds on what one top-level bundle (and everything nested in it) may make us read.

    The defaults never refuse a real collection: logs nest two or three bundles deep, a
    collection of a few hundred hosts holds tens of thousands of logs, and deflate (the zip
    and gzip default) cannot expand more than 1,032 times, so only a bomb (or a bundle of
    logs that hold nothing but zeros) goes over ``max_ratio`` once 1 GiB is read.
    """

    max_depth: int = 8  # bundles inside bundles
    max_members: int = 250_000  # members of all levels
    max_total_bytes: int = 256 * GiB  # decompressed, all levels
    max_ratio: float = 2_000.0  # decompressed bytes per byte of the bundle...
    ratio_after_bytes: int = GiB  # ...checked once this much is decompressed
    memory_bytes: int = 256 << 20  # larger members go to a temporary file

    def __post_init__(self) -> None:
        if min(self.max_depth, self.max_members, self.max_total_bytes, self.memory_bytes) < 1:
            raise ValueError("bundle limits must be positive")
        if self.max_ratio <= 1:
            raise ValueError("max_ratio must be above 1")


@dataclass
class BundleBudget:
    """What one top-level bundle has used of its limits so far."""

    limits: BundleLimits
    compressed: int  # size of the top-level bundle on disk
    members: int = 0
    total: int = 0

    def admit(self) -> str | None:
        """Count one more member; the bound it would break, if any."""
        self.members += 1
        if self.members > self.limits.max_members:
            return f"bundle bound max_members ({self.limits.max_members}) reached"
        return None

    def take(self, count: int) -> str | None:
        """Count decompressed bytes; the bound they break, if any."""
        self.total += count
        if self.total > self.limits.max_total_bytes:
            return f"bundle bound max_total_bytes ({self.limits.max_total_bytes}) reached"
        allowed = max(
            self.limits.ratio_after_bytes, self.limits.max_ratio * max(1, self.compressed)
        )
        if self.total > allowed:
            return (
                f"bundle bound max_ratio ({self.limits.max_ratio:g}) reached: "
                f"{self.total} bytes from a {self.compressed}-byte bundle"
            )
        return None


@dataclass
class Expanded:
    """A member's content (possibly partial) and what went wrong reading it."""

    content: Buffer | None
    errors: list[str] = field(default_factory=list)
    stopped_by: str | None = None  # a bound that stopped the whole bundle


class _Sink:
    """Collects decompressed pieces, in memory up to a size, then in a temporary file."""

    def __init__(self, memory_bytes: int, budget: BundleBudget | None) -> None:
        self.memory_bytes, self.budget = memory_bytes, budget
        self.pieces: list[bytes] = []
        self.size = 0
        self.file: BinaryIO | None = None
        self.stopped_by: str | None = None

    def add(self, piece: bytes) -> bool:
        """Keep a piece; False when a bound says to stop."""
        if not piece:
            return True
        if self.budget is not None:
            self.stopped_by = self.budget.take(len(piece))
            if self.stopped_by is not None:
                return False
        self.size += len(piece)
        if self.file is None and self.size > self.memory_bytes:
            # no name on disk: gone when closed, whatever happens to the process
            self.file = tempfile.TemporaryFile(prefix="evtxscan-member-")  # noqa: SIM115
            self.file.write(b"".join(self.pieces))
            self.pieces = []
        if self.file is not None:
            self.file.write(piece)
        else:
            self.pieces.append(piece)
        return True

    def content(self) -> Buffer:
        if self.file is None:
            return b"".join(self.pieces)
        self.file.flush()
        view = FileView.of_descriptor(os.dup(self.file.fileno()))
        self.file.close()
        return view


def drain(stream: object, sink: _Sink, what: str) -> list[str]:
    """Read a decompressing stream into ``sink`` piece by piece; errors keep what came first."""
    read = stream.read  # type: ignore[attr-defined]
    try:
        while sink.add(piece := read(PIECE)):
            if not piece:
                return []
    except STREAM_ERRORS as exc:
        problem = f"{type(exc).__name__}: {exc}"
        return [f"{what} corrupt after {sink.size} bytes ({problem}): the rest is lost"]
    return []


def gunzip(data: Buffer, limits: BundleLimits, budget: BundleBudget | None) -> Expanded:
    """The decompressed content of gzip ``data`` (all members; what came before any damage)."""
    sink = _Sink(limits.memory_bytes, budget)
    engine, position, errors = zlib.decompressobj(31), 0, list[str]()
    pending = b""
    try:
        while True:
            if not pending:
                pending = bytes(data[position : position + PIECE])
                position += len(pending)
                if not pending:
                    if not engine.eof:
                        errors.append(f"gzip stream truncated after {sink.size} bytes")
                    break
            if not sink.add(engine.decompress(pending, PIECE)):
                break
            pending = engine.unconsumed_tail
            if engine.eof:
                rest = engine.unused_data + pending
                if not rest.strip(b"\0") and position >= len(data):
                    break
                if not rest.startswith(b"\x1f\x8b"):
                    if rest.strip(b"\0"):
                        errors.append(f"data after the gzip stream ignored (at {position})")
                    break
                engine, pending = zlib.decompressobj(31), rest  # the next member
    except zlib.error as exc:
        errors.append(f"gzip stream corrupt after {sink.size} bytes ({exc}): the rest is lost")
    return Expanded(sink.content(), errors, sink.stopped_by)


# -- zip --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One file member of a zip: its name and where its data is."""

    name: str
    header_offset: int
    compress_size: int
    file_size: int
    method: int
    flags: int
    info: zipfile.ZipInfo | None  # None: found by scanning local headers (no directory)


class ZipReader:
    """The file members of one zip, read through one open directory (never reopened per
    member). When the central directory cannot be read (truncated, bad names), the local file
    headers are walked instead, so the members before the damage are still read."""

    def __init__(self, data: Buffer) -> None:
        self.data = data
        self.problems: list[str] = []
        self.zip: zipfile.ZipFile | None = None
        try:
            self.zip = zipfile.ZipFile(BytesReader(data))
            infos = self.zip.infolist()
        except (
            zipfile.BadZipFile,
            UnicodeDecodeError,
            *STREAM_ERRORS,
            IndexError,
            KeyError,
        ) as exc:
            self.entries = list(_scan_local_headers(data))
            self.problems.append(
                f"zip central directory unreadable ({type(exc).__name__}: {exc}); "
                f"{len(self.entries)} members found from their local headers"
            )
            return
        self.entries = [
            Entry(
                i.filename,
                i.header_offset,
                i.compress_size,
                i.file_size,
                i.compress_type,
                i.flag_bits,
                i,
            )
            for i in infos
            if not i.is_dir()
        ]

    def read(self, entry: Entry, limits: BundleLimits, budget: BundleBudget | None) -> Expanded:
        """One member's content, or why it cannot be read; damage keeps what came before."""
        if entry.flags & 0x1:
            return Expanded(None, ["encrypted (password-protected) member: not read"])
        sink = _Sink(limits.memory_bytes, budget)
        try:
            stream = self._open(entry)
        except NotImplementedError as exc:
            return Expanded(None, [f"compression method {entry.method} not supported: {exc}"])
        except (*STREAM_ERRORS, RuntimeError, KeyError) as exc:
            return Expanded(None, [f"member unreadable ({type(exc).__name__}: {exc})"])
        try:
            errors = drain(stream, sink, "member data")
        finally:
            stream.close()  # type: ignore[attr-defined]
        if entry.info is not None and not errors and sink.stopped_by is None:
            crc = _crc_of(sink)
            if crc != entry.info.CRC:
                errors.append(
                    f"CRC-32 mismatch (stored {entry.info.CRC:08x}, data {crc:08x}): "
                    "content read anyway, it may be damaged"
                )
        return Expanded(sink.content(), errors, sink.stopped_by)

    def _open(self, entry: Entry) -> object:
        if entry.info is not None and self.zip is not None:
            stream = self.zip.open(entry.info)
            stream._expected_crc = None  # type: ignore[attr-defined]  # checked after, keeping data
            return stream
        raw = bytes(self.data[entry.header_offset : entry.header_offset + _LOCAL_HEADER.size])
        name_len, extra_len = struct.unpack_from("<HH", raw, 26)
        start = entry.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        window = _Window(self.data, start, entry.compress_size)
        if entry.method == zipfile.ZIP_STORED:
            return window
        if entry.method == zipfile.ZIP_DEFLATED:
            return _Inflating(window)
        raise NotImplementedError("without a directory only stored and deflate members are read")

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _scan_local_headers(data: Buffer) -> Iterator[Entry]:
    offset = data.find(_LOCAL_MAGIC)
    while offset >= 0:
        raw = bytes(data[offset : offset + _LOCAL_HEADER.size])
        if len(raw) < _LOCAL_HEADER.size:
            return
        _, _, flags, method, _, _, _, packed, size, name_len, extra_len = _LOCAL_HEADER.unpack(raw)
        name_at = offset + _LOCAL_HEADER.size
        name = bytes(data[name_at : name_at + name_len])
        text = name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        data_at = name_at + name_len + extra_len
        if flags & 0x08 and method == zipfile.ZIP_DEFLATED:
            packed = _deflate_length(data, data_at)  # sizes follow the data: measure it
        if not text.endswith("/"):
            yield Entry(text, offset, packed, size, method, flags, None)
        offset = data.find(_LOCAL_MAGIC, max(data_at + packed, offset + 4))


def _deflate_length(data: Buffer, start: int) -> int:
    """Compressed length of the raw deflate stream at ``start`` (0 when it is corrupt)."""
    engine, position = zlib.decompressobj(-15), start
    try:
        while not engine.eof:
            piece = bytes(data[position : position + PIECE])
            if not piece:
                return 0
            engine.decompress(piece, PIECE)
            while engine.unconsumed_tail and not engine.eof:
                engine.decompress(engine.unconsumed_tail, PIECE)
            position += len(piece)
    except zlib.error:
        return 0
    return position - start - len(engine.unused_data)


def overlapping(data: Buffer, entries: list[Entry]) -> dict[int, str]:
    """Members (by index) whose local header and data overlap an earlier member's: the
    "overlapping files" zip bomb, where many entries share one compressed stream."""
    spans = []
    for index, entry in enumerate(entries):
        raw = bytes(data[entry.header_offset : entry.header_offset + _LOCAL_HEADER.size])
        extra = 0
        if len(raw) == _LOCAL_HEADER.size and raw[:4] == _LOCAL_MAGIC:
            name_len, extra_len = struct.unpack_from("<HH", raw, 26)
            extra = name_len + extra_len
        end = entry.header_offset + _LOCAL_HEADER.size + extra + entry.compress_size
        spans.append((entry.header_offset, end, index))
    found: dict[int, str] = {}
    reach, owner = -1, ""
    for start, end, index in sorted(spans):
        if start < reach:
            found[index] = f"its data overlaps member {owner!r} (a zip bomb pattern): not read"
        if end > reach:
            reach, owner = end, entries[index].name
    return found


def _crc_of(sink: _Sink) -> int:
    if sink.file is None:
        crc = 0
        for piece in sink.pieces:
            crc = zlib.crc32(piece, crc)
        return crc
    sink.file.flush()
    crc, position = 0, 0
    while piece := os.pread(sink.file.fileno(), PIECE, position):
        crc, position = zlib.crc32(piece, crc), position + len(piece)
    return crc


class _Window:
    """``count`` bytes of ``data`` from ``start``, as a stream."""

    def __init__(self, data: Buffer, start: int, count: int) -> None:
        self.data, self.position, self.end = data, start, start + count

    def read(self, size: int) -> bytes:
        piece = bytes(self.data[self.position : min(self.end, self.position + size)])
        self.position += len(piece)
        return piece

    def close(self) -> None:
        return None


class _Inflating(_Window):
    """A raw deflate stream over a window of the data."""

    def __init__(self, window: _Window) -> None:
        super().__init__(window.data, window.position, window.end - window.position)
        self.engine = zlib.decompressobj(-15)

    def read(self, size: int) -> bytes:
        while not self.engine.eof:
            tail = self.engine.unconsumed_tail
            raw = tail if tail else super().read(PIECE)
            if not raw:
                raise EOFError("compressed data ends before the end of its stream")
            out = self.engine.decompress(raw, size)
            if out:
                return out
        return b""


class BytesReader:
    """A minimal read-only file object over bytes or a :class:`FileView` (zipfile and
    gzip need ``seek``)."""

    def __init__(self, data: Buffer) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return bytes(chunk)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._data)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True
