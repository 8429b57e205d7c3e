"""A per-file time budget: the readers check it in their loops, the stream sets it per file.

One file must never stall a batch: when reading a file takes longer than its budget, the
records read so far are kept and the rest of the file is skipped, with an integrity error.
:class:`TimeBudgetExceeded` derives from ``BaseException`` so that no reader's guard against
bad data (``except Exception``) mistakes it for a decoding problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Seconds one file may take to read by default (10 minutes: a 4 GiB log reads in about 2).
DEFAULT_TIME_BUDGET = 600.0

_deadline: float | None = None


class TimeBudgetExceeded(BaseException):
    """The file being read is over its time budget."""


def check() -> None:
    """Raise :class:`TimeBudgetExceeded` when the current file is over its budget."""
    if _deadline is not None and time.monotonic() > _deadline:
        raise TimeBudgetExceeded


def timed(items: Iterator[T], seconds: float | None) -> Iterator[T]:
    """``items``, with the budget of ``seconds`` (from now) in force while each is made.

    The budget runs only while a step of ``items`` runs, so streams read in turns (or a
    caller that is slow between batches) never use up each other's budget.
    """
    global _deadline
    left = seconds
    while True:
        started = time.monotonic()
        outer, _deadline = _deadline, None if left is None else started + left
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            _deadline = outer
            if left is not None:
                left -= time.monotonic() - started
        yield item


def within(seconds: float | None, work: Callable[[], T]) -> T:
    """``work()`` with a budget of ``seconds`` from now in force (a worker process runs
    each piece of a file this way); raises :class:`TimeBudgetExceeded` past it."""
    global _deadline
    outer, _deadline = _deadline, None if seconds is None else time.monotonic() + seconds
    try:
        return work()
    finally:
        _deadline = outer
