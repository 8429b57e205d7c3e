"""The curated set: every high-relevance KB article is curated, covered or skipped with a reason."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from evtxscan.signatures.loader import load_signatures

ROOT = Path(__file__).resolve().parents[2]
INDEX = ROOT.parent / "shared" / "kb" / "INDEX.csv"
README = ROOT / "signatures" / "README.md"
SIGNATURES = load_signatures()
CURATED = {s.kb: s for s in SIGNATURES if s.kb is not None}


def _coverage_rows() -> dict[str, str]:
    """Article -> status text, from the README's table of the 41 high-relevance articles."""
    text = README.read_text("utf-8")
    section = text.split("### The 41 high-relevance articles", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| Q"):
            continue
        articles, status, _ = (cell.strip() for cell in line.strip("|").split("|", 2))
        for article in re.findall(r"Q\d{6}", articles):
            rows[article] = status
    return rows


def test_at_least_forty_curated_signatures() -> None:
    assert len(CURATED) >= 40
    assert all(not s.fallback for s in CURATED.values())


def test_every_high_relevance_article_is_accounted_for() -> None:
    if not INDEX.is_file():
        pytest.skip(f"KB index not found at {INDEX} (it lives beside the repository)")
    with open(INDEX, newline="", encoding="utf-8") as handle:
        high = {r["article"] for r in csv.DictReader(handle) if r["relevance"] == "high"}
    assert len(high) == 41
    rows = _coverage_rows()
    assert set(rows) == high, "the README table must list exactly the 41 articles"
    ids = {s.id for s in SIGNATURES}
    for article in sorted(high):
        status = rows[article]
        if status == "curated":
            assert article in CURATED, f"{article} is marked curated but has no signature"
        elif status.startswith("covered by"):
            target = re.search(r"`([a-z0-9-]+)`", status)
            assert target and target.group(1) in ids, f"{article}: unknown signature in {status}"
            covering = next(s for s in SIGNATURES if s.id == target.group(1))
            assert article in covering.cause + covering.title + covering.resolution
            assert article not in CURATED
        else:
            assert status == "skipped" and article not in CURATED, f"{article}: {status}"


def test_cause_and_resolution_are_not_copied_from_the_article() -> None:
    """Our own words: no run of 12 words taken over from the article's text."""
    kb = ROOT.parent / "shared" / "kb"
    if not kb.is_dir():
        pytest.skip(f"KB articles not found at {kb}")
    for signature in CURATED.values():
        number = int(signature.kb[1:])  # type: ignore[index]
        page = kb / f"{number // 1000:03}" / signature.kb / "README.md"  # type: ignore[operator]
        if not page.is_file():
            continue
        article = _words(page.read_text("utf-8", errors="replace"))
        grams = {tuple(article[i : i + 12]) for i in range(len(article) - 11)}
        for field in (signature.cause, signature.resolution):
            ours = _words(field)
            copied = [ours[i : i + 12] for i in range(len(ours) - 11)]
            copied = [gram for gram in copied if tuple(gram) in grams]
            assert not copied, f"{signature.id}: copied from {signature.kb}: {' '.join(copied[0])}"


def _words(text: str) -> list[str]:
    """Words of prose: paths and quoted messages (facts, which may be quoted) left out."""
    text = re.sub(r'"[^"]*"|\S*\\\S*', " ", text)
    return re.findall(r"[a-z0-9]+", text.lower())
