"""A scan's choice on the rows of .evt logs: decoded, located for a second read, counted."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from evtxscan.correlation.index_probe import IndexProbe
from evtxscan.correlation.selection import ProviderNames
from evtxscan.sources.evt import read_evt, read_evt_at
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.inputs import Source
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.row_index import rows_index
from evtxscan.sources.skipped import SkippedStats
from evtxscan.sources.whole_selection import selected_rows
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


def test_selected_rows_decode_locate_and_count_as_the_index_first_reader() -> None:
    frame = _read(evt_bytes(_events()))
    source = Source("file", "SysEvent.Evt")
    located: list[tuple[Source, LocatedRows]] = []
    skipped: SkippedStats = {}
    halves = [frame.iloc[:20].reset_index(drop=True), frame.iloc[20:].reset_index(drop=True)]
    passed = pd.concat(list(selected_rows(halves, _probe(), source, located, skipped)))
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
    passed = pd.concat(list(selected_rows([frame], _probe(), source, located, skipped)))
    assert (passed["event_id"] == 7036).sum() == 2
    table = pd.concat([rows.table() for _, rows in located], ignore_index=True)
    assert table["event_id"].tolist() == [2013, 2013] and (table["offset"] >= 0).all()
