"""Cited events from every citation style, and what is left out on purpose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evtxscan.authoring.citations import Variant
from evtxscan.authoring.extract import extract_citations
from evtxscan.authoring.kb_article import KbArticle, parse_article, read_article


def test_every_style(styles_article: KbArticle) -> None:
    found = {(e.source_normalized, e.event_id): e for e in extract_citations(styles_article)}
    assert set(found) == {
        ("Server", 2508),
        ("WidgetSvc", 41),
        ("Service Control Manager", 7000),
        ("FrobSvc", 12),
        ("TableSvc", 77),
        ("KeySvc", 5),
        ("WidgetSvc", 313),
        ("GhostSvc", 99),
    }
    assert found[("Server", 2508)].variant is Variant.LABELLED
    assert found[("Server", 2508)].type == "Error"
    assert found[("Server", 2508)].description == "The frobnicator could not load its driver."
    assert found[("WidgetSvc", 41)].variant is Variant.W2K_BLOCK
    assert found[("WidgetSvc", 41)].description.startswith("The widget queue is full")
    assert found[("Service Control Manager", 7000)].variant is Variant.ONE_LINE
    assert found[("FrobSvc", 12)].variant is Variant.SOURCE_FIRST
    assert found[("TableSvc", 77)].variant is Variant.PROPERTIES_TABLE
    assert found[("TableSvc", 77)].description == "A table row could not be read."
    assert found[("KeySvc", 5)].variant is Variant.KEY_EQUALS
    assert found[("WidgetSvc", 313)].variant is Variant.UNLABELLED_SOURCE
    assert found[("WidgetSvc", 313)].description == "The widget store is not reachable."
    assert found[("GhostSvc", 99)].variant is Variant.DESCRIPTION_NOT_FOUND
    assert found[("GhostSvc", 99)].section == "MORE INFORMATION"
    # placeholder and either/or sources give no event; RESOLUTION is not read
    assert not {3, 4, 8} & {e.event_id for e in found.values()}


def test_unlabelled_source_must_be_known(make_page: Callable[..., str]) -> None:
    body = "SYMPTOMS\n========\n\n  Event 313   NeverCitedWithALabel\n  Some text.\n"
    article = parse_article(make_page("Q200002", "T", body))
    assert extract_citations(article) == []


def test_description_crosses_a_blank_line_after_a_colon(make_page: Callable[..., str]) -> None:
    body = (
        "SYMPTOMS\n========\n\n  Event ID: 7023\n  Source: Service Control Manager\n"
        "  Description: The Widget service terminated with the following error:\n\n"
        "  The system cannot find the file specified.\n\nCAUSE\n=====\n\nWidgets.\n"
    )
    (event,) = extract_citations(parse_article(make_page("Q200003", "T", body)))
    assert event.description == (
        "The Widget service terminated with the following error: "
        "The system cannot find the file specified."
    )


def test_repeat_without_text_is_dropped(make_page: Callable[..., str]) -> None:
    body = (
        "SYMPTOMS\n========\n\n  Event ID: 9\n  Source: WidgetSvc\n"
        "  Description: Widgets ran out.\n\n"
        "MORE INFORMATION\n================\n\n  Event ID: 9\n  Source: WidgetSvc\n"
    )
    events = extract_citations(parse_article(make_page("Q200004", "T", body)))
    assert [(e.event_id, e.description) for e in events] == [(9, "Widgets ran out.")]


def test_seed_article_as_the_corpus_readme_states(shared_kb: Path) -> None:
    events = extract_citations(read_article(shared_kb / "kb" / "138" / "Q138713" / "README.md"))
    assert [(e.source_normalized, e.event_id, e.description) for e in events] == [
        ("Server", 2508, "The server service was unable to load the server driver."),
        (
            "Service Control Manager",
            7023,
            "The Server service terminated with the following error: "
            "The system cannot find the file specified.",
        ),
    ]
