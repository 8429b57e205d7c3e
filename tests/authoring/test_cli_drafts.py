"""``scan --with-drafts`` and ``signatures list --drafts`` end to end."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from evtxscan.authoring.selftest import event_spec
from evtxscan.cli.main import cli as main
from evtxscan.signatures.drafts import load_drafts, without_curated
from evtxscan.signatures.loader import load_signatures, parse_signature
from evtxscan.signatures.model import POSSIBLE_MAX
from evtxscan.synth import write_evtx

PACK = Path(__file__).resolve().parents[2] / "signatures" / "drafts"


def _a_draft_event(tmp_path: Path) -> tuple[str, Path]:
    """A draft of the default pack and a log holding its article's event."""
    draft = without_curated(load_drafts(), load_signatures())[7]
    full = parse_signature((PACK / f"{draft.id}.yaml").read_text("utf-8"), draft.id)
    positive = next(t for t in full.tests if t.expect)
    log = write_evtx(tmp_path / "host.evtx", [event_spec(e) for e in positive.events])
    return draft.id, log


def test_scan_with_drafts(tmp_path: Path) -> None:
    draft_id, log = _a_draft_event(tmp_path)
    runner = CliRunner()
    plain = runner.invoke(main, ["scan", str(log), "--out", str(tmp_path / "a"), "-q"])
    assert plain.exit_code == 0, plain.output  # no curated signature knows this event
    found = runner.invoke(
        main, ["scan", str(log), "--out", str(tmp_path / "b"), "--with-drafts", "-q"]
    )
    assert found.exit_code == 1, found.output
    with (tmp_path / "b" / "diagnoses.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert draft_id in {r["signature_id"] for r in rows}
    assert all(float(r["confidence"]) <= POSSIBLE_MAX for r in rows)


def test_scan_api_with_drafts(tmp_path: Path) -> None:
    from evtxscan import scan

    draft_id, log = _a_draft_event(tmp_path)
    assert scan(log).diagnoses.empty
    diagnoses = scan(log, with_drafts=True).diagnoses
    assert list(diagnoses["signature_id"]) == [draft_id]
    assert diagnoses["confidence"].max() <= POSSIBLE_MAX


def test_list_drafts_shows_noisy_ones() -> None:
    result = CliRunner().invoke(main, ["signatures", "list", "--drafts"])
    assert result.exit_code == 0
    assert "noisy (left out by default): healthy logs often carry" in result.output
    assert result.output.count("-draft  [Q") >= 1200
