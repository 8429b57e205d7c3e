"""Peak memory of ``evtxscan.read_records`` over >= 1 GiB of distinct EVTX files.

Copies of one sample log, each with a different byte in an unused part of the 4 KiB file
header (so none is skipped as a byte-identical duplicate), are read in a fresh subprocess
with batches discarded; peak RSS is reported per process. Run by hand, never from the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT.parent / "shared" / "samples" / "bench" / "security-stitched.evtx"
MARK_OFFSET = 2000  # inside the file header, outside the CRC'd first 120 bytes and all fields
MARGIN = 256 * 2**20  # free space left on the disk after the copies
TARGET_MB = 300


def run_child(directory: str, workers: int, batch_size: int | None) -> None:
    """Read every file under ``directory``, discard the batches, print a JSON line."""
    import evtxscan

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    options: dict[str, Any] = {"workers": workers}
    if batch_size:
        options["batch_size"] = batch_size
    start = time.perf_counter()
    stream = evtxscan.read_records(directory, **options)
    records = batches = 0
    for batch in stream:
        records += len(batch)
        batches += 1
        del batch
    seconds = time.perf_counter() - start
    cpu = sum(os.times()[:4])  # this process and its (reaped) workers, user + system
    status = stream.integrity["status"].astype(str).value_counts().to_dict()
    print(
        json.dumps(
            {
                "workers": workers,
                "records": records,
                "batches": batches,
                "seconds": seconds,
                "cpu": cpu,
                "files": status,
                "rss_after_import_kib": baseline,
                "maxrss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "maxrss_children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            }
        )
    )


def build_inputs(source: Path, directory: Path, copies: int) -> int:
    """Write ``copies`` distinct copies of ``source``; return the bytes written."""
    data = bytearray(source.read_bytes())
    if data[MARK_OFFSET] != 0:
        raise SystemExit(f"{source}: byte {MARK_OFFSET} of the header is not zero; pick another")
    for index in range(copies):
        data[MARK_OFFSET] = index % 255 + 1
        data[MARK_OFFSET + 1] = index // 255
        (directory / f"copy-{index:03d}.evtx").write_bytes(data)
    return copies * len(data)


def plan_copies(source: Path, base: Path, copies: int) -> int:
    """Shrink ``copies`` to what the disk can hold; abort when not even one fits."""
    size = source.stat().st_size
    free = shutil.disk_usage(base).free - MARGIN
    fit = max(0, free // size)
    if fit < 1:
        raise SystemExit(f"not enough free disk under {base}: {free + MARGIN:,} bytes free")
    if fit < copies:
        print(f"warning: only {fit} copies fit under {base} (asked for {copies})")
        copies = int(fit)
    total = copies * size
    if total < 2**30:
        print(f"warning: inputs total {total / 2**30:.2f} GiB, less than the 1 GiB target")
    return copies


def measure(directory: Path, workers: int, batch_size: int | None) -> dict[str, Any]:
    """One fresh subprocess reading ``directory``."""
    command = [sys.executable, __file__, "--child", str(directory), str(workers)]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"reading with workers={workers} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def report(result: dict[str, Any], total_bytes: int) -> None:
    """One Markdown table row; MB = 10^6 bytes, RSS from KiB."""
    mb = 1024 / 1e6
    self_mb = result["maxrss_self_kib"] * mb
    child_mb = result["maxrss_children_kib"] * mb
    worst = max(self_mb, child_mb)
    verdict = "met" if worst <= TARGET_MB else "missed"
    print(
        f"| {result['workers']} | {total_bytes / 2**30:.2f} GiB | {result['records']:,} | "
        f"{result['seconds']:.1f} | {result['cpu']:.1f} | "
        f"{result['rss_after_import_kib'] * mb:.0f} | {self_mb:.0f} | "
        f"{child_mb:.0f} | {result['files']} | {verdict} ({worst:.0f} / {TARGET_MB} MB) |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="EVTX file to copy")
    parser.add_argument("--copies", type=int, default=32, help="distinct copies to read (32)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (1,2)")
    parser.add_argument("--batch-size", type=int, help="read_records batch_size (default: its own)")
    parser.add_argument("--tmpdir", type=Path, help="where to build the inputs (system temp)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child[0], int(args.child[1]), args.batch_size)
        return
    if not args.input.is_file():
        raise SystemExit(f"benchmark input not found: {args.input}")
    base = args.tmpdir or Path(tempfile.gettempdir())
    copies = plan_copies(args.input, base, args.copies)
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} cores")
    directory = Path(tempfile.mkdtemp(prefix="evtxscan-mem-", dir=base))
    try:
        total = build_inputs(args.input, directory, copies)
        print(
            f"built {copies} copies of {args.input.name} ({total / 2**30:.2f} GiB) in {directory}"
        )
        print(
            "\n| workers | input | records | wall s | CPU s | RSS after import MB "
            "| peak RSS main MB | peak RSS worker MB | files | <= 300 MB |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for workers in (int(w) for w in args.workers.split(",")):
            report(measure(directory, workers, args.batch_size), total)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
