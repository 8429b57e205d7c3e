"""Record-reading throughput: bare pyevtx-rs and python-evtx against ``evtxscan.read_records``.

Every run of every mode happens in a fresh interpreter; imports and setup are outside the
timed region. Run by hand (see benchmarks/README.md), never from the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import mmap
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples" / "bench"
DEFAULT_INPUTS = [SAMPLES / "system-stitched.evtx", SAMPLES / "security-stitched.evtx"]
PY_CHUNKS = 4  # python-evtx modes read only the first chunks (~300 records/s)
MODES = [
    "bare-json",
    "bare-xml",
    "json.loads+5",
    "read_records",
    "read_records-w2",
    "python-evtx",
    "read_records-python",
]


def _resuming(records: Iterator[Any]) -> Iterator[Any]:
    """Records of a pyevtx-rs iterator, skipping (not stopping at) bad ones."""
    while True:
        try:
            yield next(records)
        except StopIteration:
            return
        except RuntimeError:
            continue


def _bare(path: str, xml: bool) -> int:
    from evtx import PyEvtxParser

    parser = PyEvtxParser(path, number_of_threads=1)
    count = 0
    for _ in _resuming(parser.records() if xml else parser.records_json()):
        count += 1
    return count


def _json_five(path: str) -> int:
    from evtx import PyEvtxParser

    count = 0
    for record in _resuming(PyEvtxParser(path, number_of_threads=1).records_json()):
        system = json.loads(record["data"])["Event"]["System"]
        for key in ("EventID", "TimeCreated", "Computer", "Channel", "EventRecordID"):
            system.get(key)
        count += 1
    return count


def _read_records(path: str, workers: int = 1, backend: str = "rust") -> int:
    import evtxscan

    return sum(
        len(batch) for batch in evtxscan.read_records(path, backend=backend, workers=workers)
    )


def _python_evtx(path: str) -> int:
    from Evtx.Evtx import FileHeader

    count = 0
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        header = FileHeader(buf, 0)
        for index, chunk in enumerate(header.chunks()):
            if index == PY_CHUNKS:
                break
            for record in chunk.records():
                record.xml()
                count += 1
    return count


RUNNERS: dict[str, Callable[[str, str], int]] = {
    "bare-json": lambda path, _: _bare(path, xml=False),
    "bare-xml": lambda path, _: _bare(path, xml=True),
    "json.loads+5": lambda path, _: _json_five(path),
    "read_records": lambda path, _: _read_records(path),
    "read_records-w2": lambda path, _: _read_records(path, workers=2),
    "python-evtx": lambda path, _: _python_evtx(path),
    "read_records-python": lambda _, small: _read_records(small, backend="python"),
}


def run_child(mode: str, path: str, small: str) -> None:
    """Import everything, time one mode once, print a JSON line."""
    import evtx  # noqa: F401  (imports are excluded from the timing)
    import Evtx.Evtx  # noqa: F401

    import evtxscan
    import evtxscan.sources.evtx.python_backend  # noqa: F401  (imported lazily by the reader)

    children = os.times()
    cpu, wall = time.process_time(), time.perf_counter()
    records = RUNNERS[mode](path, small)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = os.times()
    child_cpu = (after.children_user - children.children_user) + (
        after.children_system - children.children_system
    )
    print(json.dumps({"records": records, "cpu": cpu, "wall": wall, "child_cpu": child_cpu}))


def small_image(path: Path, out_dir: Path) -> Path:
    """A file of the first PY_CHUNKS chunk slots of ``path`` (for read_records-python)."""
    from evtxscan.sources.evtx.layout import CHUNK_SIZE, FILE_HEADER_SIZE, chunk_image

    data = path.read_bytes()
    chunks = [
        data[FILE_HEADER_SIZE + i * CHUNK_SIZE : FILE_HEADER_SIZE + (i + 1) * CHUNK_SIZE]
        for i in range(PY_CHUNKS)
    ]
    out = out_dir / f"{path.stem}-first{PY_CHUNKS}.evtx"
    out.write_bytes(chunk_image(*chunks))
    return out


def measure(mode: str, path: Path, small: Path, runs: int) -> dict[str, Any]:
    """Median CPU/wall over ``runs`` fresh subprocesses."""
    samples = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(path), str(small)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{mode} on {path.name} failed:\n{proc.stderr}")
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    counts = {s["records"] for s in samples}
    if len(counts) != 1:
        raise SystemExit(f"{mode} on {path.name}: record counts differ between runs: {counts}")
    wall = statistics.median(s["wall"] for s in samples)
    return {
        "mode": mode,
        "records": samples[0]["records"],
        "cpu": statistics.median(s["cpu"] for s in samples),
        "child_cpu": statistics.median(s["child_cpu"] for s in samples),
        "wall": wall,
        "walls": [s["wall"] for s in samples],
        "rate": samples[0]["records"] / wall if wall else float("inf"),
    }


def _cpu_rate(row: dict[str, Any]) -> float:
    """Records per CPU second, worker processes included (robust to a busy machine)."""
    return float(row["records"] / max(row["cpu"] + row["child_cpu"], 1e-9))


def print_table(path: Path, rows: list[dict[str, Any]]) -> None:
    """A Markdown table of one input's results, ratios to bare-json (wall and CPU rates)."""
    bare = next((r["rate"] for r in rows if r["mode"] == "bare-json"), None)
    bare_cpu = next((_cpu_rate(r) for r in rows if r["mode"] == "bare-json"), None)
    print(f"\n### {path.name} ({path.stat().st_size / 2**20:.0f} MiB)\n")
    print("| mode | records | median CPU s | median wall s | rec/s | x bare-json | x bare (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cpu = f"{r['cpu']:.3f}"
        if r["child_cpu"] > 0.001:
            cpu += f" (+{r['child_cpu']:.3f} workers)"
        ratio = f"{r['rate'] / bare:.3g}" if bare else "n/a"
        cpu_ratio = f"{_cpu_rate(r) / bare_cpu:.3g}" if bare_cpu else "n/a"
        print(
            f"| {r['mode']} | {r['records']:,} | {cpu} | {r['wall']:.3f} | "
            f"{r['rate']:,.0f} | {ratio} | {cpu_ratio} |"
        )


def profile(path: Path, top: int) -> None:
    """cProfile ``read_records`` (rust, workers=1) once; print the top functions by tottime."""
    import evtxscan

    profiler = cProfile.Profile()
    profiler.enable()
    total = sum(len(batch) for batch in evtxscan.read_records(path))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    print(f"{total:,} records; total {stats.total_tt:.2f} s under the profiler")  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, help="EVTX files (default: bench samples)")
    parser.add_argument("--runs", type=int, default=3, help="fresh subprocesses per mode (3)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--profile", action="store_true", help="cProfile read_records instead")
    parser.add_argument("--top", type=int, default=10, help="functions shown by --profile")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(*args.child)
        return
    inputs = args.inputs or DEFAULT_INPUTS
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise SystemExit(f"benchmark input(s) not found: {', '.join(missing)}")
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {sorted(unknown)}; choose from {MODES}")
    if args.profile:
        for path in inputs:
            print(f"\n### cProfile: read_records({path.name})")
            profile(path, args.top)
        return
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} cores")
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="evtxscan-bench-") as tmp:
        for path in inputs:
            small = small_image(path, Path(tmp))
            rows = [measure(mode, path, small, args.runs) for mode in modes]
            results[str(path)] = rows
            print_table(path, rows)
    print(f"\nload average at end: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
