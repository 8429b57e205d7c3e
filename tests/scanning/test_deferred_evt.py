"""A scan of legacy .evt logs locates their context and decodes it again near symptoms (as
EVTX's), and gives what decoding and keeping every record gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evtxscan.results.scan_result import ScanResult
from evtxscan.scanning.api import chosen_signatures
from evtxscan.scanning.local_engine import LocalEngine
from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
from evtxscan.scanning.units import plan_units
from evtxscan.sources.inputs import expand_paths
from evtxscan.synth.scenarios import standard_collection

TABLES = ("diagnoses", "timeline", "hosts", "daily", "integrity")


@pytest.fixture(scope="module")
def evt_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario suite (seed incidents, variants, near misses, noise) as .evt logs."""
    root = tmp_path_factory.mktemp("evt-scenarios")
    standard_collection(noise=6).write_evt(root)
    return root


def _scan(root: Path, *, select: bool, workers: int) -> ScanResult:
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings(select=select))
    return pipeline.scan(root, engine=LocalEngine(workers))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_scan_of_evt_logs_gives_what_decoding_every_record_gives(
    evt_collection: Path, workers: int
) -> None:
    chosen = _scan(evt_collection, select=True, workers=workers)
    every = _scan(evt_collection, select=False, workers=1)
    assert len(chosen.diagnoses) >= 5
    shown = chosen.timeline["event_id"].isin([7036, 7000, 7001, 7026]).sum()
    assert shown > 0  # context read again near the symptoms
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(chosen, name), getattr(every, name), obj=name)


def test_evt_context_is_located_not_kept(evt_collection: Path) -> None:
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    LocalEngine(1).read(pipeline, plan_units(expand_paths(evt_collection)), None)
    kept = pd.concat(pipeline.scanner.kept, ignore_index=True)
    assert not kept["event_id"].isin([7036]).any()  # service changes: located only
    assert set(kept["source_format"].astype(str)) == {"evt"}
    located = pd.concat([rows.table() for _s, rows in pipeline.located], ignore_index=True)
    assert (located["event_id"] == 7036).sum() > 0
    assert {s.display.rsplit("/", 1)[-1] for s, _r in pipeline.located} >= {"SysEvent.Evt"}
