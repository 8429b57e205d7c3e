"""The modifiers and condition forms the README lists, one rule each, on written events with
the expected matches written down (the SigmaHQ corpus does not use all of them)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import evtxscan
from evtxscan.signatures.sigma import load_sigma
from evtxscan.signatures.sigma.matcher import SigmaMatcher
from evtxscan.synth.evtx_writer import EventSpec, write_evtx

T0 = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
HEAD = "title: {title}\nid: 00000000-0000-0000-0000-{n:012d}\n"
HEAD += "logsource:\n    product: windows\n    service: system\ndetection:\n"

CASES: list[tuple[str, str, list[dict[str, str]], list[int]]] = [
    (
        "windash",
        "    sel:\n        CommandLine|windash|contains: ' -enc '\n    condition: sel",
        [{"CommandLine": "ps /enc x"}, {"CommandLine": "ps -enc x"}, {"CommandLine": "ps enc"}],
        [0, 1],
    ),
    (
        "base64offset",
        "    sel:\n        Payload|base64offset|contains: 'IEX'\n    condition: sel",
        [
            {"Payload": base64.b64encode(b"x IEX(y)").decode()},
            {"Payload": base64.b64encode(b"IEX(y)").decode()},
            {"Payload": base64.b64encode(b"nothing here").decode()},
        ],
        [0, 1],
    ),
    (
        "exists",
        "    sel:\n        Extra|exists: true\n    condition: sel",
        [{"Extra": ""}, {"Other": "x"}],
        [0],
    ),
    (
        "cased",
        "    sel:\n        Name|cased: 'Admin'\n    condition: sel",
        [{"Name": "Admin"}, {"Name": "admin"}],
        [0],
    ),
    (
        "compare",
        "    sel:\n        Count|gte: 10\n    low:\n        Count|lt: 12\n"
        "    condition: sel and low",
        [{"Count": "9"}, {"Count": "10"}, {"Count": "11"}, {"Count": "12"}, {"Count": "x"}],
        [1, 2],
    ),
    (
        "fieldref",
        "    sel:\n        Target|fieldref: Subject\n    condition: sel",
        [{"Target": "bob", "Subject": "BOB"}, {"Target": "bob", "Subject": "eve"}, {"Target": "b"}],
        [0],
    ),
    (
        "regex flags",
        "    sel:\n        Path|re|i: '^c:\\\\temp\\\\[a-z]+\\.exe$'\n    condition: sel",
        [{"Path": "C:\\TEMP\\evil.exe"}, {"Path": "C:\\TEMP\\evil.dll"}],
        [0],
    ),
    (
        "all of them",
        "    a:\n        A: '1'\n    b:\n        B|startswith: 'x'\n    condition: all of them",
        [{"A": "1", "B": "xy"}, {"A": "1", "B": "yx"}, {"B": "xy"}],
        [0],
    ),
    (
        "two conditions",
        "    a:\n        A: '1'\n    b:\n        B: '2'\n    condition:\n        - a\n        - b",
        [{"A": "1"}, {"B": "2"}, {"A": "2"}],
        [0, 1],
    ),
    (
        "wildcards and escapes",
        "    sel:\n        V: 'a?c*\\*'\n    condition: sel",
        [{"V": "abcdef*"}, {"V": "ABC*"}, {"V": "abcdef"}, {"V": "ac*"}],
        [0, 1],
    ),
]


@pytest.mark.parametrize(("title", "detection", "values", "expected"), CASES)
def test_modifier(
    tmp_path: Path, title: str, detection: str, values: list[dict[str, str]], expected: list[int]
) -> None:
    (tmp_path / "rule.yml").write_text(HEAD.format(title=title, n=1) + detection + "\n")
    rules = load_sigma(tmp_path / "rule.yml")
    assert not rules.refused, rules.refused
    events = [
        EventSpec("Test", 1, T0 + timedelta(seconds=i), data=tuple(v.items()))
        for i, v in enumerate(values)
    ]
    frame = evtxscan.read_frame(write_evtx(tmp_path / "e.evtx", events))
    matches = SigmaMatcher(rules.detections).match(frame)
    assert sorted(matches["row"].tolist()) == expected


def test_sigma_filter_documents_narrow_rules(tmp_path: Path) -> None:
    rule = HEAD.format(title="Any service", n=2)
    rule += "    sel:\n        EventID: 7045\n    condition: sel\n"
    (tmp_path / "rule.yml").write_text(rule)
    (tmp_path / "filter.yml").write_text(
        "title: Known agent\nid: 00000000-0000-0000-0000-0000000000f1\n"
        "logsource:\n    product: windows\n    service: system\n"
        "filter:\n    rules:\n        - 00000000-0000-0000-0000-000000000002\n"
        "    selection:\n        ServiceName: 'Backup Agent'\n    condition: not selection\n"
    )
    rules = load_sigma(tmp_path)
    assert not rules.refused, rules.refused
    events = [
        EventSpec("Service Control Manager", 7045, T0, data=(("ServiceName", name),))
        for name in ("Backup Agent", "evil")
    ]
    frame = evtxscan.read_frame(write_evtx(tmp_path / "e.evtx", events))
    assert SigmaMatcher(rules.detections).match(frame)["row"].tolist() == [1]


def test_time_part_modifiers_are_refused(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(
        HEAD.format(title="Hour", n=3) + "    sel:\n        Time|hour: 3\n    condition: sel\n"
    )
    refused = load_sigma(tmp_path).refused
    assert len(refused) == 1 and "time-part modifiers" in refused[0].reason
