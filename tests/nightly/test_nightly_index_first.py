"""A nightly run reads index-first, as a scan does: only what is new is taken in, symptom
candidates and notable events are decoded, context records only located. Its outcome and
state must equal those of a run that decodes every new record (reading in tasks, as on a
cluster, still does), night by night, including the context a later night's symptom needs
from the night before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from nightly_compare import InProcess, every_folder, run_both, same_outcome
from nightly_scenario import Q138713, at, carried, chatter, run_at, state_tables, write_night

from evtxscan.nightly import incremental
from evtxscan.nightly import run as nightly_run
from evtxscan.scanning.pipeline import ScanSettings
from evtxscan.sources import small_evtx
from evtxscan.synth.evtx_writer import EventSpec
from evtxscan.synth.scenarios import boot, scm, server_2508


def late_context() -> dict[str, list[EventSpec]]:
    """A service change late on day 0, read on night 1 with no symptom near it; the Server
    service fails just after midnight (night 2), within the timeline window of it."""
    late = [
        *chatter("late", 0),
        *boot("late", at(0, 23, 40)),
        scm("late", at(0, 23, 55), 7036, "Spooler", "stopped", level=4),
        server_2508("late", at(1, 0, 2)),
        scm("late", at(1, 0, 3), 7023, "Server", "%%2"),
        *chatter("late", 1),
    ]
    return {"late": sorted(late, key=lambda e: e.time), "quiet": chatter("quiet", 0)}


def every_night(collected: Path, night: int) -> list[Path]:
    write_night(collected, night, late_context())
    return sorted(collected.iterdir())


def test_index_first_equals_decoding_every_new_record(tmp_path: Path) -> None:
    done = run_both(tmp_path, 2, InProcess(), every_night)
    local, _ = done[-1]
    assert Q138713 in set(local.new["signature_id"])
    shown = local.result.timeline
    late = shown[(shown["host"] == "late") & (shown["event_id"] == 7036)]
    assert pd.Timestamp(at(0, 23, 55)) in set(late["time"])  # carried from night 1


def test_first_night_locates_context_and_carries_the_last_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Night 1 locates the late service change without decoding it, yet carries it."""
    decoded: list[int] = []
    settings = nightly_run.ScanSettings

    def watched(**kwargs: object) -> ScanSettings:
        chosen = settings(**kwargs)  # type: ignore[arg-type]
        decoded.append(int(chosen.select))
        return chosen

    monkeypatch.setattr(nightly_run, "ScanSettings", watched)
    outcome = run_at(every_night(tmp_path / "c", 1), tmp_path / "s.db", tmp_path / "o", 1)
    assert decoded == [1]
    assert outcome.stats.records_decoded == outcome.stats.records_new
    rows = carried(tmp_path / "s.db")
    mine = rows[(rows["host"] == "late") & (rows["event_id"] == 7036)]
    assert pd.Timestamp(at(0, 23, 55)) in set(mine["time"])
    assert state_tables(tmp_path / "s.db")["watermarks"]


def test_a_night_without_watermarks_reads_small_logs_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing to compare (no watermark yet), small logs are planned and read in one
    batch, each with its own admission; the next night plans each file on its own."""
    batches: list[int] = []
    real = small_evtx.decode_small_files

    def spy(files: list[small_evtx.SmallFile], *args: object) -> object:
        found = real(files, *args)  # type: ignore[arg-type]
        batches.append(len(files) if found is not None else -len(files))
        return found

    monkeypatch.setattr(small_evtx, "decode_small_files", spy)
    collected = tmp_path / "c"
    paths = every_night(collected, 1)
    run_at(paths, tmp_path / "w.db", tmp_path / "w", 1, workers=2)
    assert batches == [2]  # with worker processes too: the planner plans here
    batches.clear()
    first = run_at(paths, tmp_path / "s.db", tmp_path / "o", 1)
    assert batches == [2]  # both hosts' logs, decoded as one batch (never given back)
    assert first.stats.records_new == first.stats.records_decoded > 0
    batches.clear()
    run_at(every_night(collected, 2), tmp_path / "s.db", tmp_path / "o", 2)
    assert batches == []  # watermarks now: each file planned (and its newest chunk read)


def test_a_failed_batch_keeps_what_the_next_night_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch given back is read file by file; the files' sizes and times are still
    stored, so the next night does not hash them again."""
    monkeypatch.setattr(small_evtx, "decode_small_files", lambda *args: None)
    run_at(every_night(tmp_path / "c", 1), tmp_path / "s.db", tmp_path / "o", 1)
    assert len(state_tables(tmp_path / "s.db")["files"]) == 2
    with sqlite3.connect(tmp_path / "s.db") as db:
        stats = db.execute("SELECT path, mtime_ns FROM file_stats").fetchall()
    assert len(stats) == 2 and all(mtime for _, mtime in stats)


def test_worker_processes_take_in_what_one_process_takes_in(tmp_path: Path) -> None:
    """Ranges read by worker processes carry their admission there and their summaries
    back: outcome and state equal those of one process, night by night."""
    for night in (1, 2, 3):
        paths = every_folder(tmp_path / "collected", night)
        one = run_at(paths, tmp_path / "one.db", tmp_path / "out-one", night)
        two = run_at(paths, tmp_path / "two.db", tmp_path / "out-two", night, workers=2)
        same_outcome(one, two)
        assert state_tables(tmp_path / "one.db") == state_tables(tmp_path / "two.db")
    assert two.stats.chunks_below_watermark > 0


def test_many_new_records_are_read_index_first_with_the_same_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a few new records the planner leaves the new chunks to index-first reading
    (here: always); outcome and state still equal a run that decodes every new record."""
    monkeypatch.setattr(incremental, "FEW_NEW_RECORDS", 0)
    decoded: list[int] = []
    real = incremental._Reads.rows

    def watched(self: incremental._Reads, indexes: list[int]) -> pd.DataFrame:
        decoded.append(len(indexes))
        return real(self, indexes)

    monkeypatch.setattr(incremental._Reads, "rows", watched)
    done = run_both(tmp_path, 3, InProcess(), every_folder)
    assert done[-1][0].stats.chunks_below_watermark > 0
    assert decoded and max(decoded) == 1  # the newest chunk, the watermark record's: apart


def forwarded(collected: Path, night: int) -> list[Path]:
    """One log holding two machines' records (forwarded events: no single stream, so no
    chunk is skipped by a watermark), re-packed every night (no chunk is byte-identical):
    only admission keeps the records read before out."""
    events = sorted(
        [*chatter("fwd-a", 0), *chatter("fwd-b", 0), *chatter("fwd-a", 1), *chatter("fwd-b", 1)],
        key=lambda e: e.time,
    )
    folder = write_night(collected, night, {"fwd": events}, records_per_chunk=5 + 3 * night)
    return [folder]


def test_records_read_before_are_not_taken_in_again(tmp_path: Path) -> None:
    done = run_both(tmp_path, 2, InProcess(), forwarded)
    local, _ = done[-1]
    assert local.stats.chunks_below_watermark == 0 and local.stats.chunks_known == 0
    assert 0 < local.stats.records_new < local.stats.records_decoded
    daily = local.result.daily
    assert set(daily["day"].dt.day) == {at(1).day}  # day 0 was read by night 1


def context_only_first(collected: Path, night: int) -> list[Path]:
    """Night 1 holds nothing but a service change (located, never decoded at once); the
    failure right after it arrives on night 2."""
    events = [
        scm("ctx", at(0, 23, 55), 7036, "Spooler", "stopped", level=4),
        server_2508("ctx", at(1, 0, 2)),
        scm("ctx", at(1, 0, 3), 7023, "Server", "%%2"),
    ]
    return [write_night(collected, night, {"ctx": events})]


def test_a_night_of_context_alone_is_carried(tmp_path: Path) -> None:
    done = run_both(tmp_path, 2, InProcess(), context_only_first)
    assert len(carried(tmp_path / "local.db")) > 0
    shown = done[-1][0].result.timeline
    assert pd.Timestamp(at(0, 23, 55)) in set(shown.loc[shown["event_id"] == 7036, "time"])
