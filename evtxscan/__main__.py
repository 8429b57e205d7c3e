"""``python -m evtxscan``: the same as the ``evtxscan`` command."""

from evtxscan.cli import run

run()
