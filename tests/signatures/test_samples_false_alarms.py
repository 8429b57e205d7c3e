"""The shipped signatures on real logs: no KB diagnosis on healthy samples, only true findings.

The sample corpus (../shared/samples) holds real logs of healthy and ordinary machines, none of
the old NT/Exchange/SNA problems the KB signatures describe. Any KB diagnosis there is a false
alarm. The generic findings it raises were each checked by hand against the records.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evtxscan.scanning import scan

#: Generic findings on the samples, each a true problem: (host, signature, evidence event IDs).
VERIFIED = {
    # Service Control Manager 7023 (YxhGameSvc / PeaFSvc, %%126): service DLLs missing.
    ("desktop-29u0npi", "dll-not-found"): {7023},
}
STITCHED = "bench/system-stitched.evtx"


@pytest.fixture(scope="module")
def diagnoses(samples: Path) -> pd.DataFrame:
    return scan(samples).diagnoses


def test_no_kb_diagnosis_on_real_samples(diagnoses: pd.DataFrame) -> None:
    kb = diagnoses[diagnoses["kb"].notna()]
    assert kb.empty, "false alarms: " + "; ".join(kb["host"] + ": " + kb["title"])


def test_generic_findings_on_real_samples_are_the_verified_ones(diagnoses: pd.DataFrame) -> None:
    found = {
        (host, signature): {e["event_id"] for e in evidence}
        for host, signature, evidence in zip(
            diagnoses["host"], diagnoses["signature_id"], diagnoses["evidence"], strict=True
        )
    }
    assert found == VERIFIED


def test_missing_service_dll_is_not_reported_as_a_missing_entry_point(samples: Path) -> None:
    """Issue 11: SCM error %%126 on DESKTOP-29U0NPI read as "an imported function is missing"."""
    path = samples / STITCHED
    if not path.is_file():
        pytest.skip(f"{path} is not in this sample corpus")
    rows = scan(path).diagnoses
    host = rows[rows["host"] == "desktop-29u0npi"]
    assert "entry-point-not-found" not in set(host["signature_id"])
    assert not host["title"].str.contains("imported function").any()
    row = host.set_index("signature_id").loc["dll-not-found"]
    assert "a DLL it needs is missing" in row["title"]
    assert row["title"].split(" cannot start")[0] in {"YxhGameSvc", "PeaFSvc"}
    assert "specified module could not be found" in row["cause"]
    evidence = list(row["evidence"])
    assert {e["provider"] for e in evidence} == {"Service Control Manager"}
    assert row["occurrences"] >= 2
