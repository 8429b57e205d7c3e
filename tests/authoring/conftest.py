"""Fixtures for the authoring tests: a made-up article page in the kbarchive layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evtxscan.authoring.kb_article import KbArticle, parse_article

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def page(article: str, title: str, body: str, product: str = "Microsoft Widget Server") -> str:
    """A kbarchive page around ``body`` (lines are given without the leading tab)."""
    lines = "\n".join("\t" + line if line else "\t" for line in body.strip("\n").split("\n"))
    number = int(article[1:])
    return (
        f'---\nlayout: page\ntitle: "{article}: {title}"\n'
        f"permalink: /kb/{number // 1000:03}/{article}/\n---\n\n"
        f"## {article}: {title}\n\n{{% raw %}}\n\n"
        f"\tArticle: {article}\n\tProduct(s): {product}\n\tVersion(s): WinNT:3.51,4.0\n"
        "\tLast Modified: 01-JAN-2001\n\t\n"
        "\t-------------------------------------------------------------------------------\n"
        "\tThe information in this article applies to:\n\t\n"
        f"\t- {product} version 4.0\n"
        "\t-------------------------------------------------------------------------------\n"
        f"\t\n{lines}\n\n{{% endraw %}}\n"
    )


#: Every citation style, written for these tests (invented sources and texts).
STYLES = """
SYMPTOMS
========

The widget service stops and the following events are logged:

  Event ID: 2508
  Source: Server
  Type: Error
  Description: The frobnicator could not load its driver.

  Event Type: Warning
  Event Source: WidgetSvc
  Event Category: None
  Event ID: 41
  Description:
  The widget queue is full and new widgets are dropped.

  Event ID: 7000, Source: Service Control Manager, Type: Error

  Source: FrobSvc
  Type: Error
  Event ID: 12
  Description: The frob table is damaged.

  Date:     <date>          Event ID: 77
  Time:     <time>          Source:   TableSvc
  Description:
  A table row could not be read.

  System Error, Source=KeySvc, Event ID=5

  Event 313   WidgetSvc
  The widget store is not reachable.

MORE INFORMATION
================

The description for Event ID ( 99 ) in Source ( GhostSvc ) could not be found. It
contains the following insertion string(s): widget.

  Event ID: 3
  Source: <your service name>

  Event ID: 4
  Source: SNA Server (or SnaBase)

RESOLUTION
==========

  Event ID: 8
  Source: LateSvc
"""


@pytest.fixture
def make_page() -> Callable[..., str]:
    """:func:`page`, for tests that write their own article."""
    return page


@pytest.fixture
def styles_body() -> str:
    """The body of the every-style article."""
    return STYLES


@pytest.fixture
def styles_article() -> KbArticle:
    return parse_article(page("Q123456", "Widgets Stop After an Upgrade", STYLES), "styles")


@pytest.fixture(scope="session")
def shared_kb() -> Path:
    """The KB corpora beside the repository; tests using it skip when they are absent."""
    if not (SHARED / "kb-events" / "EVENTS.csv").is_file():
        pytest.skip(f"KB corpus not found at {SHARED} (it lives beside the repository)")
    return SHARED
