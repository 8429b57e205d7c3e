"""Issue 10's fixed costs: the cost of one more file, and a whole process on the bench logs.

1. **Per extra file.** Writes the same records twice (``evtxscan.synth``): as ``--files``
   small distinct files, one per host, and as one file holding all of them (the same hosts
   and events, so correlation has the same work). ``scan --jobs 1`` of both, and bare
   pyevtx-rs of both; a file's fixed cost is the difference divided by the extra files.
   Target: at most 0.1 ms per extra file beyond its records.
2. **A whole process on the bench logs** (``../shared/samples/bench``, 48 MiB): ``scan``
   with defaults, and bare pyevtx-rs. Target: at most 2x bare's time.

Each command is a fresh process (imports included), commands rotated, medians of ``--runs``;
the load average is printed before and after::

    python3 benchmarks/bench_fixed_costs.py
    python3 benchmarks/bench_fixed_costs.py --files 400 --records 25 --runs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collection import BARE, ROOT, compile_bytecode, run_once

from evtxscan.synth import EventSpec, write_evtx

BENCH_LOGS = ROOT.parent / "shared" / "samples" / "bench"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def host_events(host: int, records: int) -> list[EventSpec]:
    """A small, varied System log of one host: a boot, service changes, warnings, errors."""
    name = f"HOST{host:04d}"
    start = T0 + timedelta(minutes=host)
    events = [EventSpec("EventLog", 6005, start, name, data=())]
    for i in range(1, records):
        when = start + timedelta(seconds=17 * i)
        if i % 7 == 0:
            events.append(EventSpec("Service Control Manager", 7000, when, name, level=2,
                                    data=(("param1", f"Service{i % 5}"),
                                          ("param2", "%%2"))))  # fmt: skip
        elif i % 5 == 0:
            events.append(EventSpec("Tcpip", 4199, when, name, level=3,
                                    data=((None, f"10.0.{host % 250}.{i % 250}"),)))  # fmt: skip
        else:
            events.append(EventSpec("Service Control Manager", 7036, when, name,
                                    data=(("param1", f"Service{i % 9}"),
                                          ("param2", "running"))))  # fmt: skip
    return events


def write_inputs(root: Path, files: int, records: int) -> tuple[Path, Path]:
    """``many``: one file per host; ``one``: every host's records in one file."""
    many, one = root / "many", root / "one"
    every: list[EventSpec] = []
    for host in range(files):
        events = host_events(host, records)
        write_evtx(many / f"host{host:04d}" / "System.evtx", events)
        every += events
    write_evtx(one / "System.evtx", every)
    return many, one


def commands(many: Path, one: Path, out: Path) -> dict[str, list[str]]:
    python = sys.executable

    def scan(path: Path, name: str, *extra: str) -> list[str]:
        return [python, "-m", "evtxscan", "scan", str(path), "--out", str(out / name), "-q",
                "--fail-on", "never", *extra]  # fmt: skip

    return {
        "bare-many": [python, str(BARE), str(many)],
        "bare-one": [python, str(BARE), str(one)],
        "scan-j1-many": scan(many, "many", "--jobs", "1"),
        "scan-j1-one": scan(one, "one", "--jobs", "1"),
        "bare-benchlogs": [python, str(BARE), str(BENCH_LOGS)],
        "scan-benchlogs": scan(BENCH_LOGS, "bench"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--records", type=int, default=25)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="evtxscan-fixed-"))
    try:
        many, one = write_inputs(work, args.files, args.records)
        argvs = commands(many, one, work / "out")
        if not BENCH_LOGS.is_dir():
            argvs = {k: v for k, v in argvs.items() if not k.endswith("benchlogs")}
            print(f"{BENCH_LOGS} is absent: the whole-process comparison is skipped")
        load_before = os.getloadavg()
        walls: dict[str, list[float]] = {name: [] for name in argvs}
        for _ in range(args.runs):
            for name, argv in argvs.items():  # rotated
                walls[name].append(run_once(argv)["wall"])
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = {name: statistics.median(runs) for name, runs in walls.items()}
    print(f"{args.files} files x {args.records} records; {args.runs} runs per command, rotated; "
          f"load {load_before[0]:.2f} -> {load_after[0]:.2f} (1 min)")  # fmt: skip
    print("| command | median wall s |")
    print("|---|---:|")
    for name, seconds in wall.items():
        print(f"| {name} | {seconds:.3f} |")
    extra = args.files - 1
    for tool in ("scan-j1", "bare"):
        per_file = (wall[f"{tool}-many"] - wall[f"{tool}-one"]) / extra * 1000
        print(f"{tool}: {per_file:.2f} ms per extra file (target for scan: <= 0.1 ms)")
    if "scan-benchlogs" in wall:
        ratio = wall["scan-benchlogs"] / wall["bare-benchlogs"]
        print(f"bench logs: scan takes {ratio:.1f}x bare's whole process (target: <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
