"""Hostile and damaged bundles: one bad member costs that member, bombs stop at a named bound."""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.scanning import read_records
from evtxscan.sources.bundles import BundleLimits
from evtxscan.synth import EventSpec, evtx_bytes


def _log(event_id: int) -> bytes:
    return evtx_bytes([EventSpec("Prov", event_id, datetime(2024, 1, 2, 3, 4, 5))])


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as bundle:
        for name, data in members:
            bundle.writestr(name, data)
    return buffer.getvalue()


def _read(path: Path, **options: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    stream = read_records(path, **options)  # type: ignore[arg-type]
    frame = stream.frame()
    return frame, stream.integrity


def _row(integrity: pd.DataFrame, suffix: str) -> pd.Series:
    rows = integrity[integrity["path"].str.endswith(suffix)]
    assert len(rows) == 1, integrity["path"].tolist()
    return rows.iloc[0]


def _patch(data: bytes, old: bytes, new: bytes, nth: int = 0) -> bytes:
    at = -1
    for _ in range(nth + 1):
        at = data.index(old, at + 1)
    return data[:at] + new + data[at + len(old) :]


def _no_internal_errors(integrity: pd.DataFrame) -> None:
    assert not integrity["errors"].str.contains("internal error").any(), integrity["errors"]


def test_one_damaged_member_costs_only_that_member(tmp_path: Path) -> None:
    good = _log(1)
    names = ["a.evtx", "crc.evtx", "method.evtx", "crypt.evtx", "deflate.evtx", "z.evtx"]
    data = _zip([(n, _log(10 + i) if n != "a.evtx" else good) for i, n in enumerate(names)])
    bundle = zipfile.ZipFile(io.BytesIO(data))
    infos = {i.filename: i for i in bundle.infolist()}
    blob = bytearray(data)
    # a bad CRC in both headers
    for offset in (infos["crc.evtx"].header_offset + 14, data.rindex(b"crc.evtx") - 30):
        blob[offset : offset + 4] = b"\x00\x00\x00\x00"
    # an unknown compression method (99 without AES data) in both headers
    struct.pack_into("<H", blob, infos["method.evtx"].header_offset + 8, 97)
    struct.pack_into("<H", blob, data.rindex(b"method.evtx") - 46 + 10, 97)
    # the encryption flag
    struct.pack_into("<H", blob, infos["crypt.evtx"].header_offset + 6, 1)
    struct.pack_into("<H", blob, data.rindex(b"crypt.evtx") - 46 + 8, 1)
    # garbage inside the deflate stream
    start = infos["deflate.evtx"].header_offset + 30 + len("deflate.evtx") + 40
    blob[start : start + 64] = os.urandom(64)
    (tmp_path / "bundle.zip").write_bytes(bytes(blob))
    frame, integrity = _read(tmp_path / "bundle.zip")
    _no_internal_errors(integrity)
    assert set(frame["event_id"]) >= {1, 15}  # the first and last members are read
    assert _row(integrity, "!crc.evtx")["errors"].count("CRC-32 mismatch") == 1
    assert "not supported" in _row(integrity, "!method.evtx")["errors"]
    assert "encrypted" in _row(integrity, "!crypt.evtx")["errors"]
    assert _row(integrity, "!deflate.evtx")["status"] in ("unreadable", "damaged")


def test_truncated_central_directory_recovers_members_from_local_headers(tmp_path: Path) -> None:
    data = _zip([("one.evtx", _log(1)), ("two.evtx", _log(2))])
    cut = data[: data.index(b"PK\x01\x02") + 10]  # the directory is cut short
    (tmp_path / "cut.zip").write_bytes(cut)
    frame, integrity = _read(tmp_path / "cut.zip")
    _no_internal_errors(integrity)
    assert sorted(frame["event_id"]) == [1, 2]
    assert "central directory unreadable" in _row(integrity, "cut.zip")["errors"]


def test_member_name_that_is_not_utf8_keeps_the_bundle(tmp_path: Path) -> None:
    data = _zip([("ok.evtx", _log(1)), ("bad-name.evtx", _log(2))])
    data = data.replace(b"bad-name", b"bad\xff\xfeame")  # both headers, flag 0x800 below
    blob = bytearray(data)
    for offset in (data.index(b"bad\xff") - 30 + 6, data.rindex(b"bad\xff") - 46 + 8):
        struct.pack_into("<H", blob, offset, struct.unpack_from("<H", blob, offset)[0] | 0x800)
    (tmp_path / "names.zip").write_bytes(bytes(blob))
    frame, integrity = _read(tmp_path / "names.zip")
    _no_internal_errors(integrity)
    assert sorted(frame["event_id"]) == [1, 2]
    assert integrity["path"].map(lambda p: p.encode("utf-8") is not None).all()


def test_overlapping_entries_are_refused(tmp_path: Path) -> None:
    payload = zlib.compress(b"\0" * 200_000)[2:-4]
    name = b"m0.evtx"
    local = (
        struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(payload), 200_000, len(name), 0
        )
        + name
        + payload
    )
    central = b""
    for index in range(50):  # 50 entries, one stream
        entry = f"m{index}.evtx".encode()
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                zlib.crc32(b"\0" * 200_000),
                len(payload),
                200_000,
                len(entry),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + entry
        )
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 50, 50, len(central), len(local), 0)
    (tmp_path / "overlap.zip").write_bytes(local + central + end)
    _, integrity = _read(tmp_path / "overlap.zip")
    _no_internal_errors(integrity)
    refused = integrity["errors"].str.contains("overlaps member")
    assert refused.sum() == 49


def test_nesting_stops_at_max_depth(tmp_path: Path) -> None:
    data = _log(7)
    for level in range(14):
        data = _zip([(f"level{level}.zip" if level else "log.evtx", data)])
    (tmp_path / "deep.zip").write_bytes(data)
    frame, integrity = _read(tmp_path / "deep.zip", bundle_limits=BundleLimits(max_depth=4))
    _no_internal_errors(integrity)
    assert frame.empty
    assert integrity["errors"].str.contains(r"max_depth \(4\)").sum() == 1


def test_many_members_of_a_nested_zip_are_read_once_each(tmp_path: Path) -> None:
    inner = _zip([(f"f{i}.txt", b"x%d" % i) for i in range(8000)], zipfile.ZIP_STORED)
    (tmp_path / "outer.zip").write_bytes(_zip([("inner.zip", inner)]))
    _, integrity = _read(tmp_path / "outer.zip")
    _no_internal_errors(integrity)
    assert len(integrity) == 8002
    limited = read_records(tmp_path / "outer.zip", bundle_limits=BundleLimits(max_members=100))
    list(limited)
    assert limited.integrity["errors"].str.contains(r"max_members \(100\)").sum() == 1
    assert len(limited.integrity) <= 102


def test_decompression_bomb_stops_at_a_named_bound(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as bundle:
        bundle.writestr("bomb.evtx", b"\0" * (256 << 20))  # 256 MiB in a few hundred bytes
        bundle.writestr("after.evtx", _log(3))
    (tmp_path / "bomb.zip").write_bytes(buffer.getvalue())
    limits = BundleLimits(ratio_after_bytes=8 << 20, memory_bytes=1 << 20)
    _, integrity = _read(tmp_path / "bomb.zip", bundle_limits=limits)
    _no_internal_errors(integrity)
    assert integrity["errors"].str.contains("max_ratio").any()
    total = BundleLimits(max_total_bytes=4 << 20, memory_bytes=1 << 20)
    _, integrity = _read(tmp_path / "bomb.zip", bundle_limits=total)
    assert integrity["errors"].str.contains(r"max_total_bytes \(4194304\)").any()


def test_corrupt_gzip_keeps_what_came_before_the_damage(tmp_path: Path) -> None:
    events = [EventSpec("Prov", 5, datetime(2024, 1, 2, 3, 4, 5))] * 300
    data = gzip.compress(evtx_bytes(events, records_per_chunk=50))
    cut = data[: len(data) * 2 // 3]
    (tmp_path / "cut.evtx.gz").write_bytes(cut)
    frame, integrity = _read(tmp_path / "cut.evtx.gz")
    _no_internal_errors(integrity)
    assert 0 < len(frame) < 300
    member = integrity[integrity["format"] == "evtx"].iloc[0]
    assert "gzip stream truncated" in member["errors"]


def test_unreadable_directory_gets_an_integrity_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.evtx").write_bytes(_log(1))
    (tmp_path / "y.evtx").write_bytes(_log(2))
    scandir = os.scandir

    def refusing(path: object) -> object:  # as for a directory we have no permission on
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", refusing)
    frame, integrity = _read(tmp_path)
    assert frame["event_id"].tolist() == [2]
    row = _row(integrity, "locked")
    assert row["status"] == "unreadable" and "directory unreadable" in row["errors"]


def test_non_utf8_file_names_reach_the_integrity_table(tmp_path: Path) -> None:
    name = os.fsdecode(b"host-\xff\xfe.evtx")
    (tmp_path / name).write_bytes(_log(1))
    frame, integrity = _read(tmp_path)
    assert len(frame) == 1 and str(integrity.loc[0, "path"]).endswith("host-\\xff\\xfe.evtx")
    integrity.to_csv(io.StringIO())
    frame["source_file"].astype(str).str.encode("utf-8")


def test_cli_bundle_limits_and_time_budget(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from evtxscan.cli import cli

    (tmp_path / "deep.zip").write_bytes(_zip([("inner.zip", _zip([("log.evtx", _log(7))]))]))
    integrity = tmp_path / "integrity.csv"
    runner = CliRunner()
    args = ["dump", str(tmp_path / "deep.zip"), "-o", str(tmp_path / "r.jsonl"), "-q"]
    done = runner.invoke(
        cli, [*args, "--integrity", str(integrity), "--bundle-limit", "max_depth=1"]
    )
    assert done.exit_code == 0, done.output
    assert "max_depth (1)" in integrity.read_text()
    bad = runner.invoke(cli, [*args, "--bundle-limit", "max_depth=zero"])
    assert bad.exit_code == 2 and "--bundle-limit" in bad.output
    bad = runner.invoke(cli, [*args, "--bundle-limit", "nope=1"])
    assert bad.exit_code == 2 and "max_depth" in bad.output
    fine = runner.invoke(cli, [*args, "--time-budget", "0"])
    assert fine.exit_code == 0, fine.output


def test_file_truncated_while_it_is_read(tmp_path: Path) -> None:
    """A collector still copying: the file shrinks between batches. Read through mmap this
    killed the process with SIGBUS; now the lost chunks are reported."""
    events = [EventSpec("Prov", 5, datetime(2024, 1, 2, 3, 4, 5))] * 700
    path = tmp_path / "live.evtx"
    path.write_bytes(evtx_bytes(events, records_per_chunk=10))  # 70 chunks: two ranges
    stream = read_records(path, batch_size=50)
    batches = iter(stream)
    first = next(batches)
    with open(path, "r+b") as handle:
        handle.truncate(4096 + 65536 * 66 + 1000)  # the second range's chunks go away
    rest = list(batches)
    assert 640 <= len(first) + sum(len(b) for b in rest) < 700
    row = stream.integrity.iloc[0]
    assert row["status"] == "damaged" and "internal error" not in row["errors"]


def test_a_zip_version_python_cannot_read_falls_back_to_local_headers(tmp_path: Path) -> None:
    # found by fuzzing (seed 3001): "zip file version 25.5" in the central directory made
    # zipfile raise NotImplementedError, and the bundle became an internal error
    data = bytearray(_zip([("a.evtx", _log(1))]))
    central = data.index(b"PK\x01\x02")
    data[central + 6 : central + 8] = struct.pack("<H", 255)  # version needed to extract
    path = tmp_path / "future.zip"
    path.write_bytes(bytes(data))
    frame, integrity = _read(path)
    _no_internal_errors(integrity)
    assert "zip file version" in _row(integrity, "future.zip")["errors"]
    assert len(frame) == 1  # the member, from its local header
