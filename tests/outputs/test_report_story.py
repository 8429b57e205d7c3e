"""What report.html tells about a host: its story line, grouped repeats, the most telling
rows when capped, days on a true time axis, tables that wrap; every output's file mode."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import numpy as np
import pandas as pd
import pytest

from evtxscan.outputs.html_timeline import TIMELINE_CAP, _ticks, day_plot
from evtxscan.outputs.report_dir import ReportOptions, write_report
from evtxscan.results import ScanResult
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
HOST = "BUSY01"
WIDE = "x" * 3000  # one unbreakable word, far wider than the page


def _events() -> list[EventSpec]:
    def at(minutes: float, provider: str, event_id: int, level: int, *data: str) -> EventSpec:
        values = tuple((None, v) for v in data)
        return EventSpec(provider, event_id, T0 + timedelta(minutes=minutes), HOST, level=level,
                         data=values)  # fmt: skip

    events = [
        at(0, "EventLog", 6005, 4),  # a boot: dropped when the cap is full of errors
        at(1, "Microsoft-Windows-Kernel-Power", 41, 1, "0", "0"),  # critical: always kept
        at(
            2,
            "Application Popup",
            26,
            4,
            "a.exe - Entry Point Not Found",
            "The procedure entry point Foo could not be located in the dynamic link library b.dll.",
        ),  # a symptom
        at(3, "Application Error", 1000, 2, WIDE),
    ]
    # 250 different errors on day 0 and day 10 (days 1-9 have no records: a gap) ...
    events += [at(120 + i, "Contoso", 1000 + i, 2, f"fault {i}") for i in range(150)]
    events += [at(10 * 1440 + i, "Contoso", 2000 + i, 2, f"fault {i}") for i in range(100)]
    # ... and one Schannel alert 500 times in a minute: one row, "x 500"
    events += [
        at(10 * 1440 + 200 + i / 600, "Schannel", 36888, 2, "40", "1205") for i in range(500)
    ]
    return sorted(events, key=lambda e: e.time)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    root = tmp_path_factory.mktemp("busy")
    write_evtx(root / "busy01" / "System.evtx", _events())
    return scan(root, workers=1)


@pytest.fixture(scope="module")
def page(result: ScanResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(result, out)
    return out / "report.html"


def _section(page: Path) -> lxml.html.HtmlElement:
    (section,) = lxml.html.parse(str(page)).xpath("//details[starts-with(@id,'host-')]")
    return section


def test_story_line_and_grouped_repeats(page: Path) -> None:
    section = _section(page)
    text = section.text_content()
    assert "1 unexpected shutdown" in text and "1 boot" in text and "1 critical" in text
    rows = section.xpath(".//table[@class='timeline']//tr[td]")
    repeats = [r for r in rows if "36888" in r.text_content()]
    assert len(repeats) == 1
    assert "\N{MULTIPLICATION SIGN} 500 between 11:20:00 and 11:20:49" in repeats[0].text_content()


def test_a_capped_timeline_keeps_symptoms_and_critical_events_first(page: Path) -> None:
    rows = _section(page).xpath(".//table[@class='timeline']//tr[td]")
    assert len(rows) == TIMELINE_CAP
    kept = [r.xpath("td")[3].text_content() for r in rows]
    assert "26" in kept and "41" in kept  # the symptom and the critical event, though earliest
    assert "6005" not in kept  # a boot yields to errors when the cap is full
    assert "2099" in kept and "1000" not in kept[2:]  # the most recent errors are kept
    times = [r.xpath("td")[0].text_content() for r in rows]
    assert times == sorted(times)  # shown in time order
    assert "Showing 200 of" in _section(page).text_content()


def test_days_on_a_true_time_axis(page: Path) -> None:
    bars = _section(page).xpath(".//svg//rect[@class='day']")
    assert len(bars) == 2  # day 0 and day 10
    first, last = (float(b.get("x")) for b in bars)
    width = float(bars[0].get("width"))
    assert last - first > 9 * width  # ten day slots apart: the empty days are a gap
    assert "11 UTC days" in _section(page).text_content()


def test_every_output_has_the_same_file_mode(result: ScanResult, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        written = write_report(result, tmp_path / "out", ReportOptions(group_repeats=True))
    finally:
        os.umask(previous)
    files = [p for p in written.run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"diagnoses.csv", "timeline.csv", "report.html", "index.csv"}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}


def test_wide_tables_wrap_in_a_real_browser(page: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (CI installs it; apt-get install chromium)")
    # The report has no script; this copy gets one that measures the laid-out page.
    probe = (
        "<script>document.addEventListener('DOMContentLoaded',()=>{"
        "document.querySelectorAll('details').forEach(d=>d.open=true);"
        "const page=document.documentElement;let cells=0;"
        "document.querySelectorAll('td,th').forEach(c=>{if(c.scrollWidth>c.clientWidth+1)"
        "cells++});document.body.dataset.overflow=String(cells>0||page.scrollWidth>"
        "page.clientWidth+1)+':'+cells+':'+page.scrollWidth+':'+page.clientWidth;});</script>"
    )
    copy = tmp_path / "measured.html"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", probe + "</body>"))
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--window-size=1024,800", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         copy.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (body,) = lxml.html.fromstring(done.stdout).xpath("//body")
    assert body.get("data-overflow", "").startswith("false:"), body.get("data-overflow")


@pytest.mark.parametrize("days", [1, 9, 14, 15, 40, 62, 63, 400, 5000])
@pytest.mark.parametrize("first", ["1970-01-01", "1999-12-27", "2024-02-26", "2100-12-31"])
def test_plot_ticks_are_month_or_week_starts(first: str, days: int) -> None:
    dates = pd.date_range(first, periods=days, freq="D")
    if days > 62:
        expected = np.flatnonzero(dates.day == 1)
    elif days > 14:
        expected = np.flatnonzero(dates.day_of_week == 0)
    else:
        expected = np.arange(days)
    first_day = int(np.datetime64(first, "D").astype(np.int64))
    assert _ticks(first_day, days) == expected.tolist()


def test_day_plot_of_summed_days() -> None:
    days = pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-05", "2024-04-20"], utc=True)
    daily = pd.DataFrame({"day": days, "records": [3, 4, 10, 1], "errors": [0, 1, 2, 0]})
    summed = daily.groupby("day")[["records", "errors"]].sum()
    marks = [pd.Timestamp("2024-03-05 13:00", tz="UTC")]
    page = day_plot(summed, marks)
    assert page.count('class="day"') == 3  # one bar per day with records
    assert "2024-03-01: 7 records, 1 errors" in page
    assert "51 UTC days" in page and "2024-03-01 to 2024-04-20" in page
    assert page.count('class="incident"') == 1
