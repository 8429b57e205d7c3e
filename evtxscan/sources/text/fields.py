"""One export line's fields -> the values of an event (before its time is resolved).

Types become EVTX levels as Windows renders classic events: Error 2, Warning 3, Information
4, Audit Success/Failure 0 (with the audit keyword bits, so the outcome survives); dumpel's
numeric EVENTLOG_* types the same way. A numeric category is the task ("None" is 0); a
category name is not a number and is lost. The user column holds a name: it is kept as a
data item ``User`` (unless "N/A"); a SID there becomes ``user_sid``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from evtxscan.sources.evt.frame import (
    AUDIT_FAILURE_KEYWORD,
    AUDIT_SUCCESS_KEYWORD,
    CLASSIC_KEYWORD,
    LEVELS,
    EventType,
)
from evtxscan.sources.text.layout import Layout

_WORDS: dict[str, tuple[int, int]] = {  # type word -> (level, audit keyword bits)
    "error": (2, 0),
    "warning": (3, 0),
    "information": (4, 0),
    "informational": (4, 0),
    "success": (0, 0),
    "critical": (1, 0),
    "verbose": (5, 0),
    "audit success": (0, AUDIT_SUCCESS_KEYWORD),
    "success audit": (0, AUDIT_SUCCESS_KEYWORD),
    "audit failure": (0, AUDIT_FAILURE_KEYWORD),
    "failure audit": (0, AUDIT_FAILURE_KEYWORD),
}
_SID = re.compile(r"S-1-\d+(?:-\d+)+", re.IGNORECASE)
_PARENTHESIZED = re.compile(r"\((\d{1,5})\)")
_NO_USER = {"", "n/a", "-"}
_TYPES = frozenset(int(t) for t in EventType)


class RawEvent(NamedTuple):
    """An export record's values; its time is still local text."""

    line: int
    offset: int
    date: str
    time: str | None  # None: ``date`` holds date and time
    source: str | None
    event_id: int | None
    qualifiers: int | None
    level: int | None
    keywords: int | None
    task: int | None
    category_named: bool
    user: str | None
    user_sid: str | None
    computer: str | None
    channel: str | None
    record_id: int | None
    description: str | None
    strings: list[str] | None  # dumpel: the fields after the computer
    problems: list[str]


def _number(text: str | None, limit: int) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) < 21 and int(text) < limit else None


def _kind(layout: Layout, text: str | None, numeric_level: bool) -> tuple[int | None, int]:
    """(level, keyword bits) of a type or level value."""
    if text is None:
        return None, 0
    text = text.strip()
    if text.isdecimal():
        value = int(text)
        if numeric_level:
            return (value if value < 256 else None), 0
        if layout.numeric_types and value in _TYPES:
            kind = EventType(value)
            bits = {
                EventType.AUDIT_SUCCESS: AUDIT_SUCCESS_KEYWORD,
                EventType.AUDIT_FAILURE: AUDIT_FAILURE_KEYWORD,
            }.get(kind, 0)
            return LEVELS[kind], bits
        return None, 0
    level, bits = _WORDS.get(" ".join(text.casefold().split()), (None, 0))
    return level, bits


def _keywords(text: str | None) -> tuple[int | None, int]:
    """(numeric keywords, audit bits) of a Keywords column (a number, or words)."""
    if text is None or not text.strip():
        return None, 0
    text = text.strip()
    if re.fullmatch(r"-?\d{1,20}", text):
        return int(text) & (2**64 - 1), 0
    if text.lower().startswith("0x"):
        try:
            return int(text, 16) & (2**64 - 1), 0
        except ValueError:
            return None, 0
    folded = text.casefold()
    bits = AUDIT_SUCCESS_KEYWORD if "audit success" in folded else 0
    bits |= AUDIT_FAILURE_KEYWORD if "audit failure" in folded else 0
    return None, bits


def _category(text: str | None) -> tuple[int | None, bool]:
    """(task, whether a category name was lost)."""
    if text is None or not text.strip():
        return None, False
    text = text.strip()
    if text.isdecimal():
        return _number(text, 2**16), False
    if text.casefold() == "none":
        return 0, False
    match = _PARENTHESIZED.fullmatch(text)
    if match:
        return _number(match[1], 2**16), False
    return None, True


def event_from_fields(fields: list[str], layout: Layout, line: int, offset: int) -> RawEvent:
    """The values of one record line (problems listed, never raised)."""
    columns, size = layout.columns, len(fields)
    values = {name: fields[i].strip() for name, i in columns.items() if i < size}
    if layout.tail in values:
        values[layout.tail] = layout.delimiter.join(fields[columns[layout.tail] :]).rstrip()
    get = values.get

    problems: list[str] = []
    event_id = _number(get("event_id"), 2**32)
    qualifiers = _number(get("qualifiers"), 2**16)
    instance = _number(get("instance_id"), 2**32)
    if instance is not None:
        qualifiers = instance >> 16 if qualifiers is None else qualifiers
        event_id = instance if event_id is None else event_id
    if event_id is not None and event_id > 0xFFFF:
        qualifiers = event_id >> 16 if qualifiers is None else qualifiers
        event_id &= 0xFFFF
    if event_id is None:
        problems.append(f"no event ID: {get('event_id') or get('instance_id')!r}")
    level, bits = _kind(layout, get("level"), numeric_level=True)
    if level is None:
        level, bits = _kind(layout, get("type"), numeric_level=False)
    keywords, more_bits = _keywords(get("keywords"))
    bits |= more_bits
    if bits or (layout.classic and level is not None):
        keywords = (keywords or 0) | bits | (CLASSIC_KEYWORD if layout.classic else 0)
    task, named = _category(get("category"))
    number = _number(get("category_number"), 2**16)
    task = number if number is not None else task
    user = get("user")
    user_sid: str | None = None
    if user is not None and user.casefold() in _NO_USER:
        user = None
    elif user is not None and _SID.fullmatch(user):
        user_sid, user = user.upper(), None
    date, time = get("datetime"), None  # time None: the date text holds both
    if not date:
        date = get("date") or ""
        time = (get("time") or "") if "time" in columns else None
    strings = None
    if layout.tail == "strings":
        index = columns.get("strings", layout.min_fields)
        strings = [s.rstrip("\r") for s in fields[index:]]
    return RawEvent(
        line=line,
        offset=offset,
        date=date,
        time=time,
        source=get("source") or None,
        event_id=event_id,
        qualifiers=qualifiers,
        level=level,
        keywords=keywords,
        task=task,
        category_named=named,
        user=user,
        user_sid=user_sid,
        computer=get("computer") or None,
        channel=get("channel") or None,
        record_id=_number(get("record_id"), 2**64),
        description=None if layout.tail == "strings" else get("description"),
        strings=strings,
        problems=problems,
    )
