"""Build .evtx images from hand-made templates and values (odd shapes the writer never makes).

The test writer (:mod:`evtxscan.synth.evtx_writer`) always writes Windows' System layout;
these helpers put any template tree and value array into records, so tests can try value
types, NULLs, constants and structures Windows rarely (or never) writes.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Sequence

from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.layout import (
    CHUNK_HEADER,
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    RECORD_MAGIC,
    RECORD_SIZE_COPY,
    chunk_header_crc,
    file_header_bytes,
)
from evtxscan.synth import binxml
from evtxscan.synth.binxml import Element, Sub, Text, Value

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
WRITTEN = 133_000_000_000_000_000  # a FILETIME in 2022

Record = tuple[Element, Sequence[Value]]


class Short(tuple):  # type: ignore[type-arg]
    """Values of which only the first ``keep`` are written (the template refers to more)."""

    keep: int = 0


def short(values: Sequence[Value], keep: int) -> Short:
    out = Short(values)
    out.keep = keep
    return out


def _encode(
    tables: binxml.ChunkTables, base: int, template: Element, values: Sequence[Value]
) -> bytes:
    data = binxml.encode_event(tables, base, template, tuple(values))
    if not isinstance(values, Short):
        return data
    # the value array ends the record: count, descriptors, data, end of stream
    total = sum(len(v.data) for v in values)
    start = len(data) - 1 - total - 4 * len(values) - 4
    kept = values[: values.keep]
    array = struct.pack("<I", len(kept))
    array += b"".join(struct.pack("<HBB", len(v.data), v.type, 0) for v in kept)
    return data[:start] + array + b"".join(v.data for v in kept) + b"\0"


def raw_evtx(records: Sequence[Record], per_chunk: int = 1000) -> bytes:
    """An .evtx image: records numbered from 1, ``per_chunk`` records per chunk at most."""
    chunks = [records[i : i + per_chunk] for i in range(0, len(records), per_chunk)] or [[]]
    images, number = [], 1
    for part in chunks:
        tables = binxml.ChunkTables()
        body = bytearray()
        first, last_offset = number, CHUNK_HEADER_SIZE
        for template, values in part:
            offset = CHUNK_HEADER_SIZE + len(body)
            data = _encode(tables, offset + RECORD_HEADER_SIZE, template, values)
            size = RECORD_HEADER_SIZE + len(data) + RECORD_SIZE_COPY.size
            body += RECORD_HEADER.pack(RECORD_MAGIC, size, number, WRITTEN) + data
            body += RECORD_SIZE_COPY.pack(size)
            last_offset, number = offset, number + 1
        if len(body) + CHUNK_HEADER_SIZE > CHUNK_SIZE:
            raise ValueError("records do not fit into one chunk")
        free = CHUNK_HEADER_SIZE + len(body)
        fields = (first, number - 1, first, number - 1, 128, last_offset, free, zlib.crc32(body))
        head = CHUNK_HEADER.pack(CHUNK_MAGIC, *fields, 0, 0) + tables.header_tables()
        head = CHUNK_HEADER.pack(CHUNK_MAGIC, *fields, 0, chunk_header_crc(head)) + head[128:]
        images.append((head + bytes(body)).ljust(CHUNK_SIZE, b"\0"))
    header = file_header_bytes(
        first_chunk=0,
        last_chunk=len(images) - 1,
        next_record_id=number,
        chunk_count=len(images),
        flags=0,
    )
    return header + b"".join(images)


def u(value_type: int, number: int) -> Value:
    """An unsigned value of ``value_type`` (UInt8..64, HexInt32/64)."""
    fmt = {
        ValueType.UINT8: "<B",
        ValueType.UINT16: "<H",
        ValueType.UINT32: "<I",
        ValueType.UINT64: "<Q",
        ValueType.HEXINT32: "<I",
        ValueType.HEXINT64: "<Q",
    }[ValueType(value_type)]
    return Value(value_type, struct.pack(fmt, number))


def s(text: str) -> Value:
    return Value(ValueType.STRING, text.encode("utf-16-le"))


def filetime(ticks: int) -> Value:
    return Value(ValueType.FILETIME, struct.pack("<Q", ticks))


def guid(text: str) -> Value:
    return Value(ValueType.GUID, uuid.UUID(text).bytes_le)


NULL = Value(ValueType.NULL)

#: Slots of the standard System template below (Windows' numbering).
LEVEL, OPCODE, TASK, EVENT_ID, QUALIFIERS, KEYWORDS, TIME, ACTIVITY = range(8)
PROCESS, THREAD, RECORD_ID, VERSION, USER, RELATED, PROVIDER, PROVIDER_GUID, CHANNEL = range(8, 17)


def standard_values(**overrides: Value) -> list[Value]:
    """Values for :func:`system_template` slots: a plain System event, with overrides by name
    (``level``, ``event_id``, ...; see the slot constants)."""
    values = [
        u(ValueType.UINT8, 4),
        u(ValueType.UINT8, 0),
        u(ValueType.UINT16, 1),
        u(ValueType.UINT16, 7036),
        u(ValueType.UINT16, 16384),
        u(ValueType.HEXINT64, 0x8080000000000000),
        filetime(WRITTEN + 12345678),
        NULL,
        u(ValueType.UINT32, 640),
        u(ValueType.UINT32, 2112),
        u(ValueType.UINT64, 77),
        u(ValueType.UINT8, 0),
        Value(ValueType.SID, bytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])),
        NULL,
        s("Service Control Manager"),
        guid("555908d1-a6d7-4695-8e1e-26931d2012f4"),
        s("System"),
    ]
    slots = {
        "level": LEVEL,
        "opcode": OPCODE,
        "task": TASK,
        "event_id": EVENT_ID,
        "qualifiers": QUALIFIERS,
        "keywords": KEYWORDS,
        "time": TIME,
        "process": PROCESS,
        "thread": THREAD,
        "record_id": RECORD_ID,
        "version": VERSION,
        "user": USER,
        "provider": PROVIDER,
        "provider_guid": PROVIDER_GUID,
        "channel": CHANNEL,
    }
    for name, value in overrides.items():
        values[slots[name]] = value
    return values


HOST = Text("HOST01")


def system_template(
    computer: Text | Sub = HOST,
    types: dict[int, int] | None = None,
    extra: tuple[Element, ...] = (),
) -> Element:
    """Windows' System template (Computer a literal unless given), with the declared type of
    some slots changed (``types``: slot -> type) and more elements after System."""
    declared = {
        LEVEL: ValueType.UINT8,
        OPCODE: ValueType.UINT8,
        TASK: ValueType.UINT16,
        EVENT_ID: ValueType.UINT16,
        QUALIFIERS: ValueType.UINT16,
        KEYWORDS: ValueType.HEXINT64,
        TIME: ValueType.FILETIME,
        ACTIVITY: ValueType.GUID,
        PROCESS: ValueType.UINT32,
        THREAD: ValueType.UINT32,
        RECORD_ID: ValueType.UINT64,
        VERSION: ValueType.UINT8,
        USER: ValueType.SID,
        RELATED: ValueType.GUID,
        PROVIDER: ValueType.STRING,
        PROVIDER_GUID: ValueType.GUID,
        CHANNEL: ValueType.STRING,
    } | (types or {})

    def sub(slot: int) -> Sub:
        return Sub(slot, declared[slot])

    def leaf(name: str, slot: int, **attrs: Sub) -> Element:
        return Element(name, tuple(attrs.items()), (sub(slot),))

    system = Element(
        "System",
        children=(
            Element("Provider", (("Name", sub(PROVIDER)), ("Guid", sub(PROVIDER_GUID)))),
            leaf("EventID", EVENT_ID, Qualifiers=sub(QUALIFIERS)),
            leaf("Version", VERSION),
            leaf("Level", LEVEL),
            leaf("Task", TASK),
            leaf("Opcode", OPCODE),
            leaf("Keywords", KEYWORDS),
            Element("TimeCreated", (("SystemTime", sub(TIME)),)),
            leaf("EventRecordID", RECORD_ID),
            Element(
                "Correlation", (("ActivityID", sub(ACTIVITY)), ("RelatedActivityID", sub(RELATED)))
            ),
            Element("Execution", (("ProcessID", sub(PROCESS)), ("ThreadID", sub(THREAD)))),
            Element("Channel", children=(sub(CHANNEL),)),
            Element("Computer", children=(computer,)),
            Element("Security", (("UserID", sub(USER)),)),
        ),
    )
    return Element("Event", (("xmlns", Text(EVENT_NS)),), (system, *extra))
