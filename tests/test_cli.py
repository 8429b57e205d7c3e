"""The ``evtxscan`` command line: dump formats, progress and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.cli import main
from evtxscan.synth import EventSpec, write_evtx
from evtxscan.synth.demo import write_demo

T0 = pd.Timestamp("2024-01-02T03:04:05.678901Z").to_pydatetime()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    events = [
        EventSpec(
            provider="Service Control Manager",
            event_id=7023,
            qualifiers=0xC000,
            level=2,
            time=T0,
            computer="SRV1.corp",
            data=(("param1", "Server"), ("param2", "%%2")),
            keywords=0x8080000000000000,
        )
    ]
    return write_evtx(tmp_path / "System.evtx", events)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evtxscan", *args], capture_output=True, text=True, check=False
    )


def test_dump_jsonl_to_stdout(log: Path) -> None:
    done = run("dump", str(log))
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert record["host"] == "srv1" and record["event_id"] == 7023
    assert record["time"] == "2024-01-02T03:04:05.678901Z"
    assert record["keywords"] == "0x8080000000000000"
    assert record["data"] == [
        {"name": "param1", "value": "Server"},
        {"name": "param2", "value": "%%2"},
    ]
    assert "1 records from 1 files" in done.stderr  # the summary line, not a progress bar


def test_dump_csv_and_parquet(log: Path, tmp_path: Path) -> None:
    assert main(["dump", str(log), "--format", "csv", "-o", str(tmp_path / "r.csv"), "-q"]) == 0
    table = pd.read_csv(tmp_path / "r.csv")
    assert json.loads(table.loc[0, "data"])[1]["value"] == "%%2"
    assert (
        main(
            [
                "dump",
                str(log),
                "--format",
                "parquet",
                "-o",
                str(tmp_path / "r.parquet"),
                "--integrity",
                str(tmp_path / "i.csv"),
                "-q",
            ]
        )
        == 0
    )
    frame = pd.read_parquet(tmp_path / "r.parquet")
    assert str(frame["event_id"].dtype) == "UInt16"
    assert list(frame.loc[0, "data"][0].values()) == ["param1", "Server"]
    # Parquet keeps the rendered columns as CSV does.
    assert list(frame.columns[-2:]) == ["message", "binary_status"]
    assert frame.loc[0, "message"] == table.loc[0, "message"]
    assert frame.loc[0, "message"].endswith("The system cannot find the file specified.")
    assert pd.read_csv(tmp_path / "i.csv").loc[0, "status"] == "ok"


def test_empty_input_still_writes_a_valid_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.evtx"
    empty.write_bytes(b"")
    assert main(["dump", str(empty), "--format", "csv", "-o", str(tmp_path / "r.csv"), "-q"]) == 0
    assert pd.read_csv(tmp_path / "r.csv").empty


def test_exit_codes(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["dump"]) == 2  # usage error: no paths
    assert main(["dump", str(log), "--format", "xlsx"]) == 2
    assert main(["--help"]) == 0

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("evtxscan.cli.dump.RecordWriter.write", explode)
    assert main(["dump", str(log), "-o", str(tmp_path / "x.jsonl"), "-q"]) == 2


def test_help_explains_the_command() -> None:
    done = run("dump", "--help")
    assert done.returncode == 0
    for option in ("--format", "--backend", "--host-map", "--workers", "--integrity"):
        assert option in done.stdout


def test_committed_demo_matches_the_generator(tmp_path: Path) -> None:
    repository = Path(__file__).resolve().parents[1] / "demo" / "collection"
    for path in write_demo(tmp_path):
        committed = repository / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), committed


def test_messages_db_option(tmp_path: Path) -> None:
    import sqlite3

    log = write_evtx(
        tmp_path / "Application.evtx",
        [
            EventSpec(
                provider="Contoso-Backup",
                event_id=7,
                level=4,
                time=T0,
                computer="SRV1.corp",
                data=(("Volume", "C:"), ("Seconds", "3")),
            )
        ],
    )
    db = tmp_path / "m.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(
            "CREATE TABLE providers(id INTEGER PRIMARY KEY, name TEXT UNIQUE, guid TEXT);"
            "CREATE TABLE messages(id INTEGER PRIMARY KEY, provider_id INTEGER,"
            " event_id INTEGER, message TEXT);"
            "INSERT INTO providers VALUES (1, 'Contoso-Backup', NULL);"
            "INSERT INTO messages VALUES (1, 1, 7, 'Backup of %1 finished in %2 s.');"
        )
    out = tmp_path / "r.csv"
    assert main(["dump", str(log), "--format", "csv", "-o", str(out), "-q"]) == 0
    assert pd.read_csv(out).loc[0, "message"] == "Contoso-Backup event 7: C:; 3"
    assert (
        main(["dump", str(log), "--format", "csv", "-o", str(out), "--messages-db", str(db)]) == 0
    )
    assert pd.read_csv(out).loc[0, "message"] == "Backup of C: finished in 3 s."
    assert main(["dump", str(log), "--messages-db", str(tmp_path / "absent.db")]) == 2
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite" * 100)
    assert main(["dump", str(log), "-o", str(out), "--messages-db", str(bad)]) == 2


def test_dump_integrity_is_scan_integrity(tmp_path: Path) -> None:
    """``dump --integrity`` writes each file's row as ``scan`` writes integrity.csv (same
    cells: times in ISO-8601 UTC, text safe for spreadsheets), without the byte-order mark."""
    from evtxscan.synth.demo import write_demo

    write_demo(tmp_path / "demo")
    demo = tmp_path / "demo"
    assert main(["dump", str(demo), "-o", str(tmp_path / "r.jsonl"), "-q",
                 "--integrity", str(tmp_path / "i.csv")]) == 0  # fmt: skip
    assert main(["scan", str(demo), "--out", str(tmp_path / "out"), "-q", "--no-bom",
                 "--fail-on", "never"]) == 0  # fmt: skip
    dumped = (tmp_path / "i.csv").read_text(encoding="utf-8").splitlines()
    scanned = (tmp_path / "out" / "current" / "integrity.csv").read_text().splitlines()
    assert dumped[0] == scanned[0] and len(dumped) > 2
    assert sorted(dumped[1:]) == sorted(scanned[1:])


def test_the_command_exits_at_once_yet_runs_exit_handlers_and_flushes_output(
    tmp_path: Path, log: Path
) -> None:
    """``run`` skips the interpreter's teardown (``os._exit``): what a command printed into
    a pipe, and what exit handlers do, must still happen, and the exit code stand."""
    marker = tmp_path / "handler-ran"
    script = (
        "import atexit, pathlib, sys\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "atexit.register(print, 'last words')\n"  # buffered: the pipe gets it if flushed
        "from evtxscan.cli import run\n"
        f"sys.argv = ['evtxscan', 'dump', {str(log)!r}]\n"
        "run()\n"
    )
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, env=buffered
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["event_id"] == 7023
    assert done.stdout.splitlines()[-1] == "last words"
    assert marker.read_text() == "yes"
    failed = subprocess.run(
        [sys.executable, "-m", "evtxscan", "scan", str(log), "--no-such-option"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2 and "--no-such-option" in failed.stderr


def test_a_dump_into_a_pipe_closed_early_ends_with_its_workers(tmp_path: Path) -> None:
    """``evtxscan dump logs | head``: once the reader is gone the command ends (its worker
    processes too), rather than waiting for workers nobody stopped."""
    for host in range(3):
        events = [EventSpec("Service Control Manager", 7036, T0, computer=f"H{host}")] * 400
        write_evtx(tmp_path / f"h{host}" / "System.evtx", events)
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    command = [sys.executable, "-m", "evtxscan", "dump", str(tmp_path), "--jobs", "2", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=buffered)
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["event_id"] == 7036
    process.stdout.close()  # as ``head -1`` does: about 1,200 lines are never read
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the command did not end once its output was closed") from None
    assert process.returncode == 0  # not 1 ("diagnoses found"), click's code for it
