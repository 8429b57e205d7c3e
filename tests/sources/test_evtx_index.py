"""The record index equals the rendering path (pyevtx-rs, then the record schema) field by
field, on every sample log, on the writer's files (damaged ones too) and on odd templates;
what it leaves to the renderer is a small set with a stated reason."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from evtx_compare import compare_index, index_file, rust_frame
from evtx_raw import (
    EVENT_ID,
    KEYWORDS,
    LEVEL,
    NULL,
    TIME,
    USER,
    filetime,
    raw_evtx,
    s,
    short,
    standard_values,
    system_template,
    u,
)

from evtxscan.sources.evtx import index as index_module
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, ValueType
from evtxscan.sources.evtx.index import RecordIndex, index_chunks, index_sources
from evtxscan.sources.evtx.reader import ChunkRange
from evtxscan.synth import EventSpec, UserData, evtx_bytes
from evtxscan.synth.binxml import Element, Sub, Text, Value

T0 = datetime(2024, 3, 5, 12, 0, 0, 123456, tzinfo=UTC)

#: Records of the samples the index leaves to the renderer, and why: forwarded events
#: stored as plain BinXml (no template instance: 932, all rendered by pyevtx-rs), and four
#: damaged records of VSS copies (times past year 9999, a value running past its record, a
#: value type pyevtx-rs refuses) that pyevtx-rs cannot render either (one of them is found
#: only because the walk resumes after a torn record header).
SAMPLE_FALLBACKS = {
    "bench/security-stitched.evtx": {"NO_TEMPLATE": 930},
    "omerbenamram-evtx/samples/MSExchange_Management_wec.evtx": {"NO_TEMPLATE": 1},
    "omerbenamram-evtx/samples/issue_201.evtx": {"NO_TEMPLATE": 1},
    "omerbenamram-evtx/samples/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4"
    "Operational.evtx": {"VALUES_OUTSIDE": 1, "VALUE_TYPE": 1},
    "omerbenamram-evtx/samples/2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnection"
    "Manager%4Operational.evtx": {"TIME_RANGE": 2},
}


def _evtx_samples(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*.evtx") if p.stat().st_size >= 4096)


def test_index_equals_the_renderer_on_every_sample(samples: Path) -> None:
    fallbacks, compared, rendered_fallbacks = {}, 0, Counter[str]()
    for path in _evtx_samples(samples):
        index = index_file(path.read_bytes())
        result = compare_index(index, rust_frame(path))
        name = str(path.relative_to(samples))
        assert not result.mismatches, (name, result.mismatches)
        assert result.rendered_only == 0, name  # the index lists every rendered record
        found = dict(Counter(index.fallbacks()))
        if found:
            fallbacks[name] = found
        compared += result.compared
        rendered_fallbacks += result.fallback
    assert fallbacks == SAMPLE_FALLBACKS
    assert rendered_fallbacks == {"NO_TEMPLATE": 932}
    assert compared > 100_000


def _events() -> list[EventSpec]:
    """Events covering the System variations the writer knows."""
    out = []
    for i in range(60):
        out.append(
            EventSpec(
                provider=["Service Control Manager", "EventLog", "Microsoft-Windows-Kernel"][i % 3],
                event_id=i * 997 % 65536,
                time=T0 + timedelta(seconds=i),
                computer=["HOST01", "host02.corp.example.com", " spaced "][i % 3],
                channel=["System", "Application", "Microsoft-Windows-Foo/Operational"][i % 3],
                level=i % 6,
                qualifiers=None if i % 4 else 0xC000,
                version=None if i % 5 == 0 else i % 3,
                task=i % 7,
                opcode=None if i % 2 else 1,
                keywords=[0x8000000000000000, 0x8080000000000014, 0][i % 3],
                event_record_id=None if i % 6 else 10_000 + i,
                process_id=None if i % 3 == 1 else 400 + i,
                thread_id=None if i % 3 == 1 else 500 + i,
                user_sid=[None, "S-1-5-18", "S-1-5-21-1004336348-1177238915-682003330-512"][i % 3],
                provider_guid=None if i % 2 else str(uuid.UUID(int=i + 1)),
                event_source_name="Service Control Manager" if i % 7 == 0 else None,
                data=(("param1", f"value {i}"),) if i % 5 != 4 else (),
                user_data=UserData("Root", "ns", (("a", i),)) if i % 5 == 4 else None,
            )
        )
    return out


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"records_per_chunk": 7},
        {"dirty": True, "header_chunk_count": 1, "records_per_chunk": 9},
        {"bad_chunk_crc": [0], "records_per_chunk": 20},
        {"zero_header": True, "records_per_chunk": 11},
        {"truncate_at": 4096 + 65536 + 9000, "records_per_chunk": 25},
    ],
)
def test_index_equals_the_renderer_on_written_files(tmp_path: Path, options: dict) -> None:
    data = evtx_bytes(_events(), **options)
    path = tmp_path / "written.evtx"
    path.write_bytes(data)
    index = index_file(data)
    result = compare_index(index, rust_frame(path))
    assert not result.mismatches
    assert (result.rendered_only, result.index_only) == (0, 0)
    assert not index.fallback.any()
    assert result.compared == len(rust_frame(path)) > 0


def _odd(tmp_path: Path, records: list[tuple[Element, list[Value]]]) -> tuple[RecordIndex, object]:
    data = raw_evtx(records)
    path = tmp_path / f"odd{len(list(tmp_path.iterdir()))}.evtx"
    path.write_bytes(data)
    index = index_file(data)
    return index, compare_index(index, rust_frame(path))


def test_system_values_of_unexpected_types_read_as_the_renderer_shows_them(
    tmp_path: Path,
) -> None:
    as_string = system_template(types={EVENT_ID: ValueType.STRING, LEVEL: ValueType.STRING})
    records = [
        (system_template(), standard_values()),
        (as_string, standard_values(event_id=s(" 12 "), level=s("0x3"))),
        (as_string, standard_values(event_id=s("abc"), level=s("-1"))),
        (as_string, standard_values(event_id=s("70000"), level=s(""))),
        (
            system_template(types={LEVEL: ValueType.UINT32}),
            standard_values(level=u(ValueType.UINT32, 5)),
        ),
        # Keywords' text is read as hex even when the value is a decimal number
        (
            system_template(types={KEYWORDS: ValueType.UINT64}),
            standard_values(keywords=u(ValueType.UINT64, 123)),
        ),
        (
            system_template(types={TIME: ValueType.STRING}),
            standard_values(time=s("2021-11-19T16:52:33.833733500Z")),
        ),
        (system_template(types={USER: ValueType.STRING}), standard_values(user=s("S-1-5-20"))),
        (
            system_template(computer=Sub(17, ValueType.STRING)),
            [*standard_values(), s("  pc7.example  ")],
        ),
        (system_template(computer=Text("")), standard_values()),
        (
            system_template(),
            standard_values(provider=NULL, qualifiers=NULL, process=NULL, user=NULL),
        ),
        (system_template(), standard_values(provider=s(""), channel=s(""), time=filetime(0))),
        (system_template(), standard_values(time=NULL, level=NULL, record_id=NULL)),
    ]
    index, result = _odd(tmp_path, records)
    assert not result.mismatches  # type: ignore[attr-defined]
    assert result.compared == len(records)  # type: ignore[attr-defined]
    assert index.event_id.values[1] == 12 and not index.event_id.present[2:4].any()
    assert index.keywords.values[5] == 0x123


def test_records_the_index_leaves_to_the_renderer_say_why(tmp_path: Path) -> None:
    array = ARRAY_FLAG | ValueType.UINT16
    records = [
        (system_template(), standard_values(channel=s("A&B"))),  # XML escaping in a field
        (system_template(), standard_values(channel=s("line\nbreak"))),
        (system_template(), standard_values(time=filetime(2**63 - 1))),  # after 9999
        (
            system_template(types={EVENT_ID: array}),
            standard_values(event_id=Value(array, b"\1\0\2\0")),
        ),
        (system_template(), short(standard_values(), 10)),  # values the template needs are missing
        (system_template(), standard_values()),
    ]
    index, result = _odd(tmp_path, records)
    assert index.fallbacks() == {
        "UNUSUAL_TEXT": 2,
        "TIME_RANGE": 1,
        "VALUE_TYPE": 1,
        "MISSING_VALUE": 1,
    }
    assert index.fallback.tolist() == [True] * 5 + [False]
    assert not result.mismatches  # type: ignore[attr-defined]


def test_a_template_whose_system_is_not_plain_is_left_to_the_renderer(tmp_path: Path) -> None:
    mixed = system_template()
    system = mixed.children[0]
    assert isinstance(system, Element)
    channel = Element("Channel", children=(Text("Sys"), Sub(16, ValueType.STRING)))
    odd_system = Element(
        "System",
        children=tuple(
            channel if getattr(c, "name", "") == "Channel" else c for c in system.children
        ),
    )
    template = Element(mixed.name, mixed.attrs, (odd_system,))
    index, result = _odd(
        tmp_path, [(template, standard_values()), (system_template(), standard_values())]
    )
    assert index.fallbacks() == {"SYSTEM_LAYOUT": 1}
    assert not result.mismatches  # type: ignore[attr-defined]


def test_many_files_indexed_together_equal_each_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [
        evtx_bytes(
            _events()[i : i + 25], records_per_chunk=3 + i % 5, first_record_number=100 * i + 1
        )
        for i in range(0, 60, 6)
    ]
    files.append(evtx_bytes(_events(), truncate_at=4096 + 65536 + 3000, records_per_chunk=30))
    alone = [index_file(data) for data in files]
    for batch in (1 << 16, 3 << 16, 32 << 20):  # a batch per chunk, per few chunks, one batch
        monkeypatch.setattr(index_module, "BATCH_BYTES", batch)
        together = index_sources(
            (number, data, [ChunkRange(4096, 0, 1000)]) for number, data in enumerate(files)
        )
        assert together.source.tolist() == [
            n for n, part in enumerate(alone) for _ in range(len(part))
        ]
        _assert_same(together, RecordIndex.concat(alone))


def _assert_same(a: RecordIndex, b: RecordIndex) -> None:
    assert len(a) == len(b)
    for name in ("offset", "chunk", "record_number", "written_time", "recovered", "problem"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.time, b.time)
    for name in ("event_id", "keywords", "process_id", "event_record_id", "qualifiers"):
        assert np.array_equal(getattr(a, name).values, getattr(b, name).values), name
        assert np.array_equal(getattr(a, name).present, getattr(b, name).present), name
    for name in ("provider", "computer", "channel", "user_sid", "provider_guid"):
        assert getattr(a, name).texts().tolist() == getattr(b, name).texts().tolist(), name


def test_spans_select_chunk_slots_and_take_selects_rows() -> None:
    data = evtx_bytes(_events(), records_per_chunk=10)
    whole = index_file(data)
    middle = index_chunks(data, [ChunkRange(4096, 2, 4)])
    assert set(middle.chunk.tolist()) == {2, 3}
    _assert_same(middle, whole.take(np.isin(whole.chunk, [2, 3])))
    assert len(index_chunks(data, [ChunkRange(4096, 50, 60)])) == 0
    assert len(index_chunks(b"", [ChunkRange(4096, 0, 5)])) == 0
    picked = whole.take(np.array([5, 1]))
    assert picked.event_id.values.tolist() == whole.event_id.values[[5, 1]].tolist()


def test_files_read_from_disk_index_as_their_bytes(tmp_path: Path) -> None:
    files = []
    for i in range(4):
        path = tmp_path / f"f{i}.evtx"
        options = {"records_per_chunk": 5 + i}
        if i == 2:
            options["truncate_at"] = 4096 + 65536 + 2000
        path.write_bytes(evtx_bytes(_events()[i * 10 : i * 10 + 30], **options))  # type: ignore[arg-type]
        files.append(path)
    (tmp_path / "empty.evtx").write_bytes(b"")
    files.insert(1, tmp_path / "empty.evtx")
    from_disk = index_module.index_files(files)
    in_memory = index_sources(
        (n, p.read_bytes(), [ChunkRange(4096, 0, 1000)]) for n, p in enumerate(files)
    )
    assert from_disk.source.tolist() == in_memory.source.tolist()
    _assert_same(from_disk, in_memory)


def test_skipped_counts_of_a_batch_equal_each_files_counts() -> None:
    from evtxscan.sources.evtx.index_counts import count_skipped, count_skipped_files
    from evtxscan.sources.evtx.reader import RangeResult

    events = [
        EventSpec("EventLog", 6005, T0 + timedelta(hours=13 * i), f"PC{i % 3}") for i in range(12)
    ]
    index = index_chunks(evtx_bytes(events, records_per_chunk=5), [ChunkRange(4096, 0, 3)])
    rows = np.arange(len(index))
    file_of = np.where(rows == 3, -1, rows % 2)  # row 3: counted in neither
    together = [RangeResult(), RangeResult()]
    count_skipped_files(together, index, file_of)
    for number, result in enumerate(together):
        alone = RangeResult()
        count_skipped(alone, index.take(np.flatnonzero(file_of == number)))
        assert result.skipped == alone.skipped
        assert list(result.skipped) == list(alone.skipped)  # the same order
    assert sum(v[0] for r in together for v in r.skipped.values()) == len(index) - 1


def test_indexing_files_imports_no_pandas(tmp_path: Path) -> None:
    """The index alone (a batch reader's first step, and ``bench_collection``'s index mode)
    needs numpy and Arrow only: importing pandas took 0.2 to 0.4 s of such a process."""
    import subprocess
    import sys

    events = [EventSpec("Tcpip", 4199, T0 + timedelta(seconds=i), "pc", level=3) for i in range(5)]
    for name in ("a", "b"):
        (tmp_path / f"{name}.evtx").write_bytes(evtx_bytes(events))
    script = (
        "import sys\n"
        "from evtxscan.sources.evtx.index import index_files\n"
        "found = index_files(sys.argv[1:])\n"
        "print(len(found), sorted(set(found.event_id.values.tolist())), 'pandas' in sys.modules)\n"
    )
    paths = [str(tmp_path / "a.evtx"), str(tmp_path / "b.evtx")]
    done = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["10", "[4199]", "False"], done.stderr


def test_dictionary_codes_read_the_codes_buffer_as_arrow_gives_them() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from evtxscan.sources.evtx.arrays import dictionary_codes

    encoded = pc.dictionary_encode(pa.array([b"ab", b"cd", b"ab", b"ef", b"cd"], pa.binary(2)))
    assert dictionary_codes(encoded).tolist() == [0, 1, 0, 2, 1]
    assert dictionary_codes(encoded.slice(2, 2)).tolist() == [0, 2]  # an offset into codes
    assert dictionary_codes(encoded.slice(5)).tolist() == []
    with pytest.raises(ValueError, match="nulls"):
        dictionary_codes(pc.dictionary_encode(pa.array([b"ab", None], pa.binary(2))))
