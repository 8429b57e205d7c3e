"""Nightly reading in tasks (``cluster_read``: survey, plan with the state here, read with a
snapshot, join) gives what reading in this process gives: outcome tables and state, night
by night; here with an in-process task runner (the Dask runner: tests/dask)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from nightly_compare import InProcess, every_folder, run_both
from nightly_scenario import write_night


def test_tasks_equal_local_reading_night_by_night(tmp_path: Path) -> None:
    runner = InProcess()
    done = run_both(tmp_path, 3, runner, every_folder)
    assert runner.tasks > 0
    last = done[-1][1]
    assert last.stats.files_known > 0 and last.stats.chunks_below_watermark > 0
    assert sum(len(t.new) for _, t in done) > 0


def test_bundles_and_copies_within_a_night(tmp_path: Path) -> None:
    def bundled(collected: Path, night: int) -> list[Path]:
        folder = write_night(collected, night)
        copy = collected / f"copy-{night}"
        shutil.copytree(folder, copy)  # byte-identical copies in the same night
        with zipfile.ZipFile(collected / f"night-{night}.zip", "w") as bundle:
            for path in sorted(folder.rglob("*.evtx")):
                bundle.write(path, path.relative_to(folder).as_posix())
        return [folder, copy, collected / f"night-{night}.zip", collected / "missing"]

    done = run_both(tmp_path, 2, InProcess(), bundled)
    integrity = done[-1][1].result.integrity
    assert (integrity["status"] == "duplicate").sum() > 5
    assert integrity["path"].str.contains(".zip!").any()
    assert (integrity["status"] == "unreadable").any()  # the missing path


def test_nothing_to_read(tmp_path: Path) -> None:
    (tmp_path / "collected").mkdir()
    run_both(tmp_path, 1, InProcess(), lambda c, n: [c])
