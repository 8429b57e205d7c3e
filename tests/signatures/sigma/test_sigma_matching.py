"""Sigma matches checked rule by rule against an independent plain-Python reference
(``sigma_reference.py``) on the real samples and on events derived from every rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from sigma_reference import ReferenceRule, channel_index, record_dicts, reference_matches
from sigma_synthetic import START, events_for_rule

import evtxscan
from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.evaluate import _text
from evtxscan.signatures.sigma.expression import Text
from evtxscan.signatures.sigma.matcher import SigmaMatcher
from evtxscan.signatures.sigma.view import Values
from evtxscan.synth.evtx_writer import write_evtx

#: Large generic System logs left out to keep the suite fast (the reference is slow on
#: purpose); every other sample is used, damaged and legacy files included.
SKIPPED_SAMPLES = (
    "anotherc0ne-EventLog/System.evtx",
    "plaso/test_data/SysEvent.Evt",
    "plaso/test_data/evtx/System.evtx",
    "bench/",
)


def _engine_matches(rule_set: SigmaRuleSet, frame: pd.DataFrame) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {d.info.source: set() for d in rule_set.detections}
    matches = SigmaMatcher(rule_set.detections).match(frame)
    for rule, row in zip(matches["rule"], matches["row"], strict=True):
        found[rule_set.detections[rule].info.source].add(int(row))
    return found


def _reference(sigma_dir: Path, frame: pd.DataFrame) -> dict[str, set[int]]:
    records = record_dicts(frame)
    index = channel_index(records)
    out = {}
    for path in sorted((sigma_dir / "rules").rglob("*.yml")):
        rule = ReferenceRule(yaml.safe_load(path.read_text(encoding="utf-8")))
        out[str(path)] = reference_matches(rule, records, index)
    return out


@pytest.fixture(scope="module")
def sample_frame(samples: Path) -> pd.DataFrame:
    files = [
        p
        for p in sorted(samples.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in (".evtx", ".evt")
        and not any(s in p.as_posix() for s in SKIPPED_SAMPLES)
    ]
    return evtxscan.read_frame(files)


@pytest.fixture(scope="module")
def rules_only(sigma_dir: Path) -> SigmaRuleSet:
    return load_sigma(sigma_dir / "rules")


def test_samples_match_the_reference_rule_by_rule(
    sigma_dir: Path, rules_only: SigmaRuleSet, sample_frame: pd.DataFrame
) -> None:
    engine = _engine_matches(rules_only, sample_frame)
    reference = _reference(sigma_dir, sample_frame)
    assert set(engine) == set(reference)
    differ = {k: (engine[k] ^ reference[k]) for k in engine if engine[k] != reference[k]}
    assert not differ, {Path(k).name: sorted(v)[:5] for k, v in differ.items()}
    # The samples do exercise the rules: real attack and admin logs match dozens of them.
    fired = {Path(k).name: len(v) for k, v in engine.items() if v}
    assert len(fired) >= 15 and sum(fired.values()) >= 150, fired


def test_rule_derived_events_match_the_reference(
    sigma_dir: Path, rules_only: SigmaRuleSet, tmp_path: Path
) -> None:
    events = []
    for path in sorted((sigma_dir / "rules").rglob("*.yml")):
        events += events_for_rule(yaml.safe_load(path.read_text(encoding="utf-8")), START)
    log = write_evtx(tmp_path / "derived.evtx", events)
    frame = evtxscan.read_frame(log)
    assert len(frame) == len(events) > 1500
    engine = _engine_matches(rules_only, frame)
    reference = _reference(sigma_dir, frame)
    differ = {k: (engine[k] ^ reference[k]) for k in engine if engine[k] != reference[k]}
    assert not differ, {Path(k).name: sorted(v)[:5] for k, v in differ.items()}
    # Most rules fire on their own near-hits; a rule that never fires would test nothing.
    silent = [Path(k).name for k, hits in engine.items() if not hits]
    assert len(silent) <= 40, silent  # mostly ``re``-only and ``all`` rules


def test_batches_give_the_same_matches_as_one_frame(
    rules_only: SigmaRuleSet, sample_frame: pd.DataFrame
) -> None:
    matcher = SigmaMatcher(rules_only.detections)
    whole = matcher.match(sample_frame)
    parts = []
    for start in range(0, len(sample_frame), 7_000):
        batch = sample_frame.iloc[start : start + 7_000].reset_index(drop=True)
        found = matcher.match(batch)
        found["row"] += start
        parts.append(found)
    pieces = pd.concat(parts, ignore_index=True)
    key = ["rule", "row"]
    assert whole.sort_values(key).to_numpy().tolist() == pieces.sort_values(key).to_numpy().tolist()


def test_sigma_regression_record(sigma_dir: Path, rules_only: SigmaRuleSet) -> None:
    """SigmaHQ's own regression data: one Security 4701 record, expected match count 1."""
    folder = sigma_dir / "regression_data/rules/windows/builtin/security"
    log = next((folder / "win_security_susp_scheduled_task_delete_or_disable").glob("*.evtx"))
    frame = evtxscan.read_frame(log)
    matches = SigmaMatcher(rules_only.detections).match(frame)
    keys = [rules_only.detections[i].info.key for i in matches["rule"]]
    assert keys.count("7595ba94-cf3b-4471-aa03-4f6baa9e5fad") == 1


def test_a_field_is_tested_on_its_distinct_values() -> None:
    """Tests run once per distinct text of a field and map back to every value: repeated
    values, nulls (never a match) and values of other rows keep their own answers."""
    texts = ["AnyDesk", None, "spooler", "anydesk", "AnyDesk", "", "TeamViewer"]
    values = Values(pa.array(texts, pa.string()), np.arange(len(texts)))
    found = _text(values, Text(pattern="anydesk|viewer", ignore_case=True))
    assert found.tolist() == [True, False, False, True, True, False, True]
    exact = _text(values, Text(pattern="^AnyDesk$", ignore_case=False))
    assert exact.tolist() == [True, False, False, False, True, False, False]
    distinct, codes = values.distinct
    assert len(distinct) == 5 and codes.tolist() == [0, 5, 1, 2, 0, 3, 4]
