"""Draft signatures: valid, capped at 'possible', symptoms from the quotes, our own words."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from evtxscan.authoring.draft import build_draft, build_symptoms
from evtxscan.authoring.extract import extract_citations
from evtxscan.authoring.kb_article import KbArticle, parse_article, read_article
from evtxscan.authoring.writer import article_pages, render_draft
from evtxscan.signatures.loader import parse_signature
from evtxscan.signatures.model import POSSIBLE_MAX, Role, Status


def draft_of(article: KbArticle) -> object:
    mapping = build_draft(article, extract_citations(article))
    assert mapping is not None
    return parse_signature(render_draft(mapping), "draft.yaml")


def test_styles_article_draft(styles_article: KbArticle) -> None:
    signature = draft_of(styles_article)
    assert signature.status is Status.DRAFT  # type: ignore[attr-defined]
    assert signature.id == "q123456-draft"  # type: ignore[attr-defined]
    assert signature.kb == "Q123456"  # type: ignore[attr-defined]
    assert signature.reference == "https://jeffpar.github.io/kbarchive/kb/123/Q123456/"  # type: ignore[attr-defined]
    confidence = signature.confidence  # type: ignore[attr-defined]
    assert confidence.base + sum(confidence.optional.values()) <= POSSIBLE_MAX + 1e-9
    assert signature.draft.events  # type: ignore[attr-defined]
    assert "Widgets Stop After an Upgrade" in signature.title  # type: ignore[attr-defined]


def test_common_event_needs_its_text(make_page: Callable[..., str]) -> None:
    body = (
        "SYMPTOMS\n========\n\n  Event ID: 7000\n  Source: Service Control Manager\n\n"
        "  Event ID: 5123\n  Source: WidgetSvc\n  Description: The widget cache could not be "
        "rebuilt from the store.\n"
    )
    events = extract_citations(parse_article(make_page("Q200010", "T", body)))
    symptoms, noisy = build_symptoms(events)
    by_name = {s.name: s for s in symptoms}
    # SCM 7000 without text only supports; the rare event anchors on its ID, text optional
    assert by_name["service_control_manager_7000"].role == "optional"
    assert by_name["widgetsvc_5123"].role == "any" and not by_name["widgetsvc_5123"].where
    assert by_name["widgetsvc_5123_text"].role == "optional"
    assert noisy is None


def test_only_a_bare_common_event_is_noisy(make_page: Callable[..., str]) -> None:
    body = "SYMPTOMS\n========\n\n  Event ID: 7000\n  Source: Service Control Manager\n"
    events = extract_citations(parse_article(make_page("Q200011", "T", body)))
    symptoms, noisy = build_symptoms(events)
    assert noisy is not None and "Service Control Manager 7000" in noisy
    assert [s.role for s in symptoms] == ["any"]


def test_common_event_with_specific_text_is_sharpened(make_page: Callable[..., str]) -> None:
    body = (
        "SYMPTOMS\n========\n\n  Event ID: 7000\n  Source: Service Control Manager\n"
        "  Description: The Widget Broker service failed to start due to the following error:\n"
        "  The system cannot find the file specified.\n"
    )
    events = extract_citations(parse_article(make_page("Q200012", "T", body)))
    symptoms, noisy = build_symptoms(events)
    assert noisy is None
    (symptom,) = symptoms
    assert symptom.role == "any"
    assert {c.field: c.value for c in symptom.where}["data.1"] == "Widget Broker"


def test_no_event_no_draft(make_page: Callable[..., str]) -> None:
    article = parse_article(make_page("Q200013", "T", "SYMPTOMS\n========\n\nNothing logged.\n"))
    assert build_draft(article, extract_citations(article)) is None


def _shingles(text: str, size: int = 7) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.casefold())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def test_cause_and_resolution_copy_no_article_sentence(shared_kb: Path) -> None:
    """No run of 7 words from an article's text appears in its draft's own-words fields."""
    pages = list(article_pages([shared_kb / "kb-events"]))[::10]
    assert len(pages) > 100
    checked = 0
    for page in pages:
        article = read_article(page)
        mapping = build_draft(article, extract_citations(article))
        if mapping is None:
            continue
        source = _shingles(" ".join(s.text() for s in article.sections))
        ours = mapping["diagnosis"]["cause"] + " " + mapping["diagnosis"]["resolution"]
        named = [i["value"] for items in mapping["draft"]["entities"].values() for i in items]
        for fact in [*named, *article.products]:  # named facts may be quoted
            ours = ours.replace(fact, " | ")
        copied = _shingles(ours) & source
        assert not copied, (article.article_id, sorted(copied)[:3])
        checked += 1
    assert checked > 100


def test_draft_symptoms_name_real_roles(shared_kb: Path) -> None:
    article = read_article(shared_kb / "kb" / "138" / "Q138713" / "README.md")
    signature = draft_of(article)
    roles = {s.name: s.role for s in signature.symptoms}  # type: ignore[attr-defined]
    assert roles == {"server_2508": Role.ANY, "service_control_manager_7023": Role.ANY}
    (scm,) = [s for s in signature.symptoms if s.name.startswith("service")]  # type: ignore[attr-defined]
    assert {c.field for c in scm.where} == {"data.1", "data.2"}


@pytest.mark.parametrize("weight", [0.5])
def test_model_refuses_a_draft_above_possible(weight: float) -> None:
    text = (
        "id: q200014-draft\nstatus: draft\ntitle: t\nkb: Q200014\n"
        "symptoms: {a: {provider: X, event_id: 1}}\n"
        f"confidence: {{base: {weight}}}\ndiagnosis: {{cause: c, resolution: r}}\n"
    )
    with pytest.raises(ValueError, match="possible"):
        parse_signature(text, "bad.yaml")
