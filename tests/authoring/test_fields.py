"""Field lines: labels, separators, split-off fields, bare and column layouts."""

from __future__ import annotations

import pytest

from evtxscan.authoring.fields import Kind, lex_field_line


def kinds_values(text: str) -> list[tuple[str, str]]:
    found = lex_field_line(text)
    assert found is not None, text
    return [(f.kind.value, f.value) for f in found.fields]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Event ID: 2510, Source: Server, Type: Error",
            [("event_id", "2510"), ("source", "Server"), ("type", "Error")],
        ),
        ("Event Id 5711 - Source: NETLOGON", [("event_id", "5711"), ("source", "NETLOGON")]),
        (
            "Source: MSExchangeMTA: EventId: 2026",
            [("source", "MSExchangeMTA:"), ("event_id", "2026")],
        ),
        ("Date:     <date>          Event ID: 201", [("other", "<date>"), ("event_id", "201")]),
        (
            "event id= 283 source=ms exchange migds",
            [("event_id", "283"), ("source", "ms exchange migds")],
        ),
        ("- Event ID : 2505", [("event_id", "2505")]),
        ("Event: 2187", [("event_id", "2187")]),
        (
            "Event 7001: Source: Service Control Manager",
            [("event_id", "7001"), ("source", "Service Control Manager")],
        ),
        ("Event ID 139 Type Error", [("event_id", "139"), ("type", "Error")]),
        (
            "Event  2335         Source    MSExchangeMSMI",
            [("event_id", "2335"), ("source", "MSExchangeMSMI")],
        ),
        (
            "Source: Widget Event ID: 7 Description: Type: not a label here",
            [("source", "Widget"), ("event_id", "7"), ("description", "Type: not a label here")],
        ),
    ],
)
def test_field_lines(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds_values(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Event ID 2000 appears occasionally in the log.",  # prose, not a field
        "ID: %8 (00000000 => N/A)",  # a message line, not an event ID
        "Event ID:5512Log: System",  # glued labels are left out
        "The server logs this event when it starts.",
    ],
)
def test_not_field_lines(text: str) -> None:
    assert lex_field_line(text) is None


def test_weak_column_field() -> None:
    found = lex_field_line("Source  MSExchangeMSMI")
    assert found is not None and found.weak and found.fields[0].kind is Kind.SOURCE


def test_type_word_prefix() -> None:
    found = lex_field_line("Warning Event ID 1294 Source: Widget")
    assert found is not None and found.type_word == "Warning"
    assert [f.number for f in found.fields if f.kind is Kind.EVENT_ID] == [1294]
