"""Failures on a cluster: a worker process killed in the middle of a scan (Dask reruns its
tasks; the result is unchanged), and readers that raise (integrity rows, as locally)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evtxscan.dask import DaskEngine
from evtxscan.results import ScanResult
from evtxscan.scanning import ScanPipeline, ScanSettings
from evtxscan.scanning.api import chosen_signatures
from evtxscan.scanning.local_engine import LocalEngine
from evtxscan.scanning.units import WorkUnit, plan_units
from evtxscan.sources.inputs import expand_paths

#: Fine units: a 16 MiB log in ranges of three chunks (86 tasks), so a kill lands while
#: others still run (split, as any file past ``group_bytes`` is).
FINE = {"range_chunks": 3, "group_bytes": 1 << 20}


def _scan(engine: Any, units: list[WorkUnit]) -> ScanResult:
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    result: ScanResult = engine.scan(pipeline, units, None)
    return result


def _kill_a_busy_worker(client: Any, deadline: float) -> int:
    """SIGKILL the process of a worker that is running a unit task; its pid."""
    pids: dict[str, int] = client.run(os.getpid)
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(k).startswith("evtxscan-unit-") for k in keys):
                os.kill(pids[address], signal.SIGKILL)
                return pids[address]
        time.sleep(0.05)
    raise AssertionError("no unit task was ever seen running")


def test_worker_killed_mid_scan_gives_the_same_result(
    client: Any, samples: Path, same_result: Callable[[Any, Any], None]
) -> None:
    units = plan_units(expand_paths(samples / "bench" / "system-stitched.evtx"), **FINE)
    assert len(units) > 80
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = _scan(DaskEngine(client, host_groups=3), units)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    scan = threading.Thread(target=run)
    scan.start()
    killed = _kill_a_busy_worker(client, time.monotonic() + 120)
    scan.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    client.wait_for_workers(2, timeout=120)
    assert killed not in client.run(os.getpid).values()  # the nanny started a new process
    same_result(_scan(LocalEngine(1), units), outcome["result"])


def _crash(*_: Any, **__: Any) -> Any:
    raise RuntimeError("reader bug (injected)")


def _inject(crash: bool) -> None:
    """Make the legacy .evt reader (as a scan reads it: batches typed only when kept) and
    the chunk-range reader of this process raise."""
    import evtxscan.scanning.units as units
    import evtxscan.sources.whole_selection as whole

    saved = units.__dict__.setdefault("_saved", (whole.evt_batches, units.read_range))
    batches, read_range = (_crash, _crash) if crash else saved
    setattr(whole, "evt_batches", batches)  # noqa: B010 (not exported names)
    setattr(units, "read_range", read_range)  # noqa: B010


@pytest.fixture
def crashing_readers(client: Any) -> Iterator[None]:
    _inject(True)
    client.run(_inject, True)
    yield
    _inject(False)
    client.run(_inject, False)


def test_reader_crash_is_an_integrity_row(
    client: Any,
    samples: Path,
    crashing_readers: None,
    same_result: Callable[[Any, Any], None],
) -> None:
    inputs = [
        samples / "go-evt",
        samples / "anotherc0ne-EventLog",
        samples / "dissect.eventlog" / "tests" / "_data" / "TestLogX.evtx",
    ]
    units = plan_units(expand_paths(inputs), group_bytes=256 * 1024, range_chunks=4)
    local = _scan(LocalEngine(1), units)
    remote = _scan(DaskEngine(client), units)
    same_result(local, remote)
    rows = remote.integrity
    crashed = rows[rows["errors"].str.contains("reader bug")]
    assert set(crashed["format"]) == {"evt", "evtx"}  # whole-file and chunk-range readers
    assert (crashed["status"].isin(["unreadable", "damaged"])).all()
    assert (rows["records"] > 0).any()  # the other files were read
