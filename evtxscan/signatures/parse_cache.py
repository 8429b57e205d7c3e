"""A per-user cache of parsed signature files, so a scan does not re-read YAML every run.

Parsing validates every file through the bounded YAML loader and the model checks, which
costs about 20 ms a file in pure Python; a scan of two small logs would spend most of its
time there. The parsed signatures of one set of files are pickled under a key that is the
SHA-256 of the package version and every file's name and text, so any edit, added file or
upgrade misses the cache and parses again. Only what the validating parser produced is
stored. The cache lives in ``$EVTXSCAN_CACHE_DIR`` (``off`` disables it), else
``$XDG_CACHE_HOME/evtxscan`` or ``~/.cache/evtxscan``; when it cannot be written, nothing
changes but speed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from evtxscan._version import __version__
from evtxscan.signatures.model import Signature

#: Cache files kept (the newest); older sets are removed when a new one is written.
KEEP = 8
_PREFIX = "signatures-"


def cache_dir() -> Path | None:
    """Where parsed signatures are cached, or None when caching is off."""
    chosen = os.environ.get("EVTXSCAN_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evtxscan"


def set_key(items: Sequence[tuple[str, str]]) -> str:
    """The cache key of a set of (source, text) files."""
    hasher = hashlib.sha256(f"evtxscan {__version__}\0".encode())
    for source, text in items:
        hasher.update(source.encode("utf-8", "surrogateescape") + b"\0")
        hasher.update(text.encode("utf-8", "surrogateescape") + b"\0")
    return hasher.hexdigest()[:40]


def cached_parse(
    items: Sequence[tuple[str, str]], parse: Callable[[str, str], Signature]
) -> list[Signature]:
    """``parse(text, source)`` of every item, from the cache when this exact set was parsed
    before. Parse errors are raised as usual (and nothing is cached)."""
    folder = cache_dir()
    path = folder / f"{_PREFIX}{set_key(items)}.pickle" if folder is not None else None
    if path is not None:
        found = _read(path, len(items))
        if found is not None:
            return found
    parsed = [parse(text, source) for source, text in items]
    if path is not None:
        _write(path, parsed)
    return parsed


def _read(path: Path, count: int) -> list[Signature] | None:
    try:
        with open(path, "rb") as handle:
            found = pickle.load(handle)
    except Exception:  # missing, truncated or from another Python: parse again
        return None
    if not isinstance(found, list) or len(found) != count:
        return None
    if not all(isinstance(s, Signature) for s in found):
        return None
    return found


def _write(path: Path, parsed: list[Signature]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as handle:
            pickle.dump(parsed, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
        _prune(path.parent)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return  # an unwritable cache only costs speed


def _prune(folder: Path) -> None:
    files = sorted(folder.glob(f"{_PREFIX}*.pickle"), key=lambda p: p.stat().st_mtime)
    for old in files[:-KEEP]:
        old.unlink(missing_ok=True)
