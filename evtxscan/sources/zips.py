"""Zip members read one by one: the central directory when it can be read, else the local
file headers; overlapping entries found; damage costs the member only (see
:mod:`evtxscan.sources.bundles` for the bounds)."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from evtxscan.sources.bundles import (
    PIECE,
    STREAM_ERRORS,
    Buffer,
    BundleBudget,
    BundleLimits,
    BytesReader,
    Expanded,
    Sink,
    drain,
)

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"


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
            NotImplementedError,  # e.g. "zip file version 25.5" in the central directory
        ) as exc:
            self.entries = list(_scan_local_headers(data))
            self.problems.append(
                f"zip central directory unreadable ({type(exc).__name__}: {exc}); "
                f"{len(self.entries)} members found from their local headers"
            )
            return
        self.entries = [
            Entry(
                i.filename or f"(member {n} without a name)",
                i.header_offset,
                i.compress_size,
                i.file_size,
                i.compress_type,
                i.flag_bits,
                i,
            )
            for n, i in enumerate(infos)
            if not i.filename.endswith("/")  # ZipInfo.is_dir() fails on an empty name
        ]

    def read(self, entry: Entry, limits: BundleLimits, budget: BundleBudget | None) -> Expanded:
        """One member's content, or why it cannot be read; damage keeps what came before."""
        if entry.flags & 0x1:
            return Expanded(None, ["encrypted (password-protected) member: not read"])
        sink = Sink(limits.memory_bytes, budget)
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


def _crc_of(sink: Sink) -> int:
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
