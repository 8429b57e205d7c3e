"""Reading kbarchive pages: metadata, sections, lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evtxscan.authoring.kb_article import ArticleError, KbArticle, parse_article, read_article


def test_metadata_and_sections(styles_article: KbArticle) -> None:
    article = styles_article
    assert article.article_id == "Q123456"
    assert article.title == "Widgets Stop After an Upgrade"
    assert article.products == ("Microsoft Widget Server",)
    assert article.versions == "WinNT:3.51,4.0"
    assert article.applies_to == ("Microsoft Widget Server version 4.0",)
    assert article.link == "https://jeffpar.github.io/kbarchive/kb/123/Q123456/"
    assert [s.name for s in article.sections][1:] == ["SYMPTOMS", "MORE INFORMATION", "RESOLUTION"]
    symptoms = article.section("SYMPTOMS")
    assert symptoms is not None
    first = next(line for line in symptoms.lines if line.text.startswith("Event ID: 2508"))
    assert first.indent == 2


def test_html_breaks_are_dropped(make_page: Callable[..., str]) -> None:
    article = parse_article(make_page("Q200001", "T", "SYMPTOMS\n========\n\n  Event ID  1<BR/>\n"))
    section = article.section("SYMPTOMS")
    assert section is not None
    assert any(line.text == "Event ID  1" for line in section.lines)


def test_not_a_page_is_refused() -> None:
    with pytest.raises(ArticleError, match="raw"):
        parse_article("# just markdown\n", "x.md")


def test_real_seed_article(shared_kb: Path) -> None:
    article = read_article(shared_kb / "kb" / "138" / "Q138713" / "README.md")
    assert article.article_id == "Q138713"
    assert article.products == ("Microsoft Windows NT",)
    assert [s.name for s in article.sections if s.name != "PREAMBLE"][:3] == [
        "SYMPTOMS",
        "CAUSE",
        "RESOLUTION",
    ]
