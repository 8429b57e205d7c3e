"""Cited events as CSV rows in the columns of ``shared/kb-events/EVENTS.csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from evtxscan.authoring.citations import CitedEvent
from evtxscan.authoring.kb_article import KbArticle

COLUMNS = (
    "article",
    "title",
    "products",
    "section",
    "source",
    "source_normalized",
    "event_id",
    "type",
    "description",
    "format_variant",
)


def event_rows(article: KbArticle, events: Iterable[CitedEvent]) -> list[dict[str, str]]:
    """One row per cited event, as EVENTS.csv writes it."""
    return [
        {
            "article": event.article,
            "title": article.title,
            "products": "; ".join(article.products),
            "section": event.section,
            "source": event.source,
            "source_normalized": event.source_normalized,
            "event_id": str(event.event_id),
            "type": event.type,
            "description": event.description,
            "format_variant": event.variant.value,
        }
        for event in events
    ]


def write_events_csv(path: str | Path, rows: Iterable[dict[str, str]]) -> int:
    """Write the rows (with a header); returns how many."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
