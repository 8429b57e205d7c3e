"""In-process fuzzing driver: mutate seeds, read them as a user would, check the contract.

Inputs are written in batches to a scratch directory and read with ``read_records`` (both
backends in turn), as one collection, so per-call costs are shared. The contract checked on
every input: no exception leaves ``read_records``; no integrity row says "internal error"
(the catch-all firing means a decoder bug); no file takes longer than ``hang_seconds``
(timed per file through the stream's progress hook); resident memory stays under
``max_rss``. A watchdog thread also watches the clock and memory while a batch runs: when a
native call hangs or memory runs away it saves the batch and ends the process (exit 3), so
an overnight loop can restart with the next seed. A native call that hangs while holding
the interpreter lock (pyevtx-rs did, in a loop over a damaged chunk) stops every Python
thread, the watchdog too: ``faulthandler`` (a C thread) then writes the stacks to
``native-hang.txt`` and ends the process after the same limit, leaving the run's scratch
folder ``in-flight-SEED-PID`` with the batch in the findings folder. Findings are saved as
files with a note.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import logging
import os
import random
import resource
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from evtxscan.scanning import read_records
from evtxscan.sources.bundles import BundleLimits
from fuzz.fast import TypingPool, pooled_typing
from fuzz.mutators import (
    havoc,
    mutate_bundle,
    mutate_evt,
    mutate_evtx,
    mutate_text,
    mutate_xml,
)
from fuzz.seeds import all_seeds

FORMATS = ("evtx", "evt", "xml", "text", "bundle")
logging.getLogger("Evtx").setLevel(logging.ERROR)  # python-evtx warns per bad token
#: Bounds for fuzzing: small enough that a bomb is cut off in well under a second.
FUZZ_LIMITS = BundleLimits(
    max_depth=6,
    max_members=2_000,
    max_total_bytes=256 << 20,
    ratio_after_bytes=32 << 20,
    memory_bytes=16 << 20,
)
MAX_INPUT = 4 << 20
CORPUS_PER_FORMAT = 100
CORPUS_ENTRY_MAX = 200 << 10  # the harness's own memory stays small


def peak_rss_bytes() -> int:
    """The highest resident memory this process has had (the kernel's count, exact)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10  # KiB on Linux


def rss_bytes() -> int:
    """Resident memory of this process now (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclasses.dataclass
class Settings:
    seed: int = 0
    batch: int = 25
    time_budget: float = 10.0  # the reader's per-file budget
    hang_seconds: float = 20.0  # a file taking more CPU time than this is a finding
    max_rss: int = 1 << 30
    rss_jump: int = 256 << 20  # a batch raising the peak RSS this much is kept (not a finding)
    findings: Path = Path("fuzz-findings")
    formats: tuple[str, ...] = FORMATS
    outputs_every: int = 0  # also scan() a batch to its outputs every N batches (0: never)
    full_every: int = 1  # batches read with per-file typing (1: all; else the rest pooled)
    workers_every: int = 0  # read a batch with two worker processes every N batches (0: never)
    nightly_every: int = 0  # run three nightly runs over a batch every N batches (0: never)
    sigma_every: int = 0  # compare a Sigma scan's hits with a plain read's every N (0: never)


@dataclasses.dataclass
class Stats:
    inputs: int = 0
    by_format: dict[str, int] = dataclasses.field(default_factory=dict)
    findings: int = 0
    slowest: float = 0.0
    peak_rss: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    def line(self) -> str:
        rate = self.inputs / max(1e-9, time.monotonic() - self.started)
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_format.items()))
        return (
            f"{self.inputs} inputs ({parts}), {rate:.0f}/s, {self.findings} findings, "
            f"slowest file {self.slowest:.2f} s, peak RSS {self.peak_rss >> 20} MiB"
        )


class _Timer:
    """The stream's progress hook: CPU time between finished files (this process's, so a
    machine loaded by others does not make a file look slow; the watchdog keeps wall time)."""

    def __init__(self) -> None:
        self.last = time.process_time()
        self.times: dict[str, float] = {}

    def file_done(self, report: object) -> None:
        now = time.process_time()
        self.times[str(getattr(report, "path", ""))] = now - self.last
        self.last = now


class Fuzzer:
    """Generates, runs and checks inputs; keeps a small corpus of inputs that found new
    integrity messages (a cheap stand-in for coverage)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.seeds = all_seeds()
        self.corpus: dict[str, list[bytes]] = {k: list(v) for k, v in self.seeds.items()}
        self.seen_messages: set[str] = set()
        self.stats = Stats()
        settings.findings.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(
            tempfile.mkdtemp(prefix=f"in-flight-{settings.seed}-", dir=settings.findings)
        )
        self._hang_log = (self.scratch / "native-hang.txt").open("w", encoding="utf-8")
        self.current: list[tuple[str, bytes]] = []
        self._batch_started: float | None = None
        self._stop = threading.Event()
        self.mutators: dict[str, Callable[[bytes, random.Random], bytes]] = {
            "evtx": mutate_evtx,
            "evt": mutate_evt,
            "xml": mutate_xml,
            "text": mutate_text,
            "bundle": lambda d, r: mutate_bundle(d, r, self._members()),
        }

    def _members(self) -> list[bytes]:
        return [s for k in ("evtx", "evt", "xml", "text") for s in self.seeds[k]]

    def generate(self, fmt: str) -> bytes:
        data = self.rng.choice(self.corpus[fmt])
        for _ in range(self.rng.choice((1, 1, 2, 3))):
            mutate = self.mutators[fmt] if self.rng.random() < 0.85 else havoc
            data = mutate(data, self.rng)[:MAX_INPUT]
        return data

    def run(self, count: int, report: Callable[[str], None] = print) -> Stats:
        """Run ``count`` inputs (rounded up to whole batches)."""
        watchdog = threading.Thread(target=self._watch, daemon=True)
        watchdog.start()
        batches = 0
        try:
            while self.stats.inputs < count:
                batches += 1
                backend = "python" if batches % 2 == 0 else "rust"
                fast = self.settings.full_every > 1 and batches % self.settings.full_every != 0
                every = self.settings.workers_every
                workers = 2 if every > 0 and batches % every == 0 else 1
                outputs = self._outputs_due(batches)
                nightly = self.settings.nightly_every
                if nightly > 0 and batches % nightly == 0:
                    self.run_nightly_batch(backend)
                else:
                    sigma = self.settings.sigma_every
                    check = sigma > 0 and batches % sigma == 0 and backend == "rust"
                    self.run_batch(
                        backend, outputs=outputs, fast=fast, workers=workers, sigma=check
                    )
                if batches % 40 == 0:
                    report(self.stats.line())
        finally:
            self._stop.set()
            self._hang_log.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self.stats

    def _outputs_due(self, batches: int) -> bool:
        every = self.settings.outputs_every
        return every > 0 and batches % every == 0

    def run_batch(
        self,
        backend: str,
        *,
        outputs: bool = False,
        fast: bool = False,
        workers: int = 1,
        sigma: bool = False,
    ) -> None:
        """Read one batch of new inputs (``workers`` > 1: small logs in batches read by worker
        processes, the stream settling them); ``sigma``: also compare a Sigma scan's hits
        with the plain read's (``fuzz.sigma_check``)."""
        batch_dir = self.scratch / "batch"
        shutil.rmtree(batch_dir, ignore_errors=True)
        batch_dir.mkdir(parents=True)
        self.current = []
        for index in range(self.settings.batch):
            fmt = self.rng.choice(self.settings.formats)
            data = self.generate(fmt)
            name = f"{index:03d}-{fmt}"
            (batch_dir / name).write_bytes(data)
            self.current.append((name, data))
            self.stats.by_format[fmt] = self.stats.by_format.get(fmt, 0) + 1
        timer = _Timer()
        high_before = peak_rss_bytes()
        self._batch_started = time.monotonic()
        limit = self.settings.hang_seconds * max(2, self.settings.batch)
        faulthandler.dump_traceback_later(limit, exit=True, file=self._hang_log)
        typing: contextlib.AbstractContextManager[list[str]] = (
            pooled_typing(TypingPool()) if fast else contextlib.nullcontext([])
        )
        from fuzz.outputs_check import check_record_text

        text_problems: list[str | None] = []
        try:
            with typing as failures:
                stream = read_records(
                    batch_dir,
                    backend=backend,
                    progress=timer,
                    time_budget=self.settings.time_budget,
                    bundle_limits=FUZZ_LIMITS,
                    batch_size=2_000,
                    workers=workers,
                )
                for frame in stream:
                    text_problems.append(check_record_text(frame))
            integrity = stream.integrity
        except Exception:
            self._save("exception", traceback.format_exc(), self.current)
            return
        finally:
            self._batch_started = None
            faulthandler.cancel_dump_traceback_later()
        for failure in failures:
            name = failure[len(str(batch_dir)) + 1 :].split("!", 1)[0].split(":", 1)[0]
            self._save("typing", failure, [(name, dict(self.current).get(name, b""))])
        self.stats.inputs += len(self.current)
        self.stats.peak_rss = max(self.stats.peak_rss, rss_bytes())
        self._check(integrity, timer, batch_dir)
        problem = next(filter(None, text_problems), None)  # one is enough to keep the batch
        if problem:
            self._save("record-text", problem, self.current)
        if outputs:
            from fuzz.outputs_check import check_outputs

            problem = check_outputs(batch_dir, self.scratch / "out", backend)
            if problem:
                self._save("outputs", problem, self.current)
        if sigma:
            from fuzz.sigma_check import check_sigma

            problem = check_sigma(batch_dir, self.scratch)
            if problem:
                self._save("sigma", problem, self.current)
            from fuzz.evt_again import check_evt_again

            problem = check_evt_again(self.current)
            if problem:
                self._save("evt-again", problem, self.current)
        self._note_jump(high_before, "read and scanned to outputs" if outputs else "read")

    def run_nightly_batch(self, backend: str) -> None:
        """Three nightly runs over a batch of logs (mostly EVTX; also .evt logs, named as
        Windows names them, and XML and text exports: the formats read whole): as the
        corpus has them, then changed at the same paths (see ``fuzz.nightly_check``), then
        unchanged."""
        from fuzz.nightly_check import NIGHTLY_NAMES, check_nightly, next_night

        kinds = [
            k for k in ("evtx", "evtx", "evtx", "evt", "xml", "text") if k in self.settings.formats
        ]
        logs = []
        for index in range(self.settings.batch):
            kind = self.rng.choice(kinds or ["evtx"])
            first = self.rng.choice(self.corpus[kind])
            second = next_night(first, self.rng, self.mutators[kind], havoc)[:MAX_INPUT]
            logs.append((f"{index:03d}-{NIGHTLY_NAMES[kind]}", first, second))
        self.current = [(f"{n}.night1", a) for n, a, _ in logs]
        self.current += [(f"{n}.night2", b) for n, _, b in logs]
        high_before = peak_rss_bytes()
        self._batch_started = time.monotonic()
        limit = self.settings.hang_seconds * max(2, self.settings.batch) * 3
        faulthandler.dump_traceback_later(limit, exit=True, file=self._hang_log)
        large = self.rng.random() < 0.5  # the large logs' path too (fuzzed logs are small)
        try:
            problem = check_nightly(logs, self.scratch / "nightly", backend, large)
        finally:
            self._batch_started = None
            faulthandler.cancel_dump_traceback_later()
        self.stats.inputs += len(logs)
        self.stats.by_format["nightly"] = self.stats.by_format.get("nightly", 0) + len(logs)
        self.stats.peak_rss = max(self.stats.peak_rss, rss_bytes())
        if problem:
            self._save("nightly", problem, self.current)
        if rss_bytes() > self.settings.max_rss:
            self._save("rss", f"RSS {rss_bytes() >> 20} MiB after nightly runs", self.current)
        self._note_jump(high_before, f"three nightly runs, as {'large' if large else 'small'} logs")

    def _note_jump(self, high_before: int, what: str) -> None:
        """Keep a batch that raised the process's peak RSS by more than ``rss_jump`` (under
        the bound, so not a finding, but the inputs to trace where memory went); ``what``:
        what the batch did."""
        high = peak_rss_bytes()
        if high - high_before <= self.settings.rss_jump:
            return
        folder = self.settings.findings / f"rss-jump-{self.settings.seed}-{self.stats.inputs}"
        folder.mkdir(parents=True, exist_ok=True)
        note = (
            f"peak RSS {high_before >> 20} -> {high >> 20} MiB during this batch"
            f" ({what}); not over the bound"
        )
        (folder / "NOTE.txt").write_text(note, encoding="utf-8")
        for name, data in self.current:
            (folder / name).write_bytes(data)

    def _check(self, integrity: object, timer: _Timer, batch_dir: Path) -> None:
        import pandas as pd

        assert isinstance(integrity, pd.DataFrame)
        by_name = dict(self.current)
        for path, errors in zip(integrity["path"], integrity["errors"], strict=True):
            name = str(path)[len(str(batch_dir)) + 1 :].split("!", 1)[0]
            if "internal error" in errors:
                self._save("internal-error", errors, [(name, by_name.get(name, b""))])
            self._learn(name, errors, by_name.get(name))
        for path, seconds in timer.times.items():
            self.stats.slowest = max(self.stats.slowest, seconds)
            if seconds > self.settings.hang_seconds:
                name = path[len(str(batch_dir)) + 1 :].split("!", 1)[0]
                self._save("slow", f"{seconds:.1f} s: {path}", [(name, by_name.get(name, b""))])
        if rss_bytes() > self.settings.max_rss:
            self._save("rss", f"RSS {rss_bytes() >> 20} MiB after a batch", self.current)

    def _learn(self, name: str, errors: str, data: bytes | None) -> None:
        if data is None:
            return
        fmt = name.split("-", 1)[-1]
        key = f"{fmt}:" + "|".join(sorted({e[:60] for e in errors.split('"reason": "')[1:]}))
        if key in self.seen_messages:
            return
        self.seen_messages.add(key)
        pool = self.corpus.get(fmt)
        if pool is not None and len(data) <= CORPUS_ENTRY_MAX:
            if len(pool) >= CORPUS_PER_FORMAT:
                fixed = len(self.seeds[fmt])  # the seeds stay
                pool.pop(fixed + self.rng.randrange(len(pool) - fixed))
            pool.append(data)

    def _save(self, kind: str, note: str, inputs: list[tuple[str, bytes]]) -> None:
        self.stats.findings += 1
        folder = self.settings.findings / f"{kind}-{self.settings.seed}-{self.stats.findings}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "NOTE.txt").write_text(note, encoding="utf-8", errors="replace")
        for name, data in inputs:
            (folder / name).write_bytes(data)

    def _watch(self) -> None:
        """Ends the process when a batch hangs in native code or memory runs away."""
        limit = self.settings.hang_seconds * max(2, self.settings.batch)
        while not self._stop.wait(0.5):
            rss = rss_bytes()
            self.stats.peak_rss = max(self.stats.peak_rss, rss)
            started = self._batch_started
            hung = started is not None and time.monotonic() - started > limit
            if hung or rss > 2 * self.settings.max_rss:
                kind = "hang" if hung else "rss"
                self._save(kind, f"watchdog: {kind} (RSS {rss >> 20} MiB)", list(self.current))
                os._exit(3)
