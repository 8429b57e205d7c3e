"""``--scheduler``: the Dask engine for a command, or none (the local engine)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

EXIT_FAILURE = 2


@contextlib.contextmanager
def cluster_engine(scheduler: str | None) -> Iterator[Any]:
    """A :class:`~evtxscan.dask.DaskEngine` on ``scheduler`` while the command runs (a
    ``local:N`` cluster is stopped after), or ``None`` without ``--scheduler``."""
    if not scheduler:
        yield None
        return
    try:
        from evtxscan.dask import DaskEngine, SchedulerError, connect
    except ImportError as exc:
        raise click.UsageError(
            f"--scheduler needs the dask extra (pip install 'evtxscan[dask]'): {exc}"
        ) from None
    try:
        with connect(scheduler) as client:
            yield DaskEngine(client)
    except SchedulerError as exc:
        click.echo(f"evtxscan: error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
