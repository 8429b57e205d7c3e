"""The distributed engine: scans and record frames of a collection on a Dask cluster.

Needs the ``dask`` extra (``pip install 'evtxscan[dask]'``: ``dask[dataframe]``,
``distributed``, ``fsspec``). See the README, "Running on a cluster".
"""

from evtxscan.dask.cluster import SchedulerError, connect
from evtxscan.dask.engine import DaskEngine

__all__ = ["DaskEngine", "SchedulerError", "connect"]
