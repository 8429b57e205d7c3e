"""evtxscan: diagnose Windows event logs against Microsoft Knowledge Base articles.

Public API (documented in the README):

- :func:`read_records` -- stream typed record batches from .evtx files, directories, globs
  and bundles, with per-file integrity rows;
- :func:`read_frame` -- the same as one DataFrame;
- :func:`scan` -- diagnose a collection: a :class:`ScanResult` with ``.diagnoses``,
  ``.timeline``, ``.hosts`` and ``.integrity`` DataFrames; on a Dask cluster with
  ``client=`` (:mod:`evtxscan.dask`).

The names are imported when first used, so importing one of the package's modules (the
record index, the CLI's ``--help``) does not pay for pandas and everything else.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from evtxscan._version import __version__

if TYPE_CHECKING:
    from evtxscan.records.hosts import HostMap
    from evtxscan.records.schema import COLUMNS
    from evtxscan.results import ScanResult
    from evtxscan.scanning import read_frame, read_records
    from evtxscan.sources.bundles import BundleLimits
    from evtxscan.sources.inputs import PathLike
    from evtxscan.sources.stream import RecordStream

#: Public name -> the module that defines it.
_HOMES = {
    "BundleLimits": "evtxscan.sources.bundles",
    "COLUMNS": "evtxscan.records.schema",
    "HostMap": "evtxscan.records.hosts",
    "RecordStream": "evtxscan.sources.stream",
    "ScanResult": "evtxscan.results",
    "read_frame": "evtxscan.scanning",
    "read_records": "evtxscan.scanning",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'evtxscan' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


def scan(paths: PathLike | Iterable[PathLike], *, client: Any = None, **options: Any) -> ScanResult:
    """Diagnose the logs in ``paths`` (options as :func:`evtxscan.scanning.api.scan`).

    ``client``: a ``distributed.Client``; the scan then runs on its Dask cluster and gives
    the same result (needs ``pip install 'evtxscan[dask]'``; see the README).
    """
    from evtxscan.scanning import scan as scan_here

    if client is not None:
        from evtxscan.dask import DaskEngine

        options["engine"] = DaskEngine(client)
    return scan_here(paths, **options)


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
