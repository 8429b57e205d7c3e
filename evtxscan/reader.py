"""Deprecated home of :mod:`evtxscan.sources.stream` (for old notebooks; removed in 0.3)."""

from __future__ import annotations

import warnings

from evtxscan.scanning.api import read_frame, read_records
from evtxscan.sources.stream import RecordStream

warnings.warn(
    "evtxscan.reader moved to evtxscan.sources.stream; import read_records from evtxscan",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["RecordStream", "read_frame", "read_records"]
