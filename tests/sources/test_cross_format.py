"""The same events as .evtx, .evt and XML export read to the same rows and messages.

Columns each format carries (documented in the README): .evt has no EventRecordID of its
own (its record number stands in), no keywords, task/opcode/version or thread, and 1-second
times; an XML export has no record header (record numbers are positions) and no written
time. Everything else must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from evtx import PyEvtxParser

import evtxscan
from evtxscan.synth import EventSpec, EvtEventSpec, write_evt, write_evtx

T0 = datetime(1996, 3, 12, 8, 0, tzinfo=UTC)
EVENTS = [
    # (provider, id, qualifiers, level / evt type, seconds, strings)
    (
        "EventLog",
        6009,
        0x8000,
        (4, 4),
        0,
        ["3.51", "1057", "Service Pack 5", "Multiprocessor Free"],
    ),
    ("EventLog", 6005, 0x8000, (4, 4), 0, [""]),
    (
        "Application Popup",
        26,
        0x4000,
        (4, 4),
        20,
        [
            "System Process - Driver Entry Point Not Found",
            "The \\SystemRoot\\System32\\drivers\\srv.sys device driver could not locate the entry "
            "point RtlIsNameLegalDOS8Dot3 in driver NTOSKRNL.EXE.",
        ],
    ),
    ("Server", 2508, 0xC000, (2, 1), 31, [""]),
    ("Service Control Manager", 7023, 0xC000, (2, 1), 32, ["Server", "%%2"]),
]
COMPARED = [
    "host",
    "computer",
    "time",
    "channel",
    "provider",
    "event_id",
    "qualifiers",
    "level",
    "binary",
    "message",
]


def _write_all(root: Path) -> dict[str, Path]:
    specs = [
        EventSpec(
            p,
            i,
            T0 + timedelta(seconds=s),
            "FS01",
            qualifiers=q,
            level=lv[0],
            data=tuple((None, v) for v in strings),
            event_record_id=n + 1,
        )
        for n, (p, i, q, lv, s, strings) in enumerate(EVENTS)
    ]
    evtx = write_evtx(root / "fs01" / "System.evtx", specs)
    evt = write_evt(
        root / "fs01-legacy" / "SysEvent.Evt",
        [
            EvtEventSpec(
                p,
                i,
                T0 + timedelta(seconds=s),
                qualifiers=q,
                event_type=lv[1],
                computer="FS01",
                strings=tuple(strings),
            )
            for p, i, q, lv, s, strings in EVENTS
        ],
    )
    xml_parts = []
    records = PyEvtxParser(str(evtx)).records()
    for record in records:
        text = record["data"]
        xml_parts.append(text[text.index("?>") + 2 :] if text.startswith("<?xml") else text)
    xml = root / "fs01-export" / "System.xml"
    xml.parent.mkdir(parents=True)
    xml.write_text("".join(xml_parts), encoding="utf-8")
    return {"evtx": evtx, "evt": evt, "xml": xml}


def test_same_rows_and_messages_from_every_format(tmp_path: Path) -> None:
    paths = _write_all(tmp_path)
    frames = {}
    for fmt, path in paths.items():
        frame = evtxscan.read_frame(path, messages=True)
        assert (frame["source_format"] == fmt).all()
        frames[fmt] = frame
    reference = frames["evtx"]
    for fmt in ("evt", "xml"):
        frame = frames[fmt]
        assert len(frame) == len(EVENTS), fmt
        for column in COMPARED:
            left = reference[column].astype(object).where(reference[column].notna(), None)
            right = frame[column].astype(object).where(frame[column].notna(), None)
            assert left.tolist() == right.tolist(), (fmt, column)
        values = [[d["value"] for d in data] for data in frame["data"]]
        assert values == [[d["value"] for d in data] for data in reference["data"]], fmt
    assert frames["evt"]["channel"].iloc[0] == "System"  # inferred from SysEvent.Evt
    seven_023 = reference[reference["event_id"] == 7023]["message"].iloc[0]
    assert seven_023 == (
        "The Server service terminated with the following error: \n"
        "The system cannot find the file specified."
    )


def test_a_mixed_collection_counts_the_incident_once(tmp_path: Path) -> None:
    from evtxscan.scanning import scan

    _write_all(tmp_path)
    result = scan(tmp_path)
    # The three files are one host (FS01) holding the same events (same channel, record id
    # and content), so they are deduplicated and the incident is counted once.
    rows = result.diagnoses[result.diagnoses["signature_id"] == "q138713-srv-kernel-entry-point"]
    assert rows["host"].tolist() == ["fs01"]
    assert int(rows["occurrences"].iloc[0]) == 1
    assert "NTKRNLMP.EXE" in rows["resolution"].iloc[0]
