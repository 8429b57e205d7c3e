"""Repeated identical events grouped: same event and values within the gap, per host."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evtxscan.results import ScanResult
from evtxscan.results.repeats import group_repeats, repeat_groups
from evtxscan.results.schema import TIMELINE, TIMELINE_GROUPS
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 1, 2, 3, 19, 26, tzinfo=UTC)
ALERT = (("AlertDesc", "40"), ("ErrorState", "1205"))


def _schannel(seconds: float, host: str = "WEB01", data: tuple = ALERT) -> EventSpec:
    return EventSpec("Schannel", 36888, T0 + timedelta(seconds=seconds), host, level=2, data=data)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    events = [_schannel(i * 0.5) for i in range(121)]  # 60 s of one alert, 121 times
    events += [_schannel(30, data=(("AlertDesc", "48"), ("ErrorState", "1205")))]  # other value
    events += [_schannel(30, host="WEB02")]  # the same alert on another host
    events += [_schannel(60 + 2 * 3600)]  # two hours later: a new group
    root = tmp_path_factory.mktemp("repeats")
    write_evtx(root / "System.evtx", sorted(events, key=lambda e: e.time))
    return scan(root, workers=1)


def test_identical_events_within_the_gap_are_one_group(result: ScanResult) -> None:
    groups = group_repeats(result.timeline)
    assert TIMELINE_GROUPS.mismatches(groups) == []
    web01 = groups[groups["host"] == "web01"].reset_index(drop=True)
    assert list(web01["count"]) == [121, 1, 1]
    storm = web01.iloc[0]
    assert storm["time"] == T0 and storm["last_time"] == T0 + timedelta(seconds=60)
    assert storm["event_record_id"] == 1 and storm["last_event_record_id"] == 123  # 2 between
    assert str(storm["last_source_file"]).endswith("System.evtx")
    assert web01.iloc[1]["data"][0]["value"] == "48"  # other values: their own group
    assert web01.iloc[2]["time"] == T0 + timedelta(seconds=60 + 2 * 3600)
    assert list(groups[groups["host"] == "web02"]["count"]) == [1]
    assert groups["count"].sum() == len(result.timeline)


def test_groups_follow_the_timeline_order_and_a_shorter_gap_splits(result: ScanResult) -> None:
    numbers = repeat_groups(result.timeline)
    first_rows = [list(numbers).index(n) for n in range(numbers.max() + 1)]
    assert first_rows == sorted(first_rows)
    split = group_repeats(result.timeline, gap=timedelta(seconds=0.25))
    assert len(split) == len(result.timeline)
    assert group_repeats(TIMELINE.empty()).empty


def test_csv_keeps_every_row_unless_asked(result: ScanResult, tmp_path: Path) -> None:
    import pandas as pd

    from evtxscan.outputs.report_dir import ReportOptions, write_report

    write_report(result, tmp_path / "all")
    write_report(result, tmp_path / "grouped", ReportOptions(group_repeats=True))
    every = pd.read_csv(tmp_path / "all" / "timeline.csv", encoding="utf-8-sig")
    grouped = pd.read_csv(tmp_path / "grouped" / "timeline.csv", encoding="utf-8-sig")
    assert len(every) == len(result.timeline) and "count" not in every.columns
    assert len(grouped) == 4 and grouped["count"].sum() == len(every)
    host = pd.read_csv(tmp_path / "grouped" / "timelines" / "web01.csv", encoding="utf-8-sig")
    assert list(host["count"]) == [121, 1, 1]
