"""Drive the nightly runner over three nights of fuzzed logs at the same paths.

Night one reads each log as the corpus gives it; night two reads the same paths changed as
hostile input changes them (mutated chunk headers, records or templates; stretches cut,
copied or flipped; some left as they were), so the chunk planner, the watermark admission
and the second read of located records meet damaged chunks whose fingerprints and record
numbers disagree with the state; night three reads them again unchanged. Every other such
batch treats its logs as large ones (planned in groups). Logs read whole (.evt, XML and text
exports) meet the watermark admission of their rows and the second read of theirs. The
contract is the fuzzer's: no exception leaves ``run_nightly`` and no integrity row says
"internal error".
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evtxscan.nightly import NightlyOptions, run_nightly
from evtxscan.sources import small_evtx
from fuzz.driver import FUZZ_LIMITS

NIGHT_ONE = datetime(2024, 3, 1, 3, tzinfo=UTC)
#: A log's file name by format: .evt logs as Windows names them (the channel comes from it).
NIGHTLY_NAMES = {"evtx": "evtx", "evt": "SysEvent.Evt", "xml": "export.xml", "text": "export.txt"}

Mutator = Callable[[bytes, random.Random], bytes]


def next_night(first: bytes, rng: random.Random, mutate: Mutator, havoc: Mutator) -> bytes:
    """The same log a night later: mutated (often), havocked, or unchanged."""
    roll = rng.random()
    if roll < 0.2:
        return first
    data = first
    for _ in range(rng.choice((1, 1, 2))):
        data = (mutate if roll < 0.8 else havoc)(data, rng)
    return data


def check_nightly(
    logs: list[tuple[str, bytes, bytes]], work: Path, backend: str = "rust", large: bool = False
) -> str | None:
    """Run three nights over ``logs`` (name, first night's bytes, second night's bytes) in
    ``work``; a problem's description, or None. ``large``: every log is treated as a large
    one (planned in groups, ``sources/planned_logs.py``), as fuzzed logs are all small."""
    with _all_large() if large else contextlib.nullcontext():
        return _nights(logs, work, backend)


@contextlib.contextmanager
def _all_large() -> Iterator[None]:
    """The size bound of small logs lowered to nothing while the nights run."""
    before = small_evtx.SMALL_FILE_BYTES
    small_evtx.SMALL_FILE_BYTES = 0
    try:
        yield
    finally:
        small_evtx.SMALL_FILE_BYTES = before


def _nights(logs: list[tuple[str, bytes, bytes]], work: Path, backend: str) -> str | None:
    shutil.rmtree(work, ignore_errors=True)
    folder = work / "logs"
    folder.mkdir(parents=True)
    for night in (1, 2, 3):
        stamp = (NIGHT_ONE + timedelta(days=night - 1)).timestamp()
        if night < 3:
            for name, first, second in logs:
                path = folder / name.replace("-", "/", 1)  # (its own folder: an .evt log's
                path.parent.mkdir(exist_ok=True)  # name must stay as Windows gives it)
                path.write_bytes(first if night == 1 else second)
                os.utime(path, (stamp, stamp))  # a changed file: another modification time
        options = NightlyOptions(
            state=work / "state.db",
            out=work / "out",
            backend=backend,
            now=NIGHT_ONE + timedelta(days=night - 1),
            time_budget=10.0,
            bundle_limits=FUZZ_LIMITS,
        )
        try:
            outcome = run_nightly([folder], options)
        except Exception:
            return f"night {night}: {traceback.format_exc()}"
        integrity = outcome.result.integrity
        for path, errors in zip(integrity["path"], integrity["errors"], strict=True):
            if "internal error" in str(errors):
                return f"night {night}: {path}: {errors}"
    return None
