"""The Dask engine gives the local engine's result: scenario suite, real samples, units
split finely (many files and chunk ranges, several host groups), a crashing reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import evtxscan
from evtxscan.dask import DaskEngine
from evtxscan.scanning import ScanPipeline, ScanSettings, scan
from evtxscan.scanning.api import chosen_signatures
from evtxscan.scanning.local_engine import LocalEngine
from evtxscan.scanning.units import plan_units
from evtxscan.sources.inputs import expand_paths

Same = Callable[[Any, Any], None]


def test_scenario_suite_is_identical(client: Any, same_result: Same, scenarios: Path) -> None:
    local = scan(scenarios)
    remote = evtxscan.scan(scenarios, client=client)
    assert len(local.diagnoses) > 5 and len(local.hosts) > 15
    same_result(local, remote)


def test_samples_are_identical(client: Any, same_result: Same, samples: Path) -> None:
    local = scan(samples, workers=2)
    remote = evtxscan.scan(samples, client=client)
    assert (remote.integrity["status"] == "damaged").any()  # damaged samples: rows, not errors
    same_result(local, remote)


def _both(root: Path, client: Any, groups: int, **plan: int) -> tuple[Any, Any]:
    """Local and Dask results of the same fine unit plan (``plan_units`` options)."""
    results = []
    for engine in (LocalEngine(1), DaskEngine(client, host_groups=groups)):
        pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
        units = plan_units(expand_paths(root), **plan)
        results.append(engine.scan(pipeline, units, None))
    return results[0], results[1]


def test_one_file_per_unit_many_groups(client: Any, same_result: Same, scenarios: Path) -> None:
    local, remote = _both(scenarios, client, groups=7, group_bytes=1)
    assert len(plan_units(expand_paths(scenarios), group_bytes=1)) > 20
    same_result(local, remote)


def test_chunk_ranges_of_large_files(client: Any, same_result: Same, samples: Path) -> None:
    plan = {"group_bytes": 256 * 1024, "range_chunks": 2}
    logs = samples / "anotherc0ne-EventLog"
    units = plan_units(expand_paths(logs), **plan)
    assert sum(u.range is not None for u in units) > 10
    local, remote = _both(logs, client, groups=3, **plan)
    same_result(local, remote)


def test_empty_collection(client: Any, same_result: Same, tmp_path: Path) -> None:
    (tmp_path / "not-a-log.txt").write_bytes(b"\x00\x01 nothing to see")
    local = scan(tmp_path)
    remote = evtxscan.scan(tmp_path, client=client)
    assert list(remote.integrity["status"]) == ["unreadable"]
    same_result(local, remote)
