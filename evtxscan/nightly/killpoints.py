"""A test hook: ``EVTXSCAN_TEST_KILL_AT=<phase>[:<n>]`` makes a nightly run SIGKILL itself.

Crash-safety tests set it to stop a run the n-th time (default: the first) it passes a
checkpoint of that phase. Unset, every checkpoint is a no-op.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from enum import StrEnum

ENV = "EVTXSCAN_TEST_KILL_AT"


class Phase(StrEnum):
    """The checkpoints of a nightly run, in order."""

    READING = "reading"  # after each batch of records read
    CORRELATING = "correlating"  # incidents found, nothing written
    WRITING = "writing"  # outputs written into the run directory, not yet switched to
    SWITCHED = "switched"  # outputs switched to, state not yet committed
    COMMITTING = "committing"  # inside the state transaction, before COMMIT
    COMMITTED = "committed"  # state committed, lock still held


class KillSwitch:
    """Counts checkpoints of the chosen phase and kills the process at the chosen one."""

    def __init__(self, phase: Phase | None = None, nth: int = 1) -> None:
        self.phase = phase
        self.nth = nth
        self.passed = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KillSwitch:
        text = (os.environ if environ is None else environ).get(ENV, "").strip()
        if not text:
            return cls()
        name, _, count = text.partition(":")
        return cls(Phase(name), int(count or 1))

    def checkpoint(self, phase: Phase) -> None:
        if phase is not self.phase:
            return
        self.passed += 1
        if self.passed == self.nth:
            os.kill(os.getpid(), signal.SIGKILL)
