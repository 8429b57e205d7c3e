"""What spans hosts on a cluster, where hosts are correlated in groups: renamed machines
(a rename joins two names, which may hash to different groups), Sigma diagnoses (made on
the driver) and the context records located by the index probe and read again after
correlation (on the workers, per group). Each equals the local engine's result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evtxscan.correlation.renames import HostRenames
from evtxscan.dask import DaskEngine
from evtxscan.dask.groups import host_group
from evtxscan.results import ScanResult
from evtxscan.scanning import ScanPipeline, ScanSettings
from evtxscan.scanning.api import chosen_signatures
from evtxscan.scanning.local_engine import LocalEngine
from evtxscan.scanning.units import plan_units
from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma
from evtxscan.sources.inputs import expand_paths
from evtxscan.synth import EventSpec, write_evtx
from evtxscan.synth.demo import write_demo

Same = Callable[[Any, Any], None]
T0 = datetime(2023, 5, 24, tzinfo=UTC)
GROUPS = 5


def _both(
    paths: list[Path], client: Any, sigma: SigmaRuleSet | None = None, **settings: Any
) -> tuple[ScanResult, ScanResult, ScanPipeline]:
    """Local and Dask results of the same units (one file each); the local pipeline."""
    results, pipelines = [], []
    for engine in (LocalEngine(1), DaskEngine(client, host_groups=GROUPS)):
        pipeline = ScanPipeline(chosen_signatures(None), ScanSettings(**settings), sigma=sigma)
        units = plan_units(expand_paths(paths), group_bytes=1)
        results.append(engine.scan(pipeline, units, None))
        pipelines.append(pipeline)
    return results[0], results[1], pipelines[0]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Machines renamed (their old names in other files, so other units), one template name
    renamed on two machines (ambiguous: not joined), a chain, and a boot loop each."""

    def at(hours: float, computer: str, event_id: int, *data: str) -> EventSpec:
        values = tuple((None, v) for v in data)
        return EventSpec("EventLog", event_id, T0 + timedelta(hours=hours), computer, data=values)

    root = tmp_path_factory.mktemp("renamed")
    machines = [("OLDNAME-A", "FS07"), ("WIN-TEMPLATE", "APP1"), ("WIN-TEMPLATE", "APP2")]
    machines += [("CHAIN-1", "CHAIN-2"), ("CHAIN-2", "CHAIN-3")]
    for number, (old, new) in enumerate(machines):
        before = [at(h, old, 6005 if h % 2 == 0 else 6006) for h in range(4)]
        after = [at(5, new, 6005), at(5.01, new, 6011, old, new), at(6, new, 6008)]
        write_evtx(root / f"m{number}-before" / "System.evtx", before)
        write_evtx(root / f"m{number}-after" / "System.evtx", after)
    return root


def test_renames_split_across_groups_join_as_locally(
    client: Any, same_result: Same, renamed: Path
) -> None:
    local, remote, pipeline = _both([renamed], client)
    joins = pipeline.renames.joins
    assert joins["oldname-a"] == "fs07" and joins["chain-1"] == "chain-3"
    assert "win-template" not in joins  # one name, two machines
    hosts = pd.Series(list(joins), dtype="category")
    raw_groups = host_group(hosts, GROUPS, HostRenames())
    joined_groups = host_group(
        pd.Series(list(joins.values()), dtype="category"), GROUPS, HostRenames()
    )
    assert (raw_groups != joined_groups).any()  # old and new names hash apart
    assert "oldname-a" not in set(remote.hosts["host"])
    same_result(local, remote)


def test_renames_kept_apart_as_locally(client: Any, same_result: Same, renamed: Path) -> None:
    local, remote, _ = _both([renamed], client, join_renamed=False)
    assert "oldname-a" in set(remote.hosts["host"])
    same_result(local, remote)


def test_sigma_diagnoses_as_locally(
    client: Any, same_result: Same, samples: Path, sigma_dir: Path, tmp_path: Path
) -> None:
    rules = load_sigma(sigma_dir / "rules")
    paths = [*write_demo(tmp_path / "demo"), samples / "hayabusa-sample-evtx"]
    local, remote, _ = _both(paths, client, sigma=rules)
    kinds = set(remote.diagnoses["kind"])
    assert {"kb", "sigma"} <= kinds
    assert remote.sigma is rules
    same_result(local, remote)


def test_context_read_again_on_the_workers(client: Any, same_result: Same, scenarios: Path) -> None:
    """The probe located context records; those near a symptom are in the timeline (read
    again after correlation): on the cluster the same rows come back."""
    local, remote, _ = _both([scenarios], client)
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())  # read, not correlated
    LocalEngine(1).read(pipeline, plan_units(expand_paths([scenarios]), group_bytes=1), None)
    assert sum(len(frame) for _, frame in pipeline.located) > 100
    rows = pipeline.rows()
    context = pipeline.context_near_symptoms(rows)
    assert len(context) > 0
    assert _records(context) & _records(remote.timeline)  # read again, shown
    same_result(local, remote)


def _records(frame: pd.DataFrame) -> set[tuple[str, int]]:
    files, ids = frame["source_file"].astype(str), frame["event_record_id"]
    return set(zip(files, ids, strict=True))
