"""Every CSV of a report neutralizes formula cells, timelines/index.csv too (issue 14)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from evtxscan.outputs.report_dir import ReportOptions, write_report
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx


def test_formula_host_names_are_neutralized_in_the_timeline_index(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5)
    events = [
        EventSpec("Service Control Manager", 7031, when, computer=name, level=2)
        for name in ("=cmd|' /C calc'!A0", "+SUM(1)", "@evil", "-2+3")
    ]
    write_evtx(tmp_path / "in" / "System.evtx", events)
    result = scan(tmp_path / "in", timeline="all")
    written = write_report(result, tmp_path / "out", ReportOptions())
    index = pd.read_csv(written.run / "timelines" / "index.csv", dtype=str, encoding="utf-8-sig")
    assert len(index) == 4
    for cell in [*index["host"], *index["file"]]:
        assert not cell.startswith(("=", "+", "-", "@")), cell
    assert index["host"].str.startswith("'").sum() == 4
