"""The column-wise .evt decoder against the record-by-record rules (``evt_reference``): the
same typed frame, lost-value counts and per-record problems on every record of the real
samples (live and recovered) and on records damaged in every field that bounds a string,
the SID or the binary data."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from evt_reference import reference_frame

from evtxscan.records.batch import VALUES_LOST
from evtxscan.records.hosts import HostMap
from evtxscan.sources.evt.columns import decode_images
from evtxscan.sources.evt.frame import evt_frame
from evtxscan.sources.evt.layout import RECORD_FIXED_SIZE, RawRecord
from evtxscan.sources.evt.reader import _records
from evtxscan.sources.evt.walk import Walk
from evtxscan.sources.integrity import FileReport
from evtxscan.synth import EvtEventSpec
from evtxscan.synth.evt_writer import record_bytes

#: Offsets of the fixed fields that bound what is read (EVENTLOGRECORD).
_NUM_STRINGS, _STRING_OFFSET, _SID_LENGTH, _SID_OFFSET = 0x1A, 0x24, 0x28, 0x2C
_DATA_LENGTH, _DATA_OFFSET, _TIME_GENERATED, _EVENT_TYPE = 0x30, 0x34, 0x0C, 0x18


def _assert_same(found: list[tuple[RawRecord, bool]], channel: str | None) -> None:
    host_map = HostMap(names={"host-a": "renamed"})
    columns = decode_images([raw.image for raw, _ in found])
    offsets = pd.Series([raw.offset for raw, _ in found], dtype="int64").to_numpy()
    recovered = pd.Series([flag for _, flag in found], dtype=bool).to_numpy()
    frame = evt_frame(
        columns, offsets, recovered, channel=channel, source_file="x.evt", host_map=host_map
    )
    expected, problems = reference_frame(
        found, channel=channel, source_file="x.evt", host_map=host_map
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs[VALUES_LOST] == expected.attrs[VALUES_LOST]
    assert columns.problems == problems


def _sample_records(path: Path) -> list[tuple[RawRecord, bool]]:
    return list(_records(path.read_bytes(), FileReport(path=str(path)), True, Walk()))


def test_every_record_of_the_real_evt_samples_decodes_as_record_by_record(
    samples: Path,
) -> None:
    paths = sorted(p for p in samples.rglob("*") if p.suffix.lower() == ".evt")
    assert len(paths) >= 5, paths
    total = 0
    for path in paths:
        found = _sample_records(path)
        if found:
            _assert_same(found, "System")
        total += len(found)
    assert total > 6000


def _spec(rng: random.Random, n: int) -> EvtEventSpec:
    strings = tuple(rng.choice(["", "a", "Ünïcode", "\u20ac" * 40, "{1b4dd67f-29cb}"])
                    for _ in range(rng.randrange(0, 6)))  # fmt: skip
    return EvtEventSpec(
        source=rng.choice(["Srv", "Service Control Manager", "x"]),
        event_id=rng.randrange(2**32),
        time_generated=datetime(2001, 1, 1, tzinfo=UTC).replace(second=n % 60),
        event_type=rng.choice([0, 1, 2, 4, 8, 16, 0x20]),
        category=rng.randrange(4),
        computer=rng.choice(["HOST-A", " host-b ", "H"]),
        strings=strings,
        data=rng.choice([b"", b"\x01\x02\x03", bytes(range(17))]),
        sid=rng.choice([None, "S-1-5-18", "S-1-5-21-1004336348-1177238915-682003330-512"]),
    )


def _damaged(image: bytes, rng: random.Random) -> bytes:
    """The record with one or more bounding fields, bytes or its length changed."""
    out = bytearray(image)
    for _ in range(rng.randrange(1, 4)):
        what = rng.randrange(7)
        if what == 0:  # a field that bounds something: small, odd, past the end, or huge
            field = rng.choice([_STRING_OFFSET, _SID_LENGTH, _SID_OFFSET, _DATA_LENGTH,
                                _DATA_OFFSET])  # fmt: skip
            value = rng.choice([0, 1, 55, 57, len(out) - 5, len(out), 2**32 - 1,
                                rng.randrange(len(out) + 8)])  # fmt: skip
            struct.pack_into("<I", out, field, value)
        elif what == 1:
            struct.pack_into("<H", out, _NUM_STRINGS, rng.choice([0, 1, 7, 0xFFFF]))
        elif what == 2:  # a NUL unit removed or added, at any alignment
            at = rng.randrange(RECORD_FIXED_SIZE, len(out))
            out[at] = rng.choice([0, 0x41])
        elif what == 3:  # cut (odd lengths too), keeping the fixed part
            out = out[: rng.randrange(RECORD_FIXED_SIZE, len(out) + 1)]
        elif what == 4:  # a time past 2100, or zero
            struct.pack_into("<I", out, _TIME_GENERATED, rng.choice([0, 4_200_000_000]))
            struct.pack_into("<I", out, 0x10, rng.choice([0, 4_200_000_000]))
        elif what == 5:
            struct.pack_into("<H", out, _EVENT_TYPE, rng.randrange(2**16))
        else:  # record number zero
            struct.pack_into("<I", out, 8, 0)
    return bytes(out)


@pytest.mark.parametrize("seed", range(6))
def test_damaged_records_decode_as_record_by_record(seed: int) -> None:
    rng = random.Random(seed)
    found = []
    for n in range(400):
        image = record_bytes(_spec(rng, n), n + 1, sid_padding=rng.choice([None, 0, 2]))
        if rng.random() < 0.7:
            image = _damaged(image, rng)
        found.append((RawRecord(64 * n, image, False, True), rng.random() < 0.2))
    _assert_same(found, rng.choice([None, "System"]))
    kinds = {_kind(problem) for row in decode_images([raw.image for raw, _ in found]).problems
             for problem in row}  # fmt: skip
    assert kinds == {"names", "sid", "data", "strings"}  # every kind of damage was met


def _kind(problem: str) -> str:
    if problem == "source or computer name not terminated":
        return "names"
    if problem.startswith("unreadable SID ("):
        return "sid"
    if problem.startswith("data (") and problem.endswith(") outside the record"):
        return "data"
    assert problem.endswith(" strings readable"), problem
    return "strings"


@pytest.mark.parametrize("seed", range(4))
def test_texts_decoded_together_are_the_texts_decoded_one_by_one(seed: int) -> None:
    """Strings cut at NUL units, with broken surrogates at either end and inside, decode in
    one call as their slices do; damaged spans (odd bounds, reversed, past the end) too."""
    import numpy as np

    from evtxscan.sources.evt.columns import _Batch

    rng = random.Random(seed)
    alphabet = [0x41, 0xE9, 0x20AC, 0xD83D, 0xDE00, 0xDC00, 0xD800, 0x0, 0x0]
    units = [rng.choice(alphabet) for _ in range(4000)]
    buf = struct.pack(f"<{len(units)}H", *units)
    batch = _Batch([buf])
    zeros = [i * 2 for i, unit in enumerate(units) if unit == 0]
    begin = [z + 2 for z in zeros[:-1]]
    end = zeros[1:]
    for spans in (
        (begin, end),
        ([*begin, 5], [*end, 9]),  # one odd: every span decoded one by one
        ([*begin, 40], [*end, 20]),
        ([*begin, len(buf) - 2], [*end, len(buf) + 6]),
    ):
        b, e = (np.array(x, dtype=np.int64) for x in spans)
        expected = [buf[x:y].decode("utf-16-le", "replace") for x, y in zip(*spans, strict=True)]
        assert batch.texts(b, e) == expected
    held = np.array([0], dtype=np.int64), np.array([zeros[3] + 2], dtype=np.int64)
    assert batch.texts(*held) == [buf[: zeros[3] + 2].decode("utf-16-le", "replace")]
