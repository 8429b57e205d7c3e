"""Count how the archive spells each event source, for :mod:`evtxscan.authoring.sources`.

The counts come from the labelled citations (pass 1) of every article page given, so they
can be rebuilt from the pages alone: ``python -m evtxscan.authoring.source_table PAGE_ROOT``
rewrites ``evtxscan/authoring/data/source_spellings.json``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from evtxscan.authoring.blocks import read_blocks
from evtxscan.authoring.citations import CITING_SECTIONS, block_citation
from evtxscan.authoring.fields import Kind
from evtxscan.authoring.kb_article import KbArticle, read_article
from evtxscan.authoring.sources import SourceTable, clean_source

DATA_FILE = Path(__file__).parent / "data" / "source_spellings.json"


def count_spellings(articles: Iterable[KbArticle]) -> tuple[dict[str, int], list[str]]:
    """How many labelled citations use each source spelling (sorted by spelling), and the
    category values the labelled blocks give."""
    counts: Counter[str] = Counter()
    categories: set[str] = set()
    empty = SourceTable({})
    for article in articles:
        for section in article.sections:
            if section.name not in CITING_SECTIONS:
                continue
            for block in read_blocks(section.lines):
                categories.update(
                    clean_source(f.value) for f in block.fields if f.kind is Kind.CATEGORY
                )
                cited = block_citation(article.article_id, section.name, block, empty)
                if cited is not None:
                    counts[cited.source] += 1
    return dict(sorted(counts.items())), sorted(c for c in categories if c)


def article_pages(root: str | Path) -> list[Path]:
    """Every ``NNN/QID/README.md`` page under ``root`` (kbarchive layout), sorted."""
    return sorted(Path(root).glob("[0-9]*/Q*/README.md"))


def render(counts: dict[str, int], categories: list[str]) -> str:
    """The data file's text (stable, so a rebuild shows as no change)."""
    body = {
        "about": "Event source spellings in labelled KB citations, with counts; rebuilt by "
        "python -m evtxscan.authoring.source_table PAGE_ROOT...",
        "spellings": counts,
        "categories": categories,
    }
    return json.dumps(body, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    pages = [p for root in argv for p in article_pages(root)]
    if not pages:
        print("usage: python -m evtxscan.authoring.source_table PAGE_ROOT...", file=sys.stderr)
        return 2
    counts, categories = count_spellings(read_article(p) for p in pages)
    DATA_FILE.write_text(render(counts, categories), "utf-8")
    print(f"{len(pages)} pages -> {DATA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
