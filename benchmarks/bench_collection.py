"""Whole commands on a collection, side by side with bare pyevtx-rs (issue 10's targets).

Every mode is one fresh process timed from start to exit (interpreter start-up and imports
included, as a user waits for them); modes are rotated and each is run ``--runs`` times, and
the median wall time, CPU time (user + system, worker processes included) and peak RSS (the
largest process of the tree) are reported with the throughput ratio to bare pyevtx-rs::

    python3 benchmarks/bench_collection.py /work/bench-data/coll200d
    python3 benchmarks/bench_collection.py ../shared/samples/bench --modes bare,scan,scan-j1
    python3 benchmarks/bench_collection.py DIR --runs 5 --json /tmp/bench.json

Modes: ``bare`` (../shared/bench-tools/bare_pyevtx.py), ``index`` (the record index alone
over every chunk slot of every file: ``index_files``, numpy and Arrow only), ``scan``
(``evtxscan scan`` with defaults), ``scan-j1`` (``--jobs 1``), ``dump-parquet``
(``evtxscan dump --format parquet``, every column; ``dump-jsonl`` and ``dump-csv`` the
same as text, on request). The load average is printed before and after: on a shared
machine, say it with the numbers.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = ROOT.parent / "shared" / "bench-tools" / "bare_pyevtx.py"

_INDEX = r"""
import os, sys
from evtxscan.sources.evtx.index import index_files
paths = []
for root, dirs, names in os.walk(sys.argv[1]):
    dirs.sort()
    paths += [os.path.join(root, name) for name in sorted(names)]
print(len(index_files([p for p in paths if os.path.getsize(p)])), "records")
"""


def command(mode: str, path: Path, out: Path) -> list[str]:
    python = sys.executable
    if mode == "bare":
        return [python, str(BARE), str(path)]
    if mode == "index":
        return [python, "-c", _INDEX, str(path)]
    common = ["-m", "evtxscan"]
    if mode in ("scan", "scan-j1"):
        extra = ["--jobs", "1"] if mode == "scan-j1" else []
        return [python, *common, "scan", str(path), "--out", str(out / mode), "-q",
                "--fail-on", "never", *extra]  # fmt: skip
    if mode.startswith("dump-") and mode[5:] in ("parquet", "jsonl", "csv"):
        fmt = mode[5:]
        return [python, *common, "dump", str(path), "--format", fmt, "-q",
                "-o", str(out / f"records.{fmt}")]  # fmt: skip
    raise ValueError(f"unknown mode {mode}")


def compile_bytecode() -> None:
    """Compile the package's bytecode first, as ``pip install`` does: a checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set (or a read-only one) would otherwise compile every
    changed module again in every run, about 0.1 s that an installed tool never pays."""
    compileall.compile_dir(ROOT / "evtxscan", quiet=1)


def run_once(argv: list[str]) -> dict[str, float]:
    """Wall, CPU (the whole process tree) and peak RSS of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if status != 0:
        raise RuntimeError(f"{argv} failed ({status}): {stderr[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="bare,index,scan,scan-j1,dump-parquet")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    modes = args.modes.split(",")
    compile_bytecode()
    out = Path(tempfile.mkdtemp(prefix="evtxscan-bench-"))
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    load_before = os.getloadavg()
    try:
        for _ in range(args.runs):
            for mode in modes:  # rotated: each round runs every mode once
                samples[mode].append(run_once(command(mode, args.path, out)))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    load_after = os.getloadavg()
    table = {}
    for mode, runs in samples.items():
        table[mode] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    bare = table.get("bare")
    print(f"{args.path}: {args.runs} runs per mode, rotated; load {load_before[0]:.2f} -> "
          f"{load_after[0]:.2f} (1 min)")  # fmt: skip
    print("| mode | median wall s | median CPU s | peak RSS MiB | x bare (wall) | x bare (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, row in table.items():
        ratio = f"{bare['wall'] / row['wall']:.2f}" if bare else "-"
        cpu_ratio = f"{bare['cpu'] / row['cpu']:.2f}" if bare else "-"
        print(f"| {mode} | {row['wall']:.2f} | {row['cpu']:.2f} | {row['rss_mib']:.0f} | "
              f"{ratio} | {cpu_ratio} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"load": [load_before, load_after], "modes": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
