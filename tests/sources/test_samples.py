"""The record layer on real, messy sample logs (../shared/samples): counts, integrity, no crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.sources.evtx.reader import ALTERED, TORN_HEADER

# Files cut mid-chunk: we read the complete records of the partial last chunk, which the
# manifest's reference parser (pyevtx-rs on the whole file) ignores.
TRUNCATED = {"nanw01-python-algrothm/System.evtx": 2592, "plaso/test_data/evtx/System2.evtx": 283}


@pytest.fixture(scope="module")
def corpus(samples: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    stream = evtxscan.read_records(samples)
    frame = stream.frame()
    return frame, stream.integrity


def _row(integrity: pd.DataFrame, samples: Path, name: str) -> pd.Series:
    rows = integrity[integrity["path"] == str(samples / name)]
    assert len(rows) == 1, name
    return rows.iloc[0]


def _errors(row: pd.Series) -> str:
    return " | ".join(e["reason"] for e in json.loads(row["errors"]))


def test_every_file_gets_one_integrity_row_and_no_internal_error(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    _, integrity = corpus
    on_disk = [p for p in samples.rglob("*") if p.is_file()]
    assert len(integrity) == len(on_disk)
    assert not integrity["errors"].str.contains("internal error").any()


def test_record_counts_match_the_reference_parser(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path, manifest: list[dict[str, str]]
) -> None:
    _, integrity = corpus
    checked = 0
    for entry in manifest:
        if entry["kind"] != "evtx":
            continue
        row = _row(integrity, samples, entry["file"])
        if row["status"] == "duplicate":
            continue
        expected = TRUNCATED.get(entry["file"], int(entry["records_pyevtx_rs_or_libevt"]))
        if row["records"] != expected:
            # The record index counts records whose System fields it reads even where the
            # reference parser fails on their body; each such failure is a listed error. Past
            # a torn record header (listed too) the walk resumes where the reference stops.
            assert row["records"] > expected, entry["file"]
            failures = _errors(row).count("pyevtx-rs")
            resumed = TORN_HEADER in _errors(row)
            assert resumed or failures >= row["records"] - expected, entry["file"]
        checked += 1
    assert checked >= 35


def test_damaged_samples_give_their_good_records_and_a_truthful_row(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    _, integrity = corpus
    row = _row(integrity, samples, "omerbenamram-evtx/samples/sample_with_a_bad_chunk_magic.evtx")
    # 270 records as pyevtx-rs reads them, and 31 more past a torn record header
    assert (row["status"], row["records"]) == ("damaged", 301)
    assert "bad chunk magic" in _errors(row) and TORN_HEADER in _errors(row)

    row = _row(integrity, samples, "omerbenamram-evtx/samples/sysmon.evtx")
    assert row["header_chunk_count"] == 1 and row["chunks"] == 9 and row["records"] == 358

    row = _row(integrity, samples, "omerbenamram-evtx/samples/Application_no_crc32.evtx")
    assert "file header CRC32 mismatch" in _errors(row) and row["records"] == 17

    for name in (
        "Microsoft-Windows-HelloForBusiness%4Operational.evtx",
        "Microsoft-Windows-LanguagePackSetup%4Operational.evtx",
    ):
        row = _row(integrity, samples, f"omerbenamram-evtx/samples/{name}")
        assert row["torn"] == 1, name

    for name in TRUNCATED:
        row = _row(integrity, samples, name)
        assert row["status"] == "damaged" and "file ends inside the chunk" in _errors(row)

    row = _row(integrity, samples, "hayabusa/test_files/evtx/test1.evtx")
    assert row["status"] == "unreadable" and "empty file" in _errors(row)

    row = _row(integrity, samples, "plaso/test_data/link_to_System.evtx")
    assert row["status"] == "unreadable" and "not an event log" in _errors(row)

    row = _row(
        integrity, samples, "omerbenamram-evtx/samples/sample-with-zero-data-size-event.evtx"
    )
    # Record 3's header says size 0: the walk goes on at record 4 (its size copy agrees), so
    # only record 3 is missing, not the 114 records after it in chunk 0.
    assert row["status"] == "damaged" and row["missing_records"] == 1
    assert row["records"] == 449


def test_cleared_log_records_come_from_slack_flagged_recovered(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    frame, integrity = corpus
    row = _row(integrity, samples, "joaocristtem-windows/Application.evtx")
    assert (row["records"], row["recovered"]) == (0, 31)
    mine = frame[frame["source_file"] == str(samples / "joaocristtem-windows/Application.evtx")]
    assert mine["recovered"].all() and mine["event_id"].notna().all()


def test_dirty_header_does_not_hide_chunks(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    _, integrity = corpus
    row = _row(integrity, samples, "tugix456-winevt-logs/Security.evtx")
    assert row["header_chunk_count"] == 2 and row["chunks"] == 13 and row["records"] == 1107
    assert row["status"] == "dirty"


def test_filtered_export_is_labelled_not_reported_as_missing(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    _, integrity = corpus
    row = _row(integrity, samples, "omerbenamram-evtx/samples/Security_short_selected.evtx")
    assert row["filtered_export"] and row["missing_records"] == 0 and row["status"] == "ok"


def test_header_number_and_event_record_id_are_both_kept(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    frame, _ = corpus
    mine = frame[frame["source_file"].astype(str).str.endswith("Security_short_selected.evtx")]
    assert (mine["record_number"] != mine["event_record_id"]).any()


def test_positional_data_is_kept_in_order(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    frame, _ = corpus
    source = str(samples / "plaso/test_data/evtx/System.evtx")
    rows = frame[(frame["source_file"] == source) & (frame["event_record_id"] == 3)]
    assert len(rows) == 1
    data = list(rows.iloc[0]["data"])
    assert [d["name"] for d in data] == [None] * 5
    assert [d["value"] for d in data] == [
        "6.01.",
        "7601",
        "Service Pack 1",
        "Multiprocessor Free",
        "17514",
    ]


def test_no_hang_on_any_damaged_sample(samples: Path) -> None:
    damaged = [
        "omerbenamram-evtx/samples/sample_with_a_bad_chunk_magic.evtx",
        "omerbenamram-evtx/samples/Application_no_crc32.evtx",
        "omerbenamram-evtx/samples/Microsoft-Windows-HelloForBusiness%4Operational.evtx",
        "omerbenamram-evtx/samples/Microsoft-Windows-LanguagePackSetup%4Operational.evtx",
        "omerbenamram-evtx/samples/2-vss_7-System.evtx",
        "williballenthin-python-evtx/tests/data/issue_43.evtx",
        "williballenthin-python-evtx/tests/data/dns_log_malformed.evtx",
        "plaso/test_data/evtx/System2.evtx",
        "nanw01-python-algrothm/System.evtx",
        "hayabusa/test_files/evtx/test1.evtx",
        "plaso/test_data/link_to_System.evtx",
        "joaocristtem-windows/Application.evtx",
        "omerbenamram-evtx/samples/sysmon.evtx",
        "omerbenamram-evtx/samples/sample-with-zero-data-size-event.evtx",
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evtxscan.cli",
            "dump",
            "-q",
            "-o",
            "/dev/null",
            *[str(samples / d) for d in damaged],
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_integrity_is_the_same_whichever_command_read_the_file(
    corpus: tuple[pd.DataFrame, pd.DataFrame], samples: Path
) -> None:
    """``scan`` decodes only what it needs, ``read_records`` everything; both count every
    record from the index, so a file's row agrees (a scan may list fewer parser errors: it
    does not parse chunks it needs nothing from; and broken UTF-16 is found in the values
    of decoded records only, so a file whose only damage is such a value in a record the
    scan did not decode is not "damaged" to the scan)."""
    _, read = corpus
    scanned = evtxscan.scan(samples, workers=1).integrity
    same = [
        "path", "format", "status", "size", "sha256", "records", "recovered", "torn", "chunks",
        "chunks_skipped", "header_chunk_count", "header_dirty", "first_time", "last_time",
        "missing_records", "filtered_export", "duplicate_of", "notes",
    ]  # fmt: skip
    left = read[same].set_index("path").sort_index()
    right = scanned[same].set_index("path").sort_index()
    differs = left["status"].astype(str) != right["status"].astype(str)
    for path in left.index[differs]:
        theirs = json.loads(read.loc[read["path"] == path, "errors"].iloc[0])
        mine = json.loads(scanned.loc[scanned["path"] == path, "errors"].iloc[0])
        extra = [error for error in theirs if error not in mine]
        assert extra and all(e["reason"] == ALTERED for e in extra), path
        assert (left.at[path, "status"], right.at[path, "status"]) == ("damaged", "ok"), path
    assert differs.sum() <= 1  # issue_43.evtx
    pd.testing.assert_frame_equal(left[~differs], right[~differs], check_categorical=False)
    for path, errors in zip(scanned["path"], scanned["errors"], strict=True):
        mine = {json.dumps(e, sort_keys=True) for e in json.loads(errors)}
        theirs = read.loc[read["path"] == path, "errors"].iloc[0]
        assert mine <= {json.dumps(e, sort_keys=True) for e in json.loads(theirs)}, path
