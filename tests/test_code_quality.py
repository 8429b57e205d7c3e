"""Lint, format and type checks run with the suite, so CI fails on them like on a bug."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the test extra")
def test_ruff_lint_and_format() -> None:
    lint = _run("ruff", "check", "evtxscan", "tests", "benchmarks", "fuzz")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", "evtxscan", "tests", "benchmarks", "fuzz")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is installed by the test extra")
    result = _run(sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "evtxscan", "fuzz")
    assert result.returncode == 0, result.stdout + result.stderr
