"""Benchmark the cost of Sigma rules in a scan (run by hand; see RESULTS.md, "Sigma rules").

Side by side on the same collection, each mode in a fresh subprocess (imports excluded),
modes rotated between rounds, median of ``--runs`` (at least 3):

- ``bare-json``: bare pyevtx-rs ``records_json()`` iteration (the house baseline);
- ``scan``: ``evtxscan.scan(collection, workers=1)`` with the shipped signatures (one
  process: CPU time is the steadiest figure on a shared machine; ``--workers`` to change);
- ``scan+sigma``: the same with ``sigma=`` every detection rule and the correlation examples
  in ../shared/sigma (229 detection and 2 correlation rules), rule loading included.

The target: ``scan+sigma`` within 1.5x of ``scan`` (wall and CPU, worker CPU included).
The collection is the 200-host "coll200d" built with ../shared/bench-tools
(make_collection.py, then make_distinct.py), or any directory given with ``--collection``.
The load (``os.getloadavg``) is printed with every run: the machine is shared.

    python3 benchmarks/bench_sigma.py [--hosts 200] [--runs 3] [--collection DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TOOLS = SHARED / "bench-tools"
SIGMA = SHARED / "sigma"

_MODE = r"""
import json, resource, sys, time
mode, path, sigma, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from pathlib import Path
if mode == "bare-json":
    from evtx import PyEvtxParser
    files = sorted(Path(path).rglob("*.evtx"))
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
    extra = {}
else:
    from evtxscan.scanning import scan
    import evtxscan.signatures.sigma.loading  # import cost outside the clock, as for scan
    t0, c0 = time.perf_counter(), time.process_time()
    result = scan(path, sigma=sigma if mode == "scan+sigma" else None, workers=workers)
    n = int(result.hosts["records"].sum())
    kinds = result.diagnoses["kind"].value_counts().to_dict()
    extra = {"diagnoses": {str(k): int(v) for k, v in kinds.items()}}
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"records": n, "wall": time.perf_counter() - t0,
                  "cpu": time.process_time() - c0 + children.ru_utime + children.ru_stime,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  **extra}))
"""

MODES = ("bare-json", "scan", "scan+sigma")


def _run(mode: str, path: Path, workers: int) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", _MODE, mode, str(path), str(SIGMA), str(workers)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    row: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    row["load"] = (load_before, os.getloadavg()[0])
    return row


def _collection(directory: Path, hosts: int) -> Path:
    plain, distinct = directory / "coll", directory / "coll-distinct"
    subprocess.run(
        [
            sys.executable,
            str(TOOLS / "make_collection.py"),
            str(SHARED / "samples"),
            str(plain),
            "--hosts",
            str(hosts),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, str(TOOLS / "make_distinct.py"), str(plain), str(distinct)],
        check=True,
        capture_output=True,
    )
    return distinct


def _rule_loading() -> float:
    code = (
        "import time; from evtxscan.signatures.sigma import load_sigma; t = time.perf_counter();"
        f" s = load_sigma({str(SIGMA)!r}); print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--collection", type=Path, help="an existing collection directory")
    parser.add_argument("--json", type=Path, help="also write the raw runs here")
    parser.add_argument(
        "--workers", type=int, default=1, help="scan(workers=...) for both scan modes"
    )
    args = parser.parse_args()
    if args.runs < 3:
        sys.exit("--runs must be at least 3 (medians of 3 or more)")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.collection or _collection(Path(tmp), args.hosts)
        runs: dict[str, list[dict[str, object]]] = {m: [] for m in MODES}
        for round_number in range(args.runs):
            order = MODES[round_number % 3 :] + MODES[: round_number % 3]  # rotated
            for mode in order:
                row = _run(mode, path, args.workers)
                runs[mode].append(row)
                print(f"round {round_number + 1} {mode:<11} {json.dumps(row)}", flush=True)
    loading = statistics.median(_rule_loading() for _ in range(3))
    medians = {
        m: {k: statistics.median(float(r[k]) for r in rows) for k in ("wall", "cpu")}  # type: ignore[arg-type]
        for m, rows in runs.items()
    }
    records = runs["scan"][0]["records"]
    print(f"\n{path}: {records:,} records; Sigma rule loading alone {loading:.2f} s (median of 3)")
    print(f"{'mode':<11} {'wall s':>7} {'CPU s':>7} {'x scan (wall)':>14} {'x scan (CPU)':>13}")
    for mode, row in medians.items():
        print(
            f"{mode:<11} {row['wall']:>7.2f} {row['cpu']:>7.2f} "
            f"{row['wall'] / medians['scan']['wall']:>14.3f} "
            f"{row['cpu'] / medians['scan']['cpu']:>13.3f}"
        )
    loads = [load for rows in runs.values() for r in rows for load in r["load"]]  # type: ignore[attr-defined]
    print(f"1-minute load average during the runs: {min(loads):.2f} to {max(loads):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "medians": medians, "loading": loading}))


if __name__ == "__main__":
    main()
