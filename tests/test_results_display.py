"""ScanResult in notebooks: HTML and text display, typed frames, evidence rows, plots."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evtxscan.results import ScanResult
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "collection"
HOSTILE = "<script>alert(1)</script>"
UTC_TYPE = "datetime64[us, UTC]"
VOID = {"br", "img", "hr", "meta", "input", "link"}


@pytest.fixture(scope="module")
def demo() -> ScanResult:
    return scan(DEMO)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    """A host named like a script tag, with a popup full of markup and mathtext."""
    start = datetime(2001, 1, 1, tzinfo=UTC)
    events = [
        EventSpec(
            provider="EventLog",
            event_id=6005,
            qualifiers=0x8000,
            time=start,
            computer=HOSTILE,
            data=((None, ""),),
        ),
        EventSpec(
            provider="Application Popup",
            event_id=26,
            qualifiers=0x4000,
            time=start + timedelta(seconds=5),
            computer=HOSTILE,
            data=(
                (None, "<b>evil.exe</b> - Entry Point Not Found"),
                (
                    None,
                    "The procedure entry point $x^2$ could not be located in the dynamic "
                    "link library <img src=x onerror=alert(2)>.dll.",
                ),
            ),
        ),
    ]
    directory = tmp_path_factory.mktemp("hostile")
    write_evtx(directory / "System.evtx", events)
    return scan(directory)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    return scan(tmp_path_factory.mktemp("empty"))


class _Balance(HTMLParser):
    """Checks that every opened element is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def _parse(html: str) -> _Balance:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    return parser


def test_html_shows_diagnoses_hosts_and_problems(demo: ScanResult) -> None:
    html = demo._repr_html_()
    parser = _parse(html)
    assert "script" not in parser.tags
    for row in demo.diagnoses.to_dict("records"):
        for column in ("title", "cause", "resolution", "host"):
            assert escape(row[column]) in html, column
        assert f'href="{escape(row["reference"])}"' in html
        assert f"({len(row['evidence'])} records)" in html
    for host in demo.hosts["host"]:
        assert f"<td>{escape(host)}</td>" in html
    assert "README.txt" in html and "not an event log" in html
    assert "ws043/System.evtx" in html and "damaged" in html
    assert html.count('class="diag"') == len(demo.diagnoses) >= 3


def test_text_and_repr(demo: ScanResult) -> None:
    text = str(demo)
    assert text.splitlines()[0] == demo.summary()
    count = len(demo.diagnoses)
    assert demo.summary().startswith(f"evtxscan scan: 5 hosts, {count} diagnoses, 7 files (2 with")
    for title in demo.diagnoses["title"]:
        assert title in text
    assert text.count("Cause: ") == text.count("Resolution: ") == count
    assert "Integrity problems:" in text and "README.txt: unreadable" in text
    rows = len(demo.timeline)
    assert repr(demo) == f"ScanResult(5 hosts, {count} diagnoses, {rows} timeline rows, 7 files)"


def test_values_from_logs_are_escaped(hostile: ScanResult) -> None:
    assert list(hostile.hosts["host"]) == [HOSTILE]
    html = hostile._repr_html_()
    assert "<script" not in html and "<img" not in html and "<b>evil" not in html
    assert escape(HOSTILE) in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html or "onerror=alert(2)&gt;" in html
    assert "script" not in _parse(html).tags


def test_control_characters_and_unsafe_links() -> None:
    host = "ws\x1b[31mred"
    diagnosis = {
        "diagnosis_id": "x",
        "host": host,
        "signature_id": "s",
        "kb": "Q1",
        "title": "bell\x07",
        "confidence": 0.5,
        "occurrences": 1,
        "first_seen": pd.Timestamp("2001-01-01", tz="UTC"),
        "last_seen": pd.Timestamp("2001-01-01", tz="UTC"),
        "evidence": "[]",
        "cause": "c",
        "resolution": "r",
        "reference": "javascript:alert(1)",
    }
    hosts = pd.DataFrame([{"host": host, "files": 1, "records": 2, "diagnoses": 1}])
    result = ScanResult(
        timeline=pd.DataFrame(),
        diagnoses=pd.DataFrame([diagnosis]),
        hosts=hosts,
        integrity=pd.DataFrame(),
    )
    text, html = str(result), result._repr_html_()
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[31mred" in text
    assert "\x1b" not in html and "javascript:" not in html.split("<a ")[0]
    assert "<a " not in html
    assert str(result.hosts["first_time"].dtype) == UTC_TYPE  # missing columns stay typed
    assert "time" in result.timeline.columns and result.timeline.empty


def test_frames_are_typed(demo: ScanResult) -> None:
    hosts, daily, diagnoses, timeline = demo.hosts, demo.daily, demo.diagnoses, demo.timeline
    assert str(hosts["first_time"].dtype) == str(hosts["last_time"].dtype) == UTC_TYPE
    assert hosts["processors"].dtype == "category"
    assert hosts["records"].dtype == hosts["files"].dtype == hosts["diagnoses"].dtype == "int64"
    assert str(daily["day"].dtype) == UTC_TYPE and daily["errors"].dtype == "int64"
    assert str(diagnoses["first_seen"].dtype) == UTC_TYPE
    assert str(timeline["time"].dtype) == UTC_TYPE and timeline["host"].dtype == "category"
    assert str(timeline["event_id"].dtype) == "UInt16"
    # groupby, resample, filters and joins work without conversions
    per_host = daily.groupby("host")["records"].sum()
    assert per_host.to_dict() == hosts.set_index("host")["records"].to_dict()
    per_day = timeline.set_index("time").resample("D").size()
    assert per_day.sum() == len(timeline)
    assert set(timeline[timeline["level"] <= 2]["event_id"]) == {2508, 7000, 7001, 7023}
    recent = daily[daily["day"] >= pd.Timestamp("1999-01-01", tz="UTC")]
    assert "fs01" not in set(recent["host"])
    joined = diagnoses.merge(hosts, on="host")
    assert len(joined) == len(diagnoses)


def test_empty_result_is_typed_and_displays(empty: ScanResult) -> None:
    assert str(empty.hosts["first_time"].dtype) == UTC_TYPE
    assert empty.hosts["records"].dtype == "int64"
    assert str(empty.daily["day"].dtype) == UTC_TYPE
    assert str(empty.diagnoses["first_seen"].dtype) == UTC_TYPE
    assert empty.integrity["records"].dtype == "int64"
    assert str(empty.timeline["time"].dtype) == UTC_TYPE
    assert "No diagnosis." in empty._repr_html_() and "No diagnosis." in str(empty)
    assert empty.evidence().empty and "diagnosis_id" in empty.evidence().columns


def test_evidence_rows(demo: ScanResult) -> None:
    evidence = demo.evidence()
    assert len(evidence) == sum(len(e) for e in demo.diagnoses["evidence"])
    assert str(evidence["time"].dtype) == UTC_TYPE
    fs01 = demo.evidence("fs01")
    assert set(fs01["event_id"]) == {26, 2508, 7023}
    assert set(fs01["kb"]) == {"Q138713"}
    assert fs01["source_file"].str.endswith("fs01/System.evtx").all()


# --- plots ---------------------------------------------------------------------------------


@pytest.fixture()
def plt() -> Iterator[Any]:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def _gid(fig: Any, gid: str) -> list[Any]:
    return [a for a in fig.findobj() if a.get_gid() == gid]


def _marker_count(fig: Any) -> int:
    from evtxscan.results.plots import INCIDENT_GID

    return sum(len(line.get_xdata()) for line in _gid(fig, INCIDENT_GID))


def _render(fig: Any) -> None:
    fig.savefig(io.BytesIO(), format="png", dpi=50)


def test_plot_timeline_marks_each_evidence_time(demo: ScanResult, plt: Any) -> None:
    from evtxscan.results.plots import INCIDENT_DAY_GID, SYMPTOM_GID

    fig = demo.plot_timeline("fs01")
    _render(fig)
    days, events = fig.axes[:2]
    assert _marker_count(fig) == 3 == demo.evidence("fs01")["time"].nunique()
    assert len(_gid(fig, INCIDENT_DAY_GID)) == 1
    (rings,) = _gid(fig, SYMPTOM_GID)
    assert len(rings.get_offsets()) == 3
    labels = [t.get_text() for t in events.get_yticklabels()]
    providers = ["Application Popup", "EventLog", "Server", "Service Control Manager"]
    assert labels == [*providers, "diagnoses"]
    legend = [t.get_text() for t in events.get_legend().get_texts()]
    assert any(text.startswith("Q138713: ") for text in legend)
    assert sum(p.get_height() for p in days.patches if p.get_gid() is None) > 0
    assert _marker_count(demo.plot_timeline("exch01")) == 2


def test_plot_timeline_range_host_and_empty(demo: ScanResult, plt: Any) -> None:
    before = demo.plot_timeline("fs01", until="1996-03-12")
    assert _marker_count(before) == 0
    _render(before)
    quiet = demo.plot_timeline("ws042")  # records, but no symptom or context events
    assert _marker_count(quiet) == 0
    _render(quiet)
    with pytest.raises(KeyError, match="nosuchhost"):
        demo.plot_timeline("nosuchhost")


def test_plot_hosts_marks_diagnoses(demo: ScanResult, plt: Any) -> None:
    from evtxscan.results.plots import DIAGNOSIS_GID

    fig = demo.plot_hosts()
    _render(fig)
    ax = fig.axes[0]
    (marks,) = _gid(fig, DIAGNOSIS_GID)
    evidence = demo.evidence()
    months = evidence["time"].dt.strftime("%Y-%m")
    cells = set(zip(evidence["diagnosis_id"], months, strict=True))
    assert len(marks.get_offsets()) == len(cells) >= 3
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels[:3]) == {"exch01", "exch02", "fs01"}  # diagnosed hosts first
    assert labels[3:] == ["ws042", "ws043"]
    assert ax.get_title() == "errors per month by host"

    recent = demo.plot_hosts(since="1999-05-01", freq="D", value="records", max_hosts=3)
    (marks,) = _gid(recent, DIAGNOSIS_GID)
    assert len(marks.get_offsets()) == 2  # fs01 (1996) is out of range
    assert "top 3 of 4 hosts" in recent.axes[0].get_title()

    _, given = plt.subplots()
    assert demo.plot_hosts(ax=given) is given.figure
    with pytest.raises(ValueError, match="value"):
        demo.plot_hosts(value="warnings")


def test_plot_text_from_logs_is_literal(hostile: ScanResult, empty: ScanResult, plt: Any) -> None:
    fig = hostile.plot_timeline(HOSTILE)
    _render(fig)  # "$x^2$" in a label would be parsed as mathtext if not escaped
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert any(r"\$x^2\$" in text for text in legend)
    assert _marker_count(fig) == 1
    heat = hostile.plot_hosts()
    _render(heat)
    assert [t.get_text() for t in heat.axes[0].get_yticklabels()] == [HOSTILE]
    nothing = empty.plot_hosts()
    _render(nothing)
    assert any(t.get_text() == "no records" for t in nothing.axes[0].texts)
