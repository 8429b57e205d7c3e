"""Write small, valid .evtx files from event descriptions, for tests.

Every event becomes one record whose Binary XML uses a template chosen by the event's shape
(which System elements it has, its EventData names and value types, Binary, UserData), with
System values numbered as Windows numbers them. Chunks fill up like Windows fills them, and
options damage the result the ways real logs are damaged (dirty header with a stale chunk
count, zeroed header, bad chunk CRC, truncation). Same input, same bytes.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TypedDict, Unpack

from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.layout import (
    CHUNK_DATA_CRC_AT,
    CHUNK_HEADER,
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    FLAG_DIRTY,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    RECORD_MAGIC,
    RECORD_SIZE_COPY,
    chunk_header_crc,
    file_header_bytes,
)
from evtxscan.synth import binxml
from evtxscan.synth.binxml import Element, Sid, Sub, Text, Value, encode_value, uint
from evtxscan.synth.event_spec import EventSpec, UserData, check_range

EVENT_NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"

# System substitution indexes as in Windows' event template; EventData/UserData values follow.
_LEVEL, _OPCODE, _TASK, _EVENT_ID, _QUALIFIERS, _KEYWORDS, _TIME, _ACTIVITY_ID = range(8)
_PROCESS_ID, _THREAD_ID, _RECORD_ID, _VERSION, _USER_ID, _RELATED_ACTIVITY_ID = range(8, 14)
_PROVIDER_NAME, _PROVIDER_GUID, _SOURCE_NAME = range(14, 17)
_FIRST_DATA_INDEX = 17


def _sub_element(name: str, index: int, value_type: int) -> Element:
    return Element(name, children=(Sub(index, value_type),))


def _system(event: EventSpec, record_id: int) -> tuple[Element, list[Value]]:
    """``<System>`` in Windows' element order and its values, in the 17 slots Windows uses.

    Unset optional elements and attributes are left out; their slots stay NULL.
    """
    values = [binxml.NULL_VALUE] * _FIRST_DATA_INDEX

    def fixed(index: int, value: Value) -> Sub:
        values[index] = value
        return Sub(index, value.type, optional=False)

    def maybe(index: int, value: Value | None) -> Sub | None:
        if value is None:
            return None
        values[index] = value
        return Sub(index, value.type)

    def number(value: int | None, value_type: int) -> Value | None:
        return None if value is None else uint(value_type, value)

    def element(name: str, content: Sub | Text | None = None, **attrs: Sub | None) -> Element:
        kept = tuple((key, attr) for key, attr in attrs.items() if attr is not None)
        return Element(name, kept, () if content is None else (content,))

    guid, source, sid = event.provider_guid, event.event_source_name, event.user_sid
    guid_value = None if guid is None else binxml.guid_value(uuid.UUID(guid))
    source_value = None if source is None else binxml.string_value(source)
    sid_value = None if sid is None else encode_value(Sid(sid))
    version = maybe(_VERSION, number(event.version, ValueType.UINT8))
    opcode = maybe(_OPCODE, number(event.opcode, ValueType.UINT8))
    process = maybe(_PROCESS_ID, number(event.process_id, ValueType.UINT32))
    thread = maybe(_THREAD_ID, number(event.thread_id, ValueType.UINT32))
    children = [
        element(
            "Provider",
            Name=fixed(_PROVIDER_NAME, binxml.string_value(event.provider)),
            Guid=maybe(_PROVIDER_GUID, guid_value),
            EventSourceName=maybe(_SOURCE_NAME, source_value),
        ),
        element(
            "EventID",
            fixed(_EVENT_ID, uint(ValueType.UINT16, event.event_id)),
            Qualifiers=maybe(_QUALIFIERS, number(event.qualifiers, ValueType.UINT16)),
        ),
        None if version is None else element("Version", version),
        element("Level", fixed(_LEVEL, uint(ValueType.UINT8, event.level))),
        element("Task", fixed(_TASK, uint(ValueType.UINT16, event.task))),
        None if opcode is None else element("Opcode", opcode),
        element("Keywords", fixed(_KEYWORDS, uint(ValueType.HEXINT64, event.keywords))),
        element("TimeCreated", SystemTime=fixed(_TIME, encode_value(event.time))),
        element("EventRecordID", fixed(_RECORD_ID, uint(ValueType.UINT64, record_id))),
        # Windows always writes Correlation; its NULL activity ids drop out when rendered.
        element(
            "Correlation",
            ActivityID=Sub(_ACTIVITY_ID, ValueType.GUID),
            RelatedActivityID=Sub(_RELATED_ACTIVITY_ID, ValueType.GUID),
        ),
        None if process is None else element("Execution", ProcessID=process, ThreadID=thread),
        element("Channel", Text(event.channel)),
        element("Computer", Text(event.computer)),
        element("Security", UserID=maybe(_USER_ID, sid_value)),
    ]
    return Element("System", children=tuple(c for c in children if c is not None)), values


def _user_data_element(node: UserData, values: list[Value]) -> Element:
    children: list[Element] = []
    for child in node.children:
        if isinstance(child, UserData):
            children.append(_user_data_element(child, values))
        else:
            value = encode_value(child[1])
            children.append(_sub_element(child[0], len(values), value.type))
            values.append(value)
    attrs: tuple[tuple[str, Text | Sub], ...] = ()
    if node.xmlns is not None:
        attrs = (("xmlns", Text(node.xmlns)),)
    return Element(node.name, attrs, tuple(children))


def _payload_element(event: EventSpec, values: list[Value]) -> Element | None:
    """``<EventData>`` (Data, then Binary) or ``<UserData>``; values appended to ``values``."""
    if event.user_data is not None:
        return Element("UserData", children=(_user_data_element(event.user_data, values),))
    if not event.data and event.binary is None:
        return None
    children: list[Element] = []
    for name, data_value in event.data:
        value = encode_value(data_value)
        attrs: tuple[tuple[str, Text | Sub], ...] = ()
        if name is not None:
            attrs = (("Name", Text(name)),)
        children.append(Element("Data", attrs, (Sub(len(values), value.type),)))
        values.append(value)
    if event.binary is not None:
        children.append(_sub_element("Binary", len(values), ValueType.BINARY))
        values.append(Value(ValueType.BINARY, event.binary))
    return Element("EventData", children=tuple(children))


def event_template(event: EventSpec, record_number: int) -> tuple[Element, tuple[Value, ...]]:
    """The event's template (``<Event>`` element tree) and its substitution values."""
    record_id = record_number if event.event_record_id is None else event.event_record_id
    system, values = _system(event, record_id)
    children = [system]
    payload = _payload_element(event, values)
    if payload is not None:
        children.append(payload)
    root = Element("Event", (("xmlns", Text(EVENT_NAMESPACE)),), tuple(children))
    return root, tuple(values)


def _record_bytes(tables: binxml.ChunkTables, offset: int, event: EventSpec, number: int) -> bytes:
    template, values = event_template(event, number)
    body = binxml.encode_event(tables, offset + RECORD_HEADER_SIZE, template, values)
    size = RECORD_HEADER_SIZE + len(body) + RECORD_SIZE_COPY.size
    head = RECORD_HEADER.pack(RECORD_MAGIC, size, number, binxml.filetime(event.time))
    return head + body + RECORD_SIZE_COPY.pack(size)


class _ChunkBuilder:
    """Records packed into one chunk, with the names and templates they defined."""

    def __init__(self) -> None:
        self.tables = binxml.ChunkTables()
        self.records = bytearray()
        self.numbers: list[int] = []
        self.last_offset = 0

    def try_add(self, event: EventSpec, number: int) -> bool:
        """Append the event's record if it fits in the chunk; otherwise change nothing."""
        offset = CHUNK_HEADER_SIZE + len(self.records)
        tables = self.tables.copy()
        record = _record_bytes(tables, offset, event, number)
        if offset + len(record) > CHUNK_SIZE:
            return False
        self.tables = tables
        self.records += record
        self.numbers.append(number)
        self.last_offset = offset
        return True

    def to_bytes(self) -> bytes:
        """The 64 KiB chunk: header (tables and both CRCs), records, zeroed free space."""
        first, last = self.numbers[0], self.numbers[-1]
        free = CHUNK_HEADER_SIZE + len(self.records)
        fields = (first, last, first, last, 128, self.last_offset, free, zlib.crc32(self.records))
        head = CHUNK_HEADER.pack(CHUNK_MAGIC, *fields, 0, 0) + self.tables.header_tables()
        crc = chunk_header_crc(head)
        head = CHUNK_HEADER.pack(CHUNK_MAGIC, *fields, 0, crc) + head[CHUNK_HEADER.size :]
        return (head + self.records).ljust(CHUNK_SIZE, b"\x00")


def _pack_chunks(
    events: Iterable[EventSpec], records_per_chunk: int | None, first_number: int
) -> list[_ChunkBuilder]:
    chunks: list[_ChunkBuilder] = []
    current = _ChunkBuilder()
    for number, event in enumerate(events, start=first_number):
        if not isinstance(event, EventSpec):
            raise TypeError(f"expected EventSpec, got {type(event).__name__}")
        full = records_per_chunk is not None and len(current.numbers) >= records_per_chunk
        if full or not current.try_add(event, number):
            if not current.numbers:
                raise ValueError(f"event {number} does not fit into an empty chunk")
            chunks.append(current)
            current = _ChunkBuilder()
            if not current.try_add(event, number):
                raise ValueError(f"event {number} does not fit into an empty chunk")
    if current.numbers:
        chunks.append(current)
    return chunks


def _file_header(chunk_count: int, next_record: int, dirty: bool) -> bytes:
    return file_header_bytes(
        first_chunk=0,
        last_chunk=max(chunk_count - 1, 0),
        next_record_id=next_record,
        chunk_count=chunk_count,
        flags=FLAG_DIRTY if dirty else 0,
    )


def evtx_bytes(
    events: Iterable[EventSpec],
    *,
    records_per_chunk: int | None = None,
    first_record_number: int = 1,
    dirty: bool = False,
    header_chunk_count: int | None = None,
    bad_chunk_crc: Collection[int] = (),
    zero_header: bool = False,
    truncate_at: int | None = None,
) -> bytes:
    """The .evtx image of ``events``, records numbered from ``first_record_number``.

    A chunk takes records until the next one does not fit (or ``records_per_chunk`` is
    reached). Damage options: ``dirty`` sets the header's dirty flag; ``header_chunk_count``
    writes a stale chunk count (with the matching last chunk and next record number);
    ``bad_chunk_crc`` corrupts those chunks' event-records CRC; ``zero_header`` zeroes the
    4 KiB file header; ``truncate_at`` cuts the file to that many bytes.
    """
    check_range(records_per_chunk, 1, 2**31, "records_per_chunk", optional=True)
    check_range(first_record_number, 0, 2**63, "first_record_number")
    check_range(header_chunk_count, 0, 0xFFFF, "header_chunk_count", optional=True)
    check_range(truncate_at, 0, 2**63, "truncate_at", optional=True)
    chunks = _pack_chunks(events, records_per_chunk, first_record_number)
    if len(chunks) > 0xFFFF:
        raise ValueError("more than 65535 chunks")
    images = [chunk.to_bytes() for chunk in chunks]
    for index in bad_chunk_crc:
        if not isinstance(index, int) or not 0 <= index < len(images):
            raise ValueError(f"bad_chunk_crc index {index!r} is not a chunk of this file")
        image = bytearray(images[index])
        stored = RECORD_SIZE_COPY.unpack_from(image, CHUNK_DATA_CRC_AT)[0]
        RECORD_SIZE_COPY.pack_into(image, CHUNK_DATA_CRC_AT, stored ^ 0xFFFFFFFF)
        images[index] = bytes(image)
    count = len(chunks) if header_chunk_count is None else header_chunk_count
    counted = chunks[:count]
    next_record = counted[-1].numbers[-1] + 1 if counted else first_record_number
    header = _file_header(count, next_record, dirty)
    if zero_header:
        header = bytes(FILE_HEADER_SIZE)
    data = header + b"".join(images)
    return data if truncate_at is None else data[:truncate_at]


class EvtxOptions(TypedDict, total=False):
    """The keyword options of :func:`evtx_bytes`, for :func:`write_evtx`."""

    records_per_chunk: int | None
    first_record_number: int
    dirty: bool
    header_chunk_count: int | None
    bad_chunk_crc: Collection[int]
    zero_header: bool
    truncate_at: int | None


def write_evtx(
    path: str | os.PathLike[str], events: Iterable[EventSpec], **options: Unpack[EvtxOptions]
) -> Path:
    """Write :func:`evtx_bytes` of ``events`` (same options) to ``path``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(evtx_bytes(events, **options))
    return target


__all__ = ["EventSpec", "EvtxOptions", "UserData", "event_template", "evtx_bytes", "write_evtx"]
