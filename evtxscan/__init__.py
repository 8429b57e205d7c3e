"""evtxscan: diagnose Windows event logs against Microsoft Knowledge Base articles.

Public API (documented in the README):

- :func:`read_records` -- stream typed record batches from .evtx files, directories, globs
  and bundles, with per-file integrity rows;
- :func:`read_frame` -- the same as one DataFrame;
- :func:`scan` -- diagnose a collection: a :class:`ScanResult` with ``.diagnoses``,
  ``.timeline``, ``.hosts`` and ``.integrity`` DataFrames.
"""

from evtxscan._version import __version__
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import COLUMNS
from evtxscan.results import ScanResult
from evtxscan.scanning import read_frame, read_records, scan
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.stream import RecordStream

__all__ = [
    "COLUMNS",
    "BundleLimits",
    "HostMap",
    "RecordStream",
    "ScanResult",
    "__version__",
    "read_frame",
    "read_records",
    "scan",
]
