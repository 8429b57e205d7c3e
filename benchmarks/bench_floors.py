"""Floors under issue 10's whole-command targets: what a process must spend before any of
our reading, decoding or correlating code runs, side by side with bare pyevtx-rs.

A target is a ratio of whole processes (interpreter start and imports included). Some of a
process's time does not depend on how fast our code is: starting Python and importing what
a command needs (pandas, for a ``scan``, whose results are DataFrames), and, for ``scan``,
indexing every record (a scan chooses what to decode from the index's columns). This
script measures those parts in fresh processes, rotated with bare pyevtx-rs and with the
commands themselves (medians of ``--runs``), and derives the best ratio each command could
reach if everything else it does took no time::

    python3 benchmarks/bench_floors.py /work/bench-data/coll200d
    python3 benchmarks/bench_floors.py /work/bench-data/coll200d --runs 5 --json /tmp/f.json

Modes: ``bare``; ``python`` (``python3 -c pass``); ``scan-empty`` (``evtxscan scan`` of an
empty directory: the imports and fixed costs of a scan, no input); ``index-imports`` (the
record index's imports: numpy, pyarrow); ``index-read`` (the same imports, then every chunk
slot read into the index's batch buffers exactly as ``index_files`` reads them, none
walked); ``index`` (the record index alone over every chunk slot, as in
``bench_collection.py``); ``sha256`` (every file read and hashed in one
thread, as the integrity table's ``sha256`` column needs); ``scan-j1`` and ``scan``. With
``--bench-logs`` (``../shared/samples/bench``), ``bare-bench`` too: the floor of issue 10's
"whole scan of the bench logs within 2x a whole bare process".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collection import _INDEX, BARE, ROOT, command, compile_bytecode, run_once

BENCH_LOGS = ROOT.parent / "shared" / "samples" / "bench"

_INDEX_IMPORTS = "import evtxscan.sources.evtx.index"
INDEX_TARGET = 2.5  # issue 10: the index alone at 2.5x bare's throughput

#: ``bench_collection``'s index mode with the walk taken out: what reading costs the index.
_INDEX_READ = _INDEX.replace(
    "from evtxscan.sources.evtx.index import index_files",
    "import evtxscan.sources.evtx.index as index\n"
    "empty = index.RecordIndex.concat([])\n"
    "index._index_set = lambda chunks, cache: empty\n"
    "index_files = index.index_files",
)
assert _INDEX_READ != _INDEX, "bench_collection's index mode no longer imports index_files"

_SHA256 = r"""
import hashlib, os, sys
total = 0
for root, dirs, names in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(names):
        with open(os.path.join(root, name), "rb") as handle:
            digest = hashlib.sha256()
            while block := handle.read(1 << 20):
                digest.update(block)
                total += len(block)
print(total, "bytes")
"""


def commands(path: Path, out: Path, empty: Path, bench_logs: bool) -> dict[str, list[str]]:
    """The modes' command lines (each run as a fresh process)."""
    python = sys.executable
    found = {
        "bare": [python, str(BARE), str(path)],
        "python": [python, "-c", "pass"],
        "scan-empty": [
            python,
            "-m",
            "evtxscan",
            "scan",
            str(empty),
            "--out",
            str(out / "empty"),
            "-q",
            "--fail-on",
            "never",
        ],
        "index-imports": [python, "-c", _INDEX_IMPORTS],
        "index-read": [python, "-c", _INDEX_READ, str(path)],
        "index": [python, "-c", _INDEX, str(path)],
        "sha256": [python, "-c", _SHA256, str(path)],
        "scan-j1": command("scan-j1", path, out),
        "scan": command("scan", path, out),
    }
    if bench_logs:
        found["bare-bench"] = [python, str(BARE), str(BENCH_LOGS)]
    return found


def floors(wall: dict[str, float]) -> list[tuple[str, float, float, str]]:
    """(what, floor seconds, best ratio to bare, how it is derived) per whole command."""
    bare = wall["bare"]
    indexing = max(wall["index"] - wall["index-imports"], 0.0)
    fixed = wall["scan-empty"]
    rows = [
        (
            "index alone",
            wall["index-read"],
            bare / wall["index-read"],
            "its imports and reading every chunk slot (the walk itself taking no time)",
        ),
        (
            "scan --jobs 1",
            fixed + indexing,
            bare / (fixed + indexing),
            "scan-empty + indexing every record (index - index-imports)",
        ),
        (
            "scan (2 processes)",
            fixed + indexing / 2,
            bare / (fixed + indexing / 2),
            "scan-empty + indexing split evenly over two cores",
        ),
    ]
    if "bare-bench" in wall:
        rows.append(
            (
                "scan of the bench logs",
                fixed,
                wall["bare-bench"] / fixed,
                "scan-empty alone, against bare on the bench logs",
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="evtxscan-floors-"))
    empty = work / "empty-input"
    empty.mkdir()
    argvs = commands(args.path, work / "out", empty, BENCH_LOGS.is_dir())
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in argvs}
    load_before = os.getloadavg()
    try:
        for _ in range(args.runs):
            for name, argv in argvs.items():  # rotated: each round runs every mode once
                samples[name].append(run_once(argv))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    wall = {name: statistics.median(r["wall"] for r in runs) for name, runs in samples.items()}
    cpu = {name: statistics.median(r["cpu"] for r in runs) for name, runs in samples.items()}
    print(
        f"{args.path}: {args.runs} runs per mode, rotated; load {load_before[0]:.2f} -> "
        f"{load_after[0]:.2f} (1 min)"
    )
    print("| mode | median wall s | median CPU s | x bare (wall) |")
    print("|---|---:|---:|---:|")
    for name in argvs:
        print(f"| {name} | {wall[name]:.3f} | {cpu[name]:.3f} | {wall['bare'] / wall[name]:.2f} |")
    print("\n| command | floor s | best possible x bare | floor = |")
    print("|---|---:|---:|---|")
    for what, seconds, ratio, how in floors(wall):
        print(f"| {what} | {seconds:.2f} | {ratio:.2f} | {how} |")
    budget = wall["bare"] / INDEX_TARGET - wall["index-read"]
    walk = wall["index"] - wall["index-read"]
    print(
        f"\nThe index at {INDEX_TARGET}x bare leaves {budget:.2f} s to walk every record; "
        f"the walk takes {walk:.2f} s (index - index-read)."
    )
    if args.json:
        args.json.write_text(json.dumps({"load": [load_before, load_after], "modes": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
