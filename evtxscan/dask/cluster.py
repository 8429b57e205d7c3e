"""Reach a Dask cluster from a ``--scheduler`` value: ``tcp://HOST:PORT`` (a running
scheduler) or ``local:N`` (a ``LocalCluster`` of N single-threaded worker processes, for a
trial on one machine)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from distributed import Client, LocalCluster


class SchedulerError(ValueError):
    """A ``--scheduler`` value that names no cluster we can reach."""


def local_workers(scheduler: str) -> int | None:
    """N of ``local:N`` (None for an address)."""
    if not scheduler.startswith("local:"):
        return None
    count = scheduler.removeprefix("local:")
    if not count.isdigit() or int(count) < 1:
        raise SchedulerError(f"{scheduler!r}: use local:N with N >= 1 worker processes")
    return int(count)


@contextlib.contextmanager
def connect(scheduler: str) -> Iterator[Client]:
    """A client of ``scheduler``; a local cluster it starts is closed on exit."""
    workers = local_workers(scheduler)
    if workers is None:
        if "://" not in scheduler:
            raise SchedulerError(
                f"{scheduler!r}: give a scheduler address (tcp://HOST:PORT) or local:N"
            )
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise SchedulerError(f"cannot reach the scheduler at {scheduler}: {exc}") from exc
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: several trial clusters side by side
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
