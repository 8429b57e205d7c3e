"""Inputs named by URL and reached through fsspec (``s3://``, ``gs://``, ``az://``,
``memory://``, ...): listing, sizes and content, so workers of a cluster read a collection
from object storage, not from a local disk. ``file://`` URLs are local paths.

fsspec (and the package of each protocol, e.g. s3fs, gcsfs) is optional: without it a URL
input becomes an integrity row saying what to install.
"""

from __future__ import annotations

import glob
import re
from typing import Any
from urllib.parse import unquote, urlparse

#: ``scheme://`` at the start (two letters or more: ``C:\\`` is a Windows drive, not a URL).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


class RemoteError(OSError):
    """A URL that cannot be listed or read; the message says why."""


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


def local_path(url: str) -> str | None:
    """The path of a ``file://`` URL (None for other schemes)."""
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise RemoteError("reading URLs needs fsspec: pip install 'evtxscan[dask]'") from None
    try:
        return fsspec.core.url_to_fs(url)  # type: ignore[no-any-return]
    except (ImportError, ValueError) as exc:  # e.g. s3fs not installed
        raise RemoteError(f"cannot open this kind of URL: {exc}") from exc


def list_url(url: str) -> list[str]:
    """The files a URL names: itself, every file below a "directory" (recursive, sorted),
    or the matches of a glob pattern. Raises :class:`RemoteError` when there are none."""
    fs, root = _filesystem(url)
    pattern = glob.has_magic(root)
    try:
        if fs.isfile(root):
            return [url]
        directory = fs.isdir(root)
        if directory:
            found = sorted(fs.find(root))
        elif pattern:
            found = sorted(p for p in fs.glob(root) if fs.isfile(p))
    except OSError as exc:
        raise RemoteError(f"cannot list: {exc}") from exc
    if not directory and not pattern:
        raise RemoteError("no such file or directory")
    if not found:
        raise RemoteError("no file matches the pattern" if pattern else "empty directory")
    return [fs.unstrip_protocol(p) for p in found]


def url_size(url: str) -> int:
    """Size in bytes (0 when unknown)."""
    try:
        fs, root = _filesystem(url)
        return int(fs.size(root) or 0)
    except (RemoteError, OSError):
        return 0


def read_url(url: str, limit: int) -> bytes:
    """The whole content of a URL (at most ``limit`` bytes, else ValueError)."""
    fs, root = _filesystem(url)
    with fs.open(root, "rb") as handle:
        data: bytes = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"remote file is over the read limit of {limit} bytes")
    return data
