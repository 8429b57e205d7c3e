"""Benchmark the EVTX record index and the on-demand decoder against bare pyevtx-rs.

Three modes, each a fresh process over the same collection, run side by side in rotated
order, ``--runs`` times (median reported):

- ``bare``: ``../shared/bench-tools/bare_pyevtx.py`` (``records_json()`` over every file);
- ``index``: read every file and build the record index (:func:`index_files`): every
  record's position and System fields;
- ``decode``: full normalization of every record into record-schema batches
  (:func:`decode_sources`), the work ``dump`` does before writing.

Ratios are bare's wall time over the mode's (the same files and records; the index and the
decoder also read the 3,485 records left in chunk slack, which bare does not). Whole
processes are compared (interpreter start and imports included), and the in-process time
after imports is shown beside. The load (``uptime``) is printed before and after.

    python3 benchmarks/bench_index.py /work/bench-data/coll200d [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = ROOT.parent / "shared" / "bench-tools" / "bare_pyevtx.py"

_MODE = r"""
import json, os, sys, time
started = time.perf_counter()
mode, path = sys.argv[1], sys.argv[2]
if mode == "index":
    from evtxscan.sources.evtx.index import index_files
else:
    from evtxscan.sources.evtx.decode import decode_sources
    from evtxscan.sources.evtx.reader import RangeResult, chunk_ranges
imported = time.perf_counter()
paths = []
for root, dirs, files in os.walk(path):
    dirs.sort()
    paths += [os.path.join(root, f) for f in sorted(files) if f.endswith(".evtx")]


def contents():
    for number, name in enumerate(paths):
        with open(name, "rb") as handle:
            data = handle.read()
        first = 0 if data[:8] == b"ElfChnk\x00" else 4096
        yield number, name, data, chunk_ranges(len(data), first, 64)


if mode == "index":
    records = len(index_files(paths))
else:
    items = ((name, data, spans, RangeResult()) for _n, name, data, spans in contents())
    records = sum(len(frame) for frame in decode_sources(items))
done = time.perf_counter()
print(json.dumps({"records": records, "imports": imported - started, "work": done - imported}))
"""


def _timed(command: list[str]) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1]
    return wall, json.loads(last) if last.startswith("{") else {"line": last}


def _command(mode: str, path: Path) -> list[str]:
    if mode == "bare":
        return [sys.executable, str(BARE), str(path)]
    return [sys.executable, "-c", _MODE, mode, str(path)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="bare,index,decode")
    args = parser.parse_args()
    modes = args.modes.split(",")
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env_path}" if env_path else str(ROOT)
    print("load before:", os.getloadavg())
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    inner: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for run in range(args.runs):
        for mode in modes[run % len(modes) :] + modes[: run % len(modes)]:  # rotated
            wall, found = _timed(_command(mode, args.collection))
            walls[mode].append(wall)
            inner[mode].append(found)
    print("load after: ", os.getloadavg())
    bare = statistics.median(walls["bare"]) if "bare" in walls else None
    print("| mode | records | wall (median) | x bare (wall) | imports | work after imports |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        wall = statistics.median(walls[mode])
        ratio = f"{bare / wall:.2f}" if bare else "-"
        found = inner[mode][0]
        records = found.get("records", found.get("line", ""))
        imports = statistics.median(r.get("imports", 0.0) for r in inner[mode])
        work = statistics.median(r.get("work", 0.0) for r in inner[mode])
        print(f"| {mode} | {records} | {wall:.2f} s | {ratio} | {imports:.2f} s | {work:.2f} s |")
    print("all walls:", json.dumps({m: [round(w, 2) for w in ws] for m, ws in walls.items()}))


if __name__ == "__main__":
    main()
