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
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from evtxscan.sources.fileview import FileView

Buffer = bytes | FileView

GiB = 1 << 30
PIECE = 1 << 20
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


class Sink:
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


def drain(stream: object, sink: Sink, what: str) -> list[str]:
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
    sink = Sink(limits.memory_bytes, budget)
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
