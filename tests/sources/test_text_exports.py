"""Event Viewer text/CSV exports and dumpel output: detection by content, values, lossy notes,
time zones and date orders, encodings, recovery of insertion strings, hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.sources.detect import LogFormat, sniff
from evtxscan.sources.evt.frame import (
    AUDIT_FAILURE_KEYWORD,
    AUDIT_SUCCESS_KEYWORD,
    CLASSIC_KEYWORD,
)
from evtxscan.sources.text.inserts import InsertRecovery, compile_template

SCM_7023 = (
    "The Server service terminated with the following error: "
    "The system cannot find the file specified."
)
SCM_LINE = f"3/12/96\t8:00:32 AM\tService Control Manager\tError\tNone\t7023\tN/A\tFS01\t{SCM_7023}"
RENDERED_7023 = (
    "The Server service terminated with the following error: \n"
    "The system cannot find the file specified."
)


def _write(path: Path, lines: list[str], encoding: str = "utf-8", bom: bool = False) -> Path:
    text = "\r\n".join(lines) + "\r\n"
    data = text.encode(encoding)
    if bom:
        data = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe"}[encoding] + data
    path.write_bytes(data)
    return path


def _read(path: Path, **options: object) -> tuple[pd.DataFrame, dict[str, object]]:
    stream = evtxscan.read_records(path, **options)  # type: ignore[arg-type]
    frame = stream.frame()
    rows = stream.integrity.to_dict("records")
    assert len(rows) == 1
    return frame, rows[0]


def _data(frame: pd.DataFrame, row: int) -> list[tuple[str | None, str]]:
    return [(d["name"], d["value"]) for d in frame["data"].iloc[row]]


def _errors(row: dict[str, object]) -> list[str]:
    return [e["reason"] for e in json.loads(str(row["errors"]))]


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# -- Event Viewer text ----------------------------------------------------------------------


def test_nt4_text_export_one_line_per_event(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "exported",  # no extension: the content decides
        [
            SCM_LINE,
            "3/12/96\t7:59:58 AM\tSecurity\tSuccess Audit\tLogon/Logoff\t528\tCORP\\alice\tFS01\t"
            "Successful Logon: User Name: alice",
            "3/12/96\t7:59:50 AM\tMyApp\tWarning\t(3)\t100\tN/A\tFS01\tSomething odd",
        ],
    )
    frame, row = _read(path, messages=True)
    assert row["format"] == "text" and row["status"] == "ok" and row["records"] == 3
    assert frame["source_format"].astype(str).tolist() == ["text"] * 3
    assert frame["provider"].astype(str).tolist() == [
        "Service Control Manager",
        "Security",
        "MyApp",
    ]
    assert frame["event_id"].tolist() == [7023, 528, 100]
    assert frame["level"].tolist() == [2, 0, 3]
    assert frame["task"].tolist()[0] == 0 and frame["task"].tolist()[2] == 3
    assert pd.isna(frame["task"].iloc[1])  # a category name is not a number
    assert frame["keywords"].tolist()[1] == CLASSIC_KEYWORD | AUDIT_SUCCESS_KEYWORD
    assert frame["computer"].astype(str).tolist() == ["FS01"] * 3
    assert frame["user_sid"].isna().all() and frame["event_record_id"].isna().all()
    assert frame["time"].tolist()[0] == _utc("1996-03-12 08:00:32")
    # The description is the logged message; the SCM template gives back its strings.
    assert frame["message_logged"].iloc[0] == SCM_7023
    assert _data(frame, 0) == [(None, "Server"), (None, "%%2")]
    assert frame["message"].iloc[0] == RENDERED_7023
    assert _data(frame, 1) == [("User", "CORP\\alice")]
    assert frame["message"].iloc[2] == "Something odd"  # no catalog: the logged text
    notes = str(row["notes"])
    assert "lossy text export" in notes and "record numbers" in notes and "exact times" in notes
    assert "insertion strings" in notes and "those of 1 events inferred" in notes
    assert "M/D/Y (assumed" in notes and "1 category names lost" in notes


def test_vista_csv_with_header_quoted_multiline_utf16(tmp_path: Path) -> None:
    description = 'Special privileges assigned to new logon.\n\nSubject:\n\t"Security ID":\tSYSTEM'
    quoted = '"' + description.replace('"', '""') + '"'
    path = _write(
        tmp_path / "security.csv",
        [
            "Keywords,Date and Time,Source,Event ID,Task Category",
            f"Audit Success,13/03/2008 14:05:09,Microsoft-Windows-Security-Auditing,4672,"
            f"Special Logon,{quoted}",
            'Audit Failure,12/03/2008 09:00:01,Microsoft-Windows-Security-Auditing,4625,Logon,"An '
            'account failed to log on, twice."',
        ],
        encoding="utf-16-le",
        bom=True,
    )
    assert sniff(path.read_bytes()[:4104]) is LogFormat.TEXT
    frame, row = _read(path)
    assert row["status"] == "ok" and row["records"] == 2
    assert frame["time"].tolist() == [_utc("2008-03-13 14:05:09"), _utc("2008-03-12 09:00:01")]
    assert frame["message_logged"].tolist() == [description, "An account failed to log on, twice."]
    assert frame["level"].isna().all()  # the Keywords column holds the audit outcome
    assert frame["keywords"].tolist() == [AUDIT_SUCCESS_KEYWORD, AUDIT_FAILURE_KEYWORD]
    assert frame["event_id"].tolist() == [4672, 4625]
    notes = str(row["notes"])
    assert "D/M/Y (detected: line 2" in notes and "utf-16-le with BOM" in notes


def test_windows_2003_header_export_with_levels(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.txt",
        [
            "Type\tDate\tTime\tSource\tCategory\tEvent\tUser\tComputer\tDescription",
            "Information\t3/13/2005\t23:59:59\tEventLog\tNone\t6005\tN/A\tWEB01\t"
            "The Event log service was started.",
            "Error\t3/14/2005\t00:00:05\tService Control Manager\tNone\t7023\tN/A\tWEB01\t"
            "The Server service terminated with the following error: ",
            "The system cannot find the file specified.",  # unquoted line break
        ],
    )
    frame, row = _read(path)
    assert row["status"] == "ok" and frame["event_id"].tolist() == [6005, 7023]
    assert frame["level"].tolist() == [4, 2]
    assert frame["time"].tolist() == [_utc("2005-03-13 23:59:59"), _utc("2005-03-14 00:00:05")]
    assert frame["message_logged"].iloc[1] == RENDERED_7023
    assert _data(frame, 1) == [(None, "Server"), (None, "%%2")]
    assert "M/D/Y (detected: line 2" in str(row["notes"])
    assert "unquoted line breaks" in str(row["notes"])


def test_list_view_order_and_powershell_csv(tmp_path: Path) -> None:
    listed = _write(
        tmp_path / "list.csv",
        ["Warning,1/2/2004,1:05 PM,W32Time,None,36,N/A,DC1,The time service has not synchronized"],
    )
    frame, row = _read(listed)
    assert frame["level"].tolist() == [3] and frame["event_id"].tolist() == [36]
    assert frame["time"].tolist() == [_utc("2004-01-02 13:05:00")]
    assert "1-minute resolution" in str(row["notes"])
    shell = _write(
        tmp_path / "ps.csv",
        [
            "#TYPE System.Diagnostics.EventLogEntry#System/Service Control Manager/3221232495",
            '"EventID","MachineName","Index","EntryType","Message","Source","InstanceId",'
            '"TimeGenerated","UserName"',
            f'"7023","FS01.corp.example.com","4711","Error","{SCM_7023}","Service Control Manager",'
            '"3221232495","3/12/2011 12:00:01 AM","S-1-5-18"',
        ],
    )
    frame, row = _read(shell)
    assert row["status"] == "ok"
    assert frame["event_record_id"].tolist() == [4711] and frame["qualifiers"].tolist() == [0xC000]
    assert frame["user_sid"].astype(str).tolist() == ["S-1-5-18"]
    assert frame["host"].astype(str).tolist() == ["fs01"]
    assert frame["time"].tolist() == [_utc("2011-03-12 00:00:01")]
    assert _data(frame, 0) == [(None, "Server"), (None, "%%2")]


# -- dumpel -----------------------------------------------------------------------------------


def test_dumpel_comma_line_renders_the_7023_message(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "dump.out",
        [
            "3/12/96,8:00:32 AM,1,0,7023,Service Control Manager,N/A,FS01,Server,%%2",
            "3/12/96,8:00:10 AM,4,0,6005,EventLog,N/A,FS01,",
            "3/12/96,8:01:00 AM,8,2,528,Security,CORP\\bob,FS01,bob,CORP,(0x0,0x1F2A),2",
            "3/12/96,8:02:00 AM,16,2,529,Security,N/A,FS01,eve\tCORP\t3",
        ],
        encoding="cp1252",
    )
    frame = evtxscan.read_frame(path, messages=True)
    assert frame["message"].iloc[0] == RENDERED_7023
    assert _data(frame, 0) == [(None, "Server"), (None, "%%2")]
    assert frame["message_logged"].isna().all()  # dumpel kept strings, not messages
    assert frame["level"].tolist() == [2, 4, 0, 0]
    assert frame["task"].tolist() == [0, 0, 2, 2]
    assert frame["keywords"].tolist()[2:] == [
        CLASSIC_KEYWORD | AUDIT_SUCCESS_KEYWORD,
        CLASSIC_KEYWORD | AUDIT_FAILURE_KEYWORD,
    ]
    assert _data(frame, 1) == []  # no strings; the line ends with the delimiter
    assert [v for _, v in _data(frame, 2)] == ["bob", "CORP", "(0x0", "0x1F2A)", "2", "CORP\\bob"]
    assert _data(frame, 2)[-1] == ("User", "CORP\\bob")
    assert [v for _, v in _data(frame, 3)] == ["eve", "CORP", "3"]  # -t: strings by tabs


def test_dumpel_tab_separated_with_messages_and_space_strings(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "dumpel-t.txt",
        [
            "12/3/1996\t20:00:32\t1\t0\t7023\tService Control Manager\tN/A\tFS01\t" + SCM_7023,
            "12/3/1996\t20:00:40\t4\t0\t6005\tEventLog\tN/A\tFS01\tThe Event log service was"
            " started.",
            "12/3/1996\t20:00:41\t1\t0\t7023\tService Control Manager\tN/A\tFS01\tServer %%2",
        ],
    )
    frame, row = _read(path, messages=True)
    assert row["status"] == "ok"
    assert frame["message_logged"].tolist()[:2] == [SCM_7023, "The Event log service was started."]
    assert _data(frame, 0) == [(None, "Server"), (None, "%%2")]
    assert _data(frame, 1) == []
    assert _data(frame, 2) == [(None, "Server"), (None, "%%2")]  # space-separated strings
    assert frame["message"].iloc[2] == RENDERED_7023
    assert frame["time"].iloc[0] == _utc("1996-12-03 20:00:32")


# -- times, zones and encodings --------------------------------------------------------------


def test_time_zone_option_and_clock_forms(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.txt",
        [
            "3/12/96\t12:05:00 AM\tApp\tInformation\tNone\t1\tN/A\tH\tmidnight",
            "3/12/96\t12:05:00 PM\tApp\tInformation\tNone\t2\tN/A\tH\tnoon",
            "7/4/96\t17:30:15\tApp\tInformation\tNone\t3\tN/A\tH\tsummer",
        ],
    )
    frame, _ = _read(path, tz="America/New_York")
    assert frame["time"].tolist() == [
        _utc("1996-03-12 05:05:00"),  # EST, UTC-5
        _utc("1996-03-12 17:05:00"),
        _utc("1996-07-04 21:30:15"),  # EDT, UTC-4
    ]
    frame, row = _read(path)
    assert frame["time"].iloc[0] == _utc("1996-03-12 00:05:00")
    assert "converted to UTC as UTC" in str(row["notes"])
    # 02:30 on 27 Oct 1996 happened twice in Berlin: read as summer time (UTC+2).
    twice = _write(tmp_path / "dst.txt", ["27.10.1996\t02:30:00\tApp\tError\tNone\t9\tN/A\tH\tx"])
    frame, row = _read(twice, tz="Europe/Berlin")
    assert frame["time"].tolist() == [_utc("1996-10-27 00:30:00")]
    notes = str(row["notes"])
    assert "1 local times fell in a daylight-saving change" in notes and "D/M/Y (detected" in notes
    dotted = _write(tmp_path / "dot.txt", ["03.12.1996\t23:00:00\tApp\tError\tNone\t9\tN/A\tH\tx"])
    frame, row = _read(dotted)
    assert frame["time"].tolist() == [_utc("1996-12-03 23:00:00")]
    assert "D/M/Y (assumed" in str(row["notes"])
    with pytest.raises(ValueError, match="unknown time zone"):
        evtxscan.read_records(path, tz="Mars/Olympus")


def test_encodings_utf8_bom_and_ansi(tmp_path: Path) -> None:
    line = "3/12/96\t8:00:00 AM\tApp\tInformation\tNone\t1\tN/A\tMÜNCHEN\tcafé résumé"
    bom = _write(tmp_path / "u.txt", [line], encoding="utf-8", bom=True)
    ansi = _write(tmp_path / "a.txt", [line.replace("8:00", "9:00")], encoding="cp1252")
    for path in (bom, ansi):
        frame, row = _read(path)
        assert frame["computer"].astype(str).tolist() == ["MÜNCHEN"], path
        assert frame["message_logged"].tolist() == ["café résumé"], path
        assert row["status"] == "ok"
    assert "code page 1252" in str(_read(ansi)[1]["notes"])


# -- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"3/12/96\t8:00:32 AM\tServer\tError\tNone\t2508\tN/A\tFS01\ttext\r\n", LogFormat.TEXT),
        (b"3/12/96,8:00:32 AM,1,0,7023,Service Control Manager,N/A,FS01,Server", LogFormat.TEXT),
        (b"Level,Date and Time,Source,Event ID,Task Category\r\n", LogFormat.TEXT),
        (
            "\ufeffType,Date,Time,Source,Category,Event,User,Computer".encode("utf-16-le"),
            LogFormat.TEXT,
        ),
        (b"# Project\r\n\r\nSee docs. Date: 3/12/96 8:00 AM, event 7023\r\n", LogFormat.UNKNOWN),
        (b"chunk_index\tsource_file\tsource_offset\n0\ta.evtx\t0x1000\n", LogFormat.UNKNOWN),
        (b"Date,Time,Amount,Payee\n3/12/96,8:00 AM,12,Shop\n", LogFormat.UNKNOWN),
        (b"3/12/96 8:00:32 AM Server started\n", LogFormat.UNKNOWN),
        (b"<Events><Event>", LogFormat.XML),
        (b"\x30\x00\x00\x00LfLe\x01\x00\x00\x00", LogFormat.EVT),
        (b"ElfFile\x00" + b"\x00" * 100, LogFormat.EVTX),
    ],
)
def test_sniff_text_exports(head: bytes, fmt: LogFormat) -> None:
    assert sniff(head) == fmt


def test_readme_stays_not_an_event_log(tmp_path: Path) -> None:
    readme = tmp_path / "README.txt"
    readme.write_text("Logs from FS01\nCollected 3/12/96 by the admin.\n", encoding="utf-8")
    _, row = _read(readme)
    assert row["status"] == "unreadable" and "not an event log" in _errors(row)[0]


# -- the Q138713 diagnosis from a text export -----------------------------------------------


def test_scan_of_nt351_text_export_diagnoses_q138713(tmp_path: Path) -> None:
    from evtxscan.scanning import scan

    # Event Viewer lists newest first; NT 3.51 writes the same tab-separated text as NT 4.0.
    _write(
        tmp_path / "FS01-system.txt",
        [
            SCM_LINE,
            "3/12/96\t8:00:31 AM\tSrv\tError\tNone\t2508\tN/A\tFS01\t"
            "The server service was unable to load the server driver.",
            "3/12/96\t8:00:05 AM\tEventLog\tInformation\tNone\t6005\tN/A\tFS01\t"
            "The Event log service was started.",
        ],
    )
    result = scan(tmp_path)
    rows = result.diagnoses[result.diagnoses["signature_id"] == "q138713-srv-kernel-entry-point"]
    assert rows["host"].tolist() == ["fs01"] and int(rows["occurrences"].iloc[0]) == 1


def test_event_viewer_text_without_a_matching_template_keeps_no_strings(tmp_path: Path) -> None:
    german = "Der Dienst Server wurde mit folgendem Fehler beendet: Datei nicht gefunden."
    path = _write(
        tmp_path / "de.txt",
        [SCM_LINE.replace(SCM_7023, german).replace("N/A", "CORP\\svc")],
    )
    frame, row = _read(path)
    assert frame["message_logged"].tolist() == [german]
    # No strings, and the user is not kept either: the catalog would read it as %1.
    assert _data(frame, 0) == []
    assert "1 user names not kept as data" in str(row["notes"])
    recovery = InsertRecovery()
    assert recovery.recover("Service Control Manager", 7023, 2, "Der Dienst Server ...") is None
    assert compile_template("Microsoft (R) Windows (R) %1 %2 %3 %4.") is None  # ambiguous
    assert recovery.recover("Service Control Manager", 7023, 2, SCM_7023) == ["Server", "%%2"]


# -- hostile and garbage input ---------------------------------------------------------------


def test_malformed_lines_become_errors_and_the_rest_is_read(tmp_path: Path) -> None:
    good = "3/12/96\t8:00:{:02d} AM\tApp\tInformation\tNone\t{}\tN/A\tH\tok"
    path = _write(
        tmp_path / "mixed.txt",
        [
            good.format(1, 1),
            "garbage\twith\ttabs\tbut\tno\trecord\tvalues\there\tx",
            good.format(2, 2),
            "99/99/96\t8:00:03 AM\tApp\tInformation\tNone\t3\tN/A\tH\tbad date",
            '3/12/96\t8:00:04 AM\tApp\tInformation\tNone\t4\tN/A\tH\t"never closed',
            good.format(5, 5),
        ],
    )
    frame, row = _read(path)
    assert frame["event_id"].tolist() == [1, 2, 3, 4, 5]
    assert frame["torn"].tolist() == [False, False, True, False, False]
    errors = _errors(row)
    assert errors[0].startswith("line 2: not a record")
    assert any(e.startswith("line 4: not a valid date") for e in errors)
    assert any(e.startswith("line 5: a quoted field is never closed") for e in errors)
    assert row["status"] == "damaged"


def test_garbage_after_a_valid_first_line_and_binary_junk(tmp_path: Path) -> None:
    first = b"3/12/96,8:00:32 AM,1,0,7023,Service Control Manager,N/A,FS01,Server,%%2\r\n"
    junk = bytes(range(256)) * 64 + b"\n" + b"x" * (1 << 21) + b"\n" + b"\x00\x01\n" * 3000
    path = tmp_path / "junk.csv"
    path.write_bytes(first + junk)
    frame, row = _read(path)
    assert frame["event_id"].tolist() == [7023]
    assert row["status"] == "damaged"
    errors = _errors(row)
    assert any("longer than" in e for e in errors)
    assert len(errors) <= 1_002 and "more malformed lines" in errors[-1]
    # A quote that never closes, then lines that each close and reopen one: read in time.
    reopening = _write(
        tmp_path / "quotes.txt",
        [SCM_LINE + '\t"open', *(['x" y\t"z ' * 20] * 3000), SCM_LINE],
    )
    frame, row = _read(reopening)
    assert frame["event_id"].tolist() == [7023, 7023] and row["status"] == "damaged"
    empty = _write(tmp_path / "empty.csv", ["Level,Date and Time,Source,Event ID,Task Category"])
    frame, row = _read(empty)
    assert frame.empty and row["status"] == "ok" and row["records"] == 0
    nul = tmp_path / "nul.txt"
    nul.write_bytes(first + first.replace(b"Server,", b"Ser\x00ver,"))
    frame, row = _read(nul)
    assert row["format"] == "text" and row["status"] == "ok" and len(frame) == 2
    assert _data(frame, 1)[0] == (None, "Ser\x00ver")
