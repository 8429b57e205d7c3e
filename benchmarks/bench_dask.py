"""Benchmark the Dask engine against the local engine (run by hand; see RESULTS.md).

Throughput on the distinct 200-host collection (``/work/bench-data/coll200d``, built with
``../shared/bench-tools/make_distinct.py``), side by side in one run: bare pyevtx-rs (the
shared ``bare_pyevtx.py``, whole process), the local engine with 1 and 2 worker processes,
and a ``LocalCluster`` of 1 and 2 single-threaded worker processes (``--scheduler
local:N``). Every mode runs in a fresh subprocess, modes rotated within each round, medians
of ``--runs``; for the engines the timed span is the ``scan`` call (imports and the
cluster's start outside it: a long-lived cluster pays its start once; the start is
reported apart). Hosts are the collection's folders (``host_map=regex:...``), so the 200
hosts are 200 hosts (the files are copies of ~20 sample machines' logs).

Driver memory: the driver's peak RSS scanning 1x, 2x and 4x a subset of the collection
(``--memory-hosts`` host folders; distinct copies, each file marked as make_distinct.py
does, under ``--scratch``, never in the repository; every copy's folders are hosts of their
own), Dask against the local engine. Per-file and per-record costs (``--costs``): the local
engine on one worker over a fleet of small files and over the collection, solved for
``wall = files * a + records * b``.

    python3 benchmarks/bench_dask.py [--runs 3] [--copies 1,2,4] [--costs] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = ROOT.parent / "shared" / "bench-tools" / "bare_pyevtx.py"
COLLECTION = Path("/work/bench-data/coll200d")
SCRATCH = Path("/work/bench-data/dask-copies")
FLEET = Path("/work/bench-data/dask-fleet")  # many small writer-made files (per-file cost)
#: Every collection folder (and copy of one) is a host.
HOSTS = r"regex:(?P<host>(copy\d+/)?host\d+)"
MARK_OFFSET = 2000  # as make_distinct.py: header padding, outside the CRC and every field

_MODE = r"""
import json, os, resource, sys, time
mode, host_map, paths = sys.argv[1], sys.argv[2] or None, sys.argv[3:]
start, worker_mib, worker_cpu = 0.0, 0.0, 0.0
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def cpu(who=resource.RUSAGE_SELF):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
if mode.startswith("local"):
    from evtxscan.scanning import scan
    t0, c0, k0 = time.perf_counter(), cpu(), cpu(resource.RUSAGE_CHILDREN)
    result = scan(paths, workers=int(mode.split("-w")[1]), host_map=host_map)
    wall, driver_cpu = time.perf_counter() - t0, cpu() - c0
    worker_cpu = cpu(resource.RUSAGE_CHILDREN) - k0  # the pool's processes, once reaped
else:
    import evtxscan
    from evtxscan.dask import connect
    t = time.perf_counter()
    with connect("local:" + mode.split("-")[1]) as client:
        start = time.perf_counter() - t
        before = client.run(cpu)
        t0, c0 = time.perf_counter(), cpu()
        result = evtxscan.scan(paths, client=client, host_map=host_map)
        wall, driver_cpu = time.perf_counter() - t0, cpu() - c0
        worker_mib = max(client.run(peak).values())
        worker_cpu = sum(v - before[k] for k, v in client.run(cpu).items())
print(json.dumps({"records": int(result.hosts["records"].sum()), "wall": wall,
                  "diagnoses": len(result.diagnoses), "hosts": len(result.hosts),
                  "files": len(result.integrity), "start": start, "rss_mib": peak(),
                  "worker_mib": worker_mib, "driver_cpu": driver_cpu, "worker_cpu": worker_cpu,
                  "load": os.getloadavg()[0]}))
"""


def once(mode: str, paths: list[Path], host_map: str = HOSTS) -> dict[str, float]:
    """One mode in a fresh process: its figures (bare: the whole process's wall)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if mode == "bare":
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(BARE), *map(str, paths)],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        wall = time.perf_counter() - began
        fields = dict(item.split("=") for item in done.stdout.split())
        return {"records": int(fields["records"]), "wall": wall, "start": 0.0,
                "load": os.getloadavg()[0]}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _MODE, mode, host_map, *map(str, paths)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def subset(tree: Path, hosts: int) -> list[Path]:
    """The first ``hosts`` host directories of a collection tree (all: 0)."""
    found = sorted(p for p in tree.iterdir() if p.is_dir())
    return found[:hosts] if hosts else found


def copies(count: int, hosts: int) -> list[Path]:
    """The first ``hosts`` host folders of the collection and ``count - 1`` distinct copies
    of them (each file's header padding marked with a serial, as make_distinct.py does)."""
    paths = subset(COLLECTION, hosts)
    for index in range(1, count):
        tree = SCRATCH / f"copy{index}"
        done = tree / ".done"
        if not done.exists():
            shutil.rmtree(tree, ignore_errors=True)
            for serial, source in enumerate(
                f for folder in subset(COLLECTION, hosts) for f in sorted(folder.rglob("*.evtx"))
            ):
                target = tree / source.relative_to(COLLECTION)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                with open(target, "r+b") as handle:
                    handle.seek(MARK_OFFSET + 4)
                    handle.write(struct.pack("<I", 0x0C000000 + index * 65536 + serial))
            done.touch()
        paths += subset(tree, hosts)
    return paths


def costs(runs: int, speed: dict[str, list[dict[str, float]]]) -> dict[str, list[dict[str, float]]]:
    """Per-file and per-record costs of the local engine (one worker): a fleet of small
    files (median of ``runs``) against the collection (the throughput runs)."""
    if not FLEET.exists():
        from evtxscan.synth.scenarios import standard_collection

        standard_collection(noise=400).write(FLEET)
    found = {"fleet-w1": [once("local-w1", [FLEET], "") for _ in range(runs)]}
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


def throughput(runs: int, hosts: int, modes: list[str]) -> dict[str, list[dict[str, float]]]:
    found: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for round_ in range(runs):
        order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
        for mode in order:
            found[mode].append(once(mode, subset(COLLECTION, hosts)))
            print(mode, found[mode][-1], file=sys.stderr, flush=True)
    return found


def memory(counts: list[int], hosts: int) -> dict[str, dict[str, float]]:
    """Driver peak RSS by collection size, Dask and local (2 workers each)."""
    found = {}
    for count in counts:
        paths = copies(count, hosts)
        for mode in ("dask-2", "local-w2"):
            found[f"{mode} x{count}"] = once(mode, paths)
            print(mode, count, found[f"{mode} x{count}"], file=sys.stderr, flush=True)
    return found


def table(found: dict[str, list[dict[str, float]]]) -> str:
    def rate(run: dict[str, float]) -> float:
        return run["records"] / run["wall"]

    local = statistics.median(rate(r) for r in found["local-w2"])
    bare = statistics.median(rate(r) for r in found["bare"]) if "bare" in found else None
    lines = [
        "| mode | records | walls s (rounds) | median wall s | rec/s | x local w2 | x bare "
        "| cluster start s |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for mode, runs in found.items():
        walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        speed = statistics.median(rate(r) for r in runs)
        start = statistics.median(r["start"] for r in runs)
        versus = f"{speed / bare:.2f}" if bare else "-"
        lines.append(
            f"| {mode} | {int(runs[0]['records']):,} | {walls} | {wall:.1f} | {speed:,.0f} | "
            f"{speed / local:.2f} | {versus} | {start:.1f} |"
        )
    pairs = zip(found.get("dask-2", []), found["local-w2"], strict=False)
    ratios = [round(here["wall"] / there["wall"], 2) for there, here in pairs]
    lines.append(f"\ndask-2 throughput / local-w2 throughput, round by round: {ratios}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="bare,local-w2,dask-2,local-w1,dask-1")
    parser.add_argument("--hosts", type=int, default=0, help="first N hosts only (0: all 200)")
    parser.add_argument("--copies", default="1,2,4")
    parser.add_argument("--memory-hosts", type=int, default=50)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--costs", action="store_true", help="also per-file/per-record costs")
    args = parser.parse_args()
    if not COLLECTION.is_dir():
        sys.exit(f"{COLLECTION} is missing: build it with ../shared/bench-tools/make_distinct.py")
    print(f"load before: {os.getloadavg()} at {time.strftime('%H:%M:%S')}", flush=True)
    speed = {}
    if not args.skip_throughput:
        speed = throughput(args.runs, args.hosts, args.modes.split(","))
        print(table(speed), flush=True)
    unit_costs = costs(args.runs, speed) if args.costs and "local-w1" in speed else {}
    if unit_costs:
        per_file, per_record = solve(unit_costs)
        print(
            f"local engine, 1 worker: {per_file * 1e3:.1f} ms per file, "
            f"{per_record * 1e6:.1f} us per record",
            flush=True,
        )
    sizes = {}
    if not args.skip_memory:
        sizes = memory([int(c) for c in args.copies.split(",")], args.memory_hosts)
        for name, run in sizes.items():
            print(
                f"{name}: {int(run['files'])} files, {int(run['hosts'])} hosts, "
                f"{int(run['records']):,} records, driver peak RSS {run['rss_mib']:.0f} MiB, "
                f"worker peak {run['worker_mib']:.0f} MiB, wall {run['wall']:.1f} s, "
                f"driver CPU {run.get('driver_cpu', 0):.1f} s, workers' CPU "
                f"{run.get('worker_cpu', 0):.1f} s",
                flush=True,
            )
    print(f"load after: {os.getloadavg()} at {time.strftime('%H:%M:%S')}", flush=True)
    if args.json:
        report = {"throughput": speed, "costs": unit_costs, "memory": sizes}
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
