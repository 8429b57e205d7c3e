"""Safe, unique file names for per-host outputs, whatever the logs call the host.

Host names come from the logs, so they may hold path separators (``..\\..\\evil``,
``kiosk/lobby-01``), NUL or control characters, Windows device names (``CON``, ``COM1``),
thousands of characters, or differ only in case (reports are read from SMB shares on
case-insensitive disks). Every name maps to a plain file name of bounded length inside the
output directory, and two hosts never share one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DEVICES = {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$"} | {
    f"{kind}{n}" for kind in ("com", "lpt") for n in range(10)
}
MAX_STEM = 80


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def safe_stem(name: str) -> str:
    """A file-name stem for ``name``: ASCII letters, digits, ``.``, ``_``, ``-`` only; no
    leading dot, no device name, at most ``MAX_STEM`` characters. Not unique by itself."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).strip("._-") or "host"
    if text.split(".", 1)[0].casefold() in _DEVICES:
        text = f"_{text}"
    return text[:MAX_STEM]


def unique_file_names(hosts: Iterable[str], suffix: str = ".csv") -> dict[str, str]:
    """Map each host to a unique, safe file name (case-insensitively unique).

    A name that had to be changed, shortened, or that collides with another host's
    (ignoring case) gets a short hash of the original, so it stays stable across runs.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for host in sorted(set(hosts)):
        stem = safe_stem(host)
        if stem != host or stem.casefold() in taken:
            stem = f"{stem[: MAX_STEM - 11]}-{_digest(host)}"
        while stem.casefold() in taken:  # a hash collision: practically never
            stem = f"{stem}-{_digest(stem)}"
        taken.add(stem.casefold())
        out[host] = stem + suffix
    return out
