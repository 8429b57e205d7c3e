"""evtxscan: diagnose Windows event logs against Microsoft Knowledge Base articles.

Public API (documented in the README):

- :func:`read_records` -- stream typed record batches from .evtx files, directories, globs
  and bundles, with per-file integrity rows;
- :func:`read_frame` -- the same as one DataFrame;
- :func:`scan` -- diagnose a collection: a :class:`ScanResult` with ``.diagnoses``,
  ``.timeline``, ``.hosts`` and ``.integrity`` DataFrames.
"""

from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import COLUMNS
from evtxscan.results import ScanResult
from evtxscan.scanning import scan
from evtxscan.sources.stream import RecordStream, read_frame, read_records

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "HostMap",
    "RecordStream",
    "ScanResult",
    "__version__",
    "read_frame",
    "read_records",
    "scan",
]
