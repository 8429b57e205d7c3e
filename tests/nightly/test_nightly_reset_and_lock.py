"""Cleared logs, the state lock, ``scan --state`` and history retention."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nightly_scenario import APP_POPUP, GENERIC, at, pairs, run_at, write_night

from evtxscan.cli import main
from evtxscan.nightly import NightlyOptions, StateLocked, run_nightly
from evtxscan.nightly.lock import StateLock
from evtxscan.synth.evtx_writer import EventSpec, evtx_bytes, write_evtx
from evtxscan.synth.scenarios import popup, scm


def _working(day: int, count: int) -> list[EventSpec]:
    return [scm("clr", at(day, 9, i), 7036, "Spooler", "running", level=4) for i in range(count)]


@pytest.mark.parametrize("after_clear", [12, 45])
def test_cleared_log_resets_its_watermark(tmp_path: Path, after_clear: int) -> None:
    """A log cleared after night 1 numbers from 1 again: with fewer records than before
    (EventRecordID fell) or more (the watermark record is another one), all are new."""
    state, out = tmp_path / "state.db", tmp_path / "out"
    log = tmp_path / "n1" / "clr" / "System.evtx"
    write_evtx(log, _working(0, 30), records_per_chunk=8)
    assert run_at([log.parent], state, out, 1).stats.records_new == 30
    cleared = [*_working(1, after_clear - 1), popup("clr", at(1, 23), *APP_POPUP)]
    write_evtx(tmp_path / "n2" / "clr" / "System.evtx", cleared, records_per_chunk=8)
    second = run_at([tmp_path / "n2"], state, out, 2)
    assert second.stats.records_new == after_clear
    assert any("log_reset: clr: System:" in note for note in second.notes)
    assert pairs(second.new) == {("clr", GENERIC)}
    grown = [*cleared, *[scm("clr", at(2, 9, i), 7036, "Browser", "running") for i in range(5)]]
    write_evtx(tmp_path / "n3" / "clr" / "System.evtx", grown, records_per_chunk=8)
    third = run_at([tmp_path / "n3"], state, out, 3)
    assert third.stats.records_new == 5 and not third.notes  # the new numbering goes on
    assert third.stats.records_decoded - third.stats.records_new < 8


def test_a_second_run_is_refused_while_one_holds_the_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_night(tmp_path / "c", 1)
    state = tmp_path / "state.db"
    with StateLock(state):
        with pytest.raises(StateLocked, match="another evtxscan nightly run"):
            run_nightly([folder], NightlyOptions(state=state, out=tmp_path / "out"))
        argv = ["nightly", str(folder), "--state", str(state), "--out", str(tmp_path / "o")]
        assert main(argv) == 2
    assert "refusing to run at the same time" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()
    assert main([*argv, "-q"]) == 1  # the lock died with its holder: runs, finds diagnoses


def test_scan_with_state_runs_incrementally(tmp_path: Path) -> None:
    folder = write_night(tmp_path / "c", 1)
    argv = ["scan", str(folder), "--out", str(tmp_path / "out"), "-q"]
    state = ["--state", str(tmp_path / "state.db")]
    assert main([*argv, *state]) == 1
    assert main([*argv, *state]) == 0  # nothing new
    assert (tmp_path / "out" / "stale.csv").is_file()
    assert main([*argv, "--retention-days", "5"]) == 2  # needs --state
    assert main([*argv, *state, "--since", "2000-01-01"]) == 2


def test_history_is_kept_for_the_retention_period(tmp_path: Path) -> None:
    state, out = tmp_path / "state.db", tmp_path / "out"
    folder = write_night(tmp_path / "c", 1)
    january = NightlyOptions(state=state, out=out, now=datetime(2024, 1, 1, tzinfo=UTC))
    assert run_nightly([folder], january).stats.files_known == 0
    for day, retention in ((2, 90), (60, 30)):
        options = NightlyOptions(
            state=state,
            out=out,
            retention_days=retention,
            now=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day),
        )
        outcome = run_nightly([folder], options)
        assert outcome.stats.files_known == 6 and outcome.stats.records_decoded == 0
    assert outcome.stale.empty  # silent for longer than the retention: forgotten
    with sqlite3.connect(state) as db:
        runs = db.execute("SELECT at FROM runs").fetchall()
        kinds = {k for (k,) in db.execute("SELECT kind FROM history")}
        diagnoses = db.execute("SELECT status FROM diagnoses").fetchall()
    assert [r[0][:10] for r in runs] == ["2024-03-01"]  # the older runs were dropped
    assert kinds == set() and diagnoses  # open diagnoses stay (the hosts may come back)


def _chunks(events: list[EventSpec]) -> tuple[bytes, list[bytes]]:
    data = evtx_bytes(events, records_per_chunk=8)
    size = 65536
    return data[:4096], [data[4096 + i * size : 4096 + (i + 1) * size] for i in range(6)]


@pytest.mark.parametrize("forget_chunks", [False, True])
def test_circular_log_that_overwrote_its_first_chunk(tmp_path: Path, forget_chunks: bool) -> None:
    """A full log wraps: its newest chunk replaces the oldest one, at the start of the file."""
    events = _working(0, 48)
    header, chunks = _chunks(events)
    state, out = tmp_path / "state.db", tmp_path / "out"
    (tmp_path / "n1").mkdir()
    (tmp_path / "n1" / "System.evtx").write_bytes(header + b"".join(chunks[:5]))
    assert run_at([tmp_path / "n1"], state, out, 1).stats.records_new == 40
    if forget_chunks:  # only the watermark can tell the old chunks then
        with sqlite3.connect(state) as db:
            db.execute("DELETE FROM chunks")
    (tmp_path / "n2").mkdir()
    (tmp_path / "n2" / "System.evtx").write_bytes(header + chunks[5] + b"".join(chunks[1:5]))
    stats = run_at([tmp_path / "n2"], state, out, 2).stats
    assert stats.records_new == 8
    assert stats.records_decoded == (16 if forget_chunks else 8)  # + the watermark's chunk
    assert stats.chunks_below_watermark == (3 if forget_chunks else 4)  # the others


def test_overwritten_records_are_noted(tmp_path: Path) -> None:
    header, chunks = _chunks(_working(0, 48))
    state, out = tmp_path / "state.db", tmp_path / "out"
    for night, kept in ((1, chunks[:2]), (2, chunks[3:])):
        (tmp_path / f"n{night}").mkdir()
        (tmp_path / f"n{night}" / "System.evtx").write_bytes(header + b"".join(kept))
        outcome = run_at([tmp_path / f"n{night}"], state, out, night)
    assert outcome.stats.records_new == 24
    assert outcome.notes == (
        "gap: clr: System: records 17..24 were overwritten before "
        f"{tmp_path / 'n2' / 'System.evtx'} was copied",
    )
