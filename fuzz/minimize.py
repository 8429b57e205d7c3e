"""Shrink a failing input to a small reproducer (delta debugging on bytes).

The failure is whatever :func:`failure` reports for the input (an exception, an "internal
error" row, a file over the time limit); chunks are removed while the same kind of failure
remains, halving the chunk size each round, so a finding becomes a regression test of a few
KiB or less.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from evtxscan.scanning import read_records
from fuzz.driver import FUZZ_LIMITS


def failure(data: bytes, *, backend: str = "rust", slow: float = 5.0) -> str | None:
    """The kind of contract failure ``data`` causes, or None when it reads cleanly."""
    with tempfile.TemporaryDirectory(prefix="evtxscan-min-") as folder:
        path = Path(folder, "input")
        path.write_bytes(data)
        started = time.monotonic()
        try:
            stream = read_records(path, backend=backend, bundle_limits=FUZZ_LIMITS)
            for _ in stream:
                pass
            errors = " ".join(stream.integrity["errors"])
        except Exception:
            return "exception: " + traceback.format_exc().strip().splitlines()[-1][:80]
        if "internal error" in errors:
            start = errors.index("internal error")
            return errors[start : start + 80].split(":")[1].strip()
        if time.monotonic() - started > slow:
            return "slow"
    return None


def minimize(data: bytes, still_fails: Callable[[bytes], bool], rounds: int = 200) -> bytes:
    """The smallest input found by removing chunks while ``still_fails`` holds."""
    size = max(1, len(data) // 2)
    while size >= 1 and rounds > 0:
        at, shrunk = 0, False
        while at < len(data) and rounds > 0:
            candidate = data[:at] + data[at + size :]
            rounds -= 1
            if candidate and still_fails(candidate):
                data, shrunk = candidate, True
            else:
                at += size
        if not shrunk:
            size //= 2
    return data


def minimize_file(path: Path, output: Path | None = None) -> Path:
    data = path.read_bytes()
    backends = [b for b in ("rust", "python") if failure(data, backend=b)]
    if not backends:
        raise SystemExit(f"{path} does not fail (any more)")
    backend = backends[0]
    kind = failure(data, backend=backend)
    small = minimize(data, lambda d: failure(d, backend=backend) == kind)
    target = output or path.with_name(path.name + ".min")
    target.write_bytes(small)
    return target
