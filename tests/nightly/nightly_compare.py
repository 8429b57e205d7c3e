"""Compare nightly runs reading in this process with runs reading in tasks (a runner)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from nightly_scenario import run_at, state_tables, write_night

from evtxscan.nightly import NightlyOutcome


class InProcess:
    """A task runner that runs each task here, through pickling as a cluster would."""

    def __init__(self) -> None:
        self.tasks = 0

    def run_ordered(
        self, function: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any
    ) -> Iterator[Any]:
        shared = pickle.loads(pickle.dumps(shared))
        for item in items:
            self.tasks += 1
            yield pickle.loads(pickle.dumps(function(pickle.loads(pickle.dumps(item)), shared)))


def same_outcome(local: NightlyOutcome, tasks: NightlyOutcome) -> None:
    for name in ("new", "resolved", "stale"):
        pd.testing.assert_frame_equal(getattr(local, name), getattr(tasks, name), obj=name)
    for name in ("diagnoses", "timeline", "hosts", "daily"):  # integrity: below
        a, b = getattr(local.result, name), getattr(tasks.result, name)
        # Categories list the values of the rows read: a run that decodes every new record
        # has more of them (files whose records were all only located here).
        pd.testing.assert_frame_equal(a, b, obj=name, check_categorical=False)
    pd.testing.assert_frame_equal(local.result.integrity, tasks.result.integrity)
    assert local.stats == tasks.stats and local.notes == tasks.notes


def run_both(
    root: Path, nights: int, runner: Any, collect: Callable[[Path, int], list[Path]]
) -> list[tuple[NightlyOutcome, NightlyOutcome]]:
    """Each night: the local run and the task run, each on its own state."""
    done = []
    for night in range(1, nights + 1):
        paths = collect(root / "collected", night)
        local = run_at(paths, root / "local.db", root / "out-local", night)
        tasks = run_at(paths, root / "tasks.db", root / "out-tasks", night, runner=runner)
        same_outcome(local, tasks)
        assert state_tables(root / "local.db") == state_tables(root / "tasks.db")
        done.append((local, tasks))
    return done


def every_folder(collected: Path, night: int) -> list[Path]:
    """Collectors keep the old dated folders: every night reads all of them again."""
    write_night(collected, night, records_per_chunk=8 if night % 2 else 11)
    return sorted(p for p in collected.iterdir())
