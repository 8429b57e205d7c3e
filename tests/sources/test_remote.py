"""Inputs named by URL through fsspec (its in-memory filesystem stands in for s3/gs):
listing, reading, and the same records and result as the files on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.scanning import read_frame, scan
from evtxscan.sources.inputs import MissingInput, Source, expand_paths
from evtxscan.synth.scenarios import standard_collection

fsspec = pytest.importorskip("fsspec", reason="fsspec is installed by the dask/test extras")


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The scenario collection on disk and the same files at memory://scenarios/."""
    standard_collection(noise=3).write(tmp_path)
    memory = fsspec.filesystem("memory")
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            memory.pipe(f"/scenarios/{path.relative_to(tmp_path).as_posix()}", path.read_bytes())
    yield tmp_path, "memory://scenarios"
    memory.rm("/scenarios", recursive=True)


def test_directory_url_lists_every_file_in_order(collection: tuple[Path, str]) -> None:
    disk, url = collection
    listed = list(expand_paths(url))
    on_disk = [s.path for s in expand_paths(disk) if isinstance(s, Source)]
    assert all(isinstance(s, Source) and s.kind == "url" for s in listed)
    names = [s.path.split("/scenarios/", 1)[1] for s in listed if isinstance(s, Source)]
    assert names == [str(Path(p).relative_to(disk).as_posix()) for p in on_disk]


def test_url_records_equal_disk_records(collection: tuple[Path, str]) -> None:
    disk, url = collection
    remote, local = read_frame(url), read_frame(disk)
    assert len(local) > 100
    columns = [c for c in local.columns if c != "source_file"]
    pd.testing.assert_frame_equal(remote[columns], local[columns], check_categorical=False)
    assert remote["source_file"].astype(str).str.startswith("memory:///scenarios/").all()


def test_url_scan_finds_the_same_diagnoses(collection: tuple[Path, str]) -> None:
    disk, url = collection
    remote, local = scan(url), scan(disk)
    keys = ["host", "signature_id", "occurrences", "first_seen", "confidence"]
    pd.testing.assert_frame_equal(remote.diagnoses[keys], local.diagnoses[keys])
    assert len(remote.timeline) == len(local.timeline) > 0


def test_glob_and_missing_urls(collection: tuple[Path, str]) -> None:
    _, url = collection
    matched = list(expand_paths(f"{url}/**/System*.evtx"))
    assert matched and all(isinstance(s, Source) for s in matched)
    (missing,) = expand_paths("memory://nowhere/at-all.evtx")
    assert isinstance(missing, MissingInput) and "no such file" in missing.reason
    (nothing,) = expand_paths(f"{url}/*.nothing")
    assert isinstance(nothing, MissingInput) and "no file matches" in nothing.reason


def test_unknown_protocol_is_an_integrity_row() -> None:
    result = scan("nosuchproto://bucket/logs/System.evtx")
    row = result.integrity.iloc[0]
    assert row["status"] == "unreadable" and "URL" in row["errors"]


def test_file_urls_are_local_paths(tmp_path: Path) -> None:
    (tmp_path / "a b.evtx").write_bytes(b"")
    (found,) = expand_paths((tmp_path / "a b.evtx").as_uri())
    assert found == Source("file", str(tmp_path / "a b.evtx"))
