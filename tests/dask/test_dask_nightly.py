"""Nightly on a cluster: worker processes read, the state stays here; the runs equal local
runs night by night (outcome tables and state contents). Also the CLI's --scheduler."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from evtxscan.cli import cli
from evtxscan.dask import DaskEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nightly"))  # shared helpers
from nightly_compare import every_folder, run_both


def test_nightly_on_the_cluster_equals_local(client: Any, tmp_path: Path) -> None:
    done = run_both(tmp_path, 3, DaskEngine(client), every_folder)
    last = done[-1][1]
    assert last.stats.files_known > 0 and last.stats.chunks_below_watermark > 0
    assert sum(len(t.new) for _, t in done) > 0


def test_cli_scheduler_scan_and_nightly(tmp_path: Path) -> None:
    collected = [str(p) for p in every_folder(tmp_path / "collected", 1)]
    run = CliRunner().invoke
    local = run(cli, ["scan", *collected, "--out", str(tmp_path / "a"), "-q"])
    cluster = ["--scheduler", "local:1", "-q"]
    remote = run(cli, ["scan", *collected, "--out", str(tmp_path / "b"), *cluster])
    assert local.exit_code == remote.exit_code == 1, remote.output  # diagnoses found
    for table in ("diagnoses.csv", "timeline.csv", "hosts.csv", "integrity.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()
    state, out = ["--state", str(tmp_path / "s.db")], ["--out", str(tmp_path / "n")]
    nightly = run(cli, ["nightly", *collected, *state, *out, *cluster])
    assert nightly.exit_code == 1 and (tmp_path / "s.db").is_file(), nightly.output


def test_cli_scheduler_errors(tmp_path: Path) -> None:
    run = CliRunner().invoke
    for value, message in (("nonsense", "tcp://HOST:PORT"), ("local:0", "N >= 1")):
        result = run(
            cli, ["scan", str(tmp_path), "--out", str(tmp_path / "o"), "--scheduler", value]
        )
        assert result.exit_code == 2 and message in result.output
