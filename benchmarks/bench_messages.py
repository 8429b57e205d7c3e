"""Benchmark message rendering (run by hand; see RESULTS.md, section "Messages").

Two measurements on ../shared/samples:

- ``--share``: the share of records that read as a sentence by default (built-in catalogs
  only), overall, per channel and on a whole log folder of a real machine, with the most
  frequent remaining fallbacks and why no template was chosen;
- ``--cost``: what rendering adds to a full ``evtxscan dump`` of the samples: ``dump``
  with and without ``--no-messages`` (and bare pyevtx-rs for scale), each mode a fresh
  subprocess, rotated, median of ``--runs``; the time of ``main()`` (imports excluded,
  the lazy catalog load included).

    python3 benchmarks/bench_messages.py [--share] [--cost] [--runs 3] [--format jsonl]
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
SAMPLES = ROOT.parent / "shared" / "samples"
FOLDER = SAMPLES / "dikimevi-winevt-logs" / "Logs"

_MODE = r"""
import json, sys, time
mode, path, fmt, out = sys.argv[1:5]
if mode == "bare-json":
    from pathlib import Path
    from evtx import PyEvtxParser
    files = sorted(Path(path).rglob("*.evtx"))
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for f in files:
        try:
            it = PyEvtxParser(str(f), number_of_threads=1).records_json()
        except (OSError, RuntimeError):
            continue
        while True:
            try:
                next(it)
                n += 1
            except StopIteration:
                break
            except RuntimeError:
                continue
else:
    import evtxscan.scanning.api as api
    from evtxscan.cli import main
    spent = [0.0]
    render = api.add_messages
    def timed(frame, renderer=None):
        start = time.process_time()
        try:
            return render(frame, renderer)
        finally:
            spent[0] += time.process_time() - start
    api.add_messages = timed
    args = ["dump", path, "--format", fmt, "-o", out, "-q"]
    if mode == "dump-no-messages":
        args.append("--no-messages")
    t0, c0 = time.perf_counter(), time.process_time()
    assert main(args) == 0
    n = -1
print(json.dumps({"records": n, "wall": time.perf_counter() - t0,
                  "cpu": time.process_time() - c0, "render_cpu": spent[0] if n < 0 else 0.0}))
"""

MODES = ("dump-messages", "dump-no-messages", "bare-json")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def cost(runs: int, fmt: str) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds per mode; modes rotate within each round."""
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / f"records.{fmt}")
        for round_number in range(runs):
            order = MODES[round_number % len(MODES) :] + MODES[: round_number % len(MODES)]
            for mode in order:
                done = subprocess.run(
                    [sys.executable, "-c", _MODE, mode, str(SAMPLES), fmt, out],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                )
                samples[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        mode: {
            "wall": statistics.median(r["wall"] for r in rows),
            "cpu": statistics.median(r["cpu"] for r in rows),
            "render_cpu": statistics.median(r["render_cpu"] for r in rows),
        }
        for mode, rows in samples.items()
    }


def share(paths: list[Path], top: int) -> dict[str, object]:
    """Sentences vs fallbacks per channel, and the top fallbacks with their reason."""
    import evtxscan
    from evtxscan.messages import MessageRenderer
    from evtxscan.messages.frame import message_origins

    frame = evtxscan.read_frame(paths)
    origins = message_origins(frame, MessageRenderer())
    fallback = origins["origin"] == "fallback"
    table = frame.assign(fallback=fallback.to_numpy(), verdict=origins["verdict"].to_numpy())
    per_channel = (
        table.groupby(table["channel"].astype(str), observed=True)["fallback"]
        .agg(records="size", fallbacks="sum")
        .assign(sentence_share=lambda t: 1 - t["fallbacks"] / t["records"])
        .sort_values("records", ascending=False)
    )
    label = table["provider"].astype(object).fillna(table["event_source_name"].astype(object))
    worst = (
        table[table["fallback"]]
        .assign(label=label[table["fallback"]])
        .groupby(["label", "event_id", "verdict"], observed=True)
        .size()
        .sort_values(ascending=False)
        .head(top)
    )
    return {
        "records": len(table),
        "sentence_share": 1 - float(table["fallback"].mean()),
        "by_origin": origins["origin"].value_counts().to_dict(),
        "per_channel": per_channel,
        "top_fallbacks": worst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--share", action="store_true")
    parser.add_argument("--cost", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "parquet"])
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if not (args.share or args.cost):
        args.share = args.cost = True
    if args.share:
        print(f"## Share of records read as a sentence ({load()})")
        for name, paths in (("samples", [SAMPLES]), ("dikimevi folder", [FOLDER])):
            found = share(paths, args.top)
            print(f"\n{name}: {found['records']:,} records, {found['sentence_share']:.1%}")
            print(f"origins: {found['by_origin']}")
            if name == "samples":
                print(found["per_channel"].to_string())
                print(found["top_fallbacks"].to_string())
    if args.cost:
        print(f"\n## Cost on a full dump ({args.format}); before: {load()}")
        medians = cost(args.runs, args.format)
        for mode, value in medians.items():
            print(f"{mode:18s} wall {value['wall']:7.2f} s  cpu {value['cpu']:7.2f} s")
        on, off = medians["dump-messages"], medians["dump-no-messages"]
        rest = on["cpu"] - on["render_cpu"]
        print(
            f"messages add {on['wall'] / off['wall'] - 1:+.1%} wall, "
            f"{on['cpu'] / off['cpu'] - 1:+.1%} CPU (run against run); within the same runs "
            f"rendering took {on['render_cpu']:.2f} s CPU = {on['render_cpu'] / rest:+.1%} "
            f"on the rest of the dump; after: {load()}"
        )


if __name__ == "__main__":
    main()
