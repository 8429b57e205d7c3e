"""Cut a text export's lines into records: header rows, quoted multi-line fields, and the
unquoted line breaks NT-era exports leave in descriptions.

A line with a record's leading values starts a record. A quoted field may run over several
lines (until its closing quote; an unclosed quote is read as a plain character). A shorter
line after a record continues that record's free text (description or last string). Any
other line is reported with its number and skipped: the rest of the file is read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.text.layout import (
    PREAMBLE,
    Layout,
    closes_quote,
    header_layout,
    is_record_start,
    row_layout,
    split_fields,
)
from evtxscan.sources.text.lines import Line

#: A quoted field longer than this (lines or characters) is taken as an unclosed quote.
MAX_QUOTED_LINES = 2_000
MAX_QUOTED_CHARS = 1 << 18
#: Lines at the top of a file that may precede the first recognised line.
MAX_LEADING_JUNK = 20
#: Line errors listed per file; more are counted in one summary error.
MAX_LINE_ERRORS = 1_000


class Record:
    """One record's fields and the line it starts on."""

    __slots__ = ("fields", "line", "more")

    def __init__(self, fields: list[str], line: Line) -> None:
        self.fields, self.line = fields, line
        self.more: list[str] = []  # continuation text of the last field, joined once

    def done(self) -> Record:
        if self.more:
            self.fields[-1] += "".join(self.more)
            self.more = []
        return self


def _printable(text: str) -> bool:
    return not any(ord(c) < 32 and c != "\t" for c in text)


class Assembler:
    """Turns lines into records; the layout, problems and counts are kept for the report."""

    def __init__(self, report: FileReport) -> None:
        self.report = report
        self.layout: Layout | None = None
        self.header: str | None = None
        self.errors = self.continued = self.headers_again = 0
        self._buffer: deque[Line] = deque()
        self._single_until = 0  # lines up to this number already failed a quote look-ahead

    def error(self, reason: str, line: Line | None = None) -> None:
        self.errors += 1
        if self.errors <= MAX_LINE_ERRORS:
            where = f"line {line.number}: " if line is not None else ""
            self.report.error(where + reason, offset=None if line is None else line.offset)

    def finish(self) -> None:
        if self.errors > MAX_LINE_ERRORS:
            more = self.errors - MAX_LINE_ERRORS
            self.report.error(f"{more} more malformed lines (not listed)")

    def _pull(self, lines: Iterator[Line]) -> Line | None:
        return self._buffer.popleft() if self._buffer else next(lines, None)

    def _start(self, line: Line, junk: int) -> bool | None:
        """Find the layout on a leading line: True header, False record, None neither."""
        text = line.text.lstrip("\ufeff")
        if not text.strip() or (line.number <= 3 and text.startswith(PREAMBLE)):
            return None
        header = header_layout(text)
        if header is not None:
            self.layout, self.header = header, text
            return True
        self.layout = row_layout(text)
        if self.layout is None and junk < MAX_LEADING_JUNK:
            self.error("not a line of a known event export layout", line)
        return False if self.layout is not None else None

    def records(self, lines: Iterator[Line]) -> Iterator[Record]:
        """Every record, in file order."""
        pending: Record | None = None
        blanks = junk = 0
        while (line := self._pull(lines)) is not None:
            check_budget()
            if self.layout is None:
                found = self._start(line, junk)
                junk += found is None and bool(line.text.strip())
                if junk > MAX_LEADING_JUNK:
                    self.error("no event export layout recognised in the first lines: stopped")
                    return
                if found is not False:
                    continue
            layout = self.layout
            assert layout is not None
            if not line.text.strip():
                blanks += 1
                continue
            if self.header is not None and line.text.lstrip("\ufeff") == self.header:
                self.headers_again += 1
                continue
            fields = self._fields(line, layout, lines)
            if is_record_start(layout, fields):
                if pending is not None:
                    yield pending.done()
                pending, blanks = Record(fields, line), 0
            elif pending is not None and len(fields) < layout.min_fields and _printable(line.text):
                self._continue(pending, layout, "\n" * (blanks + 1) + line.text)
                blanks = 0
            else:
                self.error(_why(layout, fields), line)
        if pending is not None:
            yield pending.done()

    def _fields(self, line: Line, layout: Layout, lines: Iterator[Line]) -> list[str]:
        """The fields of the record starting at ``line``, reading on while a quote is open."""
        fields, open_at = split_fields(line.text, layout.delimiter)
        if open_at < 0 or line.number <= self._single_until:
            return fields  # a quote left open in a line read again ends with the line
        text, taken = line.text, list[Line]()
        while open_at >= 0 and len(taken) < MAX_QUOTED_LINES and len(text) < MAX_QUOTED_CHARS:
            more = self._pull(lines)
            if more is None:
                break
            taken.append(more)
            text += "\n" + more.text
            if closes_quote(more.text):  # only then is the open field's text split again
                rest, at = split_fields(text[open_at:], layout.delimiter)
                fields[-1:] = rest
                open_at = -1 if at < 0 else open_at + at
        if open_at < 0:
            return fields
        self.error("a quoted field is never closed: its quote is read as a plain character", line)
        self._buffer.extendleft(reversed(taken))
        self._single_until = taken[-1].number if taken else line.number
        return split_fields(line.text, layout.delimiter, quotes=False)[0]

    def _continue(self, record: Record, layout: Layout, text: str) -> None:
        """Append a continuation line to the record's free text (its last column)."""
        index = layout.columns.get(layout.tail or "", len(record.fields) - 1)
        fields = record.fields
        if len(fields) <= index:
            fields.extend([""] * (index + 1 - len(fields)))
            text = text.lstrip("\n")
        record.more.append(text)  # joined once: appending to the string would be quadratic
        self.continued += 1


def _why(layout: Layout, fields: list[str]) -> str:
    if len(fields) < layout.min_fields:
        return f"not a record: {len(fields)} field(s), a record has at least {layout.min_fields}"
    return "not a record: no date and numeric event ID where the layout has them"
