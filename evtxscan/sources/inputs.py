"""Turn what the user names (files, directories, globs, .zip/.gz bundles) into input files.

Directories are walked recursively in a stable order; every regular file is a candidate,
whatever its name, because the content decides the format. Archive members are read in
place (into memory, never extracted to disk), with a size cap against decompression bombs.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import mmap
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from evtxscan.sources import remote

#: Largest archive member (decompressed) we read into memory.
MAX_MEMBER_BYTES = 4 * 1024**3

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Source:
    """How to reach one input file again, also from a worker process.

    ``kind`` is ``file`` (a path on disk), ``url`` (read through fsspec, see
    :mod:`evtxscan.sources.remote`), ``zip`` (``member`` inside the zip at ``path``) or
    ``gzip`` (the decompressed content of ``path``); ``inner`` nests them (a .gz inside a
    .zip).
    """

    kind: str
    path: str
    member: str = ""
    inner: Source | None = None

    @property
    def display(self) -> str:
        base = self.inner.display if self.inner else self.path
        if self.kind == "zip":
            return f"{base}!{self.member}"
        if self.kind == "gzip" and self.inner is not None:
            return f"{base}!gunzip"
        return base


@dataclass(frozen=True)
class MissingInput:
    """A named path that matched nothing."""

    path: str
    reason: str


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            candidate = Path(root, name)
            if candidate.is_file():
                yield candidate


def expand_paths(
    paths: PathLike | Iterable[PathLike | Source | MissingInput],
) -> Iterator[Source | MissingInput]:
    """Files, directories (recursive) and glob patterns, in a stable order."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    for item in items:
        if isinstance(item, (Source, MissingInput)):  # already expanded (a unit of work)
            yield item
            continue
        text = os.fspath(item)
        if remote.is_url(text) and not os.path.exists(text):
            yield from _expand_url(text)
            continue
        path = Path(text)
        if path.is_dir():
            for found in _walk(path):
                yield Source("file", str(found))
        elif path.is_file():
            yield Source("file", text)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                yield MissingInput(text, "no file matches the pattern")
            for match in matches:
                yield from expand_paths(match)
        else:
            yield MissingInput(text, "no such file or directory")


def _expand_url(url: str) -> Iterator[Source | MissingInput]:
    local = remote.local_path(url)
    if local is not None:
        yield from expand_paths(local)
        return
    try:
        yield from (Source("url", found) for found in remote.list_url(url))
    except remote.RemoteError as exc:
        yield MissingInput(url, str(exc))


def _read_zip_member(archive: bytes | mmap.mmap | Path, member: str) -> bytes:
    handle = archive if isinstance(archive, Path) else _BytesView(archive)
    with zipfile.ZipFile(handle) as bundle:
        info = bundle.getinfo(member)
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"archive member is {info.file_size} bytes, over the read limit")
        return bundle.read(member)


def _gunzip(data: bytes | mmap.mmap) -> bytes:
    with gzip.GzipFile(fileobj=_BytesView(data)) as stream:
        out = stream.read(MAX_MEMBER_BYTES + 1)
    if len(out) > MAX_MEMBER_BYTES:
        raise ValueError("gzip content is over the read limit")
    return out


class _BytesView:
    """A minimal read-only file object over bytes or an mmap (zipfile/gzip need seek)."""

    def __init__(self, data: bytes | mmap.mmap) -> None:
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


def open_source(source: Source) -> bytes | mmap.mmap:
    """The content of a source: a read-only mmap for files on disk, bytes for members."""
    if source.kind == "file":
        with open(source.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return b""
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if source.kind == "url":
        return remote.read_url(source.path, MAX_MEMBER_BYTES)
    outer: bytes | mmap.mmap | Path = (
        open_source(source.inner) if source.inner is not None else Path(source.path)
    )
    if source.kind == "zip":
        return _read_zip_member(outer, source.member)
    if source.kind == "gzip":
        data = outer if not isinstance(outer, Path) else open_source(Source("file", str(outer)))
        return _gunzip(data)
    raise ValueError(f"unknown source kind {source.kind!r}")


def zip_members(source: Source, content: bytes | mmap.mmap) -> list[Source]:
    """The file members of a zip, in archive order (directories skipped)."""
    with zipfile.ZipFile(_BytesView(content)) as bundle:
        names = [i.filename for i in bundle.infolist() if not i.is_dir()]
    return [
        Source("zip", source.path, name, source if source.kind != "file" else None)
        for name in names
    ]


def gzip_content(source: Source) -> Source:
    """The decompressed content of a gzip source."""
    return Source("gzip", source.path, "", source if source.kind != "file" else None)


_HASH_BLOCK = 16 * 1024 * 1024


def release_pages(content: bytes | mmap.mmap) -> None:
    """Let the kernel drop an mmapped file's pages we have read (keeps RSS flat on big files).

    The mapping is read-only and file-backed, so dropped pages are simply read again from
    the page cache if they are touched later.
    """
    if isinstance(content, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        with contextlib.suppress(OSError, ValueError):
            content.madvise(mmap.MADV_DONTNEED)


def close_content(content: bytes | mmap.mmap) -> None:
    """Unmap a file's content now, or when it is collected if something still views it (a
    sampling profiler, as Dask's workers run, can hold a frame whose arrays view the
    mapping for a moment: closing must not turn that into a reading error)."""
    if isinstance(content, mmap.mmap):
        with contextlib.suppress(BufferError):
            content.close()


def sha256_of(content: bytes | mmap.mmap) -> str:
    """SHA-256 of the content, hashed in blocks so a big mmapped file never stays resident."""
    digest = hashlib.sha256()
    view = memoryview(content)
    for start in range(0, len(content), _HASH_BLOCK):
        digest.update(view[start : start + _HASH_BLOCK])
        if isinstance(content, mmap.mmap):
            release_pages(content)
    view.release()
    return digest.hexdigest()
