"""The results of a scan: the typed tables, how they are built, shown and plotted."""

from evtxscan.results.scan_result import ScanResult

__all__ = ["ScanResult"]
