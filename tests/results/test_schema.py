"""The declared result tables: every table of a scan conforms, empty ones are typed, and the
evidence keys stay typed until a writer turns them into JSON."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.nightly.state import rows_from_blob, rows_to_blob
from evtxscan.outputs.tables import csv_cells
from evtxscan.results import ScanResult
from evtxscan.results.evidence import (
    EVIDENCE_DTYPE,
    EvidenceKey,
    diagnosis_id,
    evidence_from_json,
    evidence_json,
)
from evtxscan.results.schema import (
    DAILY,
    DIAGNOSES,
    EVIDENCE,
    HOSTS,
    INTEGRITY,
    KEPT_ROWS,
    TIMELINE,
    Column,
    Table,
)
from evtxscan.scanning import scan

DEMO = Path(__file__).resolve().parents[2] / "demo" / "collection"
TABLES = {
    "timeline": TIMELINE,
    "diagnoses": DIAGNOSES,
    "hosts": HOSTS,
    "integrity": INTEGRITY,
    "daily": DAILY,
}
KEY = EvidenceKey(
    host="fs01",
    channel="System",
    event_record_id=7,
    record_number=7,
    time=pd.Timestamp("1996-03-11 08:00:05.25", tz="UTC"),
    symptom="popup",
    provider="Application Popup",
    event_id=26,
    source_file="fs01/System.evtx",
)


@pytest.fixture(scope="module")
def demo() -> ScanResult:
    return scan(DEMO)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_of_a_scan_conforms(demo: ScanResult, name: str) -> None:
    frame = getattr(demo, name)
    assert len(frame), name
    assert TABLES[name].mismatches(frame) == []
    assert EVIDENCE.mismatches(demo.evidence()) == []


def test_empty_tables_are_typed(tmp_path: Path) -> None:
    empty = scan(tmp_path)
    for name, table in TABLES.items():
        frame = getattr(empty, name)
        assert frame.empty and table.mismatches(frame) == [], name
    assert EVIDENCE.mismatches(empty.evidence()) == []
    for table in (*TABLES.values(), EVIDENCE, KEPT_ROWS):
        assert table.mismatches(table.empty()) == [], table.name


def test_conform_orders_types_and_keeps_extra_columns() -> None:
    table = Table("t", (Column("a", "int64"), Column("when", "datetime64[us, UTC]")))
    frame = pd.DataFrame({"extra": ["x"], "when": ["2001-01-01T00:00:00Z"], "a": ["3"]})
    out = table.conform(frame)
    assert list(out.columns) == ["a", "when", "extra"]
    assert out["a"].dtype == "int64" and str(out["when"].dtype) == "datetime64[us, UTC]"
    missing = table.conform(pd.DataFrame({"when": [None]}))
    assert str(missing["a"].dtype) == "Int64" and table.mismatches(missing) == []
    found = table.mismatches(frame)
    assert [m.split(":")[0] for m in found] == ["a", "when"]
    assert table.mismatches(frame.drop(columns="a"))[0] == "missing a"


def test_diagnoses_keep_typed_evidence_and_writers_give_json(demo: ScanResult) -> None:
    diagnoses = demo.diagnoses
    assert diagnoses["evidence"].dtype == EVIDENCE_DTYPE
    first = list(diagnoses["evidence"].iloc[0])
    assert isinstance(first[0]["time"], datetime) and isinstance(first[0]["event_id"], int)
    cells = csv_cells(diagnoses)["evidence"]
    for text, keys in zip(cells, diagnoses["evidence"], strict=True):
        items = json.loads(text)
        assert [i["event_record_id"] for i in items] == [k["event_record_id"] for k in keys]
        assert list(items[0]) == list(EvidenceKey._fields)
        assert items[0]["time"].endswith("+00:00")


def test_evidence_json_round_trip_and_stable_identity() -> None:
    text = evidence_json([KEY])
    assert json.loads(text)[0]["time"] == "1996-03-11T08:00:05.250000+00:00"
    assert evidence_from_json(text) == [KEY]
    # the identity recipe: sha256 of host|signature|first key as sorted JSON (kept stable)
    assert diagnosis_id("fs01", "Q1", KEY) == diagnosis_id("fs01", "Q1", json.loads(text)[0])
    assert diagnosis_id("fs01", "Q1", KEY) != diagnosis_id("fs01", "Q2", KEY)


def test_json_evidence_from_a_notebook_is_accepted() -> None:
    row = {"host": "h", "signature_id": "s", "evidence": evidence_json([KEY])}
    result = ScanResult(
        timeline=pd.DataFrame(), diagnoses=pd.DataFrame([row]), hosts=pd.DataFrame(),
        integrity=pd.DataFrame(),
    )  # fmt: skip
    assert result.diagnoses["evidence"].dtype == EVIDENCE_DTYPE
    evidence = result.evidence()
    assert list(evidence["event_record_id"]) == [7] and evidence["time"].iloc[0] == KEY.time


def test_carried_rows_of_old_state_files_name_the_provider_key() -> None:
    rows = KEPT_ROWS.empty().rename(columns={"provider_key": "_canon"})
    back = rows_from_blob(rows_to_blob(rows))
    assert "provider_key" in back.columns and "_canon" not in back.columns
