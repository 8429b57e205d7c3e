"""One diagnosis card for Jupyter and report.html: the same text, escaping and link rule."""

from __future__ import annotations

import lxml.html
import pandas as pd

from evtxscan.outputs.html_report import render_report
from evtxscan.results import ScanResult
from evtxscan.results.cards import diagnosis_card, plain
from evtxscan.results.evidence import EvidenceKey

WHEN = pd.Timestamp("2001-01-01 12:00", tz="UTC")
KEY = EvidenceKey("ws1", "System", 5, 5, WHEN, "crash", "Service Control Manager", 7034, "a.evtx")


def _row(reference: str, title: str = "Spooler <b>crashed</b>") -> dict[str, object]:
    return {
        "diagnosis_id": "d1",
        "host": "ws1",
        "signature_id": "s",
        "kb": "Q1",
        "title": title,
        "confidence": 0.9,
        "occurrences": 2,
        "first_seen": WHEN,
        "last_seen": WHEN,
        "evidence": [KEY._asdict()],
        "cause": "c\x07",
        "resolution": "r",
        "reference": reference,
    }


def _result(reference: str) -> ScanResult:
    hosts = pd.DataFrame([{"host": "ws1", "files": 1, "records": 1, "diagnoses": 1}])
    return ScanResult(
        timeline=pd.DataFrame(),
        diagnoses=pd.DataFrame([_row(reference)]),
        hosts=hosts,
        integrity=pd.DataFrame(),
    )


def _card(page: str) -> lxml.html.HtmlElement:
    (card,) = lxml.html.fromstring(page).xpath("//div[@class='diag']")
    return card


def test_jupyter_and_report_show_the_same_card() -> None:
    result = _result("https://kb.example/Q1")
    jupyter = _card(result._repr_html_())
    report = _card(render_report(result))
    assert jupyter.text_content() == "ws1: " + report.text_content()  # the report has no host
    for card in (jupyter, report):
        (link,) = card.xpath(".//a")
        assert link.get("href") == "https://kb.example/Q1" and link.get("rel") == "noopener"
        assert card.xpath(".//b")[0 if card is report else 1].text == "Spooler <b>crashed</b>"
        assert "Evidence (1 records)" in card.text_content()
        assert "7034 (crash), record 5 in a.evtx" in card.text_content()
        assert "c\\x07" in card.text_content()  # control characters made visible


def test_links_only_for_http_addresses() -> None:
    for reference in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x"):
        for page in (_result(reference)._repr_html_(), render_report(_result(reference))):
            assert _card(page).xpath(".//a") == []
            assert "javascript:" not in page and "file:///" not in page


def test_times_in_the_viewers_zone() -> None:
    card = diagnosis_card(_row("https://kb.example/Q1"), tz="Europe/Berlin")
    assert "2001-01-01 13:00:00 CET to 2001-01-01 13:00:00 CET" in card
    assert plain(WHEN) == "2001-01-01 12:00:00 UTC" and plain(None) == ""
