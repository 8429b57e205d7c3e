"""The events an article cites, in page order: every pass, deduplicated.

Only SYMPTOMS, SUMMARY, MORE INFORMATION and CAUSE are read (the sections that describe
what the logs show). Three passes, in this order of trust:

1. labelled blocks (:mod:`evtxscan.authoring.citations`): exactly one numeric event ID and
   exactly one non-empty source per block;
2. sources written without a label (``Event ID 7000, Service Control Manager``), accepted
   only for names the archive cites somewhere with a label (:mod:`.prose`);
3. ``The description for Event ID ( N ) in Source ( X ) could not be found`` sentences and
   labelled pairs inside a prose paragraph (:mod:`.prose`).

Within an article, citations are unique on (normalized source, event ID, description); a
repeat with no description is dropped when one with a description exists.
"""

from __future__ import annotations

from evtxscan.authoring.citations import CitedEvent, labelled_citations
from evtxscan.authoring.kb_article import KbArticle
from evtxscan.authoring.prose import prose_citations
from evtxscan.authoring.sources import SourceTable, builtin_source_table


def deduplicate(events: list[CitedEvent]) -> list[CitedEvent]:
    """Unique on (source, ID, description); drop a repeat without text when one has text."""
    seen: set[tuple[str, int, str]] = set()
    described = {(e.source_normalized, e.event_id) for e in events if e.description}
    out = []
    for event in events:
        key = (event.source_normalized, event.event_id, event.description.casefold())
        if key in seen:
            continue
        if not event.description and (event.source_normalized, event.event_id) in described:
            continue
        seen.add(key)
        out.append(event)
    return out


def extract_citations(article: KbArticle, table: SourceTable | None = None) -> list[CitedEvent]:
    """Every event the article cites, in page order."""
    table = table or builtin_source_table()
    labelled = labelled_citations(article, table)
    known = table.with_spellings(e.source for e in labelled)
    found = sorted([*labelled, *prose_citations(article, known, labelled)], key=lambda e: e.line)
    return deduplicate(found)
