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

    python benchmarks/bench_drafts.py [--shared ../shared] [--errors]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--errors", action="store_true", help="tuning-split errors per article")
    args = parser.parse_args()
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
    for name, keep in (
        ("tuning split", lambda a: a in with_rows and not held_out(a)),
        ("held-out split (never tuned on)", lambda a: a in with_rows and held_out(a)),
        ("all articles with reference rows", lambda a: a in with_rows),
    ):
        gold = {k: v for k, v in gold_all.items() if keep(k[0])}
        found = {k: v for k, v in found_all.items() if keep(k[0])}
        articles = len({k[0] for k in gold})
        print_scores(f"### {name}: {articles} articles", score(gold, found))
    withheld = [row for row in ours if row["article"] not in with_rows]
    articles = {row["article"] for row in index} - with_rows
    cited = {row["article"] for row in withheld}
    print(f"\n### the {len(articles)} articles without reference rows")
    keys = {(r["article"], r["source_normalized"], r["event_id"]) for r in withheld}
    print(f"{len(withheld)} rows, {len(keys)} keys, {len(cited)} articles with a citation")
    print("variants:", dict(Counter(row["format_variant"] for row in withheld).most_common()))
    if args.errors:
        for article in sorted(with_rows):
            if held_out(article):
                continue
            gold = {k for k in gold_all if k[0] == article}
            found = {k for k in found_all if k[0] == article}
            if gold != found:
                print(article, "missed", sorted(gold - found), "extra", sorted(found - gold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
