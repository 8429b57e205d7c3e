"""Shared fixtures: the read-only sample corpus beside the repository, when present."""

from __future__ import annotations

import atexit
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

# Parsed signatures are cached per user (evtxscan.signatures.parse_cache); tests use their own,
# made by the first process of the run (pytest-xdist's workers and the commands tests start
# inherit it) and removed when that process ends.
if "EVTXSCAN_CACHE_DIR" not in os.environ:
    _TEST_CACHE = tempfile.mkdtemp(prefix="evtxscan-test-cache-")
    os.environ["EVTXSCAN_CACHE_DIR"] = _TEST_CACHE
    atexit.register(shutil.rmtree, _TEST_CACHE, ignore_errors=True)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "samples"
SIGMA = SHARED / "sigma"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real sample logs (../shared/samples); tests using it skip when it is absent."""
    if not (SAMPLES / "MANIFEST.tsv").is_file():
        pytest.skip(f"sample corpus not found at {SAMPLES} (it lives beside the repository)")
    return SAMPLES


@pytest.fixture(scope="session")
def manifest(samples: Path) -> list[dict[str, str]]:
    """Rows of samples/MANIFEST.tsv."""
    with open(samples / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def sigma_dir() -> Path:
    """The SigmaHQ rules and correlation examples (../shared/sigma), when present."""
    if not (SIGMA / "MANIFEST.tsv").is_file():
        pytest.skip(f"Sigma corpus not found at {SIGMA} (it lives beside the repository)")
    return SIGMA


@pytest.fixture
def run_child() -> Callable[..., str]:
    """Run Python ``code`` with ``args`` in a fresh interpreter that imports what this one
    does, so a hang or runaway fails there instead of stalling the suite; its stdout, after
    asserting it succeeded."""

    def run(code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run
