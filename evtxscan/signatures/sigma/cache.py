"""A per-user cache of loaded Sigma rule sets, so a scan does not re-parse the rules every run.

Parsing a few hundred rules through the bounded YAML loader, pySigma and the compiler costs
about a second of CPU. A loaded :class:`SigmaRuleSet` (compiled expressions, refusals) is
pickled under a key that is the SHA-256 of the evtxscan and pySigma versions, the compiled
form's version, every rule file's name and text, and the licence found beside each file, so
any edit, added file, licence change or upgrade misses the cache and loads again. It shares
the signature cache's folder and switch (``$EVTXSCAN_CACHE_DIR``, ``off`` disables it); when
the folder cannot be written, nothing changes but speed.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TypeVar

from evtxscan.signatures.parse_cache import cache_dir, set_key
from evtxscan.signatures.sigma.metadata import licence_for

Loaded = TypeVar("Loaded")

KEEP = 4
_PREFIX = "sigma-"
#: The compiled form's version: changed whenever loading would compile the same rules
#: differently, so no older pickle is used (2: probe literals are those a value must hold;
#: 3: long lists of string tests split into several alternations).
COMPILED_FORM = "3"


def _pysigma() -> str:
    try:
        return version("pysigma")
    except PackageNotFoundError:
        return "unknown"


def cache_key(files: list[Path], texts: list[str | OSError | UnicodeDecodeError]) -> str:
    """The key of one rule set: versions, files, texts and licences."""
    items = [("pysigma", _pysigma()), ("compiled form", COMPILED_FORM)]
    for path, text in zip(files, texts, strict=True):
        items.append((str(path), text if isinstance(text, str) else f"<unreadable {text}>"))
        items.append((f"licence of {path}", licence_for(path)))
    return set_key(items)


def _path(key: str) -> Path | None:
    folder = cache_dir()
    return folder / f"{_PREFIX}{key}.pickle" if folder is not None else None


def read_cached(key: str, expected: type[Loaded]) -> Loaded | None:
    """The rule set (an ``expected``) loaded before under ``key``, or None."""
    path = _path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            found = pickle.load(handle)
    except Exception:  # missing, truncated, from another version: load again
        return None
    return found if isinstance(found, expected) else None


def write_cached(key: str, rules: object) -> None:
    """Keep ``rules`` under ``key`` (best effort; the newest few sets are kept)."""
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as handle:
            pickle.dump(rules, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
        files = sorted(path.parent.glob(f"{_PREFIX}*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in files[:-KEEP]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return
