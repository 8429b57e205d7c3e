"""CPU-time and memory limits on one piece of pure-Python parsing (python-evtx renders a
record).

python-evtx walks BinXml token by token; on some damaged templates a token of length zero
makes its walk append nodes without end, so one record can use gigabytes in seconds, inside
the library where no check of ours runs. A profiling timer (``ITIMER_PROF``: the process's
own CPU time, user and system, so a loaded machine does not trip it, and the page faults of
a fast-growing piece count toward the next check) ticks every
:data:`TICK_SECONDS` of CPU while the piece runs; a tick raises :class:`CpuLimitExceeded`
in that loop once the CPU time is used up or resident memory has grown by more than the
allowed amount since the piece began (about half a gigabyte a second is what such a walk
allocates, so a CPU limit alone would still let one record take hundreds of megabytes).
A piece that finishes within one tick costs two ``setitimer`` calls and no memory check.
Signals reach the main thread only: elsewhere (a reader run in a thread) the piece runs
unguarded.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: CPU time between checks.
TICK_SECONDS = 0.05
#: Growth of resident memory a guarded piece may cause (one record's XML needs far less).
MAX_GROWTH_BYTES = 64 << 20


class CpuLimitExceeded(Exception):
    """The guarded piece used its CPU time or grew memory past its limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def statm_bytes(column: int) -> int:
    """A size from ``/proc/self/statm`` in bytes (0: total, 1: resident; 0 where ``/proc``
    is not there, and no check is made)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[column]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def resident_bytes() -> int:
    """This process's resident memory."""
    return statm_bytes(1)


@contextmanager
def cpu_limit(seconds: float, max_growth: int = MAX_GROWTH_BYTES) -> Iterator[None]:
    """Within the block, raise :class:`CpuLimitExceeded` after ``seconds`` of CPU time, or
    at the first tick after resident memory grew by more than ``max_growth`` bytes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ticks = max(1, round(seconds / TICK_SECONDS))
    state = {"ticks": 0, "start": -1}

    def tick(signum: int, frame: FrameType | None) -> None:
        state["ticks"] += 1
        if state["ticks"] >= ticks:
            raise CpuLimitExceeded(f"{seconds:g} s of CPU")
        rss = resident_bytes()
        if state["start"] < 0:
            state["start"] = rss  # the first tick: the piece's own allocations begin here
        elif rss - state["start"] > max_growth:
            raise CpuLimitExceeded(f"{(rss - state['start']) >> 20} MiB more memory")

    previous = signal.signal(signal.SIGPROF, tick)
    signal.setitimer(signal.ITIMER_PROF, TICK_SECONDS, TICK_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
