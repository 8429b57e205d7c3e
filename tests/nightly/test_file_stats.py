"""A nightly run does not hash again files whose size and modification time are unchanged
(neither the reader nor the thread that hashes ahead of it)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evtxscan.nightly import NightlyOptions, run_nightly
from evtxscan.sources import files_ahead, known_files
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _log(path: Path, count: int) -> None:
    events = [
        EventSpec("Service Control Manager", 7036, T0 + timedelta(minutes=i)) for i in range(count)
    ]
    write_evtx(path, events)


def test_unchanged_files_are_not_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    _log(logs / "h1" / "System.evtx", 5)
    _log(logs / "h2" / "System.evtx", 7)
    state, out = tmp_path / "state.db", tmp_path / "out"

    def night(day: int) -> object:
        now = datetime(2024, 6, day, 3, tzinfo=UTC)
        return run_nightly([logs], NightlyOptions(state=state, out=out, now=now))

    night(1)
    hashed: list[int] = []
    real = known_files.sha256_of

    def counting(content: object) -> str:
        hashed.append(len(content))  # type: ignore[arg-type]
        return real(content)  # type: ignore[arg-type]

    monkeypatch.setattr(known_files, "sha256_of", counting)
    real_ahead = files_ahead.find_ahead

    def counting_ahead(*args: object, **kwargs: object) -> object:
        found = real_ahead(*args, **kwargs)  # type: ignore[arg-type]
        if found is not None:  # hashed ahead (the reader then takes its hash)
            hashed.append(found.size)
        return found

    monkeypatch.setattr(files_ahead, "find_ahead", counting_ahead)
    second = night(2)
    assert hashed == []  # both files known by size and time
    assert second.stats.records_decoded == 0  # type: ignore[attr-defined]

    # a file rewritten (new time, new contents) is hashed and read again
    _log(logs / "h2" / "System.evtx", 9)
    stamp = os.stat(logs / "h2" / "System.evtx").st_mtime_ns + 10**9
    os.utime(logs / "h2" / "System.evtx", ns=(stamp, stamp))
    third = night(3)
    assert len(hashed) == 1
    assert third.stats.records_decoded > 0  # type: ignore[attr-defined]
