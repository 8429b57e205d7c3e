"""Group field lines into event blocks and take each block's description.

Consecutive field lines form one block. A blank line between fields is bridged unless the
block already has its description; a label that repeats (a second event ID, source or
description) starts a new block, and an ``-or-``/``-and-`` line ends one. The description is
the text after ``Description:`` (continued over lines indented at least as deep), the next
paragraph when the label is empty, or, with no label, the text right under the fields or
the indented paragraph after one blank line. Text that ends with ``:`` crosses one blank
line (``...terminated with the following error:`` / blank / the error text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evtxscan.authoring.fields import Field, FieldLine, Kind, lex_field_line
from evtxscan.authoring.kb_article import Line

_ALTERNATIVE = re.compile(r"^-+\s*(or|and)\s*-+$", re.IGNORECASE)
_STOP = re.compile(
    r"^(?:EXPLANATION|ACTION)\b|^Data:|^[0-9a-f]{4}:\s|^(?:Cause|Resolution)\s*:"
    r"|^For more information, see Help and Support Center",
    re.IGNORECASE,
)
#: Sentences that talk about the description instead of quoting it.
_META = re.compile(r"^the (?:description|text|message)s? (?:will|may|is|are|should)\b", re.I)
_REPEATING = (Kind.EVENT_ID, Kind.SOURCE, Kind.DESCRIPTION)


@dataclass
class Block:
    """One event citation being read: its field lines and description."""

    first: Line
    lines: list[tuple[Line, FieldLine]] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    labelled_description: bool = False
    open_description: bool = False  # still taking lines
    wants_paragraph: bool = False  # "Description:" was empty: take the next paragraph
    description_indent: int = 0
    blanks: int = 0  # blank lines since the last line taken
    closed: bool = False

    @property
    def fields(self) -> list[Field]:
        return [f for _, fl in self.lines for f in fl.fields]

    def has(self, kind: Kind) -> bool:
        return any(f.kind is kind for f in self.fields)

    @property
    def complete_description(self) -> bool:
        return bool(self.description) and not self.open_description

    def add(self, line: Line, fields: FieldLine) -> None:
        self.lines.append((line, fields))
        self.blanks = 0
        for item in fields.fields:
            if item.kind is Kind.DESCRIPTION:
                self.labelled_description = True
                self.description_indent = line.indent
                if item.value:
                    self.description = [item.value]
                    self.open_description = True
                else:
                    self.wants_paragraph = True
            elif self.open_description:
                self.open_description = False

    def take_text(self, line: Line) -> bool:
        """Take a non-field line into the description when it belongs there."""
        if _STOP.search(line.text) or (not self.description and _META.search(line.text)):
            self.open_description = False
            return False
        ends_with_colon = bool(self.description) and self.description[-1].endswith(":")
        if self.wants_paragraph and self.blanks <= 1:
            self.wants_paragraph, self.open_description = False, True
            self.description_indent = line.indent
        elif self.open_description and (
            (self.blanks == 0 and line.indent >= self.description_indent)
            or (self.blanks == 1 and ends_with_colon)
        ):
            pass
        elif (
            not self.labelled_description
            and not self.description
            and (self.blanks == 0 or (self.blanks == 1 and line.indent > 0))
        ):
            self.open_description = True
            self.description_indent = line.indent
        else:
            self.open_description = False
            return False
        self.description.append(line.text)
        self.blanks = 0
        return True


def _starts_new(block: Block, fields: FieldLine) -> bool:
    if block.closed:
        return True
    if block.blanks and block.description and not block.description[-1].endswith(":"):
        return True  # a blank line after a complete description
    present = {f.kind for f in block.fields}
    return any(f.kind in present for f in fields.fields if f.kind in _REPEATING)


def _weak_allowed(block: Block | None, lines: list[Line], index: int) -> bool:
    """A colon-less column field counts only next to an event-ID line."""
    if block is not None and not block.closed and block.blanks <= 1 and block.has(Kind.EVENT_ID):
        return not block.description
    nxt = lines[index + 1] if index + 1 < len(lines) else None
    following = lex_field_line(nxt.text) if nxt is not None else None
    return following is not None and Kind.EVENT_ID in following.kinds()


def _source_is_text(block: Block, fields: FieldLine, lines: list[Line], index: int) -> bool:
    """``Source: <value>`` after a description and followed by more text is message content."""
    if fields.kinds() != [Kind.SOURCE] or not block.open_description:
        return False
    nxt = lines[index + 1] if index + 1 < len(lines) else None
    return nxt is not None and not nxt.blank and lex_field_line(nxt.text) is None


def read_blocks(lines: tuple[Line, ...]) -> list[Block]:
    """Every block of field lines in a section, with descriptions attached."""
    blocks: list[Block] = []
    current: Block | None = None
    listing = list(lines)
    for index, line in enumerate(listing):
        if line.blank:
            if current is not None:
                current.blanks += 1
                if current.blanks > 2:
                    current.closed = True
            continue
        if _ALTERNATIVE.match(line.text):
            if current is not None:
                current.closed = True
            continue
        fields = lex_field_line(line.text)
        if fields is not None and fields.weak and not _weak_allowed(current, listing, index):
            fields = None
        if (
            fields is not None
            and current is not None
            and _source_is_text(current, fields, listing, index)
        ):
            fields = None
        if fields is not None:
            if current is None or _starts_new(current, fields):
                current = Block(first=line)
                blocks.append(current)
            current.add(line, fields)
            continue
        if current is not None and not current.closed and current.take_text(line):
            continue
        if current is not None:
            current.closed = True
    return blocks
