"""One bad value costs that value (typed NA, a note or an error with its place), never the
file; algorithms on the read path stay linear on inputs crafted to make them quadratic."""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.scanning import read_records
from evtxscan.sources.text.inserts import InsertRecovery
from evtxscan.synth import EventSpec, evtx_bytes

NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _read(path: Path, **options: object) -> tuple[pd.DataFrame, pd.Series]:
    stream = read_records(path, **options)  # type: ignore[arg-type]
    frame = stream.frame()
    integrity = stream.integrity
    assert len(integrity) == 1, integrity
    row = integrity.iloc[0]
    assert "internal error" not in row["errors"], row["errors"]
    return frame, row


def _xml_event(keywords: str = "0x8080000000000000", record: int = 1) -> str:
    return (
        f'<Event xmlns="{NS}"><System><Provider Name="Service Control Manager"/>'
        f"<EventID>7036</EventID><Level>4</Level><Keywords>{keywords}</Keywords>"
        f'<TimeCreated SystemTime="2021-03-04T05:06:07Z"/><EventRecordID>{record}</EventRecordID>'
        "<Channel>System</Channel><Computer>HOST1</Computer></System>"
        '<EventData><Data Name="param1">X</Data></EventData></Event>'
    )


def test_record_header_time_of_2_63_costs_only_that_value(tmp_path: Path) -> None:
    events = [EventSpec("P", i, datetime(2024, 1, 2, 3, 4, 5)) for i in range(3)]
    data = bytearray(evtx_bytes(events))
    first = data.index(b"**\x00\x00", 4096)
    struct.pack_into("<Q", data, first + 16, 2**63)  # the record header's written time
    (tmp_path / "t.evtx").write_bytes(bytes(data))
    frame, row = _read(tmp_path / "t.evtx")
    assert len(frame) == 3 and frame["written_time"].isna().sum() == 1
    assert "values out of range or malformed, read as missing: 1 written_time" in row["notes"]


@pytest.mark.parametrize("keywords", ["0x-5", "-0x5", "0x1ffffffffffffffffff", "0x" + "f" * 99])
def test_xml_keywords_out_of_range_cost_only_that_value(tmp_path: Path, keywords: str) -> None:
    body = _xml_event(keywords, 1) + _xml_event(record=2)
    (tmp_path / "k.xml").write_text(f"<Events>{body}</Events>")
    frame, row = _read(tmp_path / "k.xml")
    assert len(frame) == 2 and frame["keywords"].isna().tolist() == [True, False]
    assert row["status"] == "ok"
    assert "values out of range or malformed, read as missing: 1 keywords" in row["notes"]


@pytest.mark.parametrize("codec", ["zlib", "base64", "idna", "hex", "rot13", "bz2", "uu"])
def test_xml_declaring_a_byte_codec_is_read_as_utf8(tmp_path: Path, codec: str) -> None:
    text = f'<?xml version="1.0" encoding="{codec}"?><Events>{_xml_event()}</Events>'
    (tmp_path / "c.xml").write_text(text)
    frame, _ = _read(tmp_path / "c.xml")
    assert frame["event_id"].tolist() == [7036]


def _text_line(date: str, event_id: str) -> str:
    return f"{date}\t8:00:32 AM\tService Control Manager\tError\tNone\t{event_id}\tN/A\tFS01\tx"


def test_text_export_event_id_with_a_non_ascii_digit(tmp_path: Path) -> None:
    lines = [_text_line("3/12/96", "7023"), _text_line("3/12/96", "70²3")]
    lines += [_text_line("3/12/96", "7024")]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame, row = _read(tmp_path / "t.txt")
    assert frame["event_id"].tolist() == [7023, 7024]
    assert "line 2: not a record" in row["errors"]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_text_export_dates_at_the_ends_of_the_calendar(tmp_path: Path, tz: str) -> None:
    lines = [
        _text_line("1/1/0001", "7023"),
        _text_line("12/31/9999", "7023"),
        _text_line("3/12/1996", "7023"),
    ]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame, row = _read(tmp_path / "t.txt", tz=tz)
    assert len(frame) == 3 and frame["time"].notna().sum() == 1
    assert row["errors"].count("out of range") == 2


def test_one_flipped_record_number_is_not_10_18_missing_records(tmp_path: Path) -> None:
    events = [EventSpec("P", 1, datetime(2024, 1, 2, 3, 4, 5))] * 50
    data = bytearray(evtx_bytes(events, records_per_chunk=10))
    at = data.index(b"**\x00\x00", 4096 + 65536 * 2)
    number = struct.unpack_from("<Q", data, at + 8)[0]
    struct.pack_into("<Q", data, at + 8, number ^ (1 << 63))
    (tmp_path / "n.evtx").write_bytes(bytes(data))
    frame, row = _read(tmp_path / "n.evtx")
    assert len(frame) >= 49
    assert 0 <= row["missing_records"] < 100
    assert "record numbers jump implausibly" in row["notes"]


def test_empty_slots_after_the_header_are_walked_once(tmp_path: Path) -> None:
    data = evtx_bytes([EventSpec("P", 1, datetime(2024, 1, 2, 3, 4, 5))])
    path = tmp_path / "zeros.evtx"
    with open(path, "wb") as handle:
        handle.write(data)
        handle.truncate(len(data) + (64 << 20))  # 1,024 zero slots (sparse on disk)
    frame, row = _read(path)
    assert len(frame) == 1 and row["status"] == "ok" and row["chunks_skipped"] == 0


def test_insertion_string_recovery_stays_linear_on_near_matches() -> None:
    recovery = InsertRecovery()
    piece = (
        "x service terminated unexpectedly.  It has done this 1 time(s).  The following "
        "corrective action will be taken in "
    )
    hostile = "The " + piece * 120 + "zz"  # cubic for a backtracking regex: minutes
    assert recovery.recover("Service Control Manager", 7031, 2, hostile) is None
    real = (
        "The Print Spooler service terminated unexpectedly.  It has done this 1 time(s).  "
        "The following corrective action will be taken in 60000 milliseconds: Restart the "
        "service."
    )
    found = recovery.recover("Service Control Manager", 7031, 2, real)
    assert found is not None and found[:3] == ["Print Spooler", "1", "60000"]


def test_thousands_of_continuation_lines_are_joined_once(tmp_path: Path) -> None:
    lines = [_text_line("3/12/96", "7023")] + ["more text of the description"] * 20_000
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame, row = _read(tmp_path / "t.txt")
    assert len(frame) == 1
    assert "20000 unquoted line breaks kept in free text" in row["notes"]


def test_broken_utf16_in_a_string_value_is_reported_with_its_offset(tmp_path: Path) -> None:
    events = [
        EventSpec("P", 1, datetime(2024, 1, 2, 3, 4, 5), data=(("Name", "zzé\u2603zz"),)),
        EventSpec("P", 2, datetime(2024, 1, 2, 3, 4, 5), data=(("Name", "fine é"),)),
    ]
    data = evtx_bytes(events)
    data = data.replace("\u2603".encode("utf-16-le"), b"\x00\xd8")  # a lone high surrogate
    (tmp_path / "u.evtx").write_bytes(data)
    for backend in ("rust", "python"):
        frame, row = _read(tmp_path / "u.evtx", backend=backend)
        assert len(frame) == 2
        assert row["errors"].count("broken UTF-16") == 1, row["errors"]
        assert f'"offset": {frame["offset"].iloc[0]}' in row["errors"]


def test_damage_in_the_samples_is_made_visible(samples: Path) -> None:
    _, row = _read(samples / "williballenthin-python-evtx/tests/data/issue_43.evtx")
    assert '"offset": 455768, "reason": "a string value holds broken UTF-16' in row["errors"]
    _, row = _read(samples / "plaso/test_data/SysEvent.Evt")
    assert "deleted record(s) not recovered, first record 1572" in row["notes"]


def test_system_numbers_of_odd_types_beyond_64_bits_read_as_missing(tmp_path: Path) -> None:
    """Found by fuzzing (seed 1001): a Keywords value stored as UInt64 reads back as decimal
    text, which Keywords parse as hex, and beyond 2**64 it overflowed the index's column
    (OverflowError: the whole file an "internal error"). A string value does the same."""
    from evtx_raw import raw_evtx, s, standard_values, system_template, u

    from evtxscan.sources.evtx.binxml import ValueType

    odd = [u(ValueType.UINT64, 36028797018963968), s("0x1ffffffffffffffffff"), s("0x10")]
    records = [(system_template(), standard_values(keywords=k)) for k in odd]
    (tmp_path / "k.evtx").write_bytes(raw_evtx(records))
    frame, _ = _read(tmp_path / "k.evtx")
    assert frame["keywords"].isna().tolist() == [True, True, False]
    assert frame["keywords"].tolist()[2] == 16


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_evtx_system_numbers_out_of_range_are_noted_whichever_command_reads_them(
    tmp_path: Path, backend: str
) -> None:
    from evtx_raw import EVENT_ID, LEVEL, raw_evtx, s, standard_values, system_template, u

    import evtxscan
    from evtxscan.sources.evtx.binxml import ValueType

    records = [
        (
            system_template(types={EVENT_ID: ValueType.UINT32}),
            standard_values(event_id=u(ValueType.UINT32, 70_000)),  # wider than the column
        ),
        (system_template(types={LEVEL: ValueType.STRING}), standard_values(level=s("high"))),
        (system_template(), standard_values()),
    ]
    path = tmp_path / "n.evtx"
    path.write_bytes(raw_evtx(records))
    frame, row = _read(path, backend=backend)
    assert frame["event_id"].isna().tolist() == [True, False, False]
    assert frame["level"].isna().tolist() == [False, True, False]
    note = "values out of range or malformed, read as missing: 1 event_id, 1 level"
    assert note in row["notes"]
    scanned = evtxscan.scan([path], backend=backend).integrity
    assert scanned.iloc[0]["notes"] == row["notes"]  # a scan decodes neither record


def test_a_hex_value_of_the_wrong_size_first_in_its_column(tmp_path: Path) -> None:
    """Found by fuzzing (seed 6002): a HexInt32 value two bytes long, the first of its
    column, made the decoder read numbers "0 bytes wide" (KeyError: the whole file an
    "internal error"). Such a value goes to the renderer; the others decode."""
    from evtx_compare import rust_frame
    from evtx_raw import raw_evtx, standard_values, system_template, u

    from evtxscan.sources.evtx.binxml import ValueType
    from evtxscan.synth.binxml import Element, Sub, Value

    data = Element(
        "EventData", children=(Element("Data", children=(Sub(17, ValueType.HEXINT32),)),)
    )
    template = system_template(extra=(data,))
    records = [
        (template, [*standard_values(), Value(ValueType.HEXINT32, b"\x01\x02")]),
        (template, [*standard_values(), u(ValueType.HEXINT32, 0xBEEF)]),
    ]
    path = tmp_path / "h.evtx"
    path.write_bytes(raw_evtx(records))
    stream = read_records(path)
    frame = stream.frame()
    assert "internal error" not in stream.integrity.iloc[0]["errors"]
    assert len(frame) == 2 and frame["data"].iloc[1] == rust_frame(path)["data"].iloc[1]


def _with_name_cycle(image: bytes) -> bytes:
    """``image`` (one chunk) with two of its name entries linked in a circle."""
    import zlib

    from evtxscan.sources.evtx.layout import FILE_HEADER_SIZE, chunk_header_crc

    data = bytearray(image)
    chunk = FILE_HEADER_SIZE
    buckets = [struct.unpack_from("<I", data, chunk + 0x80 + 4 * i)[0] for i in range(64)]
    first, second = [offset for offset in buckets if offset][:2]
    struct.pack_into("<I", data, chunk + first, second)
    struct.pack_into("<I", data, chunk + second, first)
    end = struct.unpack_from("<I", data, chunk + 48)[0]
    struct.pack_into("<I", data, chunk + 52, zlib.crc32(bytes(data[chunk + 512 : chunk + end])))
    struct.pack_into("<I", data, chunk + 124, chunk_header_crc(bytes(data[chunk : chunk + 512])))
    return bytes(data)


def test_names_linked_in_a_circle_do_not_hang_the_parsers(
    tmp_path: Path, run_child: Callable[..., str]
) -> None:
    """Found by fuzzing (seed 8001): two name entries of a chunk linked in a circle made
    pyevtx-rs loop forever in native code holding the interpreter lock (no time budget could
    stop it; bare pyevtx-rs hangs too). The images handed to the parsers have the circle
    cut. Read in a child process, so a regression fails here instead of hanging the suite."""
    from evtxscan.sources.evtx.layout import CHUNK_SIZE, FILE_HEADER_SIZE, without_link_cycles

    events = [
        EventSpec("Service Control Manager", 7036, datetime(2024, 1, 2, 3, 4, i), computer="H1")
        for i in range(5)
    ]
    data = _with_name_cycle(evtx_bytes(events))
    chunk = data[FILE_HEADER_SIZE : FILE_HEADER_SIZE + CHUNK_SIZE]
    assert without_link_cycles(chunk) != chunk and without_link_cycles(chunk[:0]) == b""
    path = tmp_path / "cycle.evtx"
    path.write_bytes(data)
    code = (
        "import sys\n"
        "from evtxscan.scanning import read_records\n"
        "for backend in ('rust', 'python'):\n"
        "    s = read_records(sys.argv[1], backend=backend)\n"
        "    print(backend, sum(len(b) for b in s), s.integrity.iloc[0]['errors'])\n"
    )
    lines = run_child(code, str(path)).splitlines()
    assert [line.split()[:2] for line in lines] == [["rust", "5"], ["python", "5"]], lines
    assert all("internal error" not in line for line in lines)


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_a_system_field_in_a_huge_substitution_slot(tmp_path: Path, backend: str) -> None:
    """Found by fuzzing (seed 10004, 531 inputs): a damaged template naming substitution
    60,000 for a System field made the index read 240 KB of slots a record, past the end of
    its buffer (IndexError: the whole file an "internal error"). Such a template's records
    go to the renderer; the others are read."""
    from evtx_raw import NULL, raw_evtx, s, standard_values, system_template

    from evtxscan.sources.evtx.binxml import ValueType
    from evtxscan.synth.binxml import Sub

    values = [*standard_values(), *[NULL] * 82, s("H1")]  # Computer in slot 99
    records = [
        (system_template(computer=Sub(99, ValueType.STRING)), values),
        (system_template(), standard_values()),
    ]
    image = raw_evtx(records)
    token = b"\x0e" + struct.pack("<H", 99) + bytes([ValueType.STRING])  # optional sub
    assert image.count(token) == 1  # the template's substitution: now slot 60,000
    path = tmp_path / "slot.evtx"
    path.write_bytes(image.replace(token, b"\x0e" + struct.pack("<H", 60_000) + token[3:]))
    frame, row = _read(path, backend=backend)  # no "internal error" (checked there)
    if backend == "rust":  # pyevtx-rs renders the damaged record; python-evtx gives it up
        assert frame["event_id"].tolist() == [7036, 7036]
    else:
        assert frame["event_id"].tolist() == [7036] and "python-evtx" in row["errors"]
