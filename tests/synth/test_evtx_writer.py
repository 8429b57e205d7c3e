"""The test-log writer's files read back exactly with python-evtx, pyevtx-rs and libevtx.

Each parser renders typed values its own way; ``render`` below records how (these are the
parser quirks consumers of their XML have to normalise).
"""

from __future__ import annotations

import base64
import io
import struct
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import evtx
import Evtx.Evtx
import pyevtx
import pytest
from lxml import etree

from evtxscan.synth import (
    DataValue,
    EventSpec,
    HexInt32,
    HexInt64,
    Sid,
    UserData,
    evtx_bytes,
    write_evtx,
)

PY, RS, LIB = "python-evtx", "pyevtx-rs", "libevtx"
PARSERS = (PY, RS, LIB)
HEADER, CHUNK = 4096, 65536
SCM = "Service Control Manager"
PROVIDERS = (
    (SCM, "{555908d1-a6d7-4695-8e1e-26931d2012f4}", SCM),
    ("Microsoft-Windows-Kernel-General", "{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}", None),
    ("EventLog", None, None),
    ("Application Error", None, "Application Error"),
)
WINDOWS_ORDER = (
    *("Name", "Guid", "EventSourceName"),  # Provider attributes, then System's elements
    *("Provider", "EventID", "Version", "Level", "Task", "Opcode", "Keywords", "TimeCreated"),
    *("EventRecordID", "Correlation", "Execution", "Channel", "Computer", "Security"),
)
ODD_TEXTS = ("", "a&b<c>d'e\"f", "Zürich ✓ 😀", "multi\nline", "  padded  ", "x" * 700)


def sample_event(i: int) -> EventSpec:
    """Event ``i`` of a deterministic, varied set: every value type, shape and System option."""
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(
        seconds=37 * i, microseconds=(i * 7919) % 1_000_000
    )
    provider, guid, source = PROVIDERS[i % len(PROVIDERS)]
    data: tuple[tuple[str | None, DataValue], ...] = ()
    binary, user_data = None, None
    kind = i % 6
    if kind == 0:
        inner = UserData("Inner", None, (("Flag", i % 4 == 0), ("Id", uuid.UUID(int=i + 1))))
        user_data = UserData(
            "EventXML", "Event_NS", (("Param1", f"value {i}"), ("Count", i), inner)
        )
    elif kind == 1:
        data = (
            ("Text", f"text {i}"),
            ("U32", i),
            ("Negative", -i - 1),
            ("Large", 2**40 + i),
            ("Huge", 2**63 + i),
            ("Flag", i % 4 == 1),
            ("Bytes", bytes(range(i % 7, i % 7 + 5))),
            ("Guid", uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % 2**128)),
            ("When", when - timedelta(days=i, microseconds=i)),
            ("Sid", Sid(f"S-1-5-21-1004336348-1177238915-682003330-{1000 + i}")),
            ("Hex32", HexInt32(0xC0000000 + i)),
            ("Hex64", HexInt64(0x1F + i * 2**36)),
        )
    elif kind == 2:
        data = ((None, f"positional {i}"), (None, "second"), (None, i))
        binary = bytes([i % 256]) * 9
    elif kind == 3:
        data = (("param1", "first"), ("param1", "duplicate"), (None, "unnamed"), ("param2", "x"))
    elif kind == 5:
        data = tuple((f"Odd{j}", text) for j, text in enumerate(ODD_TEXTS))
    return EventSpec(
        provider=provider,
        event_id=(i * 37) % 65536,
        time=when if i % 11 else when.replace(tzinfo=None),
        computer=f"HOST{i % 3:02d}.corp.example",
        channel=("System", "Application", "Security")[i % 3],
        level=i % 6,
        qualifiers=16384 if i % 2 else None,
        version=i % 3 if i % 4 else None,
        task=i % 17,
        opcode=i % 5 if i % 3 else None,
        keywords=(0x80000000000000, 0x8020000000000000, 0)[i % 3],
        event_record_id=None if i % 5 else 100_000 + 3 * i,
        process_id=600 + i if i % 2 == 0 else None,
        thread_id=9000 + i if i % 2 == 0 else None,
        user_sid=("S-1-5-18", "S-1-5-21-3623811015-3361044348-30300820-1013", None)[i % 3],
        provider_guid=guid,
        event_source_name=source,
        data=data,
        binary=binary,
        user_data=user_data,
    )


def render(parser: str, value: DataValue) -> str | datetime:
    """How ``parser`` renders a typed value (datetimes are compared as times)."""
    if isinstance(value, bool):  # python-evtx: Python's str(); the others: XML Schema form
        return str(value) if parser == PY else str(value).lower()
    if isinstance(value, int):  # libevtx prints Int64 < 0 as "-" + (value & 2**63 - 1)
        return f"-{value & (2**63 - 1)}" if parser == LIB and value < 0 else str(value)
    if isinstance(value, HexInt32 | HexInt64):  # pyevtx-rs drops the zero padding
        width = 8 if isinstance(value, HexInt32) else 16
        return hex(value.value) if parser == RS else f"0x{value.value:0{width}x}"
    if isinstance(value, bytes):  # python-evtx: base64; the others: upper-case hex
        return base64.b64encode(value).decode() if parser == PY else value.hex().upper()
    if isinstance(value, uuid.UUID):  # braces and case differ per parser
        upper = str(value).upper()
        return {PY: f"{{{value}}}", RS: upper, LIB: f"{{{upper}}}"}[parser]
    if isinstance(value, Sid):
        return value.value
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def expected(parser: str, spec: EventSpec, number: int) -> dict[str, Any]:
    """The normalised view (see ``normalise``) ``parser`` must show for ``spec``."""

    def opt(value: int | str | None) -> str | None:
        return None if value is None else str(value)

    def user_tree(node: UserData, ns: str | None) -> tuple[Any, ...]:
        ns = node.xmlns if node.xmlns is not None else ns
        kids = [
            user_tree(c, ns) if isinstance(c, UserData) else (c[0], render(parser, c[1]))
            for c in node.children
        ]
        return (ns, node.name, kids)

    record_id = number if spec.event_record_id is None else spec.event_record_id
    present = {
        "Version": spec.version is not None,
        "Opcode": spec.opcode is not None,
        "Execution": spec.process_id is not None,
        "Guid": spec.provider_guid is not None,
        "EventSourceName": spec.event_source_name is not None,
    }
    guid = None if spec.provider_guid is None else render(parser, uuid.UUID(spec.provider_guid))
    has_payload = bool(spec.data) or spec.binary is not None
    return {
        "order": [name for name in WINDOWS_ORDER if present.get(name, True)],
        "provider": (spec.provider, guid, spec.event_source_name),
        "event_id": (str(spec.event_id), opt(spec.qualifiers)),
        "version": opt(spec.version),
        "level": str(spec.level),
        "task": str(spec.task),
        "opcode": opt(spec.opcode),
        "keywords": render(parser, HexInt64(spec.keywords)),
        "time": render(parser, spec.time),
        "record_id": str(record_id),
        # NULL optional substitutions: python-evtx keeps the attribute with an empty value.
        "correlation": {"ActivityID": "", "RelatedActivityID": ""} if parser == PY else {},
        "execution": (opt(spec.process_id), opt(spec.thread_id)),
        "channel": spec.channel,
        "computer": spec.computer,
        "user_sid": spec.user_sid,
        "data": [(name, render(parser, value)) for name, value in spec.data] or None,
        "binary": None if spec.binary is None else render(parser, spec.binary),
        "has_event_data": has_payload,
        "user_data": None if spec.user_data is None else user_tree(spec.user_data, None),
    }


def _text(element: Any) -> str:
    text: str = element.text or ""
    # pyevtx-rs pretty-prints an empty element as "<Data>\n    </Data>".
    return "" if not text.strip() and "\n" in text else text


def _is(element: Any, name: str) -> bool:
    return bool(etree.QName(element).localname == name)


def _find(parent: Any, name: str) -> Any:
    return next((c for c in parent if _is(c, name)), None)


def _user_tree(element: Any) -> tuple[Any, ...]:
    qname = etree.QName(element)
    kids = [_user_tree(c) if len(c) else (etree.QName(c).localname, _text(c)) for c in element]
    return (qname.namespace, qname.localname, kids)


def normalise(xml: str) -> dict[str, Any]:
    """The parts of one rendered event the tests compare."""
    root = etree.fromstring(xml.encode("utf-8"))
    system = _find(root, "System")

    def text(name: str) -> str | None:
        found = _find(system, name)
        return None if found is None else _text(found)

    provider, event_id = _find(system, "Provider"), _find(system, "EventID")
    execution = _find(system, "Execution")
    event_data, user_data = _find(root, "EventData"), _find(root, "UserData")
    datas = [] if event_data is None else [c for c in event_data if _is(c, "Data")]
    binary = None if event_data is None else _find(event_data, "Binary")
    return {
        "order": list(provider.attrib) + [etree.QName(c).localname for c in system],
        "provider": (provider.get("Name"), provider.get("Guid"), provider.get("EventSourceName")),
        "event_id": (_text(event_id), event_id.get("Qualifiers")),
        "version": text("Version"),
        "level": text("Level"),
        "task": text("Task"),
        "opcode": text("Opcode"),
        "keywords": text("Keywords"),
        "time": _find(system, "TimeCreated").get("SystemTime"),
        "record_id": text("EventRecordID"),
        "correlation": dict(_find(system, "Correlation").attrib),
        "execution": (None, None)
        if execution is None
        else (execution.get("ProcessID"), execution.get("ThreadID")),
        "channel": text("Channel"),
        "computer": text("Computer"),
        "user_sid": _find(system, "Security").get("UserID"),
        "data": [(d.get("Name"), _text(d)) for d in datas] or None,
        "binary": None if binary is None else _text(binary),
        "has_event_data": event_data is not None,
        "user_data": None if user_data is None else _user_tree(user_data[0]),
    }


def assert_same(parser: str, want: Any, got: Any, where: str) -> None:
    """Equal, except times: parsed, and exact to the microsecond. python-evtx converts a
    FILETIME through a float (``float(ft) * 1e-7 - 11644473600``); for 1970..2100 that is off
    by up to 3 µs (exact for only about a third of the values)."""
    if isinstance(want, datetime):
        seen = datetime.fromisoformat(str(got))
        slack = timedelta(microseconds=3 if parser == PY else 0)
        assert abs(seen - want) <= slack, f"{parser} {where}: {got} != {want}"
    elif isinstance(want, list | tuple) and isinstance(got, list | tuple):
        assert len(want) == len(got), f"{parser} {where}: {got!r} != {want!r}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            assert_same(parser, w, g, f"{where}[{i}]")
    else:
        assert want == got, f"{parser} {where}: {got!r} != {want!r}"


def read_python_evtx(buf: bytes) -> list[tuple[int, str]]:
    header = Evtx.Evtx.FileHeader(buf, 0)
    return [(r.record_num(), r.xml()) for c in header.chunks() for r in c.records()]


def read_pyevtx_rs(buf: bytes, validate: bool = False) -> tuple[list[tuple[int, str]], int]:
    """Records and the number of RuntimeErrors (one per bad record or chunk)."""
    records = evtx.PyEvtxParser(io.BytesIO(buf), validate_checksums=validate).records()
    out, errors = [], 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return out, errors
        except RuntimeError:
            errors += 1
            continue
        out.append((record["event_record_id"], record["data"]))


def read_libevtx(buf: bytes) -> list[tuple[int, str]]:
    log = pyevtx.file()
    log.open_file_object(io.BytesIO(buf))
    out = []
    for index in range(log.get_number_of_records()):
        # Read the XML right away: a record object kept while many others are fetched can
        # fail later ("invalid XML document"), as libevtx drops cached record values.
        record = log.get_record(index)
        out.append((record.identifier, record.xml_string))
    return out


READERS: dict[str, Callable[[bytes], list[tuple[int, str]]]] = {
    PY: read_python_evtx,
    RS: lambda buf: read_pyevtx_rs(buf)[0],
    LIB: read_libevtx,
}


def check_round_trip(parser: str, buf: bytes, specs: list[EventSpec], first: int) -> None:
    records = READERS[parser](buf)
    assert [n for n, _ in records] == list(range(first, first + len(specs)))
    for (number, xml), spec in zip(records, specs, strict=True):
        got, want = normalise(xml), expected(parser, spec, number)
        for key, value in want.items():
            assert_same(parser, value, got[key], f"record {number} {key}")


def chunk_offsets(buf: bytes) -> range:
    return range(HEADER, len(buf), CHUNK)


def name_hash(name: str) -> int:
    h = 0
    for unit in struct.unpack(f"<{len(name.encode('utf-16-le')) // 2}H", name.encode("utf-16-le")):
        h = (h * 65599 + unit) % 2**32
    return h % 2**16


SPECS = [sample_event(i) for i in range(300)]
SMALL = [sample_event(i) for i in range(40)]


@pytest.fixture(scope="module")
def many_chunks() -> bytes:
    return evtx_bytes(SPECS)


@pytest.mark.parametrize("parser", PARSERS)
def test_every_parser_reads_every_event_back(parser: str, many_chunks: bytes) -> None:
    assert (len(many_chunks) - HEADER) // CHUNK >= 3
    check_round_trip(parser, many_chunks, SPECS, 1)


@pytest.mark.parametrize("parser", PARSERS)
def test_three_records_per_chunk(parser: str) -> None:
    buf = evtx_bytes(SMALL, records_per_chunk=3, first_record_number=500)
    assert len(buf) == HEADER + 14 * CHUNK
    check_round_trip(parser, buf, SMALL, 500)


def test_libevtx_record_properties() -> None:
    log = pyevtx.file()
    log.open_file_object(io.BytesIO(evtx_bytes(SMALL)))
    for index, spec in enumerate(SMALL):
        record = log.get_record(index)
        when = spec.time.replace(tzinfo=None)
        assert (record.identifier, record.event_identifier) == (index + 1, spec.event_id)
        assert (record.event_level, record.computer_name) == (spec.level, spec.computer)
        assert record.event_identifier_qualifiers == spec.qualifiers
        assert record.written_time == when and record.creation_time == when


def test_headers_tables_and_checksums(many_chunks: bytes) -> None:
    buf = many_chunks
    count = (len(buf) - HEADER) // CHUNK
    magic, first, last, next_id, size, minor, major, block, chunks = struct.unpack_from(
        "<8sQQQIHHHH", buf
    )
    assert (magic, first, last, next_id) == (b"ElfFile\x00", 0, count - 1, len(SPECS) + 1)
    assert (size, minor, major, block, chunks) == (128, 1, 3, 4096, count)
    assert struct.unpack_from("<II", buf, 120) == (0, zlib.crc32(buf[:120]))
    numbers = []
    for base in chunk_offsets(buf):
        chunk = buf[base : base + CHUNK]
        assert chunk[:8] == b"ElfChnk\x00"
        lo, hi, lo_id, hi_id, size, last_at, free, data_crc = struct.unpack_from(
            "<QQQQIIII", chunk, 8
        )
        assert (lo, hi, size) == (lo_id, hi_id, 128)
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(
            chunk[128:512], zlib.crc32(chunk[:120])
        )
        assert data_crc == zlib.crc32(chunk[512:free]) and not chunk[free:].strip(b"\x00")
        at, inline = 512, 0
        while at < free:
            sig, rsize, number = struct.unpack_from("<4sIQ", chunk, at)
            assert (
                sig == b"**\x00\x00" and struct.unpack_from("<I", chunk, at + rsize - 4)[0] == rsize
            )
            assert chunk[at + 24 : at + 30] == b"\x0f\x01\x01\x00\x0c\x01"
            inline += struct.unpack_from("<I", chunk, at + 34)[0] == at + 38
            numbers.append(number)
            last_record, at = at, at + rsize
        assert at == free and last_record == last_at and numbers[-1] == hi
        names = set()
        for bucket in range(64):  # common string table: chains of (next, hash, length, name)
            offset = struct.unpack_from("<I", chunk, 128 + 4 * bucket)[0]
            while offset:
                nxt, hashed, length = struct.unpack_from("<IHH", chunk, offset)
                name = chunk[offset + 8 : offset + 8 + 2 * length].decode("utf-16-le")
                assert hashed == name_hash(name) and hashed % 64 == bucket and name not in names
                names.add(name)
                offset = nxt
        assert {"Event", "xmlns", "System", "Provider", "Name", "EventID", "Security"} <= names
        templates = 0
        for bucket in range(32):  # template table: definitions right after their instance
            offset = struct.unpack_from("<I", chunk, 384 + 4 * bucket)[0]
            while offset:
                assert chunk[offset - 10] == 0x0C
                assert struct.unpack_from("<I", chunk, offset - 4)[0] == offset
                template_id = struct.unpack_from("<I", chunk, offset - 8)[0]
                assert chunk[offset + 4 : offset + 8] == struct.pack("<I", template_id)
                assert template_id % 32 == bucket
                templates, offset = templates + 1, struct.unpack_from("<I", chunk, offset)[0]
        assert templates == inline
    assert numbers == list(range(1, len(SPECS) + 1))
    assert evtx_bytes(SPECS) == buf  # deterministic
    assert read_pyevtx_rs(buf, validate=True)[1] == 0


def test_one_template_per_shape_and_chunk() -> None:
    specs = [sample_event(12 * i + 3) for i in range(30)]  # all the same shape, one chunk
    buf = evtx_bytes(specs)
    sizes = []
    at = HEADER + 512
    while buf[at : at + 4] == b"**\x00\x00":
        sizes.append(struct.unpack_from("<I", buf, at + 4)[0])
        at += sizes[-1]
    assert len(sizes) == 30 and sizes[0] > sizes[1] + 500  # the definition is inline once
    heads = struct.unpack_from("<32I", buf, HEADER + 384)
    assert sum(1 for h in heads if h) == 1


def test_dirty_log_with_stale_chunk_count() -> None:
    buf = evtx_bytes(SMALL[:12], records_per_chunk=3, dirty=True, header_chunk_count=2)
    assert struct.unpack_from("<QQQ", buf, 8) == (0, 1, 7)  # last chunk 1, next record 7
    assert struct.unpack_from("<H", buf, 42)[0] == 2
    assert struct.unpack_from("<II", buf, 120) == (1, zlib.crc32(buf[:120]))
    assert len(list(Evtx.Evtx.FileHeader(buf, 0).chunks())) == 2
    assert [n for n, _ in read_python_evtx(buf)] == list(range(1, 7))
    assert [n for n, _ in read_pyevtx_rs(buf)[0]] == list(range(1, 13))
    assert [n for n, _ in read_libevtx(buf)] == list(range(1, 13))


def test_zeroed_file_header() -> None:
    buf = evtx_bytes(SMALL[:12], records_per_chunk=3, zero_header=True)
    assert buf[:HEADER] == bytes(HEADER) and len(buf) == HEADER + 4 * CHUNK
    assert all(buf[at : at + 8] == b"ElfChnk\x00" for at in chunk_offsets(buf))
    with pytest.raises(RuntimeError):  # pyevtx-rs and libevtx refuse the file
        read_pyevtx_rs(buf)
    with pytest.raises(OSError):
        read_libevtx(buf)
    assert not list(Evtx.Evtx.FileHeader(buf, 0).chunks())  # python-evtx finds nothing


def test_bad_chunk_crc() -> None:
    buf = evtx_bytes(SMALL[:12], records_per_chunk=3, bad_chunk_crc=[1])
    for index, at in enumerate(chunk_offsets(buf)):
        free, crc = struct.unpack_from("<II", buf, at + 48)
        assert (crc == zlib.crc32(buf[at + 512 : at + free])) == (index != 1)
    records, errors = read_pyevtx_rs(buf, validate=True)
    assert [n for n, _ in records] == [1, 2, 3, 7, 8, 9, 10, 11, 12] and errors == 1
    assert [n for n, _ in read_pyevtx_rs(buf)[0]] == list(range(1, 13))
    assert [n for n, _ in read_python_evtx(buf)] == list(range(1, 13))  # no CRC checks
    assert [n for n, _ in read_libevtx(buf)] == list(range(1, 13))


def test_truncated_file() -> None:
    cut = HEADER + 2 * CHUNK + 1000
    buf = evtx_bytes(SMALL[:12], records_per_chunk=3, truncate_at=cut)
    assert len(buf) == cut
    for parser in PARSERS:  # the partial chunk is skipped
        assert [n for n, _ in READERS[parser](buf)] == list(range(1, 7))


def test_write_evtx(tmp_path: Path) -> None:
    path = write_evtx(tmp_path / "System.evtx", SMALL[:5], dirty=True)
    assert path == tmp_path / "System.evtx"
    assert path.read_bytes() == evtx_bytes(SMALL[:5], dirty=True)


T = datetime(2024, 1, 1, tzinfo=UTC)
BAD_INPUTS: list[Callable[[], object]] = [
    lambda: EventSpec("P", 70_000, T),
    lambda: EventSpec("P", 1, T, level=256),
    lambda: EventSpec("", 1, T),
    lambda: EventSpec("P", 1, T, process_id=4),
    lambda: EventSpec("P", 1, T, user_sid="S-1-x"),
    lambda: EventSpec("P", 1, T, provider_guid="not a guid"),
    lambda: EventSpec("P", 1, datetime(1600, 12, 31, tzinfo=UTC)),
    lambda: EventSpec("P", 1, T, data=(("f", 1.5),)),  # type: ignore[arg-type]
    lambda: EventSpec("P", 1, T, data=(("a", 1),), user_data=UserData("R")),
    lambda: EventSpec("P", 1, T, data=(("big", 2**64),)),
    lambda: UserData("1bad"),
    lambda: HexInt32(-1),
    lambda: evtx_bytes(SMALL[:2], records_per_chunk=0),
    lambda: evtx_bytes(SMALL[:2], bad_chunk_crc=[1]),
    lambda: evtx_bytes([EventSpec("P", 1, T, data=tuple((f"d{i}", "x" * 999) for i in range(40)))]),
]


@pytest.mark.parametrize("make", BAD_INPUTS)
def test_rejects_bad_input(make: Callable[[], object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()
