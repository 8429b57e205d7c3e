"""Crash safety: a nightly run SIGKILLed in any phase, then run again, leaves exactly the
outputs and state of a run never interrupted (nothing lost, nothing counted twice)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nightly_scenario import state_tables, write_night

from evtxscan.cli import main
from evtxscan.nightly.killpoints import ENV, Phase

SEED = 20240301
ROOT = Path(__file__).resolve().parents[2]
TABLES = ("diagnoses", "new", "resolved", "stale", "hosts", "integrity", "timeline")


def _argv(folder: Path, case: Path, night: int, batch: int = 10_000) -> list[str]:
    """The command line of night ``night`` (killed runs read in small batches)."""
    return [
        "nightly",
        str(folder),
        "--state",
        str(case / "state.db"),
        "--out",
        str(case / "out"),
        "--now",
        f"2024-03-0{night}T03:00:00+00:00",
        "--batch-size",
        str(batch),
        "-q",
    ]


def _outputs(case: Path) -> dict[str, bytes]:
    current = case / "out" / "current"
    found = {name: (current / f"{name}.csv").read_bytes() for name in TABLES}
    for path in sorted((current / "timelines").iterdir()):
        found[f"timelines/{path.name}"] = path.read_bytes()
    return found


def _kill_points(rng: random.Random) -> list[tuple[int, Phase, int]]:
    """(night, phase, n): kill the n-th time the run passes a checkpoint of the phase."""
    points = [(2, phase, 1) for phase in Phase]
    points[0] = (2, Phase.READING, rng.randint(1, 6))
    points[4] = (2, Phase.COMMITTING, rng.randint(1, 17))
    points.append((1, Phase.COMMITTING, rng.randint(1, 17)))  # the state's first commit
    return points


def test_killed_runs_rerun_to_the_uninterrupted_result(tmp_path: Path) -> None:
    nights = {n: write_night(tmp_path / "collected", n) for n in (1, 2)}
    reference = tmp_path / "reference"
    assert main(_argv(nights[1], reference, 1)) == 1
    after_first = (_outputs(reference), state_tables(reference / "state.db"))
    snapshot = tmp_path / "after-night-1"
    shutil.copytree(reference, snapshot, symlinks=True)
    assert main(_argv(nights[2], reference, 2)) == 1
    expected = (_outputs(reference), state_tables(reference / "state.db"))

    cases = []
    for night, phase, nth in _kill_points(random.Random(SEED)):
        case = tmp_path / f"night{night}-{phase}-{nth}"
        if night == 2:
            shutil.copytree(snapshot, case, symlinks=True)
        env = {**os.environ, ENV: f"{phase}:{nth}"}
        command = [sys.executable, "-m", "evtxscan", *_argv(nights[night], case, night, 16)]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        cases.append((night, phase, case, process))
    for night, phase, case, process in cases:
        _, err = process.communicate(timeout=120)
        assert process.returncode == -signal.SIGKILL, (phase, err.decode())
        if night == 2 and phase in (Phase.READING, Phase.CORRELATING, Phase.WRITING):
            # Killed before the switch: the previous report is intact and still current.
            assert (_outputs(case), state_tables(case / "state.db")) == after_first
        if night == 2 and phase is Phase.SWITCHED:
            assert _outputs(case) == expected[0]  # the report is in place ...
            assert state_tables(case / "state.db") == after_first[1]  # ... the state is not
        if phase is not Phase.COMMITTED:  # killed after the commit: the run was complete
            for again in range(night, 3):
                assert main(_argv(nights[again], case, again)) == 1, (phase, again)
        assert _outputs(case) == expected[0], phase
        assert state_tables(case / "state.db") == expected[1], phase
        assert not list((case / "out" / "runs").glob("*.partial"))


@pytest.mark.parametrize("phase", ["reading:2", "committed"])
def test_kill_switch_parses_phases(phase: str) -> None:
    from evtxscan.nightly.killpoints import KillSwitch

    switch = KillSwitch.from_env({ENV: phase})
    assert switch.phase is Phase(phase.split(":")[0])
    assert switch.nth == (2 if ":" in phase else 1)
    assert KillSwitch.from_env({}).phase is None
