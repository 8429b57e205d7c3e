"""Which columns a text export has: from its header row, or from the values of its first line.

Known layouts without a header row (tab- or comma-separated):

- Event Viewer text, Windows NT 3.51/4.0 (and later "Save As" text): Date, Time, Source,
  Type, Category, Event, User, Computer, Description.
- Event Viewer text in list-view order (Windows 2000-2003): Type, Date, Time, Source,
  Category, Event, User, Computer, Description.
- dumpel (Windows NT Resource Kit, default ``-format dtTCISucs``): date, time, event type
  (number), category (number), event ID, source, user, computer, then the insertion strings
  (or the message).

A header row names the columns instead (Windows 2000-2003 ``Type,Date,Time,Source,...``,
Vista and later ``Level,Date and Time,Source,Event ID,Task Category`` with an unnamed
description column, PowerShell ``Export-Csv``); column names are matched case-insensitively,
ignoring spaces and punctuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from evtxscan.sources.text.lines import head_text
from evtxscan.sources.text.times import looks_like_date, looks_like_time

#: Normalized header name -> canonical column.
HEADER_NAMES: dict[str, str] = {
    **dict.fromkeys(("type", "eventtype", "entrytype", "leveldisplayname"), "type"),
    "level": "level",
    "keywords": "keywords",
    "date": "date",
    "time": "time",
    **dict.fromkeys(
        ("dateandtime", "datetime", "timegenerated", "timecreated", "generated"), "datetime"
    ),
    **dict.fromkeys(("source", "eventsource", "sourcename", "providername", "provider"), "source"),
    **dict.fromkeys(("category", "taskcategory", "task", "taskdisplayname"), "category"),
    "categorynumber": "category_number",
    **dict.fromkeys(("event", "eventid", "id", "eventcode"), "event_id"),
    "instanceid": "instance_id",
    "qualifiers": "qualifiers",
    **dict.fromkeys(("user", "username", "userid", "account"), "user"),
    **dict.fromkeys(("computer", "computername", "machinename", "machine"), "computer"),
    **dict.fromkeys(("description", "message"), "description"),
    **dict.fromkeys(("logname", "log", "channel"), "channel"),
    **dict.fromkeys(("index", "recordid", "recordnumber", "record"), "record_id"),
}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
#: The rest of a quoted field: text and doubled quotes up to a single closing quote.
_QUOTED = re.compile(r'[^"]*(?:""[^"]*)*"(?!")')
#: A run of an odd number of quotes: inside a quoted field, it closes the field.
_ODD_RUN = re.compile(r'(?:^|[^"])(?:"")*"(?!")')
_TYPE_WORDS = frozenset(
    {"error", "warning", "information", "informational", "success", "critical", "verbose"}
    | {"success audit", "failure audit", "audit success", "audit failure"}
)
_DUMPEL_TYPES = frozenset(("0", "1", "2", "4", "8", "16"))
#: Lines before the data that are not part of it (PowerShell Export-Csv type line).
PREAMBLE = ("#TYPE ", "#TYPE\t")


@dataclass(frozen=True)
class Layout:
    """The columns of an export: canonical name -> field index, and how to read the rest."""

    name: str
    delimiter: str
    columns: dict[str, int]
    #: The column that takes every field from its index on (free text may hold delimiters).
    tail: str | None = "description"
    headerless: bool = True
    numeric_types: bool = False  # dumpel: the type column holds EVENTLOG_* numbers
    classic: bool = True  # events of the classic (pre-Vista) event log
    header: tuple[str, ...] = field(default=())

    @cached_property
    def min_fields(self) -> int:
        """Fields a line needs to be a record (the tail column may be missing)."""
        indexes = [i for name, i in self.columns.items() if name != self.tail]
        return max(indexes) + 1 if indexes else 1


def _columns(*names: str) -> dict[str, int]:
    return {name: index for index, name in enumerate(names)}


_EV_NT = _columns(
    "date", "time", "source", "type", "category", "event_id", "user", "computer", "description"
)
_EV_LIST = _columns(
    "type", "date", "time", "source", "category", "event_id", "user", "computer", "description"
)
_DUMPEL = _columns(
    "date", "time", "type", "category", "event_id", "source", "user", "computer", "strings"
)
NT_TEXT = "Event Viewer text (Date, Time, Source, Type, ...; no header)"
LIST_TEXT = "Event Viewer text (Type, Date, Time, Source, ...; no header)"
DUMPEL = "dumpel output"


def normalize_name(name: str) -> str:
    return _NON_ALNUM.sub("", name.casefold())


def split_fields(line: str, delimiter: str, quotes: bool = True) -> tuple[list[str], int]:
    """The fields of a line, and where a quoted field still open at its end starts (-1 when
    none is: else the record goes on below).

    A field is quoted only when it starts with ``"``; ``""`` inside it is one quote, and
    text after its closing quote is kept. Quotes elsewhere are plain characters.
    """
    if not quotes or '"' not in line:
        return line.split(delimiter), -1
    fields: list[str] = []
    position, size = 0, len(line)
    while True:
        if line.startswith('"', position):
            closed = _QUOTED.match(line, position + 1)
            if closed is None:
                fields.append(line[position + 1 :])
                return fields, position
            text = closed.group()[:-1].replace('""', '"')
            end = line.find(delimiter, closed.end())
            fields.append(text + line[closed.end() : end if end >= 0 else size])
        else:
            end = line.find(delimiter, position)
            fields.append(line[position : end if end >= 0 else size])
        if end < 0:
            return fields, -1
        position = end + len(delimiter)


def closes_quote(line: str) -> bool:
    """Whether a line continuing an open quoted field closes it."""
    return _ODD_RUN.search(line) is not None


def _delimiter(line: str) -> str:
    return "\t" if line.count("\t") >= max(1, line.count(",") // 4) else ","


def header_layout(line: str) -> Layout | None:
    """The layout a header row names, when it names an event export's columns."""
    delimiter = _delimiter(line)
    names, open_at = split_fields(line, delimiter)
    if open_at >= 0 or len(names) < 4:
        return None
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        canonical = HEADER_NAMES.get(normalize_name(name))
        if canonical is not None:
            columns.setdefault(canonical, index)
    has_time = "datetime" in columns or "date" in columns
    if not ("event_id" in columns or "instance_id" in columns) or "source" not in columns:
        return None
    if not has_time:
        return None
    if "description" not in columns:  # Vista and later add the description unnamed
        columns["description"] = len(names)
    # Free text with unquoted delimiters can only be rejoined when it is the last column.
    tail = "description" if columns["description"] == max(columns.values()) else None
    classic = "date" in columns and "time" in columns and "level" not in columns
    return Layout(
        name=f"text export with a header row ({delimiter_name(delimiter)})",
        delimiter=delimiter,
        columns=columns,
        tail=tail,
        headerless=False,
        classic=classic,
        header=tuple(names),
    )


def delimiter_name(delimiter: str) -> str:
    return "tab-separated" if delimiter == "\t" else "comma-separated"


def row_layout(line: str) -> Layout | None:
    """The headerless layout whose values a record line shows (date, time, numeric ID)."""
    for delimiter in ("\t", ","):
        fields = split_fields(line, delimiter)[0]
        if len(fields) < 8:
            continue
        value = [f.strip() for f in fields[:8]]
        if looks_like_date(value[0]) and looks_like_time(value[1]):
            if value[3].casefold() in _TYPE_WORDS and value[5].isdecimal():
                return Layout(NT_TEXT, delimiter, _EV_NT)
            if value[2] in _DUMPEL_TYPES and value[3].isdecimal() and value[4].isdecimal():
                return Layout(DUMPEL, delimiter, _DUMPEL, tail="strings", numeric_types=True)
        if (
            value[0].casefold() in _TYPE_WORDS
            and looks_like_date(value[1])
            and looks_like_time(value[2])
            and value[5].isdecimal()
        ):
            return Layout(LIST_TEXT, delimiter, _EV_LIST)
    return None


def _dateish(text: str) -> bool:
    token = text.strip().split(" ")[0]
    return looks_like_date(token) or bool(re.match(r"\d{4}-\d{2}-\d{2}(?:T|$)", token))


def is_record_start(layout: Layout, fields: list[str]) -> bool:
    """Whether a line holds a record's leading values: a date and a numeric event ID where
    the layout has them."""
    if len(fields) < layout.min_fields:
        return False
    columns = layout.columns
    date = columns.get("datetime", columns.get("date"))
    event = columns.get("event_id", columns.get("instance_id"))
    if date is None or event is None:  # never: every layout has both
        return True
    return _dateish(fields[date]) and fields[event].strip().isdecimal()


def looks_like_text_export(head: bytes, whole: bool = False) -> bool:
    """Whether a file starting with ``head`` is an Event Viewer text/CSV export or dumpel
    output: its first line is a known header row or a record of a known layout.

    ``whole``: ``head`` is the complete file (else its last, cut line is not trusted beyond
    its complete fields).
    """
    text = head_text(head)
    lines = text.split("\n")
    for number, raw in enumerate(lines[:6]):
        line = raw.removesuffix("\r").lstrip("\ufeff")
        if not line.strip() or (number < 3 and line.startswith(PREAMBLE)):
            continue
        if not whole and number == len(lines) - 1:
            line = line[: max(line.rfind("\t"), line.rfind(","), 0)]
        if any(ord(c) < 32 and c != "\t" for c in line):
            return False
        return header_layout(line) is not None or row_layout(line) is not None
    return False
