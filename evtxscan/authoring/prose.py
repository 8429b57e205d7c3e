"""Citations written without a label block (passes 2 and 3 of :mod:`.extract`).

- ``Event ID 7000, Service Control Manager`` / ``Event 2127   MSExchangeMTA`` /
  ``Event 5711 Source Netlogon`` / ``Source MSFTPSVC Event ID 8: ...``: a line that starts
  with an event ID and names a source with no ``:``. The source must be one the archive
  cites somewhere with a label, and must be followed by the end of the line, a comma,
  `` - ``, a column gap, a category or a type word (with the word ``Source`` before it, any
  text may follow). Names that are ordinary English (Server, Print, Security...) count only
  when they are the whole rest of the line or sit in a comma list.
- ``The description for Event ID ( N ) in Source ( X ) could not be found ...`` sentences,
  when no other citation in the article gives the same event.
- A labelled pair inside a prose paragraph: ``... logs Event 717: Event ID: 717 Source: SNA
  Base Service Description: ...`` or ``System Error, Source=DCOM, Event ID=10005``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from evtxscan.authoring.citations import CITING_SECTIONS, CitedEvent, Variant, collapse, event_type
from evtxscan.authoring.fields import TYPE_WORDS, lex_field_line
from evtxscan.authoring.kb_article import KbArticle, Line, Section
from evtxscan.authoring.sources import COMMON_WORDS, SourceTable, source_key

_EVENT_START = re.compile(
    rf"^(?:[-*]\s+)?(?:(?P<typeword>{TYPE_WORDS})\s+)?(?:event\s*id|event|id)\s*(?P<id>\d+)"
    r"(?P<rest>(?:\s|,|-|:).*)?$",
    re.IGNORECASE,
)
_SOURCE_START = re.compile(
    r"^(?:[-*]\s+)?source\s+(?P<source>.+?)\s+(?:event\s*id|event)\s*(?P<id>\d+)\s*:?(?P<rest>.*)$",
    re.IGNORECASE,
)
_FOLLOW = re.compile(rf"^(?:$|,|\s+-\s|\s{{2,}}|\s*\(|\s+(?:{TYPE_WORDS})\b)", re.IGNORECASE)
_NOT_FOUND = re.compile(
    r"description for event id\s*\(?\s*\"?(?P<id>\d+)\"?\s*\)?\s+(?:"
    r"in\s+source\s*\(?\s*\"?(?P<src>[^()\"]+?)\"?\s*\)?\s+(?:could\s+not|cannot)\s+be\s+found"
    r"|with\s+the\s+(?P<src2>.+?)\s+source\s+(?:could\s+not|cannot)\s+be\s+found)",
    re.IGNORECASE,
)
_PAIR_ID = re.compile(r"\bevent\s*id\s*(?P<sep>[:=])\s*(?P<id>\d+)", re.IGNORECASE)
_PAIR_SOURCE = re.compile(
    r"\bsource\s*(?P<sep>[:=])\s*(?P<source>.+?)(?=\s*(?:,|\.\s|$|\b(?:event\s*id|event|description|"
    r"type|category|user|computer|date|time)\s*[:=]))",
    re.IGNORECASE,
)
_MAX_WORDS = 6


def _match_source(text: str, table: SourceTable, labelled: bool) -> tuple[str, str] | None:
    """The longest known source at the start of ``text``, and the text after it."""
    words = text.strip().split()
    offsets = [m.start() for m in re.finditer(r"\S+", text.strip())]
    stripped = text.strip()
    for size in range(min(len(words), _MAX_WORDS), 0, -1):
        end = offsets[size - 1] + len(words[size - 1])
        candidate, after = stripped[:end].rstrip(",.:;"), stripped[end:]
        if stripped[:end] != candidate:
            after = stripped[len(candidate) :]
        if not table.known(candidate):
            continue
        whole = not after.strip(" .")
        common = source_key(candidate) in COMMON_WORDS
        follows = _FOLLOW.match(after) or _is_category(after, table)
        if labelled and (whole or after[:1].isspace() or follows):
            return candidate, after
        single = re.match(r"^ [A-Z]", after) is not None and not common
        if whole or single or (follows and (not common or after.lstrip().startswith(","))):
            return candidate, after
    return None


def _drop_category(after: str, table: SourceTable) -> str:
    text = after.strip(" ,-")
    found = [c for c in table.categories if len(c) > 3 and text.startswith(c + " ")]
    return text[len(max(found, key=len)) :] if found else after


def _is_category(after: str, table: SourceTable) -> bool:
    text = after.strip(" ,-")
    return any(text.startswith(c) and len(c) > 3 for c in table.categories)


def _description(first: str, lines: list[Line], index: int) -> str:
    """Text after the citation on its line, else the lines right under it (or the indented
    paragraph after one blank line)."""
    parts = [first.strip(" ,:-")] if first.strip(" ,:-") else []
    blanks = 0
    for line in lines[index + 1 :]:
        if line.blank:
            blanks += 1
            if parts or blanks > 1:
                break
            continue
        if lex_field_line(line.text) is not None or _EVENT_START.match(line.text):
            break
        if blanks and line.indent == 0:
            break
        parts.append(line.text)
    return collapse(" ".join(parts))


def unlabelled_citations(
    article: KbArticle, section: Section, table: SourceTable
) -> Iterator[CitedEvent]:
    """Pass 2: ``Event ID N, <source>`` lines (see the module docstring)."""
    lines = list(section.lines)
    for index, line in enumerate(lines):
        fields = lex_field_line(line.text)
        if fields is not None and not fields.weak:
            continue
        start = _EVENT_START.match(line.text)
        labelled, kind = False, ""
        if start is not None:
            rest = (start.group("rest") or "").lstrip(" ,-:")
            kind = start.group("typeword") or ""
            label = re.match(r"source\s+", rest, re.IGNORECASE)
            if label is not None:
                labelled, rest = True, rest[label.end() :]
            found = _match_source(rest, table, labelled)
        else:
            start = _SOURCE_START.match(line.text)
            if start is None or not table.known(start.group("source")):
                continue
            labelled, rest = True, start.group("rest")
            found = (start.group("source"), rest)
        if found is None:
            continue
        source, after = found
        type_match = re.match(rf"^[\s,-]*(?P<t>{TYPE_WORDS})\b", after, re.IGNORECASE)
        if type_match is not None:
            after = after[type_match.end() :]
        after = _drop_category(after, table)
        yield CitedEvent(
            article=article.article_id,
            section=section.name,
            source=source,
            source_normalized=table.canonical(source),
            event_id=int(start.group("id")),
            type=event_type(kind or (type_match.group("t") if type_match else "")),
            description=_description(after, lines, index),
            variant=Variant.ONE_LINE if labelled else Variant.UNLABELLED_SOURCE,
            line=line.number,
        )


def _paragraph_text(lines: tuple[Line, ...]) -> str:
    return " ".join(line.text for line in lines)


def not_found_citations(
    article: KbArticle, section: Section, table: SourceTable
) -> Iterator[CitedEvent]:
    """Pass 3a: "The description for Event ID ( N ) in Source ( X ) could not be found"."""
    for paragraph in section.paragraphs():
        text = _paragraph_text(paragraph)
        for match in _NOT_FOUND.finditer(text):
            source = table.written(match.group("src") or match.group("src2") or "")
            if not source:
                continue
            start = text.rfind("The ", 0, match.start() + 1)
            start = start if start >= 0 and match.start() - start <= 4 else match.start()
            yield CitedEvent(
                article=article.article_id,
                section=section.name,
                source=source,
                source_normalized=table.canonical(source),
                event_id=int(match.group("id")),
                type="",
                description=collapse(text[start:]),
                variant=Variant.DESCRIPTION_NOT_FOUND,
                line=paragraph[0].number,
            )


def inline_pair_citations(
    article: KbArticle, section: Section, table: SourceTable
) -> Iterator[CitedEvent]:
    """Pass 3b: a labelled ``Event ID``/``Source`` pair inside a prose paragraph."""
    for paragraph in section.paragraphs():
        text = _paragraph_text(paragraph)
        for match in _PAIR_ID.finditer(text):
            if _at_line_start(paragraph, text, match.start()):
                continue
            window = text[max(0, match.start() - 60) : match.end() + 120]
            source_match = _PAIR_SOURCE.search(window)
            if source_match is None:
                continue
            source = table.written(source_match.group("source"))
            if not source:
                continue
            equals = "=" in (match.group("sep"), source_match.group("sep"))
            description = re.search(r"description\s*:\s*(?P<d>.*)", text[match.end() :], re.I)
            yield CitedEvent(
                article=article.article_id,
                section=section.name,
                source=source,
                source_normalized=table.canonical(source),
                event_id=int(match.group("id")),
                type="",
                description=collapse(_until_stop(description.group("d"))) if description else "",
                variant=Variant.KEY_EQUALS if equals else Variant.ONE_LINE,
                line=paragraph[0].number,
            )


def _until_stop(text: str) -> str:
    stop = re.search(r"\bEXPLANATION\b|\bACTION\b|\bData:", text)
    return text[: stop.start()] if stop else text


def _at_line_start(paragraph: tuple[Line, ...], text: str, offset: int) -> bool:
    """True when the match is on a field line (pass 1 reads those)."""
    position = 0
    for line in paragraph:
        if position <= offset < position + len(line.text) + 1:
            return lex_field_line(line.text) is not None or not text[position:offset].strip(" -*")
        position += len(line.text) + 1
    return False


def prose_citations(
    article: KbArticle, table: SourceTable, labelled: list[CitedEvent]
) -> list[CitedEvent]:
    """Passes 2 and 3 over the citing sections; not-found sentences only for new events."""
    out: list[CitedEvent] = []
    for section in article.sections:
        if section.name not in CITING_SECTIONS:
            continue
        out += unlabelled_citations(article, section, table)
        out += inline_pair_citations(article, section, table)
    known = {(e.source_normalized, e.event_id) for e in [*labelled, *out]}
    for section in article.sections:
        if section.name not in CITING_SECTIONS:
            continue
        for event in not_found_citations(article, section, table):
            if (event.source_normalized, event.event_id) not in known:
                known.add((event.source_normalized, event.event_id))
                out.append(event)
    return out
