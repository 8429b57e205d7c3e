"""``read_evt`` against libevt (pyevt) on real .evt samples and on writer-made files.

pyevt is the oracle, except where it is known to be wrong; each exception is checked for
exactly what pyevt does, so a fixed pyevt makes the test fail loudly instead of hiding it:

* empty binary data: ``record.data`` raises OSError (we compare it as ``b""``);
* strings: pyevt splits the whole string area, so the record's padding shows up as extra
  empty strings beyond NumStrings (Security.evt); we follow NumStrings;
* SID padding: when Windows pads the SID to a 4-byte boundary, pyevt reads the binary data
  that many bytes too early (we read it at DataOffset);
* SysEvent.Evt: pyevt also "recovers" a torn fragment at 1965840 (record 1572, its size copy
  overwritten by a later record; its strings are garbage); we keep only whole records;
* wrapped logs whose record ends exactly at the end of the buffer: pyevt stops following
  the live records there (and lists the rest as recovered);
* a full buffer (the oldest record right after the EOF record): pyevt reads on past the EOF
  record and returns the oldest records a second time;
* dirty wrapped logs: pyevt often follows the stale header and misses records.
"""

from __future__ import annotations

import io
import mmap
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from evtxscan.records.batch import concat_frames
from evtxscan.records.schema import COLUMNS
from evtxscan.records.values import canonical_values
from evtxscan.sources.evt import read_evt
from evtxscan.sources.evt.columns import decode_images
from evtxscan.sources.evt.frame import EventType
from evtxscan.sources.evt.layout import HEADER_SIZE, RawRecord, make_ring, parse_header, record_at
from evtxscan.sources.evt.reader import infer_channel
from evtxscan.sources.evt.walk import Walk, locate, walk_live
from evtxscan.sources.integrity import FileReport, FileStatus
from evtxscan.synth import EvtEventSpec, evt_bytes

pyevt = pytest.importorskip("pyevt", reason="libevt-python is the test oracle")

#: sample -> (live records, recovered records, channel inferred from the name)
SAMPLES = {
    "plaso/test_data/SysEvent.Evt": (6063, 437, "System"),
    "go-evt/AppEvent.Evt": (121, 0, "Application"),
    "moex01-evt-parser/test_files/System.evt": (95, 0, "System"),
    "moex01-evt-parser/test_files/Application.evt": (67, 0, "Application"),
    "moex01-evt-parser/test_files/Security.evt": (49, 0, "Security"),
    "dissect.eventlog/tests/_data/TestLog.evt": (5, 0, None),
    "dissect.eventlog/tests/_data/TestLog-dirty.evt": (5, 0, None),
}
#: (offset, record number) of what pyevt recovers and we do not (see the module docstring)
PYEVT_TORN_FRAGMENTS = {"plaso/test_data/SysEvent.Evt": {(1965840, 1572)}}
LEVEL = {0: 0, 1: 2, 2: 3, 4: 4, 8: 0, 16: 0}
KEYWORDS = {8: 0xA0000000000000, 16: 0x90000000000000}
T0 = datetime(2005, 6, 7, 8, 9, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Ref:
    """What pyevt reads from one record."""

    offset: int
    number: int
    event_id: int
    event_type: int
    category: int
    generated: datetime
    written: datetime
    source: str
    computer: str
    sid: str | None
    strings: tuple[str, ...]
    data: bytes


def _pyevt_record(record: Any) -> Ref:
    try:
        data = record.data
    except OSError:  # pyevt raises for a record without data
        data = b""
    return Ref(
        record.offset,
        record.identifier,
        record.event_identifier,
        record.event_type,
        record.event_category,
        record.creation_time.replace(tzinfo=UTC),
        record.written_time.replace(tzinfo=UTC),
        record.source_name,
        record.computer_name,
        record.user_security_identifier,
        tuple(record.get_string(j) for j in range(record.number_of_strings)),
        data or b"",
    )


def pyevt_read(data: bytes) -> tuple[list[Ref], list[Ref]]:
    log = pyevt.file()
    log.open_file_object(io.BytesIO(data))
    live = [_pyevt_record(log.get_record(i)) for i in range(log.get_number_of_records())]
    count = log.get_number_of_recovered_records()
    recovered = [_pyevt_record(log.get_recovered_record(i)) for i in range(count)]
    log.close()
    return live, recovered


def read(
    data: bytes | mmap.mmap, source: str = "SysEvent.Evt", **options: Any
) -> tuple[pd.DataFrame, FileReport]:
    report = FileReport(path=source)
    frames = list(read_evt(data, source=source, report=report, **options))
    for frame in frames:
        report.observe(frame)
    report.finish()
    return concat_frames(frames), report


def _utf16_end(image: bytes, start: int) -> int:
    while image[start : start + 2] not in (b"\x00\x00", b""):
        start += 2
    return start + 2


def _layout(data: bytes, offset: int) -> tuple[bytes, int, int, int, int]:
    """The record image at ``offset`` and its (NumStrings, SID padding, DataOffset,
    DataLength), read independently of the reader's field decoding."""
    found = record_at(make_ring(data, parse_header(data)), offset)
    assert not isinstance(found, str), found
    image = found.image
    count = struct.unpack_from("<H", image, 26)[0]
    sid_length, sid_offset, data_length, data_offset = struct.unpack_from("<4I", image, 40)
    names_end = _utf16_end(image, _utf16_end(image, 56))
    padding = sid_offset - names_end if sid_length else 0
    return image, count, padding, data_offset, data_length


def assert_matches_pyevt(frame: pd.DataFrame, refs: list[Ref], data: bytes) -> None:
    """Every row equals pyevt's record, field by field (known pyevt bugs excepted)."""
    assert len(frame) == len(refs)
    rows = frame.to_dict("records")
    for row, ref in zip(rows, refs, strict=True):
        where = f"record {ref.number} at {ref.offset}"
        assert row["offset"] == ref.offset, where
        assert row["record_number"] == row["event_record_id"] == ref.number, where
        assert (row["event_id"], row["qualifiers"]) == (ref.event_id & 0xFFFF, ref.event_id >> 16)
        assert row["level"] == LEVEL[ref.event_type], where
        assert row["keywords"] == KEYWORDS.get(ref.event_type, 0x80000000000000), where
        assert row["task"] == ref.category, where
        assert row["time"] == pd.Timestamp(ref.generated), where
        assert row["written_time"] == pd.Timestamp(ref.written), where
        assert row["provider"] == row["event_source_name"] == ref.source, where
        assert row["computer"] == ref.computer, where
        assert (None if pd.isna(row["user_sid"]) else row["user_sid"]) == ref.sid, where
        image, count, padding, data_offset, data_length = _layout(data, ref.offset)
        assert len(row["data"]) == count, where
        assert all(item["name"] is None for item in row["data"])
        strings = list(ref.strings[:count])
        assert [item["value"] for item in row["data"]] == canonical(strings), where
        assert set(ref.strings[count:]) <= {""}, where  # pyevt: padding as empty strings
        binary = None if pd.isna(row["binary"]) else bytes.fromhex(row["binary"])
        if padding and data_length:  # pyevt reads the data `padding` bytes too early
            early = data_offset - padding
            assert ref.data == image[early : early + data_length], where
            assert binary == image[data_offset : data_offset + data_length], where
        else:
            assert binary == (ref.data or None), where


def canonical(values: list[str]) -> list[str]:
    return list(canonical_values(pa.array(values, type=pa.string())).to_pylist())


# -- the real samples ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_match_pyevt(samples: Path, name: str) -> None:
    data = (samples / name).read_bytes()
    frame, report = read(data, source=str(samples / name))
    live_count, recovered_count, channel = SAMPLES[name]
    live, recovered = frame[~frame["recovered"]], frame[frame["recovered"]]
    assert (len(live), len(recovered)) == (live_count, recovered_count)
    assert report.errors == [], report.errors
    ref_live, ref_recovered = pyevt_read(data)
    assert_matches_pyevt(live, ref_live, data)
    torn = PYEVT_TORN_FRAGMENTS.get(name, set())
    assert {(r.offset, r.number) for r in ref_recovered} & torn == torn
    kept = [r for r in ref_recovered if (r.offset, r.number) not in torn]
    assert_matches_pyevt(recovered, kept, data)
    expected_channel = channel if channel is None else {channel}
    assert (None if live["channel"].isna().all() else set(live["channel"])) == expected_channel
    inferred = [n for n in report.notes if "inferred from the file name" in n]
    assert len(inferred) == (channel is not None)
    assert report.status in (FileStatus.OK, FileStatus.DIRTY)
    assert report.header_dirty == (report.status is FileStatus.DIRTY)
    assert not live["torn"].any()


def test_dirty_samples_are_read_past_their_stale_header(samples: Path) -> None:
    clean, _ = read((samples / "dissect.eventlog/tests/_data/TestLog.evt").read_bytes())
    dirty, report = read((samples / "dissect.eventlog/tests/_data/TestLog-dirty.evt").read_bytes())
    assert report.header_dirty and report.status is FileStatus.DIRTY
    assert any("end-of-file record found at 944 by scanning" in n for n in report.notes)
    columns = [c for c in COLUMNS if c not in ("source_file",)]
    pd.testing.assert_frame_equal(clean[columns], dirty[columns])


def test_wrapped_sample_reassembles_the_split_record(samples: Path) -> None:
    frame, _ = read((samples / "plaso/test_data/SysEvent.Evt").read_bytes())
    live = frame[~frame["recovered"]]
    assert list(live["record_number"]) == list(range(1392, 7455))
    split = live[live["record_number"] == 1572].iloc[0]
    assert split["offset"] == 2031376  # 240 bytes before the end, 104 after the header
    assert [d["value"] for d in split["data"]][:2] == ["cifs/CONTROLLER", "Kerberos"]


# -- writer-made files ----------------------------------------------------------------------

SOURCES = ("Service Control Manager", "EventLog", "Srv", "Application Popup", "Security")


def event(i: int) -> EvtEventSpec:
    """Event ``i`` of a varied, deterministic set."""
    strings = tuple(f"value {i}.{j}" for j in range(i % 4))
    if i % 6 == 5:
        strings += ("", "Zürich ✓ 😀", "multi\r\nline")
    return EvtEventSpec(
        source=SOURCES[i % len(SOURCES)],
        event_id=0xC0001B6F if i % 3 == 0 else 6005,
        qualifiers=None if i % 3 != 1 else 0x8000,
        time_generated=T0 + timedelta(seconds=61 * i),
        time_written=T0 + timedelta(seconds=61 * i + i % 2),
        event_type=(1, 2, 4, 8, 16, 0)[i % 6],
        category=i % 7,
        computer="WKS" + "X" * (i % 3),
        strings=strings,
        data=bytes(range(i % 9)),
        sid=("S-1-5-21-1004336348-1177238915-682003330-512", "S-1-5-18", None)[i % 3],
    )


EVENTS = [event(i) for i in range(40)]


def assert_matches_specs(frame: pd.DataFrame, specs: dict[int, EvtEventSpec]) -> None:
    """Each row equals the spec its record number was written from."""
    for row in frame.to_dict("records"):
        spec = specs[row["record_number"]]
        assert (row["event_id"] | row["qualifiers"] << 16) == spec.full_event_id
        assert row["level"] == LEVEL[spec.event_type]
        assert row["task"] == spec.category
        assert row["time"] == pd.Timestamp(spec.time_generated)
        assert row["written_time"] == pd.Timestamp(spec.time_written or spec.time_generated)
        assert row["provider"] == row["event_source_name"] == spec.source
        assert row["computer"] == spec.computer
        assert (None if pd.isna(row["user_sid"]) else row["user_sid"]) == spec.sid
        assert [d["value"] for d in row["data"]] == canonical(list(spec.strings))
        assert (None if pd.isna(row["binary"]) else row["binary"]) == (
            spec.data.hex().upper() or None
        )


def numbered(events: list[EvtEventSpec], first: int = 1) -> dict[int, EvtEventSpec]:
    return dict(enumerate(events, start=first))


def test_plain_round_trip() -> None:
    data = evt_bytes(EVENTS)
    frame, report = read(data)
    assert report.errors == [] and report.status is FileStatus.OK
    assert list(frame["record_number"]) == list(range(1, 41))
    assert not frame["recovered"].any() and not frame["torn"].any()
    assert set(frame["channel"]) == {"System"}
    assert_matches_specs(frame, numbered(EVENTS))
    assert_matches_pyevt(frame, pyevt_read(data)[0], data)
    for column, dtype in COLUMNS.items():
        assert str(frame[column].dtype) == str(dtype), column


def test_audit_and_unknown_event_types() -> None:
    types = [EventType.AUDIT_SUCCESS, EventType.AUDIT_FAILURE, EventType.SUCCESS, 0x20]
    events = [EvtEventSpec("Security", 528, T0, event_type=t) for t in types]
    frame, _ = read(evt_bytes(events), source="SecEvent.Evt")
    levels = [None if pd.isna(v) else int(v) for v in frame["level"]]
    keywords = [None if pd.isna(v) else int(v) for v in frame["keywords"]]
    assert levels == [0, 0, 0, None]
    assert keywords == [0xA0000000000000, 0x90000000000000, 0x80000000000000, None]


def split_record(data: bytes) -> int | None:
    """The number of the record split by the end of the buffer, if any."""
    frame, _ = read(data)
    for offset, number in zip(frame["offset"], frame["record_number"], strict=True):
        if offset + struct.unpack_from("<I", data, offset)[0] > len(data):
            return int(number)
    return None


@pytest.mark.parametrize("max_size", [1600, 1888, 2032])
def test_wrapped_round_trip_with_a_split_record(max_size: int) -> None:
    data = evt_bytes(EVENTS, max_size=max_size, wrap=True)
    assert split_record(data) is not None
    frame, report = read(data)
    assert report.errors == [] and report.status is FileStatus.OK
    numbers = list(frame["record_number"])
    assert numbers == list(range(numbers[0], 41)) and numbers[0] > 1
    assert_matches_specs(frame, numbered(EVENTS))
    assert_matches_pyevt(frame, pyevt_read(data)[0], data)


def walk(data: bytes) -> tuple[list[RawRecord], list[tuple[str, int | None]]]:
    """The live records and the walk's errors, straight from the layout (fast, no frame)."""
    header = parse_header(data)
    ring, found = make_ring(data, header), Walk()
    start, stop = locate(ring, header, found)
    assert start is not None
    return list(walk_live(ring, start, stop, found)), found.errors


def assert_decodes_to_specs(records: list[RawRecord]) -> None:
    columns = decode_images([raw.image for raw in records])
    inserts = iter(columns.strings)
    for row, raw in enumerate(records):
        spec, strings = EVENTS[raw.number - 1], columns.string_counts[row]
        assert columns.problems[row] == ()
        assert int(columns.head["event_id"][row]) == spec.full_event_id
        assert (columns.source_name[row], columns.computer[row]) == (spec.source, spec.computer)
        assert columns.user_sid[row] == spec.sid and columns.data[row] == spec.data
        assert tuple(next(inserts) for _ in range(strings)) == spec.strings


def test_every_wrap_position_reads_back() -> None:
    """Buffer sizes that put every byte of the newest records (and of the EOF record) at
    the wrap. pyevt agrees except in its two known wrap bugs (module docstring)."""
    exact_end = full = 0
    for max_size in range(1600, 2200, 4):
        data = evt_bytes(EVENTS, max_size=max_size, wrap=True)
        header = parse_header(data)
        assert header is not None
        records, errors = walk(data)
        assert errors == [], (max_size, errors)
        numbers = [r.number for r in records]
        assert numbers == list(range(header.oldest_record_number, 41))
        assert_decodes_to_specs(records)
        ref_live, ref_recovered = pyevt_read(data)
        ref_numbers = [r.number for r in ref_live]
        if ref_numbers == numbers:
            continue
        ends = {r.offset + r.length for r in records}
        if max_size in ends:  # pyevt stops where a record ends at the buffer's end
            exact_end += 1
            assert ref_numbers + [r.number for r in ref_recovered] == numbers
        else:  # a full buffer: pyevt reads on past the EOF record into the oldest records
            full += 1
            assert header.end_offset + 0x28 == header.start_offset
            assert ref_numbers[: len(numbers)] == numbers
            assert set(ref_numbers[len(numbers) :]) <= set(numbers)
    assert exact_end and full


def test_dirty_header_is_stale_and_ignored() -> None:
    data = evt_bytes(EVENTS, dirty=True)
    header = parse_header(data)
    assert header is not None and header.dirty and header.current_record_number == 21
    frame, report = read(data)
    assert list(frame["record_number"]) == list(range(1, 41))
    assert report.header_dirty and report.status is FileStatus.DIRTY
    assert_matches_pyevt(frame, pyevt_read(data)[0], data)


def test_dirty_wrapped_log_is_found_by_scanning() -> None:
    for max_size in range(1600, 2200, 4):
        data = evt_bytes(EVENTS, max_size=max_size, wrap=True, dirty=True)
        clean = evt_bytes(EVENTS, max_size=max_size, wrap=True)
        assert (
            data[HEADER_SIZE:] == clean[HEADER_SIZE:] and data[:HEADER_SIZE] != clean[:HEADER_SIZE]
        )
        records, errors = walk(data)
        assert errors == [] and records == walk(clean)[0] and records[-1].number == 40
    data = evt_bytes(EVENTS, max_size=1620, wrap=True, dirty=True)
    frame, report = read(data)
    assert report.status is FileStatus.DIRTY and report.errors == []
    assert_matches_specs(frame, numbered(EVENTS))
    assert pyevt_read(data) == ([], [])  # pyevt follows the stale header and finds nothing


def test_truncated_file_gives_the_complete_records() -> None:
    full = evt_bytes(EVENTS)
    offsets = list(read(full)[0]["offset"])
    cut = offsets[10] + 30  # inside record 11
    frame, report = read(full[:cut])
    assert list(frame["record_number"]) == list(range(1, 11))
    assert report.status is FileStatus.DAMAGED
    assert any(e.reason.startswith("truncated") and e.offset == offsets[10] for e in report.errors)
    assert len(pyevt_read(full[:cut])[0]) == 10


def test_truncated_wrapped_file_keeps_what_survives() -> None:
    data = evt_bytes(EVENTS, max_size=1888, wrap=True)
    clean = list(read(data)[0]["record_number"])
    frame, report = read(data[:1500])
    numbers = list(frame["record_number"])
    assert numbers and set(numbers) < set(clean) and numbers[-1] == 40
    assert report.status is FileStatus.DAMAGED and report.errors


def test_damaged_record_is_skipped_with_its_offset() -> None:
    data = bytearray(evt_bytes(EVENTS))
    offsets = list(read(bytes(data))[0]["offset"])
    data[offsets[4] + 4 : offsets[4] + 8] = b"XXXX"  # record 5 loses its signature
    frame, report = read(bytes(data))
    assert list(frame["record_number"]) == [n for n in range(1, 41) if n != 5]
    assert report.status is FileStatus.DAMAGED and report.missing_records == 1
    (error,) = report.errors
    assert error.offset == offsets[4] and f"up to offset {offsets[5]}" in error.reason


@pytest.mark.parametrize("batch_size", [10_000, 3])
def test_record_problems_come_before_what_the_walk_found(batch_size: int) -> None:
    """Each record's problems are reported in record order, then the walk's findings (as a
    reader that decodes record by record reports them), however records are batched."""
    data = bytearray(evt_bytes(EVENTS))
    offsets = list(read(bytes(data))[0]["offset"])
    for n in (6, 30):  # an unreadable SID; the walk finds the size copy wrong
        struct.pack_into("<I", data, offsets[n] + 0x28, 0xFFFF)
        struct.pack_into("<I", data, offsets[n + 1] - 4, 7)
    frame, report = read(bytes(data), batch_size=batch_size)
    assert len(frame) == 40
    assert [(e.reason.split(" (")[0], e.offset) for e in report.errors] == [
        ("record 7: unreadable SID", offsets[6]),
        ("record 31: unreadable SID", offsets[30]),
        ("record 7: size copy mismatch", offsets[6]),
        ("record 31: size copy mismatch", offsets[30]),
    ]


def test_missing_eof_record_and_zeroed_header() -> None:
    data = evt_bytes(EVENTS, max_size=1888, wrap=True)
    expected = list(read(data)[0]["record_number"])
    at = data.index(b"\x11\x11\x11\x11")
    no_eof = data[:at] + b"\x00" * 16 + data[at + 16 :]
    frame, report = read(no_eof)
    assert list(frame[~frame["recovered"]]["record_number"]) == expected
    assert [e.reason for e in report.errors] == [
        "no end-of-file record: records followed from the oldest"
    ]
    frame, report = read(bytes(HEADER_SIZE) + data[HEADER_SIZE:])
    assert list(frame["record_number"]) == expected
    assert report.errors[0].reason.startswith("file header missing or damaged")


def test_sid_padding_keeps_the_binary_data() -> None:
    padded = [replace_sid(e) for e in EVENTS[:12]]
    data = evt_bytes(padded, sid_padding=2)
    frame, _ = read(data)
    assert_matches_specs(frame, numbered(padded))
    assert_matches_pyevt(frame, pyevt_read(data)[0], data)  # pyevt's data bug checked there
    layouts = [_layout(data, offset) for offset in frame["offset"]]
    assert any(padding == 2 and length for _, _, padding, _, length in layouts)


def replace_sid(spec: EvtEventSpec) -> EvtEventSpec:
    return EvtEventSpec(
        spec.source,
        spec.full_event_id,
        spec.time_generated,
        event_type=spec.event_type,
        strings=spec.strings,
        data=spec.data or b"\x01\x02\x03",
        sid="S-1-5-21-1-2-3-500",
    )


def test_stale_records_are_recovered() -> None:
    stale = [event(i) for i in range(100, 104)]
    data = evt_bytes(EVENTS[:10], first_record_number=50, stale=stale, max_size=4096)
    frame, report = read(data)
    live, recovered = frame[~frame["recovered"]], frame[frame["recovered"]]
    assert list(live["record_number"]) == list(range(50, 60))
    assert list(recovered["record_number"]) == [46, 47, 48, 49]
    assert report.recovered == 4 and report.records == 10
    assert_matches_specs(recovered, numbered(stale, 46))
    assert_matches_pyevt(recovered, pyevt_read(data)[1], data)
    frame, report = read(data, include_recovered=False)
    assert len(frame) == 10 and report.recovered == 0


@pytest.mark.parametrize("wrap", [False, True])
def test_records_in_memory_read_as_anywhere_else(wrap: bool) -> None:
    """A record lying whole in a log read into memory is cut from it in place; every offset
    (records, their insides, a record whose size copy is broken, the split one) gives what
    the general reading of a buffer gives, strict or not."""
    data = bytearray(evt_bytes(EVENTS, max_size=1600 if wrap else None, wrap=wrap))
    ring = make_ring(bytes(data), parse_header(bytes(data)))
    records = (record_at(ring, offset) for offset in range(HEADER_SIZE, len(data), 4))
    first, second = [r for r in records if isinstance(r, RawRecord) and not r.wrapped][:2]
    struct.pack_into("<I", data, first.offset + first.length - 4, 0)  # its size copy broken
    struct.pack_into("<I", data, second.offset, 8)  # an implausible size
    in_memory = make_ring(bytes(data), parse_header(bytes(data)))
    elsewhere = make_ring(memoryview(data), parse_header(bytes(data)))  # type: ignore[arg-type]
    offsets = [*range(HEADER_SIZE - 4, len(data) + 8, 2), len(data) - 3]
    found = 0
    for offset in offsets:
        for strict in (False, True):
            here = record_at(in_memory, offset, strict=strict)
            assert here == record_at(elsewhere, offset, strict=strict), (offset, strict)
            found += isinstance(here, RawRecord)
    assert found >= 10  # (records met, strict or not)
    assert record_at(in_memory, first.offset, strict=True) == (
        "the record's size copy does not match"
    )


def test_batches_and_mmap_input(tmp_path: Path) -> None:
    path = tmp_path / "AppEvent.Evt"
    path.write_bytes(evt_bytes(EVENTS))
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        report = FileReport(path=str(path))
        frames = list(read_evt(m, source=str(path), report=report, batch_size=7))
    assert [len(f) for f in frames] == [7] * 5 + [5]
    frame = concat_frames(frames)
    assert set(frame["channel"]) == {"Application"} and set(frame["source_format"]) == {"evt"}


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("C:\\WINDOWS\\system32\\config\\SysEvent.Evt", "System"),
        ("/cases/host1/APPEVENT.EVT", "Application"),
        ("bundle.zip!logs/SecEvent.Evt", "Security"),
        ("System.evt", "System"),
        ("application.EVT", "Application"),
        ("Security.evt", "Security"),
        ("DNSEvent.Evt", "DNS Server"),
        ("Windows PowerShell.evt", "Windows PowerShell"),
        ("TestLog.evt", None),
        ("System.evtx", None),
        ("SysEvent", None),
    ],
)
def test_channel_from_the_file_name(name: str, channel: str | None) -> None:
    assert infer_channel(name) == channel


def test_unknown_name_leaves_the_channel_empty_with_a_note() -> None:
    frame, report = read(evt_bytes(EVENTS[:3]), source="/x/copy-3.evt")
    assert frame["channel"].isna().all() and not frame["torn"].any()
    assert any("channel unknown" in n and "'copy-3.evt'" in n for n in report.notes)


def mutations(data: bytes, count: int) -> Iterator[bytes]:
    rng = random.Random(7023)
    yield b""
    yield data[:40]
    yield bytes(HEADER_SIZE) + data[HEADER_SIZE:]
    yield data[:HEADER_SIZE] + bytes(len(data) - HEADER_SIZE)
    for _ in range(count):
        damaged = bytearray(data[: rng.randrange(HEADER_SIZE, len(data) + 1)])
        for _ in range(rng.randrange(1, 6)):
            at = rng.randrange(len(damaged))
            width = rng.choice((1, 4))
            value = rng.choice((0, 0xFFFFFFFF, rng.randrange(2**32), 0x38, 0x28))
            damaged[at : at + width] = value.to_bytes(4, "little")[:width]
        yield bytes(damaged)


@pytest.mark.parametrize(
    "options",
    [
        {"max_size": 1888, "wrap": True},
        {"max_size": 8192, "first_record_number": 9, "stale": [event(98), event(99)]},
    ],
)
def test_damaged_files_never_raise(options: dict[str, Any]) -> None:
    data = evt_bytes(EVENTS, **options)
    for damaged in mutations(data, 60):
        frame, report = read(damaged)
        assert not any("internal error" in e.reason for e in report.errors), report.errors
        assert len(frame) <= 60
