"""The draft pack: in step with its YAML and with the generator, opt-in, capped, quiet on
real logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evtxscan.authoring.selftest import run_signature_tests
from evtxscan.correlation.incidents import Incident, score
from evtxscan.signatures.drafts import (
    INDEX_NAME,
    digest,
    load_drafts,
    with_draft_pack,
    without_curated,
)
from evtxscan.signatures.loader import load_signatures, parse_signature
from evtxscan.signatures.model import POSSIBLE_MAX, Status

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "signatures" / "drafts"
ALL = load_drafts(include_noisy=True)


def test_index_matches_the_yaml_files() -> None:
    index = json.loads((PACK / INDEX_NAME).read_text("utf-8"))
    assert index["digest"] == digest(PACK), "run: evtxscan signatures draft ... --index"
    files = sorted(PACK.glob("*.yaml"))
    assert [e["source"] for e in index["drafts"]] == [f"signatures/drafts/{f.name}" for f in files]
    for entry, file in zip(index["drafts"], files, strict=True):
        body = yaml.load(file.read_text("utf-8"), Loader=yaml.CSafeLoader)
        assert entry["signature"] == {k: v for k, v in body.items() if k not in ("tests", "draft")}


def test_pack_is_all_drafts_within_possible() -> None:
    assert len(ALL) > 1200
    assert len({s.id for s in ALL}) == len(ALL)
    for signature in ALL:
        assert signature.status is Status.DRAFT and signature.kb
        rules = signature.confidence
        assert rules.base + sum(rules.optional.values()) <= POSSIBLE_MAX + 1e-9


def test_noisy_drafts_are_left_out_by_default() -> None:
    noisy = [s for s in ALL if s.noisy]
    assert noisy, "the pack marks drafts that fire on healthy logs"
    default = load_drafts()
    assert {s.id for s in default} == {s.id for s in ALL if not s.noisy}


def test_curated_signatures_win_over_drafts() -> None:
    curated = load_signatures()
    covered = {s.kb for s in curated if s.kb}
    kept = without_curated(ALL, curated)
    assert covered & {s.kb for s in ALL}, "some shipped articles also have drafts"
    assert not covered & {s.kb for s in kept}
    combined = with_draft_pack(curated)
    assert combined[: len(curated)] == curated and len(combined) > len(curated)


def test_engine_keeps_a_draft_within_possible() -> None:
    text = (
        "id: q200020-eager\ntitle: t\nkb: Q200020\nsymptoms: {a: {provider: X, event_id: 1}}\n"
        "confidence: {base: 0.9}\ndiagnosis: {cause: c, resolution: r}\n"
    )
    curated = parse_signature(text, "eager.yaml")
    incident = Incident(signature=curated, host="h", members={})
    assert score(incident, None) == pytest.approx(0.9)
    object.__setattr__(curated, "status", Status.DRAFT)  # bypass the model's own check
    assert score(incident, None) == POSSIBLE_MAX


def test_a_sample_of_embedded_tests_pass() -> None:
    files = sorted(PACK.glob("*.yaml"))[::120]
    sample = [parse_signature(f.read_text("utf-8"), str(f)) for f in files]
    outcomes = run_signature_tests(sample)
    failed = [f"{o.signature}: {o.test}: {o.detail}" for o in outcomes if not o.passed]
    assert not failed
    assert len(outcomes) >= 2 * len(sample)


def _fired(logs: list[Path]) -> list[str]:
    from evtxscan.scanning import scan

    result = scan(logs, signatures=load_drafts())
    return sorted(set(result.diagnoses["signature_id"]))


def test_no_false_alarm_on_the_real_system_and_application_logs(
    samples: Path, manifest: list[dict[str, str]]
) -> None:
    """The logs the drafts' sources write to (System, Application, legacy .evt)."""
    logs = [
        samples / row["file"]
        for row in manifest
        if not row["file"].startswith("bench/")
        and (row["channels"] in ("System", "Application") or row["kind"] == "evt")
    ]
    assert len(logs) > 10
    fired = _fired(logs)
    assert not fired, f"drafts fire on healthy logs: sharpen them or mark them noisy: {fired}"


def test_noisy_drafts_do_fire_on_them(samples: Path) -> None:
    from evtxscan.scanning import scan

    logs = [samples / "anotherc0ne-EventLog", samples / "plaso"]
    result = scan(logs, signatures=[s for s in ALL if s.noisy])
    assert len(result.diagnoses) > 0  # so the quiet scan above is not quiet by accident
    assert (result.diagnoses["confidence"] <= POSSIBLE_MAX).all()


def test_no_false_alarm_on_all_the_real_samples(samples: Path) -> None:
    logs = [p for p in samples.iterdir() if p.is_dir() and p.name != "bench"]
    assert not _fired(logs)


def test_every_draft_lints() -> None:
    for file in sorted(PACK.glob("*.yaml")):
        parse_signature(file.read_text("utf-8"), str(file))
