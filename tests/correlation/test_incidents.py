"""Unit tests of incident finding and scoring (correlation/incidents), beside the end-to-end
scenario suite: anchors, windows, boot sessions, order, optional and absent symptoms."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from evtxscan.correlation.incidents import Hit, find_incidents, render_text, score
from evtxscan.correlation.sessions import UNKNOWN_SESSION, HostFacts
from evtxscan.signatures.loader import parse_signature
from evtxscan.signatures.model import Signature

T0 = pd.Timestamp("2024-03-05 12:00:00", tz="UTC")

SIGNATURE = """
id: unit-two-symptoms
title: Unit test signature
kb: Q999999
applies_to: {os_versions: ["4.0"]}
symptoms:
  popup: {provider: Application Popup, event_id: 26, role: required}
  stopped: {provider: Service Control Manager, event_id: 7023, role: required}
  driver: {provider: Service Control Manager, event_id: 7026, role: optional}
  recovered: {provider: Service Control Manager, event_id: 7036, role: absent, within: 5m}
correlation: {window: 10m, boot: same, order: [popup, stopped]}
confidence: {base: 0.6, optional: {driver: 0.3}, unknown_boot: 0.5, os_mismatch: 0.5}
diagnosis: {cause: "{host} broke", resolution: "fix {thing}[[ with {tool}]]"}
"""


@pytest.fixture(scope="module")
def signature() -> Signature:
    return parse_signature(SIGNATURE, "unit.yaml")


def _hit(row: int, symptom: str, seconds: float, session: int = 0) -> Hit:
    return Hit(row, symptom, T0 + timedelta(seconds=seconds), session)


def _facts(version: str | None = "4.0", booted: bool = True) -> HostFacts:
    return HostFacts(os_version=version, boot_starts=[T0 - timedelta(hours=1)] if booted else [])


def test_required_symptoms_within_the_window_make_one_incident(signature: Signature) -> None:
    found = find_incidents(signature, "h", [_hit(0, "popup", 0), _hit(1, "stopped", 30)], _facts())
    assert len(found) == 1
    assert set(found[0].members) == {"popup", "stopped"}
    assert found[0].start == T0 and found[0].end == T0 + timedelta(seconds=30)
    assert found[0].confidence == 0.6


def test_a_member_outside_the_window_or_the_boot_does_not_join(signature: Signature) -> None:
    late = [_hit(0, "popup", 0), _hit(1, "stopped", 11 * 60)]
    assert find_incidents(signature, "h", late, _facts()) == []
    other_boot = [_hit(0, "popup", 0, session=0), _hit(1, "stopped", 30, session=1)]
    assert find_incidents(signature, "h", other_boot, _facts()) == []


def test_unknown_sessions_fall_back_to_the_window_at_lower_confidence(
    signature: Signature,
) -> None:
    hits = [_hit(0, "popup", 0, UNKNOWN_SESSION), _hit(1, "stopped", 30, UNKNOWN_SESSION)]
    (incident,) = find_incidents(signature, "h", hits, _facts(booted=False))
    assert not incident.sessions_known
    assert incident.confidence == pytest.approx(0.6 * 0.5)


def test_order_is_enforced(signature: Signature) -> None:
    reversed_order = [_hit(0, "stopped", 0), _hit(1, "popup", 30)]
    assert find_incidents(signature, "h", reversed_order, _facts()) == []


def test_each_match_serves_one_incident_so_every_boot_counts(signature: Signature) -> None:
    hits = [
        _hit(0, "popup", 0, 0),
        _hit(1, "stopped", 20, 0),
        _hit(2, "popup", 3600, 1),
        _hit(3, "stopped", 3620, 1),
    ]
    found = find_incidents(signature, "h", hits, _facts())
    assert [sorted(h.row for h in i.members.values()) for i in found] == [[0, 1], [2, 3]]


def test_optional_symptom_raises_confidence_and_os_mismatch_lowers_it(
    signature: Signature,
) -> None:
    hits = [_hit(0, "popup", 0), _hit(1, "stopped", 30), _hit(2, "driver", 10)]
    (incident,) = find_incidents(signature, "h", hits, _facts())
    assert "driver" in incident.optional
    assert incident.confidence == pytest.approx(0.9)
    assert score(incident, _facts(version="3.51")) == pytest.approx(0.45)


def test_absent_symptom_within_its_span_cancels(signature: Signature) -> None:
    base = [_hit(0, "popup", 0), _hit(1, "stopped", 30)]
    assert find_incidents(signature, "h", [*base, _hit(2, "recovered", 60)], _facts()) == []
    later = _hit(2, "recovered", 30 + 6 * 60)  # after the 5-minute span: still an incident
    assert len(find_incidents(signature, "h", [*base, later], _facts())) == 1


ANY_SIGNATURE = """
id: unit-any-symptoms
title: Unit test signature with alternative symptoms
kb: Q999998
symptoms:
  web: {provider: Service Control Manager, event_id: 7023, role: any}
  ca: {provider: Service Control Manager, event_id: 7024, role: any}
correlation: {window: 10m, boot: same}
diagnosis: {cause: c, resolution: r}
"""


def test_several_any_symptoms_of_one_story_make_one_incident() -> None:
    signature = parse_signature(ANY_SIGNATURE, "unit-any.yaml")
    story = [_hit(0, "ca", 0), _hit(1, "web", 60), _hit(2, "web", 2 * 3600)]
    found = find_incidents(signature, "h", story, _facts())
    assert [set(i.members) for i in found] == [{"ca", "web"}, {"web"}]
    assert found[0].members["web"].row == 1


def test_render_text_fills_known_names_and_drops_optional_parts() -> None:
    assert render_text("fix {thing}[[ with {tool}]]", {"thing": "srv"}) == "fix srv"
    assert render_text("fix {thing}[[ with {tool}]]", {"thing": "a", "tool": "b"}) == (
        "fix a with b"
    )
    assert render_text("{missing} here", {}) == "(unknown) here"
    assert render_text("stray { brace", {}) == "stray { brace"
