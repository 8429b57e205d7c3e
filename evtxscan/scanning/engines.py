"""Where a scan runs: the seams between :class:`~evtxscan.scanning.pipeline.ScanPipeline` and
the engines that run its units (this machine: :class:`~evtxscan.scanning.local_engine.
LocalEngine`; a Dask cluster: :mod:`evtxscan.dask`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from evtxscan.results import ScanResult
    from evtxscan.scanning.pipeline import ScanPipeline
    from evtxscan.scanning.units import WorkUnit


class ScanEngine(Protocol):
    """Where a scan's units are read and its hosts correlated. Every engine gives the same
    :class:`~evtxscan.results.ScanResult` for the same units."""

    def scan(
        self, pipeline: ScanPipeline, units: list[WorkUnit], progress: object | None
    ) -> ScanResult: ...


class TaskRunner(Protocol):
    """Runs a driver's own tasks where an engine runs units (nightly's reading on a cluster).

    ``function(item, shared)`` for every item, ``shared`` shipped once; results in item
    order as they come; a task that fails raises here."""

    def run_ordered(
        self, function: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any
    ) -> Iterator[Any]: ...
