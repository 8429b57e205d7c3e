"""Random access to a file on disk by positioned reads, where ``mmap`` was used before.

A file read through ``mmap`` that shrinks while it is read (a collector still copying, a log
rotated on a live share) kills the process with SIGBUS on the first page past the new end.
A :class:`FileView` reads with ``os.pread`` instead: past the end it simply gets fewer bytes,
which the readers already handle as a truncated file. It offers what the readers used of an
mmap (length, slices, ``find``), caches the last block it read (so repeated ``find`` calls
walking a file stay linear), and holds no pages: memory stays flat however large the file.
"""

from __future__ import annotations

import os
from typing import overload

#: Bytes read at a time by ``find`` and kept for the next call.
BLOCK = 1 << 20


class FileView:
    """Read-only, bytes-like access to a file by offset; the length is the size at open."""

    def __init__(self, path: str | os.PathLike[str], *, fd: int | None = None) -> None:
        self._fd = os.open(path, os.O_RDONLY) if fd is None else fd
        self._size = os.fstat(self._fd).st_size
        self._block_start, self._block = 0, b""

    @classmethod
    def of_descriptor(cls, fd: int) -> FileView:
        """A view of an open descriptor (it is closed with the view)."""
        return cls("", fd=fd)

    def __len__(self) -> int:
        return self._size

    @property
    def mtime_ns(self) -> int:
        """The file's modification time (ns), from the open descriptor."""
        return os.fstat(self._fd).st_mtime_ns

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, int):
            index = key + self._size if key < 0 else key
            got = self.read(index, 1) if 0 <= index < self._size else b""
            if not got:
                raise IndexError("FileView index out of range")
            return got[0]
        start, stop, step = key.indices(self._size)
        if step != 1:
            raise ValueError("FileView slices take no step")
        return self.read(start, stop - start)

    def read(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset`` (fewer at the end, or if the file shrank)."""
        if count <= 0 or offset >= self._size:
            return b""
        count = min(count, self._size - offset)
        cached = self._block_start <= offset and offset + count <= self._block_start + len(
            self._block
        )
        if cached:
            at = offset - self._block_start
            return self._block[at : at + count]
        parts, done = [], 0
        while done < count:
            piece = os.pread(self._fd, count - done, offset + done)
            if not piece:
                break  # the file is shorter now than when it was opened
            parts.append(piece)
            done += len(piece)
        return b"".join(parts)

    def read_into(self, offset: int, target: memoryview) -> int:
        """Bytes from ``offset`` read into ``target`` (up to its length; fewer at the end, or
        if the file shrank): how many. Straight into it where the system reads vectors."""
        count = min(len(target), max(self._size - offset, 0))
        if not hasattr(os, "preadv"):
            got = self.read(offset, count)
            target[: len(got)] = got
            return len(got)
        done = 0
        while done < count:
            piece = os.preadv(self._fd, [target[done:count]], offset + done)
            if not piece:
                break  # the file is shorter now than when it was opened
            done += piece
        return done

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """Like ``bytes.find``: the lowest offset of ``sub`` in ``[start, end)``, or -1."""
        end = self._size if end is None else min(end, self._size)
        start = max(0, start)
        if not sub:
            return start if start <= end else -1
        position = start
        while position + len(sub) <= end:
            if not (self._block_start <= position < self._block_start + len(self._block)):
                self._block_start, self._block = position, self.read(position, BLOCK)
                if not self._block:
                    return -1
            window_end = min(end, self._block_start + len(self._block))
            at = self._block.find(sub, position - self._block_start, window_end - self._block_start)
            if at >= 0:
                return self._block_start + at
            if window_end >= end:
                return -1
            # go on with an overlap, so a match across the block border is found
            position = max(position + 1, window_end - len(sub) + 1)
            self._block_start, self._block = position, self.read(position, BLOCK)
            if not self._block:
                return -1
        return -1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._block = b""

    def __enter__(self) -> FileView:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)
