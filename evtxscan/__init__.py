"""evtxscan: diagnose Windows event logs against Microsoft Knowledge Base articles.

Public API (documented in the README):

- :func:`read_records` -- stream typed record batches from .evtx files, directories, globs
  and bundles, with per-file integrity rows;
- :func:`read_frame` -- the same as one DataFrame;
- :func:`scan` -- diagnose a collection: a :class:`ScanResult` with ``.diagnoses``,
  ``.timeline``, ``.hosts`` and ``.integrity`` DataFrames; on a Dask cluster with
  ``client=`` (:mod:`evtxscan.dask`).
"""

from collections.abc import Iterable
from typing import Any

from evtxscan._version import __version__
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import COLUMNS
from evtxscan.results import ScanResult
from evtxscan.scanning import read_frame, read_records
from evtxscan.scanning import scan as _scan
from evtxscan.sources.inputs import PathLike
from evtxscan.sources.stream import RecordStream


def scan(paths: PathLike | Iterable[PathLike], *, client: Any = None, **options: Any) -> ScanResult:
    """Diagnose the logs in ``paths`` (options as :func:`evtxscan.scanning.api.scan`).

    ``client``: a ``distributed.Client``; the scan then runs on its Dask cluster and gives
    the same result (needs ``pip install 'evtxscan[dask]'``; see the README).
    """
    if client is not None:
        from evtxscan.dask import DaskEngine

        options["engine"] = DaskEngine(client)
    return _scan(paths, **options)


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
