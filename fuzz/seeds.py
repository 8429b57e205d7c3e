"""Valid seed inputs for every format, built by the project's own writers (nothing committed).

EVTX seeds come from :mod:`evtxscan.synth` (System/EventData/UserData/Binary events) and from
hand-made templates with array and nested-BinXml substitutions, so the mutators start from
every structure a reader walks; .evt from the legacy writer; XML and text exports are written
here as Windows writes them.
"""

from __future__ import annotations

import gzip
import io
import struct
import uuid
import zipfile
import zlib
from datetime import datetime

from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.layout import file_header_image
from evtxscan.synth import (
    EventSpec,
    EvtEventSpec,
    HexInt64,
    Sid,
    UserData,
    evt_bytes,
    evtx_bytes,
)
from evtxscan.synth.binxml import ChunkTables, Element, Sub, Text, Value, encode_event

WHEN = datetime(2024, 3, 4, 5, 6, 7)
NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def evtx_seeds() -> list[bytes]:
    """EVTX files of several shapes: plain, many records in several chunks, odd values."""
    scm = EventSpec(
        "Service Control Manager",
        7036,
        WHEN,
        qualifiers=16384,
        data=(("param1", "Windows Update"), ("param2", "running")),
    )
    odd = EventSpec(
        "Odd",
        1,
        WHEN,
        computer="=cmd|' /C calc'!A0",
        user_sid="S-1-5-21-1-2-3-500",
        provider_guid=str(uuid.UUID(int=7)),
        data=(
            ("Hex", HexInt64(2**63)),
            ("Sid", Sid("S-1-5-18")),
            ("Bin", b"\x00\xffdata"),
            ("When", WHEN),
            ("Big", 2**64 - 1),
            ("Text", "é\u2603\x01<&>"),
        ),
    )
    popup = EventSpec(
        "Application Popup",
        26,
        WHEN,
        level=3,
        data=((None, "x.exe - Entry Point Not Found"), (None, "The procedure entry point ...")),
    )
    user = EventSpec("U", 2, WHEN, user_data=UserData("Root", "urn:x", (("Field", "value"),)))
    binary = EventSpec("B", 3, WHEN, binary=bytes(range(64)))
    many = [
        EventSpec("Svc", i % 50, WHEN, data=((None, str(i)),), process_id=i, thread_id=i)
        for i in range(120)
    ]
    return [
        evtx_bytes([scm, odd, popup, user, binary]),
        evtx_bytes(many, records_per_chunk=40),
        evtx_bytes([scm], dirty=True, header_chunk_count=0),
        evtx_bytes(many[:30], records_per_chunk=10, zero_header=True)[4096:],
        template_evtx(),
    ]


def _string_array(items: list[str]) -> Value:
    raw = "".join(f"{item}\0" for item in items).encode("utf-16-le")
    return Value(ValueType.STRING | 0x80, raw)


def template_evtx() -> bytes:
    """Records whose templates hold array substitutions in an element's content and
    attribute: what a damaged template multiplies."""
    array = _string_array(["a", "b", "c"])
    number = Value(ValueType.UINT32 | 0x80, struct.pack("<3I", 1, 2, 3))
    data = Element(
        "Data",
        (("Name", Sub(1, ValueType.STRING | 0x80)),),
        (Sub(0, ValueType.STRING | 0x80), Text(" "), Sub(2, ValueType.UINT32 | 0x80)),
    )
    system = Element(
        "System",
        (),
        (
            Element("Provider", (("Name", Text("Arrays")),)),
            Element("EventID", (), (Text("9"),)),
            Element("Channel", (), (Text("Application"),)),
            Element("Computer", (), (Text("HOST7"),)),
        ),
    )
    event = Element("Event", (("xmlns", Text(NS)),), (system, Element("EventData", (), (data,))))
    tables = ChunkTables()
    records, numbers = bytearray(), []
    for number_of, (template, values) in enumerate(
        [(event, (array, array, number)), (event, (array, _string_array(["n"]), number))], 1
    ):
        offset = 512 + len(records)
        body = encode_event(tables, offset + 24, template, values)
        size = 24 + len(body) + 4
        records += struct.pack("<4sIQQ", b"**\x00\x00", size, number_of, 132_000_000_000_000_000)
        records += body + struct.pack("<I", size)
        numbers.append(number_of)
    return file_header_image(1) + _chunk(tables, bytes(records), numbers)


def _chunk(tables: ChunkTables, records: bytes, numbers: list[int]) -> bytes:
    first, last = numbers[0], numbers[-1]
    free = 512 + len(records)
    last_offset = 512
    at = 0
    while at < len(records):
        last_offset = 512 + at
        at += struct.unpack_from("<I", records, at + 4)[0]
    fields = (first, last, first, last, 128, last_offset, free, zlib.crc32(records))
    head = struct.pack("<8sQQQQIIII", b"ElfChnk\x00", *fields).ljust(120, b"\x00")
    heads = tables.header_tables()
    crc = zlib.crc32(heads, zlib.crc32(head))
    return (head + struct.pack("<II", 0, crc) + heads + records).ljust(65536, b"\x00")


def evt_seeds() -> list[bytes]:
    events = [
        EvtEventSpec(
            "Service Control Manager",
            0xC0001B6F,
            WHEN,
            strings=("Server", "%%2"),
            data=b"\x01\x02",
            sid="S-1-5-18",
        ),
        EvtEventSpec("EventLog", 6005, WHEN, qualifiers=0x8000, strings=()),
        EvtEventSpec("Srv", 2000, WHEN, event_type=1, strings=("x",) * 5, computer="SRV1"),
    ]
    return [
        evt_bytes(events),
        evt_bytes(events * 8, max_size=2048, wrap=True),
        evt_bytes(events, dirty=True, stale=events[:1], first_record_number=5),
    ]


def _xml_event(event_id: int, record: int, data: str) -> str:
    return (
        f'<Event xmlns="{NS}"><System><Provider Name="Service Control Manager" '
        'Guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}" EventSourceName="Service Control Manager"/>'
        f'<EventID Qualifiers="16384">{event_id}</EventID><Version>0</Version><Level>4</Level>'
        "<Task>0</Task><Opcode>0</Opcode><Keywords>0x8080000000000000</Keywords>"
        '<TimeCreated SystemTime="2021-03-04T05:06:07.1234567Z"/>'
        f"<EventRecordID>{record}</EventRecordID><Correlation/>"
        '<Execution ProcessID="1" ThreadID="2"/><Channel>System</Channel>'
        '<Computer>HOST1.example.com</Computer><Security UserID="S-1-5-18"/></System>'
        f"<EventData>{data}</EventData>"
        '<RenderingInfo Culture="en-US"><Message>The service entered the state.</Message>'
        "</RenderingInfo></Event>"
    )


def xml_seeds() -> list[bytes]:
    data = '<Data Name="param1">Windows Update</Data><Data Name="param2">running</Data>'
    events = [_xml_event(7036, i, data) for i in range(1, 4)]
    events.append(_xml_event(7, 9, "<Data>a&amp;b &#x41;&#10;</Data><Binary>00FF</Binary>"))
    body = "\r\n".join(events)
    return [
        f'<?xml version="1.0" encoding="UTF-8"?>\r\n<Events>{body}</Events>'.encode(),
        body.encode("utf-8"),
        ("\ufeff" + f"<Events>{body}</Events>").encode("utf-16-le"),
        f'<?xml version="1.0" encoding="windows-1252"?><Events>{body}</Events>'.encode("cp1252"),
    ]


SCM_7031 = (
    "The Print Spooler service terminated unexpectedly.  It has done this 1 time(s).  The "
    "following corrective action will be taken in 60000 milliseconds: Restart the service."
)


def text_seeds() -> list[bytes]:
    nt = [
        f"3/12/96\t8:00:3{i} AM\tService Control Manager\tError\tNone\t7031\tN/A\tFS01\t{SCM_7031}"
        for i in range(4)
    ]
    header = "Level,Date and Time,Source,Event ID,Task Category"
    vista = [
        header,
        f'Error,3/4/2021 5:06:07 AM,Service Control Manager,7031,None,"{SCM_7031}"',
        'Information,3/4/2021 5:06:08 AM,Service Control Manager,7036,None,"The Windows '
        'Update service entered the running state.\r\nmore"',
    ]
    dumpel = ["12/3/96,8:00:32 AM,1,0,7023,Service Control Manager,N/A,SRV1,Server,%%2"]
    return [
        ("\r\n".join(nt) + "\r\n").encode("cp1252"),
        ("\ufeff" + "\r\n".join(vista) + "\r\n").encode("utf-16-le"),
        ("\n".join(dumpel * 3) + "\n").encode(),
    ]


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``members``, the same bytes whenever it is made (a fixed member time: by
    default a member is stamped with the clock, and a nested zip then changed the outer
    member's CRC when two calls fell in different seconds)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as bundle:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16  # as a member named by a string gets
            bundle.writestr(info, data, compress_type=method)
    return buffer.getvalue()


def bundle_seeds() -> list[bytes]:
    log = evtx_seeds()[0]
    inner = zip_of([("deep/App.evtx", log), ("notes.txt", b"collected")])
    return [
        zip_of([("srv1/System.evtx", log), ("srv1/x.xml", xml_seeds()[0]), ("in.zip", inner)]),
        zip_of([("a.evt", evt_seeds()[0]), ("b.txt", text_seeds()[0])], zipfile.ZIP_STORED),
        gzip.compress(log, mtime=0),
        gzip.compress(zip_of([("z.evtx", log)]), mtime=0),
    ]


def all_seeds() -> dict[str, list[bytes]]:
    """Seeds by format name."""
    return {
        "evtx": evtx_seeds(),
        "evt": evt_seeds(),
        "xml": xml_seeds(),
        "text": text_seeds(),
        "bundle": bundle_seeds(),
    }
