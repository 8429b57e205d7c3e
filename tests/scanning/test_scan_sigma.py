"""Sigma rules in a scan: ``scan(..., sigma=...)`` and ``evtxscan scan --sigma`` give one
diagnosis of kind ``sigma`` per rule and host, with exactly the matched records as evidence,
the rule's metadata and licence, beside the KB diagnoses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.outputs.report_dir import write_report
from evtxscan.results.evidence import EvidenceKey, evidence_lists
from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.matcher import SigmaMatcher
from evtxscan.synth import EventSpec, write_evtx
from evtxscan.synth.demo import write_demo

T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
ATTACK = "hayabusa-sample-evtx"


@pytest.fixture(scope="module")
def rules(sigma_dir: Path) -> SigmaRuleSet:
    return load_sigma(sigma_dir / "rules")


def _keys(cell: object) -> list[EvidenceKey]:
    return evidence_lists(pd.Series([cell], dtype=object))[0]


def _records(cell: object) -> set[tuple[str, str, int | None]]:
    """Record identity without the file: an event read from two overlapping exports (the
    samples have such copies) is one hit."""
    return {(k.host, k.time.isoformat(), k.event_record_id) for k in _keys(cell)}


def test_scan_reports_exactly_what_the_rules_match(samples: Path, rules: SigmaRuleSet) -> None:
    """The scan's probe skips records no KB signature needs before decoding them; with Sigma
    it must still decode every record a rule can match (its keys and literals are necessary
    conditions): the diagnoses' evidence equals the matches on a plain read of the same
    files (no probe), on every sample log."""
    paths = sorted(p for p in samples.rglob("*.evtx") if "bench" not in p.parts)
    result = evtxscan.scan(paths, sigma=rules)
    sigma = result.diagnoses[result.diagnoses["kind"] == "sigma"]
    frame = evtxscan.read_frame(paths)
    frame = frame[~frame["recovered"]].reset_index(drop=True)
    matches = SigmaMatcher(rules.detections).match(frame)
    expected: dict[tuple[str, str], set[tuple[str, str, int]]] = {}
    for rule, row in zip(matches["rule"], matches["row"], strict=True):
        record = frame.iloc[int(row)]
        key = (str(record["host"]), rules.detections[rule].info.key)
        identity = (str(record["host"]), record["time"].isoformat(), int(record["event_record_id"]))
        expected.setdefault(key, set()).add(identity)
    found = {
        (row["host"], row["signature_id"]): _records(row["evidence"]) for _, row in sigma.iterrows()
    }
    assert found == expected
    assert len(found) >= 10
    counts = {k: len(v) for k, v in expected.items()}
    assert sigma.set_index(["host", "signature_id"])["occurrences"].to_dict() == counts


def test_sigma_rows_carry_rule_metadata_and_kb_rows_their_kind(
    tmp_path: Path, samples: Path, rules: SigmaRuleSet
) -> None:
    demo = write_demo(tmp_path / "demo")
    result = evtxscan.scan([*demo, samples / ATTACK], sigma=rules)
    kinds = set(result.diagnoses["kind"])
    assert {"kb", "sigma"} <= kinds
    row = result.diagnoses[
        result.diagnoses["signature_id"] == "a2e5019d-a658-4c6a-92bf-7197b54e2cae"
    ].iloc[0]
    assert row["title"] == "PowerShell Scripts Installed as Services"
    assert row["level"] == "high" and row["licence"] == "DRL-1.1"
    assert row["author"] == "oscd.community, Natalia Shornikova"
    assert json.loads(row["references"])[0].startswith("https://")
    assert pd.isna(row["kb"]) and pd.isna(row["confidence"])
    assert row["rule_file"].endswith("win_system_powershell_script_installed_as_service.yml")
    assert row["occurrences"] == len(_keys(row["evidence"])) > 50  # every record, no cap
    assert result.sigma is rules
    # Every view of a match keeps the rule's author (DRL 1.1).
    assert "by oscd.community, Natalia Shornikova, licence DRL-1.1" in str(result)
    assert "oscd.community, Natalia Shornikova" in result._repr_html_()
    evidence = result.evidence(row["host"])
    assert (evidence["signature_id"] == row["signature_id"]).sum() == row["occurrences"]


def test_correlation_through_a_scan(tmp_path: Path, sigma_dir: Path) -> None:
    def logon(seconds: int, event_id: int) -> EventSpec:
        return EventSpec(
            "Microsoft-Windows-Security-Auditing",
            event_id,
            T0 + timedelta(seconds=seconds),
            "DC01",
            channel="Security",
            data=(("TargetUserName", "bob"),),
        )

    events = [logon(10 * i, 4625) for i in range(11)] + [logon(150, 4624), logon(4000, 4624)]
    log = write_evtx(tmp_path / "Security.evtx", events)
    example = sigma_dir / "sigma-specification/extracted"
    result = evtxscan.scan(log, sigma=example)
    sigma = result.diagnoses[result.diagnoses["kind"] == "sigma"]
    assert sigma["title"].tolist() == [
        "Correlation - Multiple Failed Logins Followed by Successful Login"
    ]
    evidence = _keys(sigma.iloc[0]["evidence"])
    assert [e.event_record_id for e in evidence] == list(range(1, 13))
    assert {e.symptom for e in evidence} == {"Single failed login", "Successful login"}
    assert sigma.iloc[0]["licence"] == "public domain"
    # The time range applies to Sigma as to everything else.
    later = evtxscan.scan(log, sigma=example, since=T0 + timedelta(seconds=60))
    assert not (later.diagnoses["kind"] == "sigma").any()


def test_cli_sigma_option(tmp_path: Path, samples: Path, sigma_dir: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evtxscan",
            "scan",
            str(samples / ATTACK),
            "--sigma",
            str(sigma_dir),
            "--out",
            str(out),
            "--fail-on",
            "diagnosis",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "229 detection and 2 correlation rules loaded, 15 refused" in done.stderr
    assert "value_percentile is not evaluated" in done.stderr
    diagnoses = pd.read_csv(out / "diagnoses.csv", encoding="utf-8-sig")
    assert (diagnoses["kind"] == "sigma").sum() >= 1
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Detection Rule License 1.1" in report and "oscd.community" in report
    state = subprocess.run(
        [
            sys.executable,
            "-m",
            "evtxscan",
            "scan",
            str(samples / ATTACK),
            "--sigma",
            str(sigma_dir),
            "--out",
            str(out),
            "--state",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert state.returncode == 2 and "--sigma cannot be combined with --state" in state.stderr


NS = "http://schemas.microsoft.com/win/2004/08/events/event"
NO_EVENT_ID = (
    f'<Events><Event xmlns="{NS}"><System><Provider Name="Application Popup"/>'
    '<Level>2</Level><TimeCreated SystemTime="2024-03-04T05:06:07Z"/>'
    "<EventRecordID>3</EventRecordID><Channel>System</Channel><Computer>PC1</Computer>"
    "</System><EventData><Data>the driver failed to load</Data></EventData></Event></Events>"
)
ANY_SYSTEM_EVENT = """title: Failure text in any System event
id: 0b7d5c1e-3c0e-4b8e-9a51-1f0a2e3d4c5b
status: test
logsource: {product: windows, service: system}
detection:
    selection:
        Data|contains: failed
    condition: selection
level: low
"""


def test_a_hit_on_a_record_without_an_event_id(tmp_path: Path) -> None:
    """A rule that names no EventID may match a record that has none (found by fuzzing:
    the diagnosis's first evidence key stopped the scan with a TypeError)."""
    (tmp_path / "export.xml").write_text(NO_EVENT_ID, encoding="utf-8")
    rule = tmp_path / "rule.yml"
    rule.write_text(ANY_SYSTEM_EVENT, encoding="utf-8")
    result = evtxscan.scan(tmp_path / "export.xml", sigma=rule)
    (row,) = result.diagnoses[result.diagnoses["kind"] == "sigma"].to_dict("records")
    (key,) = _keys(row["evidence"])
    assert (key.event_id, key.provider, key.event_record_id) == (None, "Application Popup", 3)
    written = write_report(result, tmp_path / "out")
    assert "Failure text in any System event" in (written.run / "report.html").read_text()


def test_a_hit_on_a_record_with_a_record_id_past_two_to_the_63(tmp_path: Path) -> None:
    """Record numbers are unsigned 64-bit: one past 2**63 stays what it is in the evidence
    (found by fuzzing: a signed conversion wrapped it, and the cast stopped the scan)."""
    big = 2**64 - 5
    (tmp_path / "export.xml").write_text(
        NO_EVENT_ID.replace(
            "<EventRecordID>3</EventRecordID>", f"<EventRecordID>{big}</EventRecordID>"
        ),
        encoding="utf-8",
    )
    rule = tmp_path / "rule.yml"
    rule.write_text(ANY_SYSTEM_EVENT, encoding="utf-8")
    result = evtxscan.scan(tmp_path / "export.xml", sigma=rule)
    (row,) = result.diagnoses[result.diagnoses["kind"] == "sigma"].to_dict("records")
    assert [key.event_record_id for key in _keys(row["evidence"])] == [big]


def test_without_pysigma_rules_load_from_the_cache_or_say_what_to_install(
    tmp_path: Path,
) -> None:
    """pySigma is needed only to parse rules: a scan whose rule set the cache holds runs
    without it; one that must parse says what to install (not a bare ImportError)."""
    (tmp_path / "export.xml").write_text(NO_EVENT_ID, encoding="utf-8")
    rule = tmp_path / "rule.yml"
    rule.write_text(ANY_SYSTEM_EVENT, encoding="utf-8")
    cache = tmp_path / "cache"
    probe = (
        "import sys, evtxscan\n"
        "if sys.argv[1] == 'blocked': sys.modules['sigma'] = None  # as if not installed\n"
        "try:\n"
        f"    result = evtxscan.scan({str(tmp_path / 'export.xml')!r}, sigma={str(rule)!r})\n"
        "    print('diagnoses', (result.diagnoses['kind'] == 'sigma').sum())\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )

    def run(mode: str, cache_dir: str) -> str:
        env = {**os.environ, "EVTXSCAN_CACHE_DIR": cache_dir}
        done = subprocess.run(
            [sys.executable, "-c", probe, mode], env=env, capture_output=True, text=True
        )
        return done.stdout.strip()

    assert run("blocked", "off").startswith("SigmaUnavailableError Sigma rules need pySigma")
    assert run("installed", str(cache)) == "diagnoses 1"  # parsed, kept in the cache
    assert run("blocked", str(cache)) == "diagnoses 1"
