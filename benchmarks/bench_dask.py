"""Benchmark the Dask engine against the local engine (run by hand; see RESULTS.md).

Throughput on the distinct 200-host collection (``/work/bench-data/coll200d``, built with
``../shared/bench-tools/make_distinct.py``): bare pyevtx-rs, the local engine with 1 and 2
worker processes, and a ``LocalCluster`` of 1 and 2 single-threaded worker processes. Every
mode runs in a fresh subprocess, modes rotated within each round, medians of ``--runs``;
the cluster's start is timed apart (a long-lived cluster pays it once). Driver memory: the
driver's peak RSS scanning 1x, 2x and 4x the collection (copies made of hard links under
``--scratch``, never in the repository), Dask against the local engine.

    python3 benchmarks/bench_dask.py [--runs 3] [--copies 1,2,4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

COLLECTION = Path("/work/bench-data/coll200d")
SCRATCH = Path("/work/bench-data/dask-copies")
FLEET = Path("/work/bench-data/dask-fleet")  # many small writer-made files (per-file cost)

_MODE = r"""
import json, os, resource, sys, time
mode, paths = sys.argv[1], sys.argv[2:]
start = 0.0
if mode == "bare":
    from evtx import PyEvtxParser
    from pathlib import Path
    files = [f for p in paths for f in sorted(Path(p).rglob("*.evtx"))]
    t0 = time.perf_counter()
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
    diagnoses = 0
elif mode.startswith("local"):
    from evtxscan.scanning import scan
    t0 = time.perf_counter()
    result = scan(paths, workers=int(mode.split("-w")[1]))
    n, diagnoses = int(result.hosts["records"].sum()), len(result.diagnoses)
else:
    import evtxscan
    from evtxscan.dask import connect
    t = time.perf_counter()
    with connect("local:" + mode.split("-")[1]) as client:
        start = time.perf_counter() - t
        t0 = time.perf_counter()
        result = evtxscan.scan(paths, client=client)
        wall = time.perf_counter() - t0
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker_mib = max(client.run(peak).values())
    n, diagnoses = int(result.hosts["records"].sum()), len(result.diagnoses)
wall = locals().get("wall") or time.perf_counter() - t0
print(json.dumps({"records": n, "diagnoses": diagnoses, "wall": wall, "start": start,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_mib": locals().get("worker_mib", 0.0),
                  "files": len(result.integrity) if mode != "bare" else 0,
                  "load": os.getloadavg()[0]}))
"""


def once(mode: str, paths: list[Path]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _MODE, mode, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def subset(tree: Path, hosts: int) -> list[Path]:
    """The first ``hosts`` host directories of a collection tree (all: 0)."""
    found = sorted(p for p in tree.iterdir() if p.is_dir())
    return found[:hosts] if hosts else found


def copies(count: int, hosts: int = 0) -> list[Path]:
    """``count`` copies of the collection (its first ``hosts`` hosts): the original and
    hard-linked trees."""
    trees = [COLLECTION]
    for index in range(1, count):
        tree = SCRATCH / f"copy{index}"
        if not tree.exists():
            for source in sorted(COLLECTION.rglob("*")):
                target = tree / source.relative_to(COLLECTION)
                if source.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(source, target)
        trees.append(tree)
    return [p for tree in trees for p in subset(tree, hosts)]


def costs(runs: int, speed: dict[str, list[dict[str, float]]]) -> dict[str, list[dict[str, float]]]:
    """Per-file and per-record costs of the local engine (one worker): a fleet of small
    files (median of ``runs``) against the collection (the throughput runs)."""
    if not FLEET.exists():
        from evtxscan.synth.scenarios import standard_collection

        standard_collection(noise=400).write(FLEET)
    found = {"fleet-w1": [once("local-w1", [FLEET]) for _ in range(runs)]}
    found["collection-w1"] = speed["local-w1"]
    return found


def solve(found: dict[str, list[dict[str, float]]]) -> tuple[float, float]:
    """Seconds per file and per record from wall = files * a + records * b (two inputs)."""
    rows = []
    for name in ("fleet-w1", "collection-w1"):
        runs = found[name]
        wall = statistics.median(r["wall"] for r in runs)
        rows.append((runs[0]["files"], runs[0]["records"], wall))
    (f1, r1, t1), (f2, r2, t2) = rows
    per_record = (t2 * f1 - t1 * f2) / (r2 * f1 - r1 * f2)
    return (t1 - r1 * per_record) / f1, per_record


def throughput(runs: int, hosts: int) -> dict[str, list[dict[str, float]]]:
    modes = ["bare", "local-w2", "dask-2", "local-w1", "dask-1"]
    found: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for round_ in range(runs):
        order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
        for mode in order:
            found[mode].append(once(mode, subset(COLLECTION, hosts)))
            print(mode, found[mode][-1], file=sys.stderr, flush=True)
    return found


def memory(counts: list[int], hosts: int) -> dict[str, dict[str, float]]:
    """Driver peak RSS by collection size: Dask at every size, local at the ends."""
    found = {}
    for count in counts:
        modes = ("dask-2", "local-w2") if count in (counts[0], counts[-1]) else ("dask-2",)
        for mode in modes:
            found[f"{mode} x{count}"] = once(mode, copies(count, hosts))
            print(mode, count, found[f"{mode} x{count}"], file=sys.stderr, flush=True)
    return found


def table(found: dict[str, list[dict[str, float]]]) -> str:
    bare = statistics.median(r["records"] / r["wall"] for r in found["bare"])
    local = statistics.median(r["records"] / r["wall"] for r in found["local-w2"])
    lines = [
        "| mode | records | median wall s | rec/s | x bare | x local w2 | cluster start s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, runs in found.items():
        wall = statistics.median(r["wall"] for r in runs)
        rate = statistics.median(r["records"] / r["wall"] for r in runs)
        start = statistics.median(r["start"] for r in runs)
        lines.append(
            f"| {mode} | {runs[0]['records']:,} | {wall:.1f} | {rate:,.0f} | "
            f"{rate / bare:.2f} | {rate / local:.2f} | {start:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--copies", default="1,2,4")
    parser.add_argument("--hosts", type=int, default=0, help="first N hosts only (0: all 200)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--costs", action="store_true", help="also per-file/per-record costs")
    args = parser.parse_args()
    if not COLLECTION.is_dir():
        sys.exit(f"{COLLECTION} is missing: build it with ../shared/bench-tools/make_distinct.py")
    print(f"load before: {os.getloadavg()}", flush=True)
    speed = {} if args.skip_throughput else throughput(args.runs, args.hosts)
    if speed:
        print(table(speed), flush=True)
    unit_costs = costs(args.runs, speed) if args.costs and speed else {}
    if unit_costs:
        per_file, per_record = solve(unit_costs)
        print(
            f"local engine, 1 worker: {per_file * 1e3:.1f} ms per file, "
            f"{per_record * 1e6:.1f} us per record",
            flush=True,
        )
    sizes = memory([int(c) for c in args.copies.split(",")], args.hosts)
    for name, run in sizes.items():
        print(
            f"{name}: {run['records']:,} records, driver peak RSS {run['rss_mib']:.0f} MiB, "
            f"wall {run['wall']:.1f} s"
        )
    print(f"load after: {os.getloadavg()}", flush=True)
    if args.json:
        report = {"throughput": speed, "costs": unit_costs, "memory": sizes}
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
