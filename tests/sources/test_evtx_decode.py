"""Decoded rows equal the rendering path's rows (``read_records(..., backend="rust")``), whole
frames, on every sample log, the writer's files, odd value types and odd templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evtx_compare import index_file, rust_frame
from evtx_raw import HOST, NULL, raw_evtx, s, standard_values, system_template, u
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evtxscan.records.batch import concat_frames
from evtxscan.sources.evtx.backends import rust_events
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, ValueType
from evtxscan.sources.evtx.decode import decode_chunk_range, decode_offsets
from evtxscan.sources.evtx.layout import CHUNK_MAGIC, CHUNK_SIZE, FILE_HEADER_SIZE
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult, chunk_ranges, read_chunk_range
from evtxscan.synth import EventSpec, HexInt32, HexInt64, Sid, UserData, evtx_bytes
from evtxscan.synth.binxml import Element, Sub, Text, Value

T0 = datetime(2024, 3, 5, 12, 0, 0, 123456, tzinfo=UTC)
KEY = ["chunk", "recovered", "offset"]
#: Records the decoder reads and the chunk parser does not, per sample: (slack, live).
#: Slack: records of chunks that also hold live records (pyevtx-rs walks a chunk from its
#: start and re-reads the live ones). Live: records after a torn record header, where the
#: walk resumes at the next record whose size copy agrees (pyevtx-rs stops at the tear).
EXTRA = {
    "omerbenamram-evtx/samples/2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnection"
    "Manager%4Operational.evtx": (149, 21),
    "omerbenamram-evtx/samples/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS"
    "%4Operational.evtx": (0, 39),
    "omerbenamram-evtx/samples/sample-with-zero-data-size-event.evtx": (0, 114),
    "omerbenamram-evtx/samples/sample_with_a_bad_chunk_magic.evtx": (0, 31),
    "bench/system-stitched.evtx": (0, 114),
}


def decoded(data: bytes, source: str, result: RangeResult | None = None) -> pd.DataFrame:
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    result = RangeResult() if result is None else result
    frames = [
        frame
        for span in chunk_ranges(len(data), first, 64)
        for frame in decode_chunk_range(data, span, source=source, result=result)
    ]
    return concat_frames(frames)


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in file order; categories as present (batching decides which unused ones exist)."""
    frame = frame.sort_values(KEY, kind="stable").reset_index(drop=True)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    return frame


def assert_same_rows(
    mine: pd.DataFrame, reference: pd.DataFrame, extra: tuple[int, int] = (0, 0)
) -> None:
    mine, reference = _normal(mine), _normal(reference)
    more = ~mine["offset"].isin(reference["offset"])
    slack = int(mine[more]["recovered"].sum())
    assert (slack, int(more.sum()) - slack) == extra
    pd.testing.assert_frame_equal(_normal(mine[~more]), reference)


def test_decoded_rows_equal_the_renderer_on_every_sample(samples: Path) -> None:
    rows = 0
    for path in sorted(p for p in samples.rglob("*.evtx") if p.stat().st_size >= 4096):
        name = str(path.relative_to(samples))
        mine = decoded(path.read_bytes(), str(path))
        assert_same_rows(mine, rust_frame(path), EXTRA.get(name, (0, 0)))
        rows += len(mine)
    assert rows > 100_000


def _spec(i: int) -> EventSpec:
    user_data = UserData("LogFileCleared", "http://manifests", (("SubjectUserName", "admin"),))
    return EventSpec(
        provider="Service Control Manager",
        event_id=7000 + i % 40,
        time=T0 + timedelta(seconds=7 * i),
        computer=["HOST01", "host02.example.com"][i % 2],
        qualifiers=None if i % 3 else 16384,
        version=None if i % 4 else 1,
        opcode=None if i % 5 else 0,
        process_id=None if i % 2 else 600,
        thread_id=None if i % 2 else 700 + i,
        user_sid=None if i % 3 else "S-1-5-18",
        provider_guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}" if i % 2 else None,
        data=() if i % 6 == 5 else (("param1", f"Service {i}"), ("param2", "running"), (None, i)),
        binary=b"\x01\x02\xff" if i % 6 == 1 else None,
        user_data=user_data if i % 6 == 5 else None,
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"records_per_chunk": 9, "dirty": True, "header_chunk_count": 1},
        {"records_per_chunk": 30, "bad_chunk_crc": [1]},
        {"records_per_chunk": 25, "zero_header": True},
        {"records_per_chunk": 40, "truncate_at": FILE_HEADER_SIZE + 65536 + 7000},
    ],
)
def test_decoded_rows_and_notes_equal_the_reader_on_written_files(
    tmp_path: Path, options: dict[str, object]
) -> None:
    data = evtx_bytes([_spec(i) for i in range(120)], **options)  # type: ignore[arg-type]
    path = tmp_path / "w.evtx"
    path.write_bytes(data)
    mine = RangeResult()
    assert_same_rows(decoded(data, str(path), mine), rust_frame(path))
    reference = RangeResult()
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    for span in chunk_ranges(len(data), first, 64):
        for _frame in read_chunk_range(
            data,
            span,
            rust_events,
            source=str(path),
            host_map=None,
            batch_size=10_000,
            include_recovered=True,
            result=reference,
        ):
            pass
    assert (mine.chunks, mine.chunks_skipped) == (reference.chunks, reference.chunks_skipped)
    assert sorted(map(str, mine.errors)) == sorted(map(str, reference.errors))


_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12
) | st.sampled_from(["", " ", "\r\n", "a\rb", "x&y<z>\"'", "\t tab", "ünï©ødé", "😀", "\x07bell"])
_VALUES = st.one_of(
    _TEXT,
    st.integers(0, 2**32 - 1),
    st.integers(-(2**63), 2**64 - 1),
    st.booleans(),
    st.binary(max_size=9),
    st.uuids(),
    st.datetimes(
        min_value=datetime(1601, 1, 2), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(0, 2**32 - 1).map(HexInt32),
    st.integers(0, 2**64 - 1).map(HexInt64),
    st.sampled_from(["S-1-5-18", "S-1-5-21-1-2-3-500", "S-1-0-0"]).map(Sid),
)
_NAMES = st.none() | st.sampled_from(["a", "Param", "x.y", "Name-2"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.lists(st.tuples(_NAMES, _VALUES), max_size=6), min_size=1, max_size=6),
    binary=st.none() | st.binary(max_size=6),
)
def test_odd_values_decode_as_the_renderer_shows_them(
    tmp_path_factory: pytest.TempPathFactory,
    data: list[list[tuple[str | None, object]]],
    binary: bytes | None,
) -> None:
    events = [
        EventSpec(
            provider="P",
            event_id=i,
            time=T0,
            data=tuple(items),  # type: ignore[arg-type]
            binary=binary if i % 2 else None,
        )
        for i, items in enumerate(data)
    ]
    events.append(
        EventSpec(
            provider="P",
            event_id=99,
            time=T0,
            user_data=UserData(
                "Root",
                "urn:x",
                tuple((f"v{k}", v) for k, (_n, v) in enumerate(data[0])),  # type: ignore[misc]
            ),
        )
    )
    image = evtx_bytes(events)
    path = tmp_path_factory.mktemp("odd") / "odd.evtx"
    path.write_bytes(image)
    rust_frame.cache_clear()
    assert_same_rows(decoded(image, str(path)), rust_frame(path))


def _payload_template(payload: Element) -> Element:
    return system_template(extra=(payload,))


def test_odd_payload_templates_decode_or_fall_back_to_the_renderer(tmp_path: Path) -> None:
    array = ARRAY_FLAG | ValueType.STRING
    data = Element("Data", (("Name", Text("n")),), (Sub(17, ValueType.STRING),))
    records = [
        (_payload_template(Element("EventData", children=(data,))), [*standard_values(), s("v")]),
        # an array repeats its element (left to the renderer)
        (
            _payload_template(
                Element("EventData", children=(Element("Data", children=(Sub(17, array),)),))
            ),
            [*standard_values(), Value(array, "a\0b\0".encode("utf-16-le"))],
        ),
        # text mixing a literal and a value (left to the renderer)
        (
            _payload_template(
                Element("EventData", children=(Element("Data", children=(Text("x="), Sub(17, 1))),))
            ),
            [*standard_values(), s("1")],
        ),
        # attributes, nesting and NULLs in UserData
        (
            _payload_template(
                Element(
                    "UserData",
                    children=(
                        Element(
                            "Root",
                            (("xmlns", Text("urn:r")), ("kind", Sub(17, ValueType.STRING))),
                            (
                                Element(
                                    "Leaf", (("at", Sub(18, ValueType.UINT32)),), (Sub(19, 1),)
                                ),
                                Element("Empty", (("gone", Sub(20, ValueType.STRING)),)),
                            ),
                        ),
                    ),
                )
            ),
            [*standard_values(), s("k"), u(ValueType.UINT32, 7), NULL, NULL],
        ),
        # other elements after System are flattened too; EventData replaces what came before
        (
            _payload_template(
                Element(
                    "ProcessingErrorData", children=(Element("ErrorCode", children=(Sub(17, 8),)),)
                )
            ),
            [*standard_values(), u(ValueType.UINT32, 15)],
        ),
        (system_template(computer=HOST), standard_values()),
    ]
    image = raw_evtx(records)
    path = tmp_path / "payloads.evtx"
    path.write_bytes(image)
    assert_same_rows(decoded(image, str(path)), rust_frame(path))


def _whole(data: bytes) -> list[ChunkRange]:
    return [ChunkRange(FILE_HEADER_SIZE, 0, (len(data) - FILE_HEADER_SIZE) // CHUNK_SIZE)]


def test_records_at_chosen_offsets_decode_alone(tmp_path: Path) -> None:
    data = evtx_bytes([_spec(i) for i in range(150)], records_per_chunk=20)
    path = tmp_path / "c.evtx"
    path.write_bytes(data)
    index = index_file(data)
    rows = np.array([3, 0, 77, 149, 42, 43, 100])
    wanted_at = [*index.offset[rows].tolist(), int(index.offset[5]) + 1]  # one where none starts
    mine = decode_offsets([(str(path), data, _whole(data))], [wanted_at])
    reference = rust_frame(path)
    wanted = reference[reference["offset"].isin(index.offset[rows])]
    assert sorted(mine["offset"].tolist()) == sorted(index.offset[rows].tolist())
    assert_same_rows(mine, wanted)
    assert len(decode_offsets([("x", data, _whole(data))], [[]])) == 0


def test_offsets_of_several_files_decode_together(tmp_path: Path) -> None:
    """Each file's own offsets: an offset wanted of one file is not taken from another."""
    first = evtx_bytes([_spec(i) for i in range(30)], records_per_chunk=10)
    second = evtx_bytes([_spec(i + 100) for i in range(30)], records_per_chunk=10)
    paths = [tmp_path / "a.evtx", tmp_path / "b.evtx"]
    for path, data in zip(paths, (first, second), strict=True):
        path.write_bytes(data)
    one, two = index_file(first), index_file(second)
    offsets = [one.offset[[1, 12]].tolist(), two.offset[[25]].tolist()]
    items = [(str(p), d, _whole(d)) for p, d in zip(paths, (first, second), strict=True)]
    mine = decode_offsets(items, offsets)
    assert mine["source_file"].astype(str).tolist() == [str(paths[0])] * 2 + [str(paths[1])]
    for path, wanted in zip(paths, offsets, strict=True):
        reference = rust_frame(path)
        own = mine[mine["source_file"].astype(str) == str(path)]
        assert_same_rows(own, reference[reference["offset"].isin(wanted)])


def test_records_the_index_left_to_the_renderer_decode_through_it(tmp_path: Path) -> None:
    records = [
        (system_template(), standard_values(channel=s("A&B"))),
        (system_template(), standard_values()),
        (
            _payload_template(
                Element("EventData", children=(Element("Data", children=(Sub(17, 1),)),))
            ),
            [*standard_values(), s("ok")],
        ),
    ]
    image = raw_evtx(records)
    path = tmp_path / "f.evtx"
    path.write_bytes(image)
    index = index_file(image)
    assert index.fallback.tolist() == [True, False, False]
    mine = decode_offsets([(str(path), image, _whole(image))], [index.offset.tolist()])
    assert_same_rows(mine, rust_frame(path))
    assert mine["channel"].tolist()[0] == "A&B"
    assert mine["data"].tolist()[2] == [{"name": None, "value": "ok"}]


def test_slack_records_are_kept_or_left_out_on_request(tmp_path: Path) -> None:
    data = bytearray(evtx_bytes([_spec(i) for i in range(40)], records_per_chunk=40))
    data[FILE_HEADER_SIZE + 48 : FILE_HEADER_SIZE + 52] = (512).to_bytes(4, "little")  # cleared
    path = tmp_path / "cleared.evtx"
    path.write_bytes(bytes(data))
    rows = decoded(bytes(data), str(path))
    assert len(rows) == 40 and rows["recovered"].all()
    assert_same_rows(rows, rust_frame(path))
    span = chunk_ranges(len(data), FILE_HEADER_SIZE, 64)[0]
    live_only = list(
        decode_chunk_range(
            bytes(data), span, source=str(path), result=RangeResult(), include_recovered=False
        )
    )
    assert sum(len(frame) for frame in live_only) == 0


def test_a_batch_with_a_log_of_no_chunks_renders_the_others_records() -> None:
    """A header-only log (no chunk slot) in a batch whose other log has records the decoder
    leaves to the renderer: those are rendered, as when the other log is read alone (the
    batch used to fail on the empty log's first span, and was read again file by file)."""
    from evtxscan.sources.evtx.decode import decode_indexed, index_ranges

    when = datetime(2024, 1, 2, 3, 4, 5)
    unsafe = EventSpec("P", 1, when, data=(("Name", "bad \x01 text"),))  # rendered, not decoded
    log = evtx_bytes([unsafe, EventSpec("P", 2, when, data=(("Name", "ok"),))])

    def decoded(files: list[tuple[str, bytes]]) -> pd.DataFrame:
        items = [
            (n, d, chunk_ranges(len(d), FILE_HEADER_SIZE, 64), RangeResult()) for n, d in files
        ]
        found = index_ranges(items)
        return decode_indexed(found, np.arange(len(found.rows)))

    together = decoded([("a", log), ("b", log[:FILE_HEADER_SIZE])])
    alone = decoded([("a", log)])
    assert len(together) == 2
    pd.testing.assert_frame_equal(together, alone, check_categorical=False)
