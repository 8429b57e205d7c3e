"""The ``evtxscan`` command line (``dump``, ``scan``, ``nightly``, ``signatures``)."""

from evtxscan.cli.main import cli, main, run

__all__ = ["cli", "main", "run"]
