"""A scan's choice on the rows of .evt logs: decoded, located for a second read, counted."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evtxscan.correlation.index_probe import IndexProbe
from evtxscan.correlation.selection import ProviderNames
from evtxscan.sources.detect import LogFormat, sniff
from evtxscan.sources.evt import read_evt, read_evt_at
from evtxscan.sources.evt.reader import evt_batches
from evtxscan.sources.evtx.index import Numbers, Texts
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.inputs import Source
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.row_index import evt_index, evt_observed, rows_index
from evtxscan.sources.skipped import SkippedStats
from evtxscan.sources.whole_selection import WholeChoice
from evtxscan.sources.worker import ReadOptions
from evtxscan.synth import EvtEventSpec, evt_bytes

T0 = datetime(1999, 3, 1, 7, 0, tzinfo=UTC)
SCM = "Service Control Manager"


def _events(count: int = 40) -> list[EvtEventSpec]:
    """A day and a half of a machine: boots, service changes, warnings, errors, audits."""
    kinds = [
        ("EventLog", 6005, 0x8000, 4, ()),
        (SCM, 7036, 0x4000, 4, ("Spooler", "running")),
        ("Srv", 2013, 0x8000, 2, ("C:",)),  # a warning: context
        (SCM, 7023, 0xC000, 1, ("Server", "%%2")),  # an error: decoded
        ("Security", 528, 0, 8, ("alice",)),  # an audit: only counted
        ("Print", 10, 0, 4, ("doc",)),  # information: only counted
    ]
    events = []
    for i in range(count):
        source, event_id, qualifiers, kind, strings = kinds[i % len(kinds)]
        events.append(
            EvtEventSpec(source, event_id, T0 + timedelta(hours=i), qualifiers=qualifiers,
                         event_type=kind, computer="NT4SRV", strings=strings)
        )  # fmt: skip
    return events


def _read(data: bytes, name: str = "SysEvent.Evt", batch_size: int = 10_000) -> pd.DataFrame:
    frames = list(read_evt(data, source=name, report=FileReport(path=name), batch_size=batch_size))
    return pd.concat(frames, ignore_index=True)


#: A full log wrapped round its buffer (a record split by its end), and one with records
#: recovered from its free space.
LOGS = {
    "wrapped": lambda: evt_bytes(_events(40), max_size=1600, wrap=True),
    "recovered": lambda: evt_bytes(
        _events(30), first_record_number=50, stale=_events(34)[30:], max_size=8192
    ),
}


def test_rows_index_gives_the_rows_system_fields() -> None:
    frame = _read(evt_bytes(_events()))
    index = rows_index(frame)
    assert len(index) == len(frame) and not index.fallback.any()
    for name in ("event_id", "level", "qualifiers", "task", "keywords", "event_record_id"):
        column = getattr(index, name)
        expected = frame[name]
        assert np.array_equal(column.present, expected.notna().to_numpy()), name
        assert column.values[column.present].tolist() == expected.dropna().astype(int).tolist()
    for name in ("provider", "event_source_name", "computer", "channel", "user_sid"):
        assert index.__getattribute__(name).texts().tolist() == [
            None if pd.isna(v) else str(v) for v in frame[name]
        ], name
    assert index.offset.tolist() == frame["offset"].tolist()
    times = frame["time"].dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    assert np.array_equal(index.time, times)


@pytest.mark.parametrize("batch_size", [3, 10_000])
@pytest.mark.parametrize("log", sorted(LOGS))
def test_read_evt_at_gives_the_rows_read_evt_gives(log: str, batch_size: int) -> None:
    data = LOGS[log]()
    every = _read(data)
    assert every["recovered"].any() == (log == "recovered")
    offsets = every["offset"].to_numpy()
    ends = offsets + [struct.unpack_from("<I", data, o)[0] for o in offsets]
    split = ends > len(data)  # the record the end of the buffer splits
    assert split.sum() == (log == "wrapped")
    wanted = every[(np.arange(len(every)) % 3 == 0) | split]  # live, recovered, split
    frames = read_evt_at(
        data, wanted["offset"].tolist(), source="SysEvent.Evt", batch_size=batch_size
    )
    again = pd.concat(list(frames), ignore_index=True)
    expected = wanted.reset_index(drop=True)
    pd.testing.assert_frame_equal(again.astype(object), expected.astype(object))
    assert list(read_evt_at(data, [], source="SysEvent.Evt")) == []
    assert list(read_evt_at(data, [7], source="SysEvent.Evt")) == []  # no record there


def test_read_evt_at_leaves_recovered_records_out_when_the_first_read_did() -> None:
    data = LOGS["recovered"]()
    every = _read(data)
    recovered = every.loc[every["recovered"], "offset"].tolist()
    assert len(recovered) == 4
    assert list(read_evt_at(data, recovered, source="x.evt", include_recovered=False)) == []


def _probe() -> IndexProbe:
    return IndexProbe.for_signatures({("srv", 2508)}, ProviderNames())


def test_rows_are_decoded_located_and_counted_as_by_the_index_first_reader() -> None:
    frame = _read(evt_bytes(_events()))
    source = Source("file", "SysEvent.Evt")
    located: list[tuple[Source, LocatedRows]] = []
    skipped: SkippedStats = {}
    halves = [frame.iloc[:20].reset_index(drop=True), frame.iloc[20:].reset_index(drop=True)]
    passed = pd.concat(list(WholeChoice(_probe(), source, located, skipped).rows(halves)))
    # decoded: boots (notable) and errors; located: service changes and warnings
    assert sorted(set(zip(passed["provider"], passed["event_id"], strict=True))) == [
        ("EventLog", 6005),
        (SCM, 7023),
    ]
    assert [s for s, _ in located] == [source, source]  # one entry per batch
    table = pd.concat([rows.table() for _, rows in located], ignore_index=True)
    context = frame[frame["event_id"].isin([7036, 2013])]
    assert table["offset"].tolist() == context["offset"].tolist()
    assert table["event_id"].tolist() == context["event_id"].tolist()
    assert table["time"].tolist() == context["time"].tolist()
    assert set(table["computer"].astype(str)) == {"NT4SRV"}
    # every row not passed on is counted, per computer and day, with its time span
    assert sum(int(v[0]) for v in skipped.values()) == len(frame) - len(passed)  # type: ignore[call-overload]
    days = {day for (_c, _f, day) in skipped}
    assert days == {str(t.date()) for t in frame["time"]}
    first = min(str(v[1]) for v in skipped.values())
    not_passed = frame[~frame["offset"].isin(passed["offset"])]
    assert pd.Timestamp(first) == not_passed["time"].min()
    assert {(c, f) for c, f, _d in skipped} == {("NT4SRV", "SysEvent.Evt")}


def test_a_context_row_without_an_offset_is_passed_on_not_located() -> None:
    """A row that cannot be found again (no file offset) stays decoded."""
    frame = _read(evt_bytes(_events(12)))
    frame["offset"] = frame["offset"].where(frame["event_id"] != 7036)  # service changes
    located: list[tuple[Source, LocatedRows]] = []
    skipped: SkippedStats = {}
    source = Source("file", "SysEvent.Evt")
    passed = pd.concat(list(WholeChoice(_probe(), source, located, skipped).rows([frame])))
    assert (passed["event_id"] == 7036).sum() == 2
    table = pd.concat([rows.table() for _, rows in located], ignore_index=True)
    assert table["event_id"].tolist() == [2013, 2013] and (table["offset"] >= 0).all()


def _evt_logs() -> list[tuple[str, bytes]]:
    """The synthetic logs (wrapped, recovered, damaged) and the sample .evt logs."""
    logs = [(f"{name}.evt", make()) for name, make in LOGS.items()]
    damaged = bytearray(LOGS["wrapped"]())
    damaged[900:960] = b"\xff" * 60  # a torn record in the middle
    logs.append(("damaged.evt", bytes(damaged)))
    # a padded computer name, a record numbered 0, times after 2100 (read as missing)
    late = datetime(2101, 1, 1, tzinfo=UTC)
    odd = [dataclasses.replace(e, computer=" NT4SRV ") for e in _events(12)]
    odd[3] = dataclasses.replace(odd[3], time_generated=late)
    odd[4] = dataclasses.replace(odd[4], time_written=late)
    logs.append(("odd.evt", evt_bytes(odd, first_record_number=0)))
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
    for path in sorted(samples.rglob("*")) if samples.is_dir() else []:
        if path.is_file() and sniff(path.read_bytes()[:4096]) is LogFormat.EVT:
            logs.append((path.name, path.read_bytes()))
    return logs


def _small_batches(data: bytes) -> int:
    """Batches of a few records (a large log's of a thousand: the test stays quick)."""
    return 7 if len(data) < 100_000 else 1_000


@pytest.mark.parametrize("batches", [_small_batches, lambda _data: 10_000])
def test_evt_index_equals_the_index_of_the_typed_rows(batches: Callable[[bytes], int]) -> None:
    """An .evt batch's index, integrity observation and picked records, read from its
    columns, equal what its typed rows give (so a scan may type only what it keeps)."""
    logs = _evt_logs()
    for name, data in logs:
        typed, counted = FileReport(path=name), FileReport(path=name)
        size = batches(data)
        for batch in evt_batches(data, source=name, report=FileReport(path=name), batch_size=size):
            frame = batch.frame(name)
            want, got = rows_index(frame), evt_index(batch)
            for field in dataclasses.fields(want):
                a, b = getattr(want, field.name), getattr(got, field.name)
                if isinstance(a, Texts):
                    assert a.values == b.values and np.array_equal(a.codes, b.codes), field.name
                elif isinstance(a, Numbers):
                    for part in ("values", "present", "lost"):
                        x, y = getattr(a, part), getattr(b, part)
                        assert x.dtype == y.dtype and np.array_equal(x, y), (field.name, part)
                else:
                    assert a.dtype == b.dtype, field.name
                    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "M"), field.name
            typed.observe(frame)
            observed, lost = evt_observed(batch, got)
            counted.observe_rows(**observed)
            counted.add_lost({"written_time": int(lost.sum())} if lost.any() else {})
            picked = np.flatnonzero(np.arange(len(frame)) % 3 == 1)
            pd.testing.assert_frame_equal(
                batch.take(picked).frame(name),
                frame.iloc[picked].reset_index(drop=True),
                check_categorical=False,
            )
        typed.finish()
        counted.finish()
        assert vars(typed) == vars(counted), name
    assert len(logs) > 4


def test_evt_rows_equal_the_choice_on_typed_rows() -> None:
    """Typing only the chosen records of an .evt log gives the rows, located records,
    counts and integrity report that choosing among every typed row gives."""
    for name, data in _evt_logs():
        options = ReadOptions(batch_size=_small_batches(data))
        source = Source("file", name)
        choices = [WholeChoice(_probe(), source, [], {}) for _ in range(2)]
        reports = [FileReport(path=name), FileReport(path=name)]
        frames = read_evt(data, source=name, report=reports[0], batch_size=options.batch_size)
        folded = (reports[0].observe(frame) or frame for frame in frames)
        rows = [list(choices[0].rows(folded)), list(choices[1].evt_rows(data, reports[1], options))]
        for frame in rows[1]:  # as the stream folds a batch of an index-first read
            reports[1].count_lost(frame)
        for report in reports:
            report.finish()
        assert vars(reports[0]) == vars(reports[1]), name
        assert len(rows[0]) == len(rows[1])
        for a, b in zip(*rows, strict=True):
            pd.testing.assert_frame_equal(a, b, check_categorical=False)
        tables = [[rows.table() for _, rows in choice.located] for choice in choices]
        assert len(tables[0]) == len(tables[1])
        for a, b in zip(*tables, strict=True):
            pd.testing.assert_frame_equal(a, b)
        assert choices[0].skipped == choices[1].skipped, name
