"""A cited event (source, event ID, type, quoted description, section) and pass 1.

Pass 1 reads the labelled blocks of the citing sections (:mod:`evtxscan.authoring.blocks`):
a block gives a citation when it has exactly one numeric event ID and exactly one
non-empty source. :mod:`evtxscan.authoring.extract` runs all passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from evtxscan.authoring.blocks import Block, read_blocks
from evtxscan.authoring.fields import Kind
from evtxscan.authoring.kb_article import KbArticle
from evtxscan.authoring.sources import SourceTable, clean_source

#: Sections that describe what the logs show, in the names EVENTS.csv uses.
CITING_SECTIONS = ("SYMPTOMS", "SUMMARY", "MORE INFORMATION", "CAUSE")
DESCRIPTION_LIMIT = 400
_TYPES = {
    "error": "Error",
    "warning": "Warning",
    "information": "Information",
    "informational": "Information",
    "success audit": "Success Audit",
    "failure audit": "Failure Audit",
}
_SPACES = re.compile(r"\s+")


class Variant(StrEnum):
    """How a citation is written (the ``format_variant`` column of EVENTS.csv)."""

    LABELLED = "labelled"
    W2K_BLOCK = "w2k_block"
    ONE_LINE = "one_line"
    SOURCE_FIRST = "source_first"
    UNLABELLED_SOURCE = "unlabelled_source"
    PROPERTIES_TABLE = "properties_table"
    DESCRIPTION_NOT_FOUND = "description_not_found"
    KEY_EQUALS = "key_equals"


@dataclass(frozen=True)
class CitedEvent:
    """One event an article cites."""

    article: str
    section: str
    source: str  # as written (spacing collapsed)
    source_normalized: str  # the provider name Windows logs
    event_id: int
    type: str  # Error, Warning, Information, Success Audit, Failure Audit or ""
    description: str  # the quoted message text, whitespace collapsed, at most 400 characters
    variant: Variant
    line: int  # line number of the citation in the page

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.article, self.source_normalized, self.event_id)


def event_type(text: str | None) -> str:
    """A standard event type, or "" for none or a non-standard one (``Type: Stop``)."""
    if not text:
        return ""
    return _TYPES.get(_SPACES.sub(" ", text.strip(" .,;")).casefold(), "")


def collapse(text: str) -> str:
    """Whitespace collapsed, enclosing quotes and a trailing ``Data:`` dump removed, and cut
    to the EVENTS.csv limit."""
    text = _SPACES.sub(" ", text).strip()
    text = re.split(r"\s+Data\s*:\s", text, maxsplit=1)[0]
    if len(text) > 1 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text[:DESCRIPTION_LIMIT].strip()


def _variant(block: Block) -> Variant:
    labels = [f.label.casefold() for f in block.fields]
    if any(re.match(r"event\s+(type|source|category)", label) for label in labels):
        return Variant.W2K_BLOCK
    for _, fields in block.lines:
        kinds = fields.kinds()
        if Kind.OTHER in kinds and (Kind.EVENT_ID in kinds or Kind.SOURCE in kinds):
            return Variant.PROPERTIES_TABLE
        if Kind.EVENT_ID in kinds and Kind.SOURCE in kinds:
            if any(f.separator == "=" for f in fields.fields):
                return Variant.KEY_EQUALS
            return Variant.ONE_LINE
    order = [f.kind for f in block.fields if f.kind in (Kind.EVENT_ID, Kind.SOURCE)]
    if order and order[0] is Kind.SOURCE:
        return Variant.SOURCE_FIRST
    return Variant.LABELLED


def block_citation(
    article: str, section: str, block: Block, table: SourceTable
) -> CitedEvent | None:
    """The citation a block gives, or None (no single numeric ID, no single source)."""
    ids = [f.number for f in block.fields if f.kind is Kind.EVENT_ID]
    values = [f.value for f in block.fields if f.kind is Kind.SOURCE]
    sources = [table.written(v) for v in values if clean_source(v)]
    if len(ids) != 1 or ids[0] is None or len(sources) != 1 or not sources[0]:
        return None
    types = [f.value for f in block.fields if f.kind is Kind.TYPE]
    type_word = next((fl.type_word for _, fl in block.lines if fl.type_word), None)
    kind = event_type(types[0] if types else type_word)
    if not kind and re.search(r"\berror$", sources[0], re.IGNORECASE):
        kind = "Error"
    return CitedEvent(
        article=article,
        section=section,
        source=sources[0],
        source_normalized=table.canonical(sources[0]),
        event_id=ids[0],
        type=kind,
        description=collapse(" ".join(block.description)),
        variant=_variant(block),
        line=block.first.number,
    )


def labelled_citations(article: KbArticle, table: SourceTable) -> list[CitedEvent]:
    """Pass 1: the labelled blocks of the citing sections."""
    out = []
    for section in article.sections:
        if section.name not in CITING_SECTIONS:
            continue
        for block in read_blocks(section.lines):
            cited = block_citation(article.article_id, section.name, block, table)
            if cited is not None:
                out.append(cited)
    return out
