"""Fast path: read pyevtx-rs' XML text with two compiled regexes instead of an XML parser.

pyevtx-rs renders every event with the same layout (fixed System element order, one element
per line, open/close pairs, escaped text), so the System block and a flat EventData are read
with one anchored match and one ``findall``, several times faster than building an lxml
tree. Anything else (UserData, nested EventData, an unexpected attribute or element order)
returns None and goes to the reference normalizer; a test asserts both paths agree on every
sample file.
"""

from __future__ import annotations

import html
import re

from evtxscan.records.schema import DataPairs, EventFields

_SYSTEM = re.compile(
    r'\s*<Provider Name="(?P<provider>[^"]*)"(?: Guid="(?P<guid>[^"]*)")?'
    r'(?: EventSourceName="(?P<esn>[^"]*)")?>\s*</Provider>\s*'
    r'<EventID(?: Qualifiers="(?P<q>\d+)")?>(?P<eid>\d+)</EventID>\s*'
    r"(?:<Version>(?P<version>\d+)</Version>\s*)?"
    r"(?:<Level>(?P<level>\d+)</Level>\s*)?"
    r"(?:<Task>(?P<task>\d+)</Task>\s*)?"
    r"(?:<Opcode>(?P<opcode>\d+)</Opcode>\s*)?"
    r"(?:<Keywords>0x(?P<kw>[0-9A-Fa-f]+)</Keywords>\s*)?"
    r'<TimeCreated SystemTime="(?P<time>[^"]*)">\s*</TimeCreated>\s*'
    r"(?:<EventRecordID>(?P<erid>\d+)</EventRecordID>\s*)?"
    r'(?:<Correlation(?: ActivityID="[^"]*")?(?: RelatedActivityID="[^"]*")?>\s*'
    r"</Correlation>\s*)?"
    r'(?:<Execution ProcessID="(?P<pid>\d+)" ThreadID="(?P<tid>\d+)"'
    r'(?: ProcessorID="\d+")?(?: SessionID="\d+")?(?: KernelTime="\d+")?'
    r'(?: UserTime="\d+")?(?: ProcessorTime="\d+")?>\s*</Execution>\s*)?'
    r"<Channel>(?P<channel>[^<]*)</Channel>\s*"
    r"<Computer>(?P<computer>[^<]*)</Computer>\s*"
    r'(?:<Security(?: UserID="(?P<sid>[^"]*)")?>\s*</Security>\s*)?'
    r"</System>\s*"
)
_ITEM = re.compile(r'<Data(?: Name="([^"]*)")?>([^<]*)</Data>|<Binary>([^<]*)</Binary>')
_SYSTEM_OPEN = '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\n  <System>'
_EVENT_DATA_OPEN = "<EventData>"
_EVENT_DATA_CLOSE = "</EventData>"
_EVENT_CLOSE = "</Event>"


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return html.unescape(value) if "&" in value else value


def _opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _event_data(xml: str, start: int) -> tuple[DataPairs, str | None] | None:
    """Flat EventData from ``start``; None when the tail is anything else."""
    tail = xml[start:]
    if tail.startswith(_EVENT_CLOSE):
        return [], None
    if not tail.startswith(_EVENT_DATA_OPEN):
        return None
    close = tail.find(_EVENT_DATA_CLOSE)
    if close < 0 or tail[close + len(_EVENT_DATA_CLOSE) :].strip() != _EVENT_CLOSE:
        return None
    section = tail[len(_EVENT_DATA_OPEN) : close]
    items = list(_ITEM.finditer(section))
    if section.count("<") != 2 * len(items):
        return None  # something besides flat Data/Binary: use the reference normalizer
    pairs: DataPairs = []
    binary: str | None = None
    for item in items:
        name, value, hexdata = item.groups()
        if hexdata is not None:
            binary = "".join(hexdata.split()).upper() or None
            continue
        if "\r" in value:  # XML line-end normalization, as any XML parser applies it
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if "&" in value:
            value = html.unescape(value)
        pairs.append((_text(name) or None, value))
    return pairs, binary


def fast_fields(xml: str) -> EventFields | None:
    """Normalize one pyevtx-rs XML record, or None when it needs the reference normalizer."""
    start = xml.find(_SYSTEM_OPEN)
    if start < 0:
        return None
    match = _SYSTEM.match(xml, start + len(_SYSTEM_OPEN))
    if match is None:
        return None
    tail = _event_data(xml, match.end())
    if tail is None:
        return None
    g = match.group
    kw = g("kw")
    channel = g("channel")
    computer = g("computer")
    return EventFields(
        provider=_text(g("provider")),
        provider_guid=g("guid") or None,
        event_source_name=_text(g("esn")),
        event_id=int(g("eid")),
        qualifiers=_opt_int(g("q")),
        version=_opt_int(g("version")),
        level=_opt_int(g("level")),
        task=_opt_int(g("task")),
        opcode=_opt_int(g("opcode")),
        keywords=None if kw is None else int(kw, 16),
        time_created=g("time"),
        event_record_id=_opt_int(g("erid")),
        process_id=_opt_int(g("pid")),
        thread_id=_opt_int(g("tid")),
        channel=_text(channel.strip()) if channel else channel,
        computer=_text(computer.strip()) if computer else computer,
        user_sid=g("sid") or None,
        data=tail[0],
        binary=tail[1],
    )
