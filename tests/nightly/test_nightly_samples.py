"""A first nightly run over the real samples reads every file as a scan that, like it, leaves
records recovered from chunk slack aside: the same integrity row for every file (whatever
batches, plans and admissions the nightly reading went through)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evtxscan.nightly import NightlyOptions, run_nightly
from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
from evtxscan.signatures.loader import load_signatures


def test_a_first_night_gives_each_file_a_scans_integrity_row(samples: Path, tmp_path: Path) -> None:
    night = run_nightly([samples], NightlyOptions(state=tmp_path / "s.db", out=tmp_path / "o"))
    scan = ScanPipeline(load_signatures(), ScanSettings(read_recovered=False)).scan([samples])
    pd.testing.assert_frame_equal(night.result.integrity, scan.integrity)
    assert len(night.result.integrity) > 20


def test_a_log_alone_in_its_batch_is_inspected_once(samples: Path, tmp_path: Path) -> None:
    """A small log whose batch shrank to itself (its neighbour a copy) is read on its own
    with its plan: its header's notes are written once."""
    log = samples / "joaocristtem-windows" / "Application.evtx"  # small, not closed cleanly
    folder = tmp_path / "logs"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        (folder / name / "Application.evtx").write_bytes(log.read_bytes())
    night = run_nightly([folder], NightlyOptions(state=tmp_path / "s.db", out=tmp_path / "o"))
    notes = night.result.integrity["notes"].fillna("").tolist()
    assert notes[0].count("dirty") == 1 and "duplicate" in str(night.result.integrity["status"][1])
