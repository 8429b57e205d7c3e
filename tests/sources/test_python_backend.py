"""The python-evtx backend must normalize every record exactly as the pyevtx-rs backend does.

Three layers: the value spellings measured from pyevtx-rs 0.14 (no parser needed), synthetic
records with every value type patched in and parsed by both backends, and record-for-record
parity on real sample logs (a quick subset, then every log all parsers agree on).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evtxscan.records.batch import RecordBatch
from evtxscan.records.schema import EventFields, RecordPosition
from evtxscan.sources.evtx.backends import rust_events
from evtxscan.sources.evtx.chunk_events import BackendError, ChunkEvents
from evtxscan.sources.evtx.layout import Chunk, chunk_image, iter_chunks
from evtxscan.sources.evtx.python_backend import python_chunk_events
from evtxscan.sources.evtx.value_text import value_text
from evtxscan.synth import EventSpec, HexInt32, HexInt64, Sid, UserData, evtx_bytes


def _f32(value: float) -> bytes:
    return struct.pack("<f", value)


def _f64(value: float) -> bytes:
    return struct.pack("<d", value)


def _time(*parts: int) -> bytes:
    return struct.pack("<8H", *parts)


# (value type, raw bytes, pyevtx-rs 0.14 text), measured by patching values into real records.
SPELLINGS = [
    (0x01, "a<b&c".encode("utf-16-le") + b"\0\0junk", "a<b&c"),  # up to the first NUL
    (0x01, "ab".encode("utf-16-le") + b"\x00\xd8" + "c".encode("utf-16-le"), "abc"),
    (0x02, b"h\xe9llo\x00 \x80\x81", "héllo €\x81"),  # Windows-1252, NULs dropped
    (0x03, b"\xff", "-1"),
    (0x05, struct.pack("<h", -5), "-5"),
    (0x07, struct.pack("<i", -5), "-5"),
    (0x0A, struct.pack("<Q", 2**64 - 1), "18446744073709551615"),
    (0x0B, _f32(1.0), "1.0"),
    (0x0B, _f32(0.1), "0.1"),
    (0x0B, _f32(-0.0), "-0.0"),
    (0x0B, _f32(1e-6), "0.000001"),
    (0x0B, _f32(1e-7), "1e-7"),
    (0x0B, _f32(1e12), "1000000000000.0"),
    (0x0B, _f32(1e13), "1e+13"),
    (0x0B, _f32(2.0**40), "1099511600000.0"),
    (0x0B, _f32(3.4028234663852886e38), "3.4028235e+38"),
    (0x0B, _f32(float("nan")), "NaN"),
    (0x0B, _f32(float("-inf")), "-inf"),
    (0x0C, _f64(0.1 + 0.2), "0.30000000000000004"),
    (0x0C, _f64(1e-5), "0.00001"),
    (0x0C, _f64(1.2345678e-6), "1.2345678e-6"),
    (0x0C, _f64(1e15), "1000000000000000.0"),
    (0x0C, _f64(1.5e16), "1.5e+16"),
    (0x0C, _f64(5e-324), "5e-324"),
    (0x0D, struct.pack("<i", 0), "false"),
    (0x0D, struct.pack("<i", 1), "true"),
    (0x0D, struct.pack("<i", 16), "16"),  # "irregular" booleans print as numbers
    (0x0D, struct.pack("<i", -1), "-1"),
    (0x0E, bytes([0, 0xAB, 0x10]), "00AB10"),
    (0x0F, bytes(range(16)), "03020100-0504-0706-0809-0A0B0C0D0E0F"),
    (0x10, struct.pack("<I", 0x1234), "0x1234"),  # size_t prints as hex
    (0x10, struct.pack("<Q", 4), "0x4"),
    (0x11, struct.pack("<Q", 132223334445556667), "2020-01-01T06:24:04.555666Z"),
    (0x11, struct.pack("<Q", 0), "1601-01-01T00:00:00.000000Z"),
    (0x12, _time(2020, 2, 0, 29, 23, 59, 58, 999), "2020-02-29T23:59:58.999000Z"),
    (0x12, _time(0, 0, 0, 0, 0, 0, 0, 0), "1601-01-01T00:00:00.000000Z"),
    (0x12, _time(0, 1, 0, 1, 0, 0, 0, 0), "0000-01-01T00:00:00.000000Z"),
    (0x13, bytes([1, 2, 0, 0, 0, 0, 0, 5]) + struct.pack("<II", 21, 7), "S-1-5-21-7"),
    (0x14, struct.pack("<I", 0xABC), "0xabc"),
    (0x15, struct.pack("<Q", 0), "0x0"),
    (0x81, "a\0\0b\0".encode("utf-16-le"), "a,,b"),  # joined when not repeated per item
    (0x83, b"\xff\x01", "-1,1"),
    (0x8D, struct.pack("<2i", 1, 5), "1,5"),  # booleans in arrays print as numbers
]


@pytest.mark.parametrize(("value_type", "raw", "text"), SPELLINGS)
def test_value_text_spells_values_as_pyevtx_rs(value_type: int, raw: bytes, text: str) -> None:
    assert value_text(value_type, raw) == text


@pytest.mark.parametrize(
    ("value_type", "raw"),
    [(0x12, _time(2020, 13, 0, 1, 0, 0, 0, 0)), (0x12, _time(9999, 12, 0, 31, 0, 0, 0, 0))],
)
def test_values_pyevtx_rs_rejects_are_errors(value_type: int, raw: bytes) -> None:
    with pytest.raises(ValueError):
        value_text(value_type, raw)


# --- both backends on synthetic records -------------------------------------------------------


def _parse(backend: Callable[[bytes], ChunkEvents], image: bytes) -> tuple[pd.DataFrame, int]:
    """The typed frame of the events a backend reads from ``image``, and its error count."""
    batch, errors = RecordBatch(), 0
    for outcome in backend(image):
        if isinstance(outcome, BackendError):
            errors += 1
            continue
        number, event = outcome
        position = RecordPosition(number, None, None, None)
        if isinstance(event, EventFields):
            batch.add_fields(event, position)
        else:
            batch.add_raw(event[0], event[1], position)
    return batch.frame(source_file="parity", source_format="evtx"), errors


def _assert_same(image: bytes) -> tuple[int, int]:
    """Both backends read the same records with the same values; (records, python errors)."""
    python, python_errors = _parse(python_chunk_events, image)
    rust, _ = _parse(rust_events, image)
    assert python["record_number"].tolist() == rust["record_number"].tolist()
    for index in range(len(rust)):  # row by row, so a failure names the record
        mine, theirs = python.iloc[index].to_dict(), rust.iloc[index].to_dict()
        assert _comparable(mine) == _comparable(theirs), f"record {mine['record_number']}"
    pd.testing.assert_frame_equal(python, rust)
    return len(python), python_errors


def _missing(value: object) -> bool:
    return value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _comparable(row: dict[Any, Any]) -> dict[Any, Any]:
    """A row with every missing marker (NA, NaT, NaN) as None, so equal rows compare equal."""
    return {k: None if _missing(v) else v for k, v in row.items()}


WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_synthetic_events_match_pyevtx_rs() -> None:
    events = [
        EventSpec(
            provider="Svc",
            event_id=7036,
            time=WHEN,
            qualifiers=16384,
            data=(
                ("param1", "quotes \" and ' & <tags> ]]>"),
                ("param2", "line\r\nbreak\ttab  "),
                ("empty", ""),
                (None, "positional"),
                ("control", "bell\x07 vt\x0b nonchar\ufffe"),
                ("unicode", "Türkiye 中国 \U0001f600"),
            ),
            binary=b"\x00\x01\xfe\xff",
        ),
        EventSpec(
            provider="Typed",
            event_id=2,
            time=WHEN,
            process_id=4,
            thread_id=8,
            user_sid="S-1-5-21-1-2-3-500",
            provider_guid=str(uuid.UUID(int=255)),
            data=(
                ("flag", True),
                ("off", False),
                ("small", 7),
                ("big", 2**40),
                ("neg", -(2**40)),
                ("huge", 2**64 - 1),
                ("blob", b"\x12\x34"),
                ("id", uuid.UUID(int=2**127 + 5)),
                ("when", WHEN),
                ("h32", HexInt32(0xBEEF)),
                ("h64", HexInt64(0)),
                ("sid", Sid("S-1-5-18")),
            ),
        ),
        EventSpec(
            provider="User",
            event_id=3,
            time=WHEN,
            user_data=UserData(
                "Root",
                "urn:test",
                (("A", "x & y"), UserData("Inner", None, (("B", 5),)), ("C", "")),
            ),
        ),
    ]
    assert _assert_same(evtx_bytes(events)) == (3, 0)


def _patched(value_type: int, raw: bytes, in_attribute: bool = False) -> bytes:
    """A one-record image whose placeholder string value (the Data ``V``, or the Provider's
    EventSourceName attribute) is replaced by ``raw`` typed ``value_type``."""
    size, placeholder = len(raw), "Q" * (len(raw) // 2)
    event = EventSpec(provider="Patch", event_id=1, time=WHEN, data=(("V", placeholder),))
    if in_attribute:
        event = EventSpec(provider="Patch", event_id=1, time=WHEN, event_source_name=placeholder)
    image = bytearray(evtx_bytes([event]))
    at = image.rfind(b"Q\0" * (size // 2))
    descriptor = image.rfind(struct.pack("<HBB", size, 0x01, 0), 0, at)
    assert at > 0 and descriptor > 0 and size % 2 == 0
    image[descriptor + 2] = value_type
    image[at : at + size] = raw
    chunk = 4096
    free = struct.unpack_from("<I", image, chunk + 48)[0]
    struct.pack_into("<I", image, chunk + 52, zlib.crc32(image[chunk + 512 : chunk + free]))
    header = bytes(image[chunk : chunk + 120] + image[chunk + 128 : chunk + 512])
    struct.pack_into("<I", image, chunk + 124, zlib.crc32(header))
    return bytes(image)


PATCHES = [
    (0x02, b"ansi\xe9\x00\x9fz"),
    (0x05, struct.pack("<h", -300)),
    (0x06, struct.pack("<H", 65535)),
    (0x07, struct.pack("<i", -7)),
    (0x09, struct.pack("<q", -(2**62))),
    *[(0x0B, _f32(v)) for v in (1.0, 0.1, 1e20, 1e-7, 123456.79, -0.0, 1e13, float("inf"))],
    *[(0x0C, _f64(v)) for v in (2.5, 1e21, 1e-6, 1.5e-300, 9.5e15, float("nan"), 0.0)],
    *[(0x0D, struct.pack("<i", v)) for v in (0, 1, 2, -1, 65536)],
    (0x10, struct.pack("<I", 0xFFFF)),
    (0x10, struct.pack("<Q", 2**40)),
    (0x11, struct.pack("<Q", 0)),
    (0x12, _time(2020, 2, 0, 29, 23, 59, 58, 999)),
    (0x12, _time(0, 0, 0, 0, 0, 0, 0, 0)),
    (0x12, _time(2021, 2, 0, 29, 0, 0, 0, 0)),  # not a date: both reject the record
    (0x13, bytes([1, 1, 0, 0, 0, 0, 0, 5]) + struct.pack("<I", 18)),
    (0x14, struct.pack("<I", 0)),
    (0x81, "one\0two\0\0four\0".encode("utf-16-le")),  # the element repeats per item
    (0x81, "only\0".encode("utf-16-le")),
    (0x83, b"\xff\x7f"),
    (0x84, b"\x00\xff"),
    (0x86, struct.pack("<2H", 1, 2)),
    (0x88, struct.pack("<2I", 7, 8)),
    (0x8A, struct.pack("<Q", 9)),
    (0x8B, _f32(1.5) + _f32(0.1)),
    (0x8C, _f64(2.5)),
    (0x8D, struct.pack("<4i", 0, 1, 2, -1)),
    (0x8F, bytes(range(32))),
    (0x91, struct.pack("<2Q", 0, 132223334445556667)),
    (0x92, _time(2020, 2, 0, 29, 23, 59, 58, 999)),
    (
        0x93,
        bytes([1, 1, 0, 0, 0, 0, 0, 5]) + struct.pack("<I", 21) + bytes([1, 0, 0, 0, 0, 0, 0, 5]),
    ),
    (0x94, struct.pack("<2I", 1, 0xABC)),
    (0x95, struct.pack("<Q", 2**63)),
]


@pytest.mark.parametrize(
    ("value_type", "raw"), PATCHES, ids=lambda p: p if isinstance(p, int) else None
)
def test_every_value_type_matches_pyevtx_rs(value_type: int, raw: bytes) -> None:
    records, errors = _assert_same(_patched(value_type, raw))
    assert records + errors == 1


@pytest.mark.parametrize(
    ("value_type", "raw", "expected"),
    [(0x01, b"\0\0\0\0", None), (0x00, b"\0\0", None), (0x0D, struct.pack("<i", 7), "7")],
)
def test_attributes_drop_empty_values(value_type: int, raw: bytes, expected: str | None) -> None:
    image = _patched(value_type, raw, in_attribute=True)
    assert _assert_same(image) == (1, 0)
    frame, _ = _parse(python_chunk_events, image)
    value = frame["event_source_name"].iloc[0]
    assert pd.isna(value) if expected is None else value == expected


# --- real logs --------------------------------------------------------------------------------


def _chunks(path: Path, limit: int | None) -> Iterator[bytes]:
    chunks = (c for c in iter_chunks(path.read_bytes()) if isinstance(c, Chunk))
    for chunk in islice(chunks, limit):
        yield chunk_image(chunk.data)


def _assert_file_parity(path: Path, limit: int | None = None) -> int:
    """Both backends read the same records of every chunk, identically; the record count."""
    count = 0
    for image in _chunks(path, limit):
        records, errors = _assert_same(image)
        assert errors == 0, path
        count += records
    return count


QUICK = [
    ("omerbenamram-evtx/samples/security.evtx", 2),
    ("williballenthin-python-evtx/tests/data/system.evtx", 2),
    ("omerbenamram-evtx/samples/sample-with-irregular-bool-values.evtx", 1),
    ("omerbenamram-evtx/samples/Security_with_size_t.evtx", 1),
    ("plaso/test_data/evtx/System.evtx", 1),
    ("dissect.eventlog/tests/_data/TestLogX.evtx", None),
    ("omerbenamram-evtx/samples/new-user-security.evtx", None),
]


@pytest.mark.parametrize(("name", "limit"), QUICK, ids=[name for name, _ in QUICK])
def test_sample_logs_match_pyevtx_rs(samples: Path, name: str, limit: int | None) -> None:
    assert _assert_file_parity(samples / name, limit) > 0


def test_multi_chunk_images_match_pyevtx_rs(samples: Path) -> None:
    path = samples / "omerbenamram-evtx/samples/security.evtx"
    chunks = [c.data for c in islice(iter_chunks(path.read_bytes()), 3) if isinstance(c, Chunk)]
    records, errors = _assert_same(chunk_image(*chunks))
    assert len(chunks) == 3 and records > 150 and errors == 0


def test_every_agreeing_sample_log_matches_pyevtx_rs(
    samples: Path, manifest: list[dict[str, str]]
) -> None:
    names = [
        row["file"]
        for row in manifest
        if row["kind"] == "evtx" and row["all_parsers_agree"] == "yes"
    ]
    assert len(names) >= 10
    total = sum(_assert_file_parity(samples / name) for name in names)
    assert total >= sum(
        int(row["records_pyevtx_rs_or_libevt"]) for row in manifest if row["file"] in names
    )
