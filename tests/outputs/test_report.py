"""The report directory (atomic set, hostile names) and the HTML page (escaping, browser)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pandas as pd
import pytest

from evtxscan.outputs import host_csv
from evtxscan.outputs.report_dir import ReportOptions, write_report
from evtxscan.outputs.tables import rows_by_host
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx
from evtxscan.synth.scenarios import Collection, seed_cases

T0 = datetime(2001, 1, 1, tzinfo=UTC)
EVIL = ["..\\..\\evil", "kiosk/lobby-01", "CON", "Mixed", "mixed", "x" * 300]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("logs")
    collection = Collection()
    seed_cases(collection)
    collection.write(root)
    script = "<script>alert('x')</script>"
    events = [
        EventSpec(
            "Application Popup",
            26,
            T0 + timedelta(seconds=i),
            host,
            data=(
                (None, f"{script}.exe - Entry Point Not Found"),
                (
                    None,
                    f"The procedure entry point {script} could not be located "
                    "in the dynamic link library =cmd|' /C calc'!A0.dll.",
                ),
            ),
        )
        for i, host in enumerate(EVIL)
    ]
    write_evtx(root / "hostile" / "System.evtx", events)
    return scan(root)


def test_report_set_and_hostile_names(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    written = write_report(result, out)
    for name in ("diagnoses.csv", "timeline.csv", "hosts.csv", "integrity.csv", "report.html"):
        assert (out / name).is_file(), name
    index = pd.read_csv(out / "timelines" / "index.csv", encoding="utf-8-sig")
    assert len(index) == len(result.hosts)
    files = list((out / "timelines").iterdir())
    for file in files:  # everything stays inside the directory
        assert file.resolve().parent == (written.run / "timelines").resolve()
    assert len({f.name.casefold() for f in files}) == len(files)
    text = (out / "diagnoses.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    table = pd.read_csv(out / "diagnoses.csv", encoding="utf-8-sig")
    assert not table["title"].str.startswith(("=", "+", "-", "@")).any()


def test_each_host_timeline_is_that_hosts_rows_of_the_whole_timeline(
    result, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    write_report(result, out)
    read = {"encoding": "utf-8-sig", "dtype": str, "keep_default_na": False}
    whole = pd.read_csv(out / "timeline.csv", **read)
    index = pd.read_csv(out / "timelines" / "index.csv", **read)
    hosts = result.timeline["host"].astype(str).to_numpy()
    assert len(index) > 3
    for host, file in zip(result.hosts["host"].astype(str), index["file"], strict=True):
        mine = pd.read_csv(out / "timelines" / file, **read)
        expected = whole[hosts == host].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, expected)


def test_host_timelines_are_written_table_by_table_if_the_text_cannot_be_cut(
    result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    write_report(result, fast)

    def refuse(text: str) -> list[str]:
        raise ValueError("CSV text ends inside a quoted field")

    monkeypatch.setattr(host_csv, "csv_records", refuse)
    written = write_report(result, slow)
    assert not written.warnings
    files = sorted(p.name for p in (fast / "timelines").iterdir())
    assert files == sorted(p.name for p in (slow / "timelines").iterdir())
    for name in files:
        assert (fast / "timelines" / name).read_bytes() == (slow / "timelines" / name).read_bytes()


def test_rows_by_host_keeps_frame_order() -> None:
    frame = pd.DataFrame({"host": ["b", "a", "b", None, "a"]})
    rows = rows_by_host(frame)
    assert {k: v.tolist() for k, v in rows.items()} == {
        "a": [1, 4],
        "b": [0, 2],
    }  # no host: no group
    assert rows_by_host(frame.iloc[:0]) == {}


def test_a_new_run_switches_atomically_and_old_runs_are_pruned(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    first = write_report(result, out, ReportOptions(keep_runs=2))
    (out / "runs" / "junk.partial").mkdir()  # a killed run's leftovers
    second = write_report(result, out, ReportOptions(keep_runs=2))
    third = write_report(result, out, ReportOptions(keep_runs=2))
    assert os.readlink(out / "current") == f"runs/{third.run.name}"
    remaining = sorted(p.name for p in (out / "runs").iterdir())
    assert remaining == sorted([second.run.name, third.run.name])
    assert not first.run.exists()


def test_html_is_escaped_and_structured(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    write_report(result, out, ReportOptions(tz="Europe/Berlin"))
    page = (out / "report.html").read_text(encoding="utf-8")
    tree = lxml.html.fromstring(page)
    assert tree.xpath("//script") == []
    assert "&lt;script&gt;" in page
    assert not tree.xpath(
        "//*[@src or @href][contains(@href,'http') and not(contains(@href,'kbarchive'))]"
    )
    titles = set(result.diagnoses["title"])
    assert titles and all(t in tree.text_content() for t in titles)
    assert len(tree.xpath("//details[starts-with(@id,'host-')]")) == len(result.hosts)
    assert tree.xpath("//svg//text[@class='incident']")
    assert "CET" in page or "CEST" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_a_real_browser(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (CI installs it; apt-get install chromium)")
    out = tmp_path / "report"
    write_report(result, out)
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            (out / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = lxml.html.fromstring(done.stdout)
    text = dom.text_content()
    for title in result.diagnoses["title"]:
        assert title in text
    assert dom.xpath("//script") == []
