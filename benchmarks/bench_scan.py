"""Benchmark ``scan`` against bare pyevtx-rs iteration (run by hand; see RESULTS.md).

Each mode runs in a fresh subprocess (imports excluded), three times; medians of CPU and
wall time are reported with records/s and the ratio to bare ``records_json()`` iteration.
Inputs: the stitched real-chunk logs in ../shared/samples/bench and a many-host collection
made with the writer (the scenario fleet), all signatures shipped.

    python3 benchmarks/bench_scan.py [--hosts 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "samples" / "bench"

_MODE = r"""
import json, sys, time
mode, path = sys.argv[1], sys.argv[2]
if mode == "bare-json":
    from evtx import PyEvtxParser
    from pathlib import Path
    files = [Path(path)] if Path(path).is_file() else sorted(Path(path).rglob("*.evtx"))
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for f in files:
        it = PyEvtxParser(str(f), number_of_threads=1).records_json()
        while True:
            try:
                next(it)
                n += 1
            except StopIteration:
                break
            except RuntimeError:
                continue
else:
    from evtxscan.scanning import scan
    workers = int(mode.split("-w")[1]) if "-w" in mode else 1
    t0, c0 = time.perf_counter(), time.process_time()
    result = scan(path, workers=workers)
    n = int(result.hosts["records"].sum())
import resource
cpu = time.process_time() - c0 + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
print(json.dumps({"records": n, "wall": time.perf_counter() - t0, "cpu": cpu,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run(mode: str, path: Path, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _MODE, mode, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "records": results[0]["records"],
        "wall": statistics.median(r["wall"] for r in results),
        "cpu": statistics.median(r["cpu"] for r in results),
        "rss_mib": max(r["rss_kib"] for r in results) / 1024,
    }


def fleet(directory: Path, hosts: int) -> Path:
    from evtxscan.synth.scenarios import standard_collection

    standard_collection(noise=hosts).write(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200, help="noise hosts in the fleet")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not BENCH.is_dir():
        sys.exit(f"benchmark inputs not found: {BENCH}")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {p.name: p for p in sorted(BENCH.glob("*.evtx"))}
        inputs[f"fleet-{args.hosts}-hosts"] = fleet(Path(tmp), args.hosts)
        for name, path in inputs.items():
            bare = run("bare-json", path, args.runs)
            print(f"\n{name}: {bare['records']:,} records")
            print(
                f"{'mode':<10} {'CPU s':>7} {'wall s':>7} {'rec/s (wall)':>13} "
                f"{'x bare':>7} {'peak RSS MiB':>13}"
            )
            for mode in ("bare-json", "scan-w1", "scan-w2"):
                row = bare if mode == "bare-json" else run(mode, path, args.runs)
                rate = row["records"] / row["wall"]
                ratio = rate / (bare["records"] / bare["wall"])
                print(
                    f"{mode:<10} {row['cpu']:>7.3f} {row['wall']:>7.3f} {rate:>13,.0f} "
                    f"{ratio:>7.2f} {row['rss_mib']:>13.0f}"
                )


if __name__ == "__main__":
    main()
