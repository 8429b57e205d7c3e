"""Turn what the user names (files, directories, globs, .zip/.gz bundles) into input files.

Directories are walked recursively in a stable order; every regular file is a candidate,
whatever its name, because the content decides the format; a directory that cannot be read
is reported, not skipped silently. Files are read by positioned reads (:class:`FileView`:
a file truncated while it is read cannot kill the process as an mmap would). Bundle members
are read in place, never extracted next to the input, within :class:`BundleLimits` (see
:mod:`evtxscan.sources.bundles`).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from evtxscan.sources import remote
from evtxscan.sources.bundles import BundleBudget, BundleLimits, Expanded, gunzip
from evtxscan.sources.fileview import FileView
from evtxscan.sources.zips import Entry, ZipReader, overlapping

PathLike = str | os.PathLike[str]
#: What opening a source gives: a file's view on disk, or bytes read into memory.
Opened = bytes | FileView
#: What readers take: the same, or a view of bytes read into a batch's buffer.
Buffer = bytes | memoryview | FileView
#: Largest file behind a URL that one task reads (whole, into memory).
MAX_URL_BYTES = 4 * 1024**3


def printable_path(text: str) -> str:
    """A path as text that every output can hold: bytes that were not valid UTF-8 in the
    file name (kept by Python as lone surrogates) are shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace")
    return text


@dataclass(frozen=True)
class Source:
    """How to reach one input file again, also from a worker process.

    ``kind`` is ``file`` (a path on disk), ``zip`` (entry ``index``, named ``member``, of the
    zip at ``path``) or ``gzip`` (the decompressed content of ``path``); ``inner`` nests them
    (a .gz inside a .zip); ``url`` is read through fsspec
    (:mod:`evtxscan.sources.remote`).
    """

    kind: str
    path: str
    member: str = ""
    inner: Source | None = None
    index: int = -1

    @property
    def display(self) -> str:
        base = self.inner.display if self.inner else printable_path(self.path)
        if self.kind == "zip":
            return f"{base}!{printable_path(self.member)}"
        if self.kind == "gzip" and self.inner is not None:
            return f"{base}!gunzip"
        return base

    @property
    def depth(self) -> int:
        """Bundles this source is nested in (0 for a file on disk)."""
        return 0 if self.kind == "file" else 1 + (self.inner.depth if self.inner else 0)


@dataclass(frozen=True)
class MissingInput:
    """A named path that matched nothing, or a directory that could not be read."""

    path: str
    reason: str


def _walk(directory: Path, problems: list[MissingInput]) -> Iterator[Path]:
    """The regular files under ``directory`` (symbolic links to files too), a directory's
    files (by name) before its subdirectories (by name, not followed through links); as
    ``os.walk`` lists them, without its two system calls per file and directory: the
    entries' types come from the directory listing (``os.scandir``)."""
    pending = [str(directory)]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            where = printable_path(str(error.filename or current))
            problems.append(MissingInput(where, f"directory unreadable: {error.strerror or error}"))
            continue
        subdirectories = []
        for entry in entries:
            if _is_dir(entry):
                if not entry.is_symlink():
                    subdirectories.append(entry.path)
            elif _is_file(entry):
                yield Path(entry.path)
        pending += reversed(subdirectories)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def expand_paths(
    paths: PathLike | Iterable[PathLike | Source | MissingInput],
) -> Iterator[Source | MissingInput]:
    """Files, directories (recursive) and glob patterns, in a stable order."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
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
            problems: list[MissingInput] = []
            for found in _walk(path, problems):
                yield from problems
                problems.clear()
                yield Source("file", str(found))
            yield from problems
        elif path.is_file():
            yield Source("file", text)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                yield MissingInput(printable_path(text), "no file matches the pattern")
            for match in matches:
                yield from expand_paths(match)
        else:
            yield MissingInput(printable_path(text), "no such file or directory")


def _expand_url(url: str) -> Iterator[Source | MissingInput]:
    local = remote.local_path(url)
    if local is not None:
        yield from expand_paths(local)
        return
    try:
        yield from (Source("url", found) for found in remote.list_url(url))
    except remote.RemoteError as exc:
        yield MissingInput(url, str(exc))


class BundleChanged(ValueError):
    """A member named by an earlier listing of its bundle is not in the bundle now."""


#: What tells one file at a path from another: device, inode, size, modification time.
FileIdentity = tuple[int, int, int, int] | None


def file_identity(path: str) -> FileIdentity:
    """The identity of the file at ``path`` now (None when it cannot be looked at: opening
    it then says why)."""
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def open_source(source: Source, limits: BundleLimits | None = None) -> Opened:
    """The content of a source: a :class:`FileView` of a file on disk, a member's content
    (what could be read of it) for bundle members, within ``limits``. Bundles opened for
    earlier members are kept for the next ones while the file at their path is the same."""
    if source.kind == "file":
        view = FileView(source.path)
        if len(view) == 0:
            view.close()
            return b""
        return view
    if source.kind == "url":  # read whole, into memory
        return remote.read_url(source.path, MAX_URL_BYTES)
    limits = limits or BundleLimits()
    identity = file_identity(source.path)
    if source.inner is not None:
        outer = _open_cached(source.inner, limits, identity)
    else:
        outer = _file(source.path, identity)
    if source.kind == "zip":
        reader = _zip_reader(outer)
        found = reader.read(_entry(reader, source), limits, None)
    elif source.kind == "gzip":
        found = gunzip(outer, limits, None)
    else:
        raise ValueError(f"unknown source kind {source.kind!r}")
    return found.content if found.content is not None else b""


def _entry(reader: ZipReader, source: Source) -> Entry:
    """The entry an earlier listing found as member ``source.index``, named ``source.member``."""
    where = source.inner.display if source.inner is not None else printable_path(source.path)
    if not 0 <= source.index < len(reader.entries):
        raise BundleChanged(
            f"{where} changed since it was listed: no member {source.index} ({source.member!r}) now"
        )
    entry = reader.entries[source.index]
    if entry.name != source.member:
        raise BundleChanged(
            f"{where} changed since it was listed: member {source.index} is {entry.name!r}, "
            f"not {source.member!r}"
        )
    return entry


@lru_cache(maxsize=4)
def _open_cached(source: Source, limits: BundleLimits, identity: FileIdentity) -> Opened:
    """Outer bundles of nested members, kept while their members are read (workers); keyed
    by the identity of the file they are in, so a file replaced at its path is read anew."""
    del identity  # part of the key only
    return open_source(source, limits)


@lru_cache(maxsize=4)
def _file(path: str, identity: FileIdentity) -> Opened:
    del identity  # part of the key only
    return open_source(Source("file", path))


_READERS: dict[int, tuple[Opened, ZipReader]] = {}


def _zip_reader(data: Opened) -> ZipReader:
    """One reader per open zip content (its directory is parsed once, not per member)."""
    key = id(data)
    known = _READERS.get(key)
    if known is None or known[0] is not data:
        if len(_READERS) >= 4:
            _READERS.pop(next(iter(_READERS)))[1].close()
        known = _READERS[key] = (data, ZipReader(data))
    return known[1]


@dataclass(frozen=True)
class Member:
    """A bundle member as read: its source, content and problems (``content`` None: not read)."""

    source: Source
    found: Expanded


def bundle_members(
    source: Source, content: Buffer, kind: str, budget: BundleBudget
) -> Iterator[Member | str]:
    """The members of the zip or gzip ``content`` of ``source``, each read on its own within
    ``budget``; plain strings are problems of the bundle itself."""
    if isinstance(content, memoryview):  # read into a batch's buffer: bundles take bytes
        content = content.tobytes()
    parent = source if source.kind != "file" else None
    limits = budget.limits
    if kind == "gzip":
        if (bound := budget.admit()) is not None:
            yield bound
            return
        member = Source("gzip", source.path, "", parent)
        yield Member(member, gunzip(content, limits, budget))
        return
    reader = ZipReader(content)
    try:
        yield from reader.problems
        refused = overlapping(content, reader.entries)
        for index, entry in enumerate(reader.entries):
            member = Source("zip", source.path, entry.name, parent, index)
            if (bound := budget.admit()) is not None:
                yield bound
                return
            if index in refused:
                yield Member(member, Expanded(None, [refused[index]]))
                continue
            found = reader.read(entry, limits, budget)
            yield Member(member, found)
            if found.stopped_by is not None:
                return
    finally:
        reader.close()


_HASH_BLOCK = 16 * 1024 * 1024


def release_pages(content: Buffer) -> None:
    """Nothing to release: positioned reads hold no pages (kept for callers of mmap days)."""
    del content


def sha256_of(content: Buffer) -> str:
    """SHA-256 of the content, hashed in blocks so a big file never stays resident."""
    digest = hashlib.sha256()
    for start in range(0, len(content), _HASH_BLOCK):
        digest.update(content[start : start + _HASH_BLOCK])
    return digest.hexdigest()
