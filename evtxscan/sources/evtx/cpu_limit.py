"""A CPU-time limit on one piece of pure-Python parsing (python-evtx renders a record).

python-evtx walks BinXml token by token; on some damaged templates a token of length zero
makes its walk append nodes without end, so one record can use gigabytes in seconds, inside
the library where no check of ours runs. A virtual-time timer (``ITIMER_VIRTUAL``: the
process's own CPU time, so a loaded machine does not trip it) raises
:class:`CpuLimitExceeded` in that loop. Signals reach the main thread only: elsewhere (a
reader run in a thread) the piece runs unguarded.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class CpuLimitExceeded(Exception):
    """The guarded piece used its CPU-time limit."""


def _expire(signum: int, frame: FrameType | None) -> None:
    raise CpuLimitExceeded


@contextmanager
def cpu_limit(seconds: float) -> Iterator[None]:
    """Within the block, raise :class:`CpuLimitExceeded` after ``seconds`` of CPU time."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGVTALRM, _expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
