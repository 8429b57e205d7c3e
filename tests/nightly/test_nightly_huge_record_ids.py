"""EventRecordIDs are unsigned 64-bit numbers; SQLite keeps signed ones. A log whose ids
reach 2**63 (only damaged or forged records do) must still leave a watermark that the next
night reads back as the same number, and ids that close are compared exactly (found by
fuzzing the nightly runner: the state could not store such a watermark)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evtxscan.nightly import NightlyOptions, run_nightly
from evtxscan.nightly.state import StateDB
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 3, 1, tzinfo=UTC)
FIRST = (1 << 63) - 4  # ids cross 2**63 on the first night


def _log(path: Path, count: int, night: int) -> None:
    events = [
        EventSpec("Service Control Manager", 7036, T0 + timedelta(minutes=i)) for i in range(count)
    ]
    write_evtx(path, events, first_record_number=FIRST, records_per_chunk=3 + night)  # re-packed
    stamp = (T0 + timedelta(days=night)).timestamp()
    os.utime(path, (stamp, stamp))


def test_a_watermark_past_2_to_the_63_survives_the_state(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "System.evtx"
    state = tmp_path / "state.db"
    outcomes = []
    for night, count in ((1, 10), (2, 13)):
        _log(log, count, night)
        now = T0 + timedelta(days=night, hours=3)
        options = NightlyOptions(state=state, out=tmp_path / "out", now=now)
        outcomes.append(run_nightly([log.parent], options))
        db = StateDB(state)
        try:
            marks = db.load().watermarks
        finally:
            db.close()
        assert [m.record_id for m in marks.values()] == [FIRST + count - 1]
    first, second = (o.stats for o in outcomes)
    assert first.records_new == 10
    assert second.records_new == 3  # as floats, the three new ids equal the watermark
