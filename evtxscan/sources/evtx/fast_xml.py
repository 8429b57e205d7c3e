"""Fast path: read pyevtx-rs' XML text with two compiled regexes instead of an XML parser.

pyevtx-rs renders every event with the same layout (fixed System element order, one element
per line, open/close pairs, escaped text), so the System block and a flat EventData are read
with one anchored search and one ``findall``, several times faster than building an lxml
tree. The strings stay raw (escaped, untyped): :class:`evtxscan.records.batch.RecordBatch`
types a whole batch at once. Anything else (UserData, nested EventData, an unexpected
attribute or element order) returns None and goes to the reference normalizer; a test
asserts both paths agree on every sample file.
"""

from __future__ import annotations

import re

from evtxscan.records.batch import Item, SystemStrings

_SYSTEM = re.compile(
    r'<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\s*<System>\s*'
    r'<Provider Name="([^"]*)"(?: Guid="([^"]*)")?'
    r'(?: EventSourceName="([^"]*)")?>\s*</Provider>\s*'
    r'<EventID(?: Qualifiers="(\d+)")?>(\d+)</EventID>\s*'
    r"(?:<Version>(\d+)</Version>\s*)?"
    r"(?:<Level>(\d+)</Level>\s*)?"
    r"(?:<Task>(\d+)</Task>\s*)?"
    r"(?:<Opcode>(\d+)</Opcode>\s*)?"
    r"(?:<Keywords>0x([0-9A-Fa-f]+)</Keywords>\s*)?"
    r'<TimeCreated SystemTime="([^"]*)">\s*</TimeCreated>\s*'
    r"(?:<EventRecordID>(\d+)</EventRecordID>\s*)?"
    r'(?:<Correlation(?: ActivityID="[^"]*")?(?: RelatedActivityID="[^"]*")?>\s*'
    r"</Correlation>\s*)?"
    r'(?:<Execution ProcessID="(\d+)" ThreadID="(\d+)"'
    r'(?: ProcessorID="\d+")?(?: SessionID="\d+")?(?: KernelTime="\d+")?'
    r'(?: UserTime="\d+")?(?: ProcessorTime="\d+")?>\s*</Execution>\s*)?'
    r"<Channel>([^<]*)</Channel>\s*"
    r"<Computer>([^<]*)</Computer>\s*"
    r'(?:<Security(?: UserID="([^"]*)")?>\s*</Security>\s*)?'
    r"</System>\s*"
)
_ITEMS = re.compile(r'<(Data)(?: Name="([^"]*)")?>([^<]*)</Data>|<(Binary)>([^<]*)</Binary>')
# EventData may carry the template's Name attribute; it is metadata, not a value.
_EVENT_DATA_OPEN = re.compile(r'<EventData(?: Name="[^"]*")?>')
_EVENT_DATA_END = "</EventData>\n</Event>\n"
_EVENT_END = "</Event>"
# Flat UserData: one root element (with its namespace) holding leaf elements only.
_USER_DATA_OPEN = re.compile(r'<UserData>\s*<([A-Za-z_][\w.-]*)(?: xmlns="[^"]*")?>')
_USER_DATA_ITEMS = re.compile(r"<([A-Za-z_][\w.-]*)>([^<]*)</\1>")
_USER_DATA_END = re.compile(r"</([A-Za-z_][\w.-]*)>\s*</UserData>\s*</Event>\s*$")

FastRow = tuple[SystemStrings, list[Item]]


def fast_row(xml: str) -> FastRow | None:
    """Raw System strings and EventData items of one pyevtx-rs XML record, or None."""
    match = _SYSTEM.search(xml)
    if match is None:
        return None
    start = match.end()
    if xml.startswith(_EVENT_END, start):
        return match.groups(), []
    opened = _EVENT_DATA_OPEN.match(xml, start)
    if opened is None:
        return _user_data_row(xml, start, match.groups())
    if not xml.endswith(_EVENT_DATA_END):
        return None
    end = len(xml) - len(_EVENT_DATA_END)
    items: list[Item] = _ITEMS.findall(xml, start, end)
    if xml.count("<", opened.end(), end) != 2 * len(items):
        return None  # something besides flat Data/Binary: use the reference normalizer
    return match.groups(), items


def _user_data_row(xml: str, start: int, system: SystemStrings) -> FastRow | None:
    """A flat UserData block as ``Root.Child`` items, or None for anything deeper."""
    opened = _USER_DATA_OPEN.match(xml, start)
    if opened is None:
        return None
    closed = _USER_DATA_END.search(xml, opened.end())
    root = opened.group(1)
    if closed is None or closed.group(1) != root:
        return None
    leaves = _USER_DATA_ITEMS.findall(xml, opened.end(), closed.start())
    if xml.count("<", opened.end(), closed.start()) != 2 * len(leaves):
        return None
    if not leaves:  # a childless root element is itself the one value
        return system, [("Data", root, xml[opened.end() : closed.start()], "", "")]
    return system, [("Data", f"{root}.{name}", value, "", "") for name, value in leaves]
