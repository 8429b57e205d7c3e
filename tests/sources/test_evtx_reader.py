"""The EVTX record layer on files our own writer makes: values, damage, bundles, hosts."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest

import evtxscan
from evtxscan.synth import EventSpec, Sid, UserData, evtx_bytes, write_evtx

T0 = datetime(2024, 3, 5, 12, 0, 0, 123456, tzinfo=UTC)


def scm_7023(i: int, computer: str = "EXCH01") -> EventSpec:
    return EventSpec(
        provider="Service Control Manager",
        event_source_name="Service Control Manager",
        provider_guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}",
        event_id=7023,
        qualifiers=0xC000,
        level=2,
        time=T0 + timedelta(seconds=i),
        computer=computer,
        event_record_id=1000 + 2 * i,
        process_id=500,
        thread_id=600 + i,
        data=(("param1", "Server"), ("param2", "%%2")),
        binary=b"L\x00a\x00n\x00",
    )


def popup(i: int) -> EventSpec:
    return EventSpec(
        provider="Application Popup",
        event_id=26,
        time=T0 + timedelta(minutes=i),
        data=(
            ("Caption", "Dsamain.exe - Entry Point Not Found"),
            (
                "Message",
                "The procedure entry point ?HrRegisterProtocol@@YGJPAVPROTO@@FJJJKHPAXK@Z "
                "could not be located in the dynamic link library NETIF.dll.",
            ),
        ),
        user_sid="S-1-5-18",
    )


def positional(i: int) -> EventSpec:
    return EventSpec(
        provider="EventLog",
        event_id=6009,
        qualifiers=0x8000,
        time=T0 + timedelta(hours=i),
        data=((None, "4.00."), (None, "1381"), (None, ""), (None, "Multiprocessor Free")),
    )


def test_values_round_trip(tmp_path: Path) -> None:
    events = [scm_7023(0), popup(1), positional(2)]
    path = write_evtx(tmp_path / "System.evtx", events)
    frame = evtxscan.read_frame(path)
    assert len(frame) == 3
    scm, pop, pos = (frame.iloc[i] for i in range(3))
    assert scm["provider"] == "Service Control Manager"
    assert scm["event_source_name"] == "Service Control Manager"
    assert scm["provider_guid"] == "{555908D1-A6D7-4695-8E1E-26931D2012F4}"
    assert (scm["event_id"], scm["qualifiers"], scm["level"]) == (7023, 0xC000, 2)
    assert scm["time"] == pd.Timestamp(T0)
    assert scm["written_time"] == pd.Timestamp(T0)
    assert (scm["record_number"], scm["event_record_id"]) == (1, 1000)
    assert (scm["process_id"], scm["thread_id"]) == (500, 600)
    assert [(d["name"], d["value"]) for d in scm["data"]] == [
        ("param1", "Server"),
        ("param2", "%%2"),
    ]
    assert scm["binary"] == "4C0061006E00"
    assert (scm["host"], scm["computer"], scm["channel"]) == ("exch01", "EXCH01", "System")
    assert "HrRegisterProtocol" in pop["data"][1]["value"]
    assert pop["user_sid"] == "S-1-5-18"
    assert [d["name"] for d in pos["data"]] == [None] * 4
    assert [d["value"] for d in pos["data"]] == ["4.00.", "1381", "", "Multiprocessor Free"]
    assert frame["source_format"].iloc[0] == "evtx"
    assert not frame["torn"].any() and not frame["recovered"].any()


def test_dtypes_follow_the_schema(tmp_path: Path) -> None:
    frame = evtxscan.read_frame(write_evtx(tmp_path / "a.evtx", [scm_7023(0)]))
    for name, dtype in evtxscan.COLUMNS.items():
        assert str(frame[name].dtype) == str(dtype), name


def test_typed_values_render_as_windows_shows_them(tmp_path: Path) -> None:
    guid = UUID("47bfa2b7-bd54-4fac-b70b-29021084ca8f")
    event = EventSpec(
        provider="Test",
        event_id=1,
        time=T0,
        data=(
            ("Flag", True),
            ("Count", 7),
            ("Guid", guid),
            ("When", T0),
            ("Sid", Sid("S-1-5-18")),
            ("Blob", b"\x01\xab"),
        ),
        user_data=None,
    )
    frame = evtxscan.read_frame(write_evtx(tmp_path / "t.evtx", [event]))
    values = {d["name"]: d["value"] for d in frame.iloc[0]["data"]}
    assert values["Flag"] == "true"
    assert values["Count"] == "7"
    assert values["Guid"] == "{47BFA2B7-BD54-4FAC-B70B-29021084CA8F}"
    assert values["When"] == "2024-03-05T12:00:00.123456Z"
    assert values["Sid"] == "S-1-5-18"
    assert values["Blob"] == "01AB"


def test_user_data_is_flattened_with_dotted_names(tmp_path: Path) -> None:
    event = EventSpec(
        provider="Microsoft-Windows-Eventlog",
        event_id=104,
        time=T0,
        user_data=UserData(
            "LogFileCleared",
            "http://manifests.microsoft.com/win/2004/08/windows/eventlog",
            (("SubjectUserName", "admin"), ("Channel", "System"), ("Channel", "Again")),
        ),
    )
    frame = evtxscan.read_frame(write_evtx(tmp_path / "u.evtx", [event]))
    pairs = [(d["name"], d["value"]) for d in frame.iloc[0]["data"]]
    assert pairs == [
        ("LogFileCleared.SubjectUserName", "admin"),
        ("LogFileCleared.Channel", "System"),
        ("LogFileCleared.Channel", "Again"),
    ]


def test_dirty_header_with_stale_chunk_count_loses_nothing(tmp_path: Path) -> None:
    events = [scm_7023(i) for i in range(30)]
    path = write_evtx(
        tmp_path / "d.evtx", events, records_per_chunk=5, dirty=True, header_chunk_count=2
    )
    stream = evtxscan.read_records(path)
    frame = stream.frame()
    row = stream.integrity.iloc[0]
    assert len(frame) == 30 and row["records"] == 30
    assert (row["status"], row["chunks"], row["header_chunk_count"]) == ("dirty", 6, 2)
    assert list(frame["chunk"]) == [i // 5 for i in range(30)]


def test_zeroed_header_recovers_from_chunks(tmp_path: Path) -> None:
    path = write_evtx(
        tmp_path / "z.evtx", [scm_7023(i) for i in range(12)], zero_header=True, records_per_chunk=4
    )
    stream = evtxscan.read_records(path)
    assert len(stream.frame()) == 12
    row = stream.integrity.iloc[0]
    assert row["status"] == "damaged" and "file header missing or damaged" in row["errors"]


def test_bad_chunk_crc_is_reported_and_records_kept(tmp_path: Path) -> None:
    path = write_evtx(
        tmp_path / "c.evtx", [scm_7023(i) for i in range(9)], records_per_chunk=3, bad_chunk_crc={1}
    )
    stream = evtxscan.read_records(path)
    assert len(stream.frame()) == 9
    errors = json.loads(stream.integrity.iloc[0]["errors"])
    assert [(e["chunk"], e["offset"]) for e in errors] == [(1, 4096 + 65536)]
    assert "CRC32" in errors[0]["reason"]


def test_truncated_mid_chunk_keeps_complete_records(tmp_path: Path) -> None:
    full = evtx_bytes([scm_7023(i) for i in range(40)])
    cut = full[: 4096 + 3000]
    path = tmp_path / "t.evtx"
    path.write_bytes(cut)
    stream = evtxscan.read_records(path)
    frame = stream.frame()
    assert 0 < len(frame) < 40
    assert list(frame["event_record_id"]) == [1000 + 2 * i for i in range(len(frame))]
    assert "file ends inside the chunk" in stream.integrity.iloc[0]["errors"]


def test_torn_time_becomes_nat_and_is_flagged(tmp_path: Path) -> None:
    torn = EventSpec(provider="X", event_id=1, time=datetime(1601, 1, 1, tzinfo=UTC))
    frame = evtxscan.read_frame(write_evtx(tmp_path / "x.evtx", [torn, scm_7023(1)]))
    assert frame["time"].isna().tolist() == [True, False]
    assert frame["torn"].tolist() == [True, False]
    frame.to_parquet(tmp_path / "x.parquet")  # no out-of-range timestamp anywhere


def test_hundred_files_three_broken(tmp_path: Path) -> None:
    for i in range(97):
        write_evtx(tmp_path / f"host{i:03}" / "System.evtx", [scm_7023(i, f"HOST{i:03}")])
    (tmp_path / "broken1.evtx").write_bytes(b"")
    (tmp_path / "broken2.evtx").write_bytes(b"not a log at all")
    (tmp_path / "broken3.evtx").write_bytes(b"ElfFile\x00" + b"\xff" * 5000)
    stream = evtxscan.read_records(tmp_path)
    frame = stream.frame()
    integrity = stream.integrity
    assert len(frame) == 97 and frame["host"].nunique() == 97
    assert len(integrity) == 100
    assert (integrity["status"] == "unreadable").sum() == 3


def test_format_is_decided_by_content_not_name(tmp_path: Path) -> None:
    data = evtx_bytes([scm_7023(0)])
    for name in ("System.evtx_data", "Archive-System-2024.evtx", "noextension", "log.txt"):
        (tmp_path / name).write_bytes(data[:-1] + bytes([data[-1]]) + name.encode())
    stream = evtxscan.read_records(tmp_path)
    assert len(stream.frame()) == 4
    assert set(stream.integrity["format"]) == {"evtx"}


def test_duplicates_are_read_once(tmp_path: Path) -> None:
    data = evtx_bytes([scm_7023(i) for i in range(3)])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "System.evtx").write_bytes(data)
    (tmp_path / "b.evtx").write_bytes(data)
    stream = evtxscan.read_records(tmp_path)
    assert len(stream.frame()) == 3
    duplicate = stream.integrity[stream.integrity["status"] == "duplicate"].iloc[0]
    assert duplicate["path"].endswith("System.evtx")
    assert duplicate["duplicate_of"].endswith("b.evtx")


def test_zip_and_gzip_bundles_are_read_in_place(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as bundle:
        bundle.writestr("deep/App.evtx", evtx_bytes([popup(0)]))
    outer = tmp_path / "collection.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("srv1/System.evtx", evtx_bytes([scm_7023(0, "SRV1")]))
        bundle.writestr("srv2/System.gz", gzip.compress(evtx_bytes([scm_7023(1, "SRV2")])))
        bundle.writestr("nested.zip", inner.getvalue())
        bundle.writestr("notes.txt", "collected by ops")
    stream = evtxscan.read_records(outer)
    frame = stream.frame()
    assert sorted(frame["host"].astype(str)) == ["host01", "srv1", "srv2"]
    paths = set(stream.integrity["path"])
    assert f"{outer}!srv1/System.evtx" in paths
    assert f"{outer}!nested.zip!deep/App.evtx" in paths
    assert list(tmp_path.iterdir()) == [outer]  # nothing extracted to disk


def test_globs_and_missing_paths(tmp_path: Path) -> None:
    write_evtx(tmp_path / "a" / "System.evtx", [scm_7023(0)])
    write_evtx(tmp_path / "b" / "System.evtx", [scm_7023(1)])
    stream = evtxscan.read_records([str(tmp_path / "*" / "System.evtx"), tmp_path / "nope"])
    assert len(stream.frame()) == 2
    missing = stream.integrity[stream.integrity["status"] == "unreadable"]
    assert "no such file" in missing.iloc[0]["errors"]


def test_one_host_however_spelled_and_per_record_in_forwarded_logs(tmp_path: Path) -> None:
    names = ["EXCH01", "Exch01", "exch01.corp.example.com", "DC1.corp", "WEB7"]
    path = write_evtx(
        tmp_path / "ForwardedEvents.evtx", [scm_7023(i, c) for i, c in enumerate(names)]
    )
    frame = evtxscan.read_frame(path)
    assert frame["host"].astype(str).tolist() == ["exch01"] * 3 + ["dc1", "web7"]
    mapped = evtxscan.read_frame(path, host_map={"exch01.corp.example.com": "exch01-corp"})
    assert mapped["host"].astype(str).tolist()[2] == "exch01-corp"


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_batches_respect_the_size(tmp_path: Path, batch_size: int) -> None:
    path = write_evtx(tmp_path / "s.evtx", [scm_7023(i) for i in range(50)], records_per_chunk=4)
    sizes = [len(b) for b in evtxscan.read_records(path, batch_size=batch_size)]
    assert sum(sizes) == 50 and max(sizes) <= batch_size


def test_workers_give_the_same_records(tmp_path: Path) -> None:
    events = [scm_7023(i) for i in range(400)]
    path = write_evtx(tmp_path / "w.evtx", events, records_per_chunk=3)
    serial = evtxscan.read_frame(path)
    parallel = evtxscan.read_frame(path, workers=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_workers_across_many_files_with_duplicates(tmp_path: Path) -> None:
    for i in range(12):
        write_evtx(
            tmp_path / f"h{i:02}" / "System.evtx", [scm_7023(j, f"H{i:02}") for j in range(5)]
        )
    (tmp_path / "h00" / "copy.evtx").write_bytes((tmp_path / "h00" / "System.evtx").read_bytes())
    serial = evtxscan.read_records(tmp_path)
    serial_frame = serial.frame()
    parallel = evtxscan.read_records(tmp_path, workers=2)
    pd.testing.assert_frame_equal(serial_frame, parallel.frame())
    assert serial.integrity["status"].tolist() == parallel.integrity["status"].tolist()
    assert (parallel.integrity["status"] == "duplicate").sum() == 1
