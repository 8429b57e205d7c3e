"""``evtxscan.dask.read_records``: a lazy Dask DataFrame of the record schema, one partition
per file or chunk range, equal to the local reader's frame; Parquet partitioned by host;
a collection on fsspec storage read by worker processes that have no copy on disk."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pyarrow.parquet as pq
import pytest

import evtxscan
from evtxscan.dask.frame import read_records
from evtxscan.records.batch import empty_frame
from evtxscan.synth.scenarios import standard_collection


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frame")
    standard_collection(noise=6).write(root)
    return root


def test_schema_partitions_and_records_equal_local(client: Any, samples: Path) -> None:
    logs = samples / "anotherc0ne-EventLog"
    ddf = read_records(logs, range_chunks=4)
    assert ddf.npartitions > len(list(logs.iterdir()))  # ranges of the larger files
    assert list(ddf.columns) == list(evtxscan.COLUMNS)
    assert dict(ddf.dtypes.astype(str)) == dict(empty_frame().dtypes.astype(str))
    got = ddf.compute().reset_index(drop=True)
    want = evtxscan.read_frame(logs)
    assert len(want) > 5_000
    pd.testing.assert_frame_equal(got, want, check_categorical=False)


def test_copies_read_once_and_the_example(client: Any, scenarios: Path, tmp_path: Path) -> None:
    shutil.copytree(scenarios, tmp_path / "a")
    shutil.copytree(scenarios, tmp_path / "b")  # byte-identical copies
    ddf = read_records(tmp_path)
    per_host = ddf[ddf.event_id == 7023].groupby("host", observed=True).size().compute()
    records = evtxscan.read_frame(tmp_path)
    want = records[records["event_id"] == 7023].groupby("host", observed=True).size()
    assert want.sum() > 0
    got = dict(zip(per_host.index.astype(str), per_host.astype(int), strict=True))
    assert got == dict(zip(want.index.astype(str), want.astype(int), strict=True))
    assert len(read_records(tmp_path, skip_copies=False)) == 2 * len(records)


def test_parquet_partitioned_by_host(client: Any, scenarios: Path, tmp_path: Path) -> None:
    ddf = read_records(scenarios)
    ddf.to_parquet(tmp_path / "records", partition_on=["host"], write_index=False)
    local = evtxscan.read_frame(scenarios)["host"].astype(str).value_counts()
    written = {
        p.name.removeprefix("host="): pq.read_table(p).num_rows
        for p in (tmp_path / "records").iterdir()
        if p.is_dir()
    }
    assert written == {str(h): int(n) for h, n in local.items()}
    back = dd.read_parquet(tmp_path / "records", dtype_backend="pyarrow")
    one = back[back["host"] == "nt351-up"].compute()
    assert len(one) == local["nt351-up"]
    assert {"event_id", "data", "time"} <= set(one.columns)


def _put(files: dict[str, bytes]) -> int:
    import fsspec

    memory = fsspec.filesystem("memory")
    for path, data in files.items():
        memory.pipe(path, data)
    return len(files)


def test_workers_read_object_storage(client: Any, scenarios: Path, same_result: Any) -> None:
    """The collection lives only in fsspec's memory filesystem of each process (standing
    in for s3/gs): workers read it from there, not from the driver's disk."""
    files = {
        f"/objstore/{p.relative_to(scenarios).as_posix()}": p.read_bytes()
        for p in sorted(scenarios.rglob("*"))
        if p.is_file()
    }
    _put(files)
    assert set(client.run(_put, files).values()) == {len(files)}
    local = evtxscan.scan("memory://objstore")
    remote = evtxscan.scan("memory://objstore", client=client)
    same_result(local, remote)
    assert len(remote.diagnoses) > 0
    frame = read_records("memory://objstore").compute()
    assert len(frame) == len(evtxscan.read_frame(scenarios))


def test_a_file_gone_or_unreadable_is_logged_and_the_rest_read(
    samples: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A large log split into ranges that vanishes before its partitions run, and a file
    that is no event log: their partitions are empty and named in a warning, the other
    files' records are all there (in-process scheduler, so the log is this process's)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(samples / "anotherc0ne-EventLog" / "System.evtx", logs / "gone.evtx")
    shutil.copytree(samples / "dikimevi-winevt-logs", logs / "kept")
    (logs / "junk.evtx").write_bytes(b"ElfFile\x00" + bytes(5000))
    ddf = read_records(logs, range_chunks=4)
    assert ddf.npartitions > len(list(logs.rglob("*"))) - 1  # gone.evtx is split in ranges
    (logs / "gone.evtx").unlink()
    with caplog.at_level("WARNING", logger="evtxscan.dask"):
        got = ddf.compute(scheduler="sync").reset_index(drop=True)
    want = evtxscan.read_frame(logs / "kept")
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    messages = [r.getMessage() for r in caplog.records]
    gone = [m for m in messages if "gone.evtx" in m]
    assert gone and all("not read: FileNotFoundError" in m for m in gone)
    assert any("junk.evtx" in m and "unreadable" in m for m in messages)
