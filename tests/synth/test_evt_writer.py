"""The .evt writer's files read back with libevt (pyevt), independently of our reader.

Known pyevt bugs (binary data read too early after a padded SID, wrap and full-buffer
handling) are described and checked in ``tests/sources/test_evt_reader.py``; the cases
here avoid them, except where a test pins the bug down.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evtxscan.synth import EvtEventSpec, evt_bytes, write_evt

pyevt = pytest.importorskip("pyevt", reason="libevt-python is the test oracle")

T0 = datetime(2003, 10, 11, 12, 13, 14, tzinfo=UTC)
HEADER, EOF = 0x30, 0x28


def spec(i: int, **changes: Any) -> EvtEventSpec:
    values: dict[str, Any] = {
        "source": ("Service Control Manager", "Srv", "Security")[i % 3],
        "event_id": 0xC0001B6F if i % 2 else 7036,
        "time_generated": T0 + timedelta(minutes=i),
        "event_type": (1, 2, 4, 8, 16)[i % 5],
        "category": i % 4,
        "computer": "DC" + "0" * (i % 4),
        "strings": tuple(f"s{i}.{j}" for j in range(i % 3)),
        # no data after a SID: pyevt reads data after a padded SID at the wrong offset
        "data": b"" if i % 4 == 0 or i % 3 == 0 else bytes([i]) * (i % 7),
        "sid": None if i % 3 else "S-1-5-21-1-2-3-1000",
    }
    values.update(changes)
    return EvtEventSpec(**values)


def pyevt_records(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """pyevt's live records as dicts, and its recovered-record count."""
    log = pyevt.file()
    log.open_file_object(io.BytesIO(data))
    out = []
    for i in range(log.get_number_of_records()):
        record = log.get_record(i)
        try:
            payload = record.data
        except OSError:  # pyevt raises for a record without data
            payload = b""
        out.append(
            {
                "number": record.identifier,
                "event_id": record.event_identifier,
                "event_type": record.event_type,
                "category": record.event_category,
                "generated": record.creation_time.replace(tzinfo=UTC),
                "written": record.written_time.replace(tzinfo=UTC),
                "source": record.source_name,
                "computer": record.computer_name,
                "sid": record.user_security_identifier,
                "strings": tuple(record.get_string(j) for j in range(record.number_of_strings)),
                "data": payload or b"",
            }
        )
    return out, log.get_number_of_recovered_records()


def expected(event: EvtEventSpec, number: int) -> dict[str, Any]:
    return {
        "number": number,
        "event_id": event.full_event_id,
        "event_type": event.event_type,
        "category": event.category,
        "generated": event.time_generated,
        "written": event.time_written or event.time_generated,
        "source": event.source,
        "computer": event.computer,
        "sid": event.sid,
        "strings": event.strings,
        "data": event.data,
    }


def header(data: bytes) -> tuple[Any, ...]:
    return struct.unpack_from("<I4s10I", data)


def test_plain_log_reads_back_and_has_windows_layout() -> None:
    events = [spec(i) for i in range(12)]
    data = evt_bytes(events)
    records, recovered = pyevt_records(data)
    assert records == [expected(e, n) for n, e in enumerate(events, start=1)]
    assert recovered == 0
    size, magic, major, minor, start, end, current, oldest, max_size, flags, _, end_size = header(
        data
    )
    assert (size, magic, major, minor, end_size) == (HEADER, b"LfLe", 1, 1, HEADER)
    assert (start, current, oldest, max_size, flags) == (HEADER, 13, 1, len(data), 0)
    assert end == len(data) - EOF
    eof = struct.unpack_from("<10I", data, end)
    assert eof == (EOF, 0x11111111, 0x22222222, 0x33333333, 0x44444444, HEADER, end, 13, 1, EOF)


def test_record_fields_sit_where_their_offsets_say() -> None:
    event = spec(3, strings=("a", "bc"), data=b"\x01\x02\x03", sid="S-1-5-18")
    data = evt_bytes([event])
    record = data[HEADER:-EOF]
    length, magic, number = struct.unpack_from("<I4sI", record)
    assert (magic, number, len(record)) == (b"LfLe", 1, length)
    assert struct.unpack_from("<I", record, length - 4)[0] == length
    assert length % 4 == 0
    string_offset, sid_length, sid_offset, data_length, data_offset = struct.unpack_from(
        "<5I", record, 36
    )
    assert sid_offset % 4 == 0 and sid_length == 12  # Windows' DWORD alignment
    assert record[sid_offset : sid_offset + 2] == b"\x01\x01"
    assert string_offset == sid_offset + sid_length
    assert record[string_offset:data_offset] == "a\x00bc\x00".encode("utf-16-le")
    assert record[data_offset : data_offset + data_length] == b"\x01\x02\x03"


@pytest.mark.parametrize("padding", [0, 2, 4])
def test_explicit_sid_padding(padding: int) -> None:
    event = spec(0, source="Srv", computer="PC", sid="S-1-5-18", data=b"")
    data = evt_bytes([event], sid_padding=padding)
    names_end = 56 + len("Srv\x00PC\x00".encode("utf-16-le"))
    assert struct.unpack_from("<I", data, HEADER + 44)[0] == names_end + padding
    assert pyevt_records(data)[0] == [expected(event, 1)]


def test_wrapped_log_splits_a_record_and_keeps_the_newest() -> None:
    events = [spec(i) for i in range(30)]
    data = evt_bytes(events, max_size=1600, wrap=True)
    assert len(data) == 1600
    _, _, _, _, start, end, current, oldest, _, flags, _, _ = header(data)
    assert flags & 0x2 and current == 31 and oldest > 1
    records, _ = pyevt_records(data)
    assert records == [expected(events[n - 1], n) for n in range(oldest, 31)]
    # walk the chain ourselves: some record must cross the end of the buffer
    offset, crossed = start, False
    for _ in range(31 - oldest):
        length = struct.unpack_from("<I", (data + data[HEADER:])[offset : offset + 4])[0]
        crossed = crossed or offset + length > len(data)
        offset = HEADER + (offset - HEADER + length) % (len(data) - HEADER)
    assert crossed and offset == end


def test_dirty_log_header_is_stale() -> None:
    events = [spec(i) for i in range(10)]
    clean, dirty = evt_bytes(events), evt_bytes(events, dirty=True)
    assert clean[HEADER:] == dirty[HEADER:]
    *_, end, current, _, _, flags, _, _ = header(dirty)
    assert flags & 0x1 and current == 6 and end < len(dirty) - EOF
    assert pyevt_records(dirty)[0] == pyevt_records(clean)[0]


def test_truncation_and_stale_records() -> None:
    events = [spec(i) for i in range(6)]
    stale = [spec(i) for i in range(10, 13)]
    data = evt_bytes(events, first_record_number=20, stale=stale, max_size=4096)
    records, recovered = pyevt_records(data)
    assert [r["number"] for r in records] == list(range(20, 26)) and recovered == 3
    cut = evt_bytes(events, truncate_at=300)
    assert len(cut) == 300


def test_same_input_same_bytes(tmp_path: Path) -> None:
    events = [spec(i) for i in range(8)]
    path = write_evt(tmp_path / "sub" / "SysEvent.Evt", events, max_size=1024, wrap=True)
    assert path.read_bytes() == evt_bytes(events, max_size=1024, wrap=True)


def test_qualifiers_and_naive_times() -> None:
    a = EvtEventSpec("Srv", 7023, datetime(2004, 1, 1), qualifiers=0xC000)
    b = EvtEventSpec("Srv", 0xC0001B6F, datetime(2004, 1, 1, tzinfo=UTC))
    assert a.full_event_id == b.full_event_id == 0xC0001B6F
    assert evt_bytes([a]) == evt_bytes([b])


@pytest.mark.parametrize(
    "changes",
    [
        {"event_id": 2**32},
        {"event_id": 0x10000, "qualifiers": 1},
        {"qualifiers": 0x10000, "event_id": 1},
        {"event_type": -1},
        {"category": 0x10000},
        {"source": ""},
        {"computer": "a\x00b"},
        {"strings": ("ok", "nul\x00")},
        {"sid": "S-1-x"},
        {"data": "text"},
        {"time_generated": datetime(1969, 12, 31, tzinfo=UTC)},
        {"time_written": "yesterday"},
    ],
)
def test_spec_validation(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        spec(1, **changes)


def test_option_validation() -> None:
    events = [spec(i) for i in range(5)]
    with pytest.raises(ValueError, match="wrap=True needs max_size"):
        evt_bytes(events, wrap=True)
    with pytest.raises(ValueError, match="more than max_size"):
        evt_bytes(events, max_size=256)
    with pytest.raises(ValueError, match="multiple of 4"):
        evt_bytes(events, max_size=4098)
    with pytest.raises(ValueError, match="does not fit"):
        evt_bytes(events, max_size=120, wrap=True)
    with pytest.raises(ValueError, match="stale"):
        evt_bytes(events, stale=[spec(9)], first_record_number=0)
    with pytest.raises(TypeError):
        evt_bytes(["not a spec"])  # type: ignore[list-item]
