"""The wheel carries what an installed evtxscan needs: built-in signatures (mapped from the
top-level ``signatures/`` without a symlink), message catalogs and error tables. Built once
and used from outside the checkout, it diagnoses the demo collection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = out / "src"  # a copy: the build must not leave build/ in the checkout
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "report*"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "-w", str(out), str(source)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (found,) = out.glob("evtxscan-*.whl")
    return found


def test_wheel_ships_signatures_and_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("evtxscan/builtin_signatures/")}
    expected = {p.name for p in (ROOT / "signatures").glob("*.yaml")}
    assert expected and expected <= shipped
    assert "schema.json" in shipped
    assert any(n.startswith("evtxscan/data/messages/") for n in names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


def test_installed_wheel_scans_the_demo(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import evtxscan, sys; "
        "assert evtxscan.__file__.startswith(sys.argv[1]), evtxscan.__file__; "
        "r = evtxscan.scan(sys.argv[2]); print(len(r.diagnoses), len(r.signatures))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site), str(ROOT / "demo" / "collection")],
        capture_output=True, text=True, check=False, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    diagnoses, signatures = map(int, done.stdout.split())
    assert diagnoses == 3
    assert signatures == len(list((ROOT / "signatures").glob("*.yaml")))


def test_wheel_ships_the_draft_pack(wheel: Path, tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    drafts = {p.name for p in (ROOT / "signatures" / "drafts").glob("*.yaml")}
    assert {f"evtxscan/builtin_signatures/drafts/{n}" for n in drafts} <= names
    assert "evtxscan/builtin_signatures/drafts/index.json" in names
    assert "evtxscan/authoring/data/source_spellings.json" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import sys; from evtxscan.signatures.drafts import load_drafts, builtin_drafts_dir; "
        "assert str(builtin_drafts_dir()).startswith(sys.argv[1]); "
        "print(len(load_drafts(include_noisy=True)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(drafts)
