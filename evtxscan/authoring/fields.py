"""Recognize the field lines of an event citation: ``Event ID: 2508``, ``Source: Server``, ...

A field line starts with a known label followed by ``:``, ``=`` or `` - ``; further labels on
the same line are split off (``Event ID: 2510, Source: Server, Type: Error``, or the two
columns of an Event Properties dialog ``Date: ... Event ID: 7024``). ``Event 2563`` with no
separator is an event-ID field when nothing but more fields follows the number; colon-less
column layouts (``Source    MSExchangeMSMI``) are returned as *weak* fields that the block
reader accepts only next to an event-ID line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a field gives."""

    EVENT_ID = "event_id"
    SOURCE = "source"
    TYPE = "type"
    CATEGORY = "category"
    DESCRIPTION = "description"
    OTHER = "other"  # date, time, user, computer: part of a block, no value kept


#: Label spellings (longest first inside each alternative), case-insensitive.
_LABELS: tuple[tuple[str, Kind], ...] = (
    (r"event\s+source", Kind.SOURCE),
    (r"event\s+type", Kind.TYPE),
    (r"event\s+category", Kind.CATEGORY),
    (r"event\s+description", Kind.DESCRIPTION),
    (r"event\s*id", Kind.EVENT_ID),
    (r"event", Kind.EVENT_ID),
    (r"id", Kind.EVENT_ID),
    (r"source\s+name", Kind.SOURCE),
    (r"source", Kind.SOURCE),
    (r"type", Kind.TYPE),
    (r"category|cat", Kind.CATEGORY),
    (r"description|desc|text|message", Kind.DESCRIPTION),
    (r"date|time|user|computer", Kind.OTHER),
)
_LABEL = "|".join(f"(?P<k{i}>{pattern})" for i, (pattern, _) in enumerate(_LABELS))
TYPE_WORDS = r"error|warning|information|informational|success\s+audit|failure\s+audit"
_SEPARATOR = r"(?P<sep>\s*[:=]|\s+-\s+)"
_BULLET = r"(?:[-*o]\s+|\d\.\s+)?"
_FIRST = re.compile(
    rf"^{_BULLET}(?:(?P<typeword>{TYPE_WORDS})\s+)?(?:{_LABEL}){_SEPARATOR}\s*", re.IGNORECASE
)
#: ``Event ID 7000`` / ``Event  2563`` with no separator: a field only when the rest is empty.
_BARE_EVENT = re.compile(
    rf"^{_BULLET}(?:(?P<typeword>{TYPE_WORDS})\s+)?(?P<label>event\s*id|event)\s+(?P<value>\d+)"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
#: A further label inside a line: it must follow a space or punctuation and take ``:``/``=``.
_FURTHER = re.compile(rf"(?:(?<=[\s,;.])|^)(?:{_LABEL})(?P<sep>\s*[:=])", re.IGNORECASE)
_WEAK = re.compile(r"^(?P<label>source|type|category|description)\s+(?P<value>\S.*)$", re.I)
_COLUMN_LABELS = {
    "event": Kind.EVENT_ID,
    "event id": Kind.EVENT_ID,
    "source": Kind.SOURCE,
    "type": Kind.TYPE,
    "category": Kind.CATEGORY,
    "date": Kind.OTHER,
    "time": Kind.OTHER,
    "user": Kind.OTHER,
    "computer": Kind.OTHER,
}
_BARE_TYPE = re.compile(rf"^\s*,?\s*(?:type\s+)?(?P<type>{TYPE_WORDS})\s*$", re.IGNORECASE)
_GAP = re.compile(r"\s{2,}")
_GLUED = re.compile(r"^\s*\d+(?:log|source|type|category|description)\s*:", re.IGNORECASE)
_NUMBER = re.compile(r"^\(?\s*(\d+)")


@dataclass(frozen=True)
class Field:
    """One labelled value."""

    kind: Kind
    label: str
    value: str
    separator: str  # ":", "=", "-" or "" (no separator)

    @property
    def number(self) -> int | None:
        """The event ID, when this is an event-ID field that starts with a number."""
        match = _NUMBER.match(self.value)
        return int(match.group(1)) if match and self.kind is Kind.EVENT_ID else None


@dataclass(frozen=True)
class FieldLine:
    """The fields of one line, left to right, and a type word that preceded them."""

    fields: tuple[Field, ...]
    type_word: str | None = None
    weak: bool = False  # a colon-less column layout line

    def kinds(self) -> list[Kind]:
        return [f.kind for f in self.fields]


def _kind_of(match: re.Match[str]) -> tuple[Kind, str]:
    for i, (_, kind) in enumerate(_LABELS):
        label = match.group(f"k{i}")
        if label is not None:
            return kind, label
    raise AssertionError("a label group always matches")


def _separator(text: str) -> str:
    return text.strip() or ""


def _split(first: Field, rest: str, start_kind: Kind) -> list[Field]:
    """Split further labelled fields off ``rest``; nothing is split after a description."""
    fields = [first]
    if start_kind is Kind.DESCRIPTION:
        return [Field(first.kind, first.label, rest.strip(), first.separator)]
    matches = []
    for match in _FURTHER.finditer(rest):
        kind, _ = _kind_of(match)
        if kind is Kind.EVENT_ID and not _NUMBER.match(rest[match.end() :].strip()):
            continue
        matches.append(match)
        if kind is Kind.DESCRIPTION:
            break
    value_end = matches[0].start() if matches else len(rest)
    fields[0] = Field(first.kind, first.label, rest[:value_end].strip(" ,;"), first.separator)
    for i, match in enumerate(matches):
        kind, label = _kind_of(match)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(rest)
        value = rest[match.end() : end].strip(" ,;")
        fields.append(Field(kind, label, value, _separator(match.group("sep"))))
    return fields


def lex_field_line(text: str) -> FieldLine | None:
    """The fields of ``text`` (one line, indentation removed), or None for other lines."""
    first = _FIRST.match(text)
    if first is not None:
        kind, label = _kind_of(first)
        rest = text[first.end() :]
        if kind is Kind.EVENT_ID and (not _NUMBER.match(rest.strip()) or _GLUED.match(rest)):
            return None  # "ID: %8", "Event: the server ...", "Event ID:5512Log: System"
        field = Field(kind, label, "", _separator(first.group("sep")))
        return FieldLine(tuple(_split(field, rest, kind)), first.group("typeword"))
    bare = _BARE_EVENT.match(text)
    if bare is not None:
        rest = bare.group("rest")
        typed = _BARE_TYPE.match(rest)
        if typed is not None:
            field = Field(Kind.EVENT_ID, bare.group("label"), bare.group("value"), "")
            kind_field = Field(Kind.TYPE, "Type", typed.group("type"), "")
            return FieldLine((field, kind_field), bare.group("typeword"))
        further = _FURTHER.search(rest)
        if rest.strip(" :,.") and (further is None or rest[: further.start()].strip(" ,;:-")):
            return _columns(text)  # a column layout, or prose: "Event ID 2000 appears ..."
        field = Field(Kind.EVENT_ID, bare.group("label"), bare.group("value"), "")
        extra = _split(field, rest, Kind.EVENT_ID)[1:] if further else []
        return FieldLine((field, *extra), bare.group("typeword"))
    columns = _columns(text)
    if columns is not None:
        return columns
    weak = _WEAK.match(text)
    if weak is not None:
        label = weak.group("label")
        kind = next(k for pattern, k in _LABELS if re.fullmatch(pattern, label, re.IGNORECASE))
        return FieldLine((Field(kind, label, weak.group("value").strip(), ""),), weak=True)
    return None


def _columns(text: str) -> FieldLine | None:
    """A colon-less column layout: ``Event  2335   Source    MSExchangeMSMI``."""
    cells = _GAP.split(text.strip())
    if len(cells) < 2:
        return None
    if len(cells) % 2:
        first = re.match(r"^(event(?:\s*id)?)\s+(\d+)$", cells[0], re.IGNORECASE)
        if first is None:
            return None
        cells = [first.group(1), first.group(2), *cells[1:]]
    fields = []
    for label, value in zip(cells[::2], cells[1::2], strict=True):
        kind = _COLUMN_LABELS.get(re.sub(r"\s+", " ", label.casefold()))
        if kind is None:
            return None
        fields.append(Field(kind, label, value, ""))
    if any(f.kind is Kind.EVENT_ID and f.number is None for f in fields):
        return None
    weak = Kind.EVENT_ID not in [f.kind for f in fields]
    return FieldLine(tuple(fields), weak=weak)
