"""``sigma_stage.combined_hits``: every hit once, an event read from two overlapping exports
counting once, whatever the hit tables' dtypes and missing values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evtxscan.scanning.sigma_stage import combined_hits
from evtxscan.signatures.sigma.hits import HIT_COLUMNS


def _hits(rows: list[dict[str, object]]) -> pd.DataFrame:
    base: dict[str, object] = {
        "rule": "r1",
        "host": "SRV1",
        "time": pd.Timestamp("2024-03-05T08:00:00", tz="UTC"),
        "channel": "System",
        "provider": "Service Control Manager",
        "event_id": 7045,
        "event_record_id": 10,
        "record_number": 10,
        "source_file": "a.evtx",
        "recovered": False,
        "content": 0,  # (a record with an id: its id decides)
    }
    frame = pd.DataFrame([base | row for row in rows])[["rule", *HIT_COLUMNS, "content"]]
    frame["event_id"] = frame["event_id"].astype("UInt16")
    for name in ("event_record_id", "record_number"):
        frame[name] = frame[name].astype("UInt64")
    return frame


def test_the_same_event_from_two_exports_counts_once() -> None:
    first = _hits([{}, {"event_record_id": 11}])
    copy = _hits([{"source_file": "b.evtx", "record_number": 99}])  # same event, other file
    found = combined_hits([first, copy])
    assert found["event_record_id"].tolist() == [10, 11]
    assert found["source_file"].tolist() == ["a.evtx", "a.evtx"]  # the first one read


def test_each_key_column_tells_hits_apart() -> None:
    changes: list[dict[str, object]] = [
        {"rule": "r2"},
        {"host": "SRV2"},
        {"channel": "Application"},
        {"event_record_id": 12},
        {"event_id": 7036},
        {"provider": "Other"},
        {"time": pd.Timestamp("2024-03-05T08:00:00.000001", tz="UTC")},
    ]
    found = combined_hits([_hits([{}, *changes])])
    assert len(found) == 1 + len(changes)


def test_missing_values() -> None:
    """Hits without an EventRecordID are one event when their content is the same (an event
    of two overlapping text exports), two when it differs; equal keys with a missing
    EventID, time or host are one hit."""
    same = {"event_record_id": None, "content": 7}
    assert len(combined_hits([_hits([same]), _hits([same | {"source_file": "b.txt"}])])) == 1
    other = {"event_record_id": None, "content": 8}
    assert len(combined_hits([_hits([same, other])])) == 2
    assert "content" not in combined_hits([_hits([same])]).columns
    missing = {"event_id": None, "time": pd.NaT, "host": None}
    assert len(combined_hits([_hits([missing]), _hits([missing])])) == 1
    assert len(combined_hits([_hits([missing]), _hits([{}])])) == 2


def test_no_parts() -> None:
    assert combined_hits([]).empty


def test_a_hit_without_a_record_id_carries_its_content(tmp_path: Path) -> None:
    import numpy as np

    import evtxscan
    from evtxscan.scanning.sigma_stage import _content
    from evtxscan.synth import EventSpec, write_evtx

    start = pd.Timestamp("2024-03-05T08:00:00", tz="UTC").to_pydatetime()
    events = [
        EventSpec("Service Control Manager", 7036, start, data=(("param1", name),))
        for name in ("Spooler", "Spooler", "BITS")
    ]
    batch = evtxscan.read_records(write_evtx(tmp_path / "s.evtx", events)).frame()
    ids = batch["event_record_id"].copy()
    ids.iloc[:3] = pd.NA  # as a text export's records, or damaged ones
    batch["event_record_id"] = ids
    prints = _content(batch, np.arange(3))
    assert prints[0] == prints[1] != prints[2] and (prints != 0).all()
    batch["event_record_id"] = batch["event_record_id"].fillna(5)
    assert (_content(batch, np.array([0, 2])) == 0).all()  # an id decides
