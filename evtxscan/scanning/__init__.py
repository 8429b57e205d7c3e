"""The scan pipeline and the Python API (``scan``, ``read_records``, ``read_frame``)."""

from evtxscan.scanning.api import read_frame, read_records, scan
from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings

__all__ = ["ScanPipeline", "ScanSettings", "read_frame", "read_records", "scan"]
