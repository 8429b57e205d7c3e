"""Crash-safe nightly incremental runs: read only new records, report what changed.

See ``README.md`` in this directory. Entry point: :func:`run_nightly`.
"""

from evtxscan.nightly.lock import StateLocked
from evtxscan.nightly.run import (
    EXIT_ERROR,
    EXIT_NEW,
    EXIT_NOTHING_NEW,
    NightlyOptions,
    NightlyOutcome,
    run_nightly,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_NEW",
    "EXIT_NOTHING_NEW",
    "NightlyOptions",
    "NightlyOutcome",
    "StateLocked",
    "run_nightly",
]
