"""Crash-safe nightly incremental runs: read only new records, report what changed.

See ``README.md`` in this directory. Entry point: :func:`run_nightly`.
"""

from evtxscan.nightly.lock import StateLocked
from evtxscan.nightly.run import NightlyOptions, NightlyOutcome, run_nightly

__all__ = [
    "NightlyOptions",
    "NightlyOutcome",
    "StateLocked",
    "run_nightly",
]
