"""Unit tests of record selection (correlation/selection): canonical provider names, field
values as conditions see them, the vectorized prefilter and the exact match."""

from __future__ import annotations

import pandas as pd
import pytest

from evtxscan.correlation.selection import (
    ProviderNames,
    SignatureIndex,
    field_values,
    selector_matches,
)
from evtxscan.signatures.loader import parse_signature

SIGNATURE = """
id: unit-selection
title: Unit test
kb: null
symptoms:
  server_stopped:
    provider: Service Control Manager
    event_id: 7023
    channel: System
    level: [2]
    where:
      data.1: {any_of: [Server, LanmanServer]}
      data.Error: {contains: "%%2"}
diagnosis: {cause: c, resolution: r}
"""


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for name in ("provider", "event_source_name", "channel"):
        frame[name] = frame[name].astype("category")
    frame["event_id"] = frame["event_id"].astype("UInt16")
    frame["level"] = frame["level"].astype("UInt8")
    return frame


def _row(provider: str, event_id: int, level: int = 4, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "provider": provider,
        "event_source_name": None,
        "event_id": event_id,
        "level": level,
        "channel": "System",
        "data": [{"name": "param1", "value": "Server"}, {"name": "Error", "value": "%%2"}],
    }
    return {**base, **extra}


def test_provider_names_fold_case_and_resolve_aliases() -> None:
    names = ProviderNames()
    assert names("SERVICE CONTROL MANAGER") == names("Service Control Manager")
    assert names(None) == "" and names(float("nan")) == ""
    assert names("Srv") == names("Server")  # a .evt SourceName is the provider's alias


def test_field_values_positional_named_and_all() -> None:
    row = _row("x", 1)
    assert field_values(row, "data.1") == ["Server"]
    assert field_values(row, "data.3") == []
    assert field_values(row, "data.error") == ["%%2"]  # names are case-insensitive
    assert field_values(row, "data") == ["Server", "%%2"]
    assert field_values({"channel": None}, "channel") == []


def test_prefilter_finds_candidates_by_provider_or_source_and_context_by_level() -> None:
    index = SignatureIndex([parse_signature(SIGNATURE, "unit.yaml")])
    frame = _frame(
        [
            _row("Service Control Manager", 7023, level=2),
            _row("Other", 7023, level=4, event_source_name="Service Control Manager"),
            _row("Service Control Manager", 7045, level=4),  # neither named nor notable
            _row("Some App", 1000, level=2),
            _row("EventLog", 6005),
        ]
    )
    candidates, context, canon = index.prefilter(frame)
    assert candidates.tolist() == [True, True, False, False, False]
    assert context.tolist() == [True, False, False, True, True]
    assert canon[0] == canon[2] == ProviderNames()("Service Control Manager")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"channel": "Application"}, False),
        ({"level": 3}, False),
        ({"data": [{"name": "param1", "value": "Spooler"}]}, False),
    ],
)
def test_exact_match_checks_channel_level_and_conditions(
    changes: dict[str, object], expected: bool
) -> None:
    signature = parse_signature(SIGNATURE, "unit.yaml")
    (selector,) = signature.symptoms
    row = {**_row("Service Control Manager", 7023, 2), **changes}
    assert selector_matches(selector, row) is expected
    index = SignatureIndex([signature])
    frame = _frame([row])
    _, _, canon = index.prefilter(frame)
    hits = index.match(frame, canon)
    assert hits == [["unit-selection:server_stopped"] if expected else []]
