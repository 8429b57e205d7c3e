"""Merging unit outputs in the local engine."""

from __future__ import annotations

import pandas as pd
import pytest

from evtxscan.scanning import local_engine
from evtxscan.scanning.local_engine import compacted


def _frame(i: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": pd.Categorical([f"H{i}", "SHARED"]),
            "records": [i, i + 1],
            "signatures": [[f"s{i}"], []],
        }
    )


def test_many_frames_are_joined_in_order_with_categories_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_engine, "COMPACT_AT", 4)
    few = [_frame(i) for i in range(3)]
    assert compacted(few) is few  # under the threshold: left as they are
    many = [*few, pd.DataFrame(columns=["host", "records", "signatures"]), _frame(3)]
    (joined,) = compacted(many)
    assert joined["records"].tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    assert isinstance(joined["host"].dtype, pd.CategoricalDtype)
    assert joined["host"].astype(str).tolist()[::2] == ["H0", "H1", "H2", "H3"]
    assert joined["signatures"].tolist()[0] == ["s0"]


def test_merged_outputs_give_the_same_scan_compacted_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    import evtxscan

    demo = Path(__file__).parents[2] / "demo" / "collection"  # shipped with the repository
    before = evtxscan.scan(demo, workers=1)
    monkeypatch.setattr(local_engine, "COMPACT_AT", 1)  # join after every unit
    after = evtxscan.scan(demo, workers=1)
    for name in ("diagnoses", "timeline", "hosts", "daily"):
        pd.testing.assert_frame_equal(getattr(before, name), getattr(after, name))


def test_a_scan_lets_its_kept_frames_go_once_joined() -> None:
    """The kept frames are joined into one table before correlating; a scan lets them go
    then (they were as big again), and the hosts' notable counts come from the table."""
    from pathlib import Path

    from evtxscan.scanning.api import chosen_signatures
    from evtxscan.scanning.local_engine import LocalEngine
    from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
    from evtxscan.scanning.units import plan_units
    from evtxscan.sources.inputs import expand_paths

    demo = Path(__file__).parents[2] / "demo" / "collection"
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    result = LocalEngine(1).scan(pipeline, plan_units(expand_paths(demo)), None)
    assert pipeline.scanner.kept == []
    counts = result.hosts.set_index("host")
    assert counts["errors"].sum() > 0 and counts["diagnoses"].sum() == 3
