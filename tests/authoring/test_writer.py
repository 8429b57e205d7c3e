"""The command's output: drafts that lint, EVENTS.csv rows, and a pack that never drifts
from the generator."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from evtxscan.authoring.events_csv import COLUMNS
from evtxscan.authoring.extract import extract_citations
from evtxscan.authoring.kb_article import read_article
from evtxscan.authoring.writer import article_pages, write_drafts
from evtxscan.cli.main import cli as main

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "signatures" / "drafts"


def test_command_writes_drafts_csv_and_index(
    tmp_path: Path, make_page: Callable[..., str], styles_body: str
) -> None:
    pages = tmp_path / "pages"
    for article, body in (
        ("Q123456", styles_body),
        ("Q200030", "SYMPTOMS\n========\n\nNo events.\n"),
    ):
        folder = pages / article[1:4] / article
        folder.mkdir(parents=True)
        (folder / "README.md").write_text(make_page(article, "A Title", body), "utf-8")
    out, rows = tmp_path / "drafts", tmp_path / "events.csv"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "signatures",
            "draft",
            str(pages),
            "--out",
            str(out),
            "--events-csv",
            str(rows),
            "--index",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 drafts written" in result.output and "1 articles cite no event" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "q123456-draft.yaml"]
    with rows.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        table = list(reader)
    assert {(r["source_normalized"], r["event_id"]) for r in table} >= {("Server", "2508")}
    assert all(r["article"] == "Q123456" and r["products"] for r in table)
    lint = runner.invoke(main, ["signatures", "lint", str(out)])
    assert lint.exit_code == 0 and "1 valid, 0 with problems" in lint.output


def test_events_csv_has_the_reference_columns(shared_kb: Path) -> None:
    with (shared_kb / "kb-events" / "EVENTS.csv").open(encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS


def test_shipped_pack_equals_the_generator(shared_kb: Path, tmp_path: Path) -> None:
    """Regenerate a sample of the 1,255 articles: the shipped files must be identical."""
    pages = list(article_pages([shared_kb / "kb-events", shared_kb / "kb"]))
    sample = pages[::45]
    run = write_drafts(sample, tmp_path)
    assert len(run.written) > 20
    for file in run.written:
        shipped = PACK / file.name
        assert shipped.is_file(), f"{file.name} is generated but not shipped"
        assert file.read_text("utf-8") == shipped.read_text("utf-8"), file.name


def test_shipped_pack_has_a_draft_for_every_citing_article(shared_kb: Path) -> None:
    pages = article_pages([shared_kb / "kb-events", shared_kb / "kb"])
    citing = {
        article.article_id.lower()
        for article in map(read_article, pages)
        if extract_citations(article)
    }
    shipped = {p.name.removesuffix("-draft.yaml") for p in PACK.glob("*.yaml")}
    assert shipped == citing
