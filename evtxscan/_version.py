"""The package version (one place; ``evtxscan.__version__``)."""

__version__ = "0.1.0"
