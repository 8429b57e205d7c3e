"""Read one archived KB article page (the kbarchive Markdown) into metadata and sections.

A page is Jekyll front matter, a ``## QNNN: title`` heading and the article body inside
``{% raw %}`` ... ``{% endraw %}``. The body's lines start with a tab; the header lines
(``Product(s):``, ``Version(s):``, ``Last Modified:``) come first, then upper-case
headings underlined with ``=`` split it into sections (SYMPTOMS, CAUSE, ...).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

ARCHIVE_URL = "https://jeffpar.github.io/kbarchive/kb/{group:03}/{article}/"

_ARTICLE_ID = re.compile(r"Q\d{6}")
_TITLE = re.compile(r'^title:\s*"(?P<title>.*)"\s*$', re.MULTILINE)
_HEADING = re.compile(r"[A-Z][A-Z &/()'-]*[A-Z)]")
_HTML_BREAK = re.compile(r"<\s*/?\s*(?:br|p)\s*/?\s*>", re.IGNORECASE)
_UNDERLINE = re.compile(r"\s*={3,}\s*")
_HEADER_FIELD = re.compile(r"^(?P<name>Product\(s\)|Version\(s\)|Last Modified):\s*(?P<value>.*)$")

#: Headings that mean the same thing are read under one name.
_SECTION_ALIASES = {"SYMPTOM": "SYMPTOMS"}


class ArticleError(ValueError):
    """A page that is not a kbarchive article, with the reason."""


@dataclass(frozen=True)
class Line:
    """One body line: its 1-based line number in the page, indentation and text."""

    number: int
    indent: int  # spaces after the leading tab
    text: str  # without the leading tab and indentation, right-stripped

    @property
    def blank(self) -> bool:
        return not self.text


@dataclass(frozen=True)
class Section:
    """The lines under one heading (``PREAMBLE`` for those before the first heading)."""

    name: str
    lines: tuple[Line, ...]

    def paragraphs(self) -> list[tuple[Line, ...]]:
        """Runs of non-blank lines."""
        out: list[tuple[Line, ...]] = []
        run: list[Line] = []
        for line in self.lines:
            if line.blank:
                if run:
                    out.append(tuple(run))
                run = []
            else:
                run.append(line)
        if run:
            out.append(tuple(run))
        return out

    def text(self) -> str:
        """The section as plain text, one space per line break and indentation."""
        return " ".join(line.text for line in self.lines if not line.blank)


@dataclass(frozen=True)
class KbArticle:
    """An article's metadata and its sections in page order."""

    article_id: str
    title: str
    products: tuple[str, ...]
    versions: str
    applies_to: tuple[str, ...]
    last_modified: str
    sections: tuple[Section, ...]
    path: str

    @property
    def link(self) -> str:
        return ARCHIVE_URL.format(group=int(self.article_id[1:]) // 1000, article=self.article_id)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


def _body(text: str, source: str) -> tuple[int, list[str]]:
    start = text.find("{% raw %}")
    end = text.find("{% endraw %}")
    if start < 0 or end < start:
        raise ArticleError(f"{source}: no {{% raw %}} article body")
    first_line = text.count("\n", 0, start) + 1
    return first_line, text[start + len("{% raw %}") : end].split("\n")


def _line(number: int, raw: str) -> Line:
    content = raw[1:] if raw.startswith("\t") else raw
    content = _HTML_BREAK.sub("", content.replace("\t", "    ")).rstrip()
    stripped = content.lstrip(" ")
    return Line(number, len(content) - len(stripped), stripped)


def parse_article(text: str, source: str = "<article>") -> KbArticle:
    """Parse a kbarchive page; ``source`` names it in errors."""
    title_match = _TITLE.search(text)
    first_line, raw_lines = _body(text, source)
    lines = [_line(first_line + i, raw) for i, raw in enumerate(raw_lines)]
    header: dict[str, str] = {}
    for line in lines[:20]:
        field = _HEADER_FIELD.match(line.text)
        if field and field.group("name") not in header:
            header[field.group("name")] = field.group("value").strip()
    article_match = _ARTICLE_ID.search(title_match.group("title") if title_match else source)
    if article_match is None:
        raise ArticleError(f"{source}: no article ID (QNNNNNN) in the page title")
    title = html.unescape(title_match.group("title")) if title_match else ""
    title = re.sub(r"^Q\d{6}:\s*", "", title).replace('\\"', '"')
    products = tuple(p.strip() for p in header.get("Product(s)", "").split(";") if p.strip())
    return KbArticle(
        article_id=article_match.group(0),
        title=title,
        products=products,
        versions=header.get("Version(s)", ""),
        applies_to=_applies_to(lines),
        last_modified=header.get("Last Modified", ""),
        sections=_sections(lines),
        path=source,
    )


def _applies_to(lines: list[Line]) -> tuple[str, ...]:
    """The items of "The information in this article applies to:" (products with versions)."""
    start = next((i for i, line in enumerate(lines[:80]) if "applies to:" in line.text), None)
    if start is None:
        return ()
    items: list[str] = []
    for line in lines[start + 1 :]:
        if line.text.startswith("-----"):
            break
        if line.text.startswith("- "):
            items.append(re.sub(r"\s+", " ", line.text[2:]).strip())
        elif items and line.text and line.indent > 0:
            items[-1] += " " + line.text.strip()
    return tuple(dict.fromkeys(items))


def _sections(lines: list[Line]) -> tuple[Section, ...]:
    out: list[Section] = []
    name, current = "PREAMBLE", list[Line]()
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else None
        if (
            following is not None
            and _HEADING.fullmatch(line.text)
            and line.indent == 0
            and _UNDERLINE.fullmatch(following.text)
        ):
            out.append(Section(name, tuple(current)))
            name, current = _SECTION_ALIASES.get(line.text, line.text), list[Line]()
            i += 2
            continue
        current.append(line)
        i += 1
    out.append(Section(name, tuple(current)))
    return tuple(s for s in out if s.lines or s.name != "PREAMBLE")


def read_article(path: str | Path) -> KbArticle:
    """Read and parse one ``README.md`` page."""
    file = Path(path)
    return parse_article(file.read_text("utf-8"), str(file))
