"""Field names as Windows writes them, case by case, with the expected answer written down:
UserData leaves, ``Source Name`` for ``SourceName``, positional ``Data``, the cleared log's
``Channel``, Keywords in hex, Binary, null, CIDR, process creation from Sysmon or 4688."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import evtxscan
from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.matcher import SigmaMatcher
from evtxscan.synth.evtx_writer import EventSpec, UserData, write_evtx

T0 = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
BUILTIN = "rules/windows/builtin"


def _frame(tmp_path: Path, events: list[EventSpec]) -> pd.DataFrame:
    timed = [
        EventSpec(**{**e.__dict__, "time": T0 + timedelta(seconds=i)})  # distinct times
        for i, e in enumerate(events)
    ]
    return evtxscan.read_frame(write_evtx(tmp_path / "events.evtx", timed))


def _fired(rule_set: SigmaRuleSet, frame: pd.DataFrame) -> dict[str, list[int]]:
    """Rule file name -> matched row positions."""
    matches = SigmaMatcher(rule_set.detections).match(frame)
    out: dict[str, list[int]] = {}
    for rule, row in zip(matches["rule"], matches["row"], strict=True):
        out.setdefault(Path(rule_set.detections[rule].info.source).name, []).append(int(row))
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def builtin(sigma_dir: Path) -> SigmaRuleSet:
    return load_sigma(sigma_dir / BUILTIN)


def _cleared(channel: str) -> EventSpec:
    payload = UserData(
        "LogFileCleared",
        "http://manifests.microsoft.com/win/2004/08/windows/eventlog",
        (("SubjectUserName", "bob"), ("Channel", channel)),
    )
    return EventSpec("Microsoft-Windows-Eventlog", 104, T0, channel="System", user_data=payload)


def test_cleared_log_channel_is_the_userdata_one(tmp_path: Path, builtin: SigmaRuleSet) -> None:
    """SigmaHQ's "Eventlog Cleared" tests the cleared log's name (UserData ``Channel``),
    while its log source still means the System channel ``System``."""
    frame = _frame(
        tmp_path,
        [
            _cleared("Microsoft-Windows-TaskScheduler/Operational"),  # 0: reported
            _cleared("System"),  # 1: covered by another rule (filtered out)
            _cleared("Security"),  # 2: filtered out
        ],
    )
    assert _fired(builtin, frame).get("win_system_eventlog_cleared.yml") == [0]


def test_userdata_leaf_names_and_positional_data(tmp_path: Path, builtin: SigmaRuleSet) -> None:
    security_cleared = EventSpec(
        "Microsoft-Windows-Eventlog",
        1102,
        T0,
        channel="Security",
        user_data=UserData("LogFileCleared", None, (("SubjectUserName", "eve"),)),
    )
    esent = EventSpec(
        "ESENT",
        325,
        T0,
        channel="Application",
        data=((None, "NTDS"), (None, "C:\\Windows\\Temp\\x\\NTDS.DIT")),
    )
    esent_other = EventSpec(
        "ESENT", 325, T0, channel="Application", data=((None, "C:\\db\\other.edb"),)
    )
    fired = _fired(builtin, _frame(tmp_path, [security_cleared, esent, esent_other]))
    assert fired["win_security_audit_log_cleared.yml"] == [0]
    assert fired["win_esent_ntdsutil_abuse.yml"] == [1]  # ``Data|contains`` on unnamed <Data>


def test_source_name_matches_data_named_with_a_space(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "source_name.yml").write_text(
        "title: Source name\nid: 00000000-0000-0000-0000-0000000000aa\n"
        "logsource:\n    product: windows\n    service: application\n"
        "detection:\n    sel:\n        SourceName: 'Backup Agent'\n        EventID: 5\n"
        "    condition: sel\n",
        encoding="utf-8",
    )
    rules = load_sigma(tmp_path / "rules")
    events = [
        EventSpec("X", 5, T0, channel="Application", data=(("Source Name", "backup agent"),)),
        EventSpec("X", 5, T0, channel="Application", data=(("SourceName", "Backup Agent"),)),
        EventSpec("X", 5, T0, channel="Application", data=(("Source Name", "other"),)),
        EventSpec("X", 5, T0, channel="System", data=(("Source Name", "Backup Agent"),)),
    ]
    assert _fired(rules, _frame(tmp_path, events)) == {"source_name.yml": [0, 1]}


def test_keywords_binary_and_level(tmp_path: Path, builtin: SigmaRuleSet) -> None:
    lsa = dict(channel="Security", data=(("Service", "LsaRegisterLogonProcess()"),))
    events = [
        EventSpec(
            "Microsoft-Windows-Security-Auditing", 4673, T0, keywords=0x8010000000000000, **lsa
        ),
        EventSpec(
            "Microsoft-Windows-Security-Auditing", 4673, T0, keywords=0x8020000000000000, **lsa
        ),
        EventSpec(
            "Service Control Manager",
            7023,
            T0,
            data=(("param1", "Some Service"), ("param2", "%%1")),
            binary="windefend".encode("utf-16-le"),
        ),
        EventSpec(
            "Service Control Manager",
            7023,
            T0,
            data=(("param1", "Some Service"),),
            binary="spooler".encode("utf-16-le"),
        ),
    ]
    fired = _fired(builtin, _frame(tmp_path, events))
    assert fired["win_security_user_couldnt_call_priv_service_lsaregisterlogonprocess.yml"] == [0]
    assert fired["win_system_service_terminated_error_important.yml"] == [2]


def test_cidr_and_null(tmp_path: Path, builtin: SigmaRuleSet) -> None:
    def failed(address: str) -> EventSpec:
        return EventSpec(
            "Microsoft-Windows-Security-Auditing",
            4625,
            T0,
            channel="Security",
            data=(("TargetUserName", "bob"), ("IpAddress", address)),
        )

    events = [failed(a) for a in ("203.0.113.7", "10.1.2.3", "::1", "-", "fe80::1", "2001:db8::5")]
    assert _fired(builtin, _frame(tmp_path, events))[
        "win_security_susp_failed_logon_source.yml"
    ] == [
        0,
        5,
    ]


def test_null_means_absent_or_empty(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "null.yml").write_text(
        "title: Null test\nid: 00000000-0000-0000-0000-0000000000bb\n"
        "logsource:\n    product: windows\n    service: security\n"
        "detection:\n    sel:\n        EventID: 4738\n"
        "    empty:\n        AllowedToDelegateTo: null\n"
        "    condition: sel and not empty\n",
        encoding="utf-8",
    )
    rules = load_sigma(tmp_path / "rules")

    def changed(*data: tuple[str, str]) -> EventSpec:
        return EventSpec(
            "Microsoft-Windows-Security-Auditing", 4738, T0, channel="Security", data=data
        )

    events = [
        changed(("AllowedToDelegateTo", "cifs/dc01")),
        changed(("AllowedToDelegateTo", "")),
        changed(("TargetUserName", "bob")),
    ]
    assert _fired(rules, _frame(tmp_path, events)) == {"null.yml": [0]}


def test_process_creation_from_sysmon_or_security_4688(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "cmd.yml").write_text(
        "title: Cmd\nid: 00000000-0000-0000-0000-0000000000cc\n"
        "logsource:\n    product: windows\n    category: process_creation\n"
        "detection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n"
        "        ParentImage|endswith: '\\winword.exe'\n    condition: sel\n",
        encoding="utf-8",
    )
    rules = load_sigma(tmp_path / "rules")
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    auditing = "Microsoft-Windows-Security-Auditing"
    events = [
        EventSpec(
            "Microsoft-Windows-Sysmon",
            1,
            T0,
            channel=sysmon,
            data=(
                ("Image", "C:\\Windows\\System32\\cmd.exe"),
                ("ParentImage", "C:\\o\\WINWORD.EXE"),
            ),
        ),
        EventSpec(
            auditing,
            4688,
            T0,
            channel="Security",
            data=(
                ("NewProcessName", "C:\\Windows\\System32\\cmd.exe"),
                ("ParentProcessName", "C:\\o\\winword.exe"),
            ),
        ),
        # 4688 does not call it Image: the audit pipeline maps Image -> NewProcessName.
        EventSpec(
            auditing,
            4688,
            T0,
            channel="Security",
            data=(
                ("Image", "C:\\Windows\\System32\\cmd.exe"),
                ("ParentImage", "C:\\o\\winword.exe"),
            ),
        ),
        # Sysmon event 3 is a network connection, not a process creation.
        EventSpec(
            "Microsoft-Windows-Sysmon",
            3,
            T0,
            channel=sysmon,
            data=(
                ("Image", "C:\\Windows\\System32\\cmd.exe"),
                ("ParentImage", "C:\\o\\winword.exe"),
            ),
        ),
    ]
    assert _fired(rules, _frame(tmp_path, events)) == {"cmd.yml": [0, 1]}
