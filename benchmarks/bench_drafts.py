"""Score ``evtxscan signatures draft`` against the hand-checked EVENTS.csv.

Runs the real command over every article page in ``kb-events/INDEX.csv`` with
``--events-csv``, then compares its rows with ``kb-events/EVENTS.csv`` on the key
(article, source_normalized, event_id): precision and recall overall, per
``format_variant`` (recall by the reference row's variant, precision by ours), for the
articles the extractor was tuned on and for a held-out split it was never tuned on.

The split was fixed before any tuning: an article is held out when the SHA-256 of its ID
is 0 mod 5 (192 of the 1,004 articles with rows). Only aggregate scores are printed for it;
``--errors`` lists per-article misses and extras for the tuning split only. The 251
articles with no rows in EVENTS.csv (withheld by the corpus on purpose) are reported as
counts of what the command extracts from them.

With ``--throughput`` it measures instead the cost of the draft pack at scan time: loading
it (fresh process, median of 5) and ``scan`` throughput without and with ``with_drafts``
(modes rotated, median of ``--runs``, each in a fresh subprocess, imports excluded) beside
bare pyevtx-rs iteration, on the stitched bench logs and on the other real samples.

    python benchmarks/bench_drafts.py [--shared ../shared] [--errors]
    python benchmarks/bench_drafts.py --throughput [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Key = tuple[str, str, int]


def held_out(article: str) -> bool:
    """The held-out split, fixed before tuning: SHA-256 of the article ID is 0 mod 5."""
    return int(hashlib.sha256(article.encode()).hexdigest(), 16) % 5 == 0


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def keys_with_variants(rows: list[dict[str, str]]) -> dict[Key, str]:
    """Each key once, with the variant of its first row."""
    out: dict[Key, str] = {}
    for row in rows:
        out.setdefault(
            (row["article"], row["source_normalized"], int(row["event_id"])), row["format_variant"]
        )
    return out


def score(gold: dict[Key, str], found: dict[Key, str]) -> dict[str, tuple[int, int, int, int]]:
    """Per variant and overall: (reference keys, of them found, our keys, of them right)."""
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for key, variant in gold.items():
        for name in (variant, "all"):
            table[name][0] += 1
            table[name][1] += key in found
    for key, variant in found.items():
        for name in (variant, "all"):
            table[name][2] += 1
            table[name][3] += key in gold
    return {name: (a, b, c, d) for name, (a, b, c, d) in table.items()}


def print_scores(title: str, scores: dict[str, tuple[int, int, int, int]]) -> None:
    print(f"\n{title}\n| variant | reference keys | recall | our keys | precision |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(scores, key=lambda n: (n == "all", n)):
        ref, hit, ours, right = scores[name]
        recall = f"{hit / ref:.2%} ({hit}/{ref})" if ref else "-"
        precision = f"{right / ours:.2%} ({right}/{ours})" if ours else "-"
        print(
            f"| {'**all**' if name == 'all' else name} | {ref} | {recall} | {ours} | {precision} |"
        )


def run_command(pages: list[Path], out: Path) -> float:
    """The real CLI over every page; returns the wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "evtxscan", "signatures", "draft", *map(str, pages)]
    command += ["--out", str(out / "drafts"), "--events-csv", str(out / "events.csv")]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


_MODE = r"""
import json, sys, time
from pathlib import Path
mode, paths = sys.argv[1], [Path(p) for p in sys.argv[2:]]
if mode == "load":
    t0 = time.perf_counter()
    from evtxscan.signatures.drafts import load_drafts
    t1 = time.perf_counter()
    n = len(load_drafts())
    print(json.dumps({"records": n, "wall": time.perf_counter() - t1, "cpu": 0.0,
                      "import": t1 - t0}))
    raise SystemExit
if mode == "bare-json":
    from evtx import PyEvtxParser
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.evtx")))]
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
            except (RuntimeError, OSError):
                continue
else:
    from evtxscan.scanning import scan
    t0, c0 = time.perf_counter(), time.process_time()
    result = scan(paths, workers=1, with_drafts=mode == "scan+drafts")
    n = int(result.hosts["records"].sum())
import resource
cpu = time.process_time() - c0 + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
print(json.dumps({"records": n, "wall": time.perf_counter() - t0, "cpu": cpu}))
"""


def _one(mode: str, paths: list[Path]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _MODE, mode, *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def throughput(shared: Path, runs: int) -> None:
    """Pack load time, then scan throughput without and with the drafts."""
    loads = [_one("load", []) for _ in range(5)]
    wall = statistics.median(r["wall"] for r in loads)
    imports = statistics.median(r["import"] for r in loads)
    print(
        f"pack load: {loads[0]['records']:.0f} drafts in {wall:.3f} s (median of 5; "
        f"import of the module {imports:.3f} s); load {os.getloadavg()[0]:.2f}"
    )
    samples = shared / "samples"
    inputs = {
        "bench (stitched System + Security, 48 MiB)": [samples / "bench"],
        "other real samples": [
            p for p in sorted(samples.iterdir()) if p.is_dir() and p.name != "bench"
        ],
    }
    modes = ("bare-json", "scan", "scan+drafts")
    for name, paths in inputs.items():
        results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for turn in range(runs):
            order = modes[turn % 3 :] + modes[: turn % 3]  # rotate
            for mode in order:
                results[mode].append(_one(mode, paths))
        print(f"\n### {name}; load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        print("| mode | records | wall s | cpu s | records/cpu s | x bare (cpu) | x bare (wall) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        bare_wall = statistics.median(r["wall"] for r in results["bare-json"])
        bare_cpu = statistics.median(r["cpu"] for r in results["bare-json"])
        for mode in modes:
            w = statistics.median(r["wall"] for r in results[mode])
            c = statistics.median(r["cpu"] for r in results[mode])
            n = results[mode][0]["records"]
            print(
                f"| {mode} | {n:.0f} | {w:.2f} | {c:.2f} | {n / c:,.0f} | "
                f"{c / bare_cpu:.2f} | {w / bare_wall:.2f} |"
            )
        for measure in ("cpu", "wall"):
            plain = statistics.median(r[measure] for r in results["scan"])
            drafts = statistics.median(r[measure] for r in results["scan+drafts"])
            print(f"scan+drafts / scan ({measure}): {drafts / plain:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--errors", action="store_true", help="tuning-split errors per article")
    parser.add_argument("--throughput", action="store_true", help="scan cost of the pack")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.throughput:
        throughput(args.shared, args.runs)
        return 0
    corpus = args.shared / "kb-events"
    index = read_rows(corpus / "INDEX.csv")
    reference = read_rows(corpus / "EVENTS.csv")
    pages = [args.shared / row["readme"] for row in index]
    with tempfile.TemporaryDirectory() as temp:
        seconds = run_command(pages, Path(temp))
        ours = read_rows(Path(temp) / "events.csv")
        drafts = len(list((Path(temp) / "drafts").glob("*.yaml")))
    print(f"{len(pages)} articles -> {drafts} drafts, {len(ours)} event rows in {seconds:.1f} s")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    with_rows = {row["article"] for row in reference}
    gold_all, found_all = keys_with_variants(reference), keys_with_variants(ours)
    splits: dict[str, set[str]] = {
        "tuning split": {a for a in with_rows if not held_out(a)},
        "held-out split (never tuned on)": {a for a in with_rows if held_out(a)},
        "all articles with reference rows": with_rows,
    }
    for name, chosen in splits.items():
        gold = {k: v for k, v in gold_all.items() if k[0] in chosen}
        found = {k: v for k, v in found_all.items() if k[0] in chosen}
        print_scores(f"### {name}: {len(chosen)} articles", score(gold, found))
    withheld = [row for row in ours if row["article"] not in with_rows]
    without = {row["article"] for row in index} - with_rows
    cited = {row["article"] for row in withheld}
    print(f"\n### the {len(without)} articles without reference rows")
    keys = {(r["article"], r["source_normalized"], r["event_id"]) for r in withheld}
    print(f"{len(withheld)} rows, {len(keys)} keys, {len(cited)} articles with a citation")
    print("variants:", dict(Counter(row["format_variant"] for row in withheld).most_common()))
    if args.errors:
        for article in sorted(with_rows):
            if held_out(article):
                continue
            expected = {k for k in gold_all if k[0] == article}
            extracted = {k for k in found_all if k[0] == article}
            if expected != extracted:
                missed, extra = sorted(expected - extracted), sorted(extracted - expected)
                print(article, "missed", missed, "extra", extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
