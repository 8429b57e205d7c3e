"""Messages of whole batches: real samples read as Windows shows them, one template at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import evtxscan
from evtxscan.messages import MessageRenderer, add_messages
from evtxscan.messages.render import fallback_message
from evtxscan.synth.event_spec import EventSpec
from evtxscan.synth.evtx_writer import write_evtx


def _frame(samples: Path, *relative: str) -> pd.DataFrame:
    return add_messages(evtxscan.read_frame([samples / r for r in relative]))


def _message(frame: pd.DataFrame, record_id: int) -> str:
    row = frame[frame["event_record_id"] == record_id]
    assert len(row) == 1, f"record {record_id}"
    return str(row["message"].iloc[0])


def _none(value: Any) -> Any:
    return None if value is None or value is pd.NA or value != value else value


@pytest.fixture(scope="module")
def system(samples: Path) -> pd.DataFrame:
    return _frame(samples, "anotherc0ne-EventLog/System.evtx")


def test_kernel_events_read_as_windows_shows_them(system: pd.DataFrame) -> None:
    assert _message(system, 62903) == (
        "The operating system started at system time 2023-05-24T00:55:45.500000Z."
    )
    assert _message(system, 62923) == (
        "The access history in hive \\Device\\HarddiskVolume1\\Boot\\BCD was cleared updating "
        "84 keys and creating 5 modified pages."
    )
    assert _message(system, 62872) == (
        "The system time has changed to 2023-05-11T05:58:11.291461Z from "
        "2023-05-11T05:58:11.289623Z.\n\nChange Reason: 1.\nProcess: "
        "'\\Device\\HarddiskVolume1\\Windows\\System32\\svchost.exe' (PID 2760)."
    )


def test_netlogon_parameter_resolves_from_the_win32_table(system: pd.DataFrame) -> None:
    text = _message(system, 65370)
    assert text.startswith(
        "This computer was not able to set up a secure session with a domain\n"
        "controller in domain APERTURE due to the following: \n"
        "There are currently no logon servers available to service the logon request."
    )


def test_security_logon_names_each_value_as_windows_does(samples: Path) -> None:
    frame = _frame(samples, "omerbenamram-evtx/samples/Security_with_size_t.evtx")
    text = _message(frame, 69)
    assert text.startswith("An account was successfully logged on.\n\nSubject:\n")
    for line in (
        "  Security ID: S-1-5-18",
        "Logon Type: 2",
        "  Account Name: Administrator",
        "  Process Name: C:\\Windows\\System32\\winlogon.exe",
        "  Source Network Address: 127.0.0.1",
        "  Authentication Package: Negotiate",
    ):
        assert f"\n{line}\n" in text, line
    assert "\t" not in text


def test_failed_logon_resolves_msobjs_reasons(samples: Path) -> None:
    frame = _frame(samples, "omerbenamram-evtx/samples/Security_short_selected.evtx")
    text = _message(frame, 319457832)
    assert "\n  Failure Reason: Unknown user name or bad password.\n" in text
    assert "\n  Source Network Address: 23.94.153.202\n" in text
    assert "\nLogon Type: 10\n" in text


def test_sysmon_reads_as_its_title_and_fields(samples: Path) -> None:
    frame = _frame(samples, "omerbenamram-evtx/samples/sysmon.evtx")
    text = _message(frame, 1742)
    assert text.startswith("Process Create:\nUtcTime: 2017-12-26 13:10:29.134\n")
    assert "\nImage: C:\\Windows\\SysWOW64\\PING.EXE\n" in text
    sysmon = frame[frame["provider"] == "Microsoft-Windows-Sysmon"]
    titles = sysmon["message"].str.split(":", n=1).str[0]
    assert not titles.str.contains("event").any()


def _one_by_one(frame: pd.DataFrame, renderer: MessageRenderer) -> list[str]:
    """Each record's message from ``MessageRenderer.render``, record by record."""
    messages = []
    for row in frame.itertuples():
        values = [d["value"] or "" for d in row.data] if row.data is not None else []
        names = [d["name"] for d in row.data] if row.data is not None else []
        event_id = _none(row.event_id)
        messages.append(
            renderer.render(
                _none(row.provider),
                _none(row.event_source_name),
                None if event_id is None else int(event_id),
                None if _none(row.qualifiers) is None else int(row.qualifiers),
                None if _none(row.level) is None else int(row.level),
                values,
                _none(row.message_logged),
                names,
            )
        )
    return messages


def test_batches_render_as_record_by_record(samples: Path) -> None:
    frame = evtxscan.read_frame(
        [
            samples / "anotherc0ne-EventLog/System.evtx",
            samples / "omerbenamram-evtx/samples/security.evtx",
            samples / "plaso/test_data/SysEvent.Evt",
            samples / "omerbenamram-evtx/samples/sysmon.evtx",
        ]
    )
    renderer = MessageRenderer()
    assert add_messages(frame, renderer)["message"].tolist() == _one_by_one(frame, renderer)


def test_events_no_catalog_knows_render_as_record_by_record(tmp_path: Path) -> None:
    """Records without a template get their stand-in sentences column-wise, in large shapes
    and small: the same as record by record, with ``%%N`` references resolved by their
    provider's tables and empty values left out."""
    start = datetime(2001, 5, 1, tzinfo=UTC)
    values = ["", "disk full", "%%2", "a;b", "%%5 then %%2", ""]
    events = [
        EventSpec("Srv", 65000, start + timedelta(minutes=i), level=2,
                  data=((None, values[i % 6]), (None, values[(i * 5) % 6]), (None, "")))
        for i in range(40)
    ]  # fmt: skip
    events += [EventSpec("Acme Backup Agent", 43, start, level=4) for _ in range(20)]  # none
    events += [  # many shapes of a record or two (a timeline holds thousands)
        EventSpec("EventLog", 60000 + i // 2, start, data=tuple((None, values[(i + k) % 6])
                  for k in range(i % 4)))
        for i in range(30)
    ]  # fmt: skip
    events += [
        EventSpec("Acme Backup Agent", 44, start, data=((None, ""), (None, ""))) for _ in range(20)
    ]
    frame = evtxscan.read_frame(write_evtx(tmp_path / "acme.evtx", events))
    renderer = MessageRenderer()
    got = add_messages(frame, renderer)["message"].tolist()
    assert got == _one_by_one(frame, renderer)
    srv = [m for m in got if m.startswith("Srv event 65000")]
    assert len(srv) == 40 and not any("%%" in m for m in srv)
    assert "Srv event 65000: a;b; a;b" in srv and "Srv event 65000: disk full" in srv
    assert "Srv event 65000" in srv  # (both values empty)
    assert got.count("Acme Backup Agent event 43") == 20 == got.count("Acme Backup Agent event 44")


def test_unknown_events_fall_back_and_never_borrow_a_sentence(samples: Path) -> None:
    frame = _frame(samples, "omerbenamram-evtx/samples/system.evtx")
    # Intel's NIC driver: no catalog has its messages, so no sentence is made up for it.
    intel = frame[frame["provider"] == "e1iexpress"]
    assert len(intel) and intel["message"].str.startswith("e1iexpress event ").all()
    assert fallback_message("X", 5, ["", "a", "b"]) == "X event 5: a; b"


def test_binary_status_of_io_packets_and_perflib(samples: Path) -> None:
    renderer = MessageRenderer()
    assert renderer.binary_status("Perflib", None, "0200000000000000", 1008, 0xC000) == "0x00000002"
    frame = pd.DataFrame(
        {
            "provider": pd.Series(["Perflib", "Vendor"], dtype="category"),
            "event_source_name": pd.Series([None, None], dtype="category"),
            "event_id": pd.array([1008, 1], dtype="UInt16"),
            "qualifiers": pd.array([0xC000, None], dtype="UInt16"),
            "level": pd.array([2, 2], dtype="UInt8"),
            "binary": pd.array(["0500000001000000", "00"], dtype=pd.StringDtype("pyarrow")),
            "data": pd.Series([[], []], dtype=object),
        }
    )
    out = add_messages(frame, renderer)
    assert out["binary_status"].iloc[0] == "0x00000005" and pd.isna(out["binary_status"].iloc[1])


def test_security_explanations_are_left_out_unless_asked_for(samples: Path) -> None:
    frame = evtxscan.read_frame(samples / "omerbenamram-evtx/samples/Security_with_size_t.evtx")
    short = _message(add_messages(frame), 69)
    full = _message(add_messages(frame, MessageRenderer(explanations=True)), 69)
    assert short.endswith("\n  Key Length: 0")
    assert full.startswith(short + "\n\nThis event is generated when a logon session is created.")
    # An event whose whole message is explanation keeps it.
    boot = add_messages(frame)
    assert boot[boot["event_id"] == 4608]["message"].str.contains("LSASS.EXE").all()


def test_a_sliced_batch_renders_like_the_whole(system: pd.DataFrame) -> None:
    plain = system.drop(columns=["message", "binary_status"])
    renderer = MessageRenderer()
    part = add_messages(plain.iloc[1000:3000], renderer)
    assert part["message"].tolist() == system["message"].iloc[1000:3000].tolist()
