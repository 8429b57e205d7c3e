"""Sigma correlation rules on synthetic events (written as .evtx and read back): the four
specified types, chains, aliases, value_sum/avg, an extended temporal condition, and the
extracted specification example; expected groups written down, plus random events checked
against a brute-force reference (``sigma_correlation_reference.py``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sigma_correlation_reference import Event, occurrences

import evtxscan
from evtxscan.correlation.sigma import correlate, sigma_findings
from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.hits import hits_of
from evtxscan.signatures.sigma.matcher import SigmaMatcher
from evtxscan.synth.evtx_writer import EventSpec, write_evtx

T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
AUDIT = "Microsoft-Windows-Security-Auditing"

BASE = """title: {name}
id: {uuid}
name: {name}
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: {event_id}
    condition: selection
"""


def _base(name: str, number: int, event_id: int) -> str:
    return BASE.format(name=name, uuid=f"00000000-0000-0000-0000-{number:012d}", event_id=event_id)


BASES = _base("failed", 1, 4625) + "---\n" + _base("success", 2, 4624) + "---\n"
BASES += _base("logoff", 3, 4634) + "---\n" + _base("transfer", 4, 5156)


def _correlation(title: str, body: str) -> str:
    return f"---\ntitle: {title}\nname: {title}\nauthor: Tester\nlevel: high\ncorrelation:\n{body}"


def _event(host: str, seconds: float, event_id: int, user: str, **data: str) -> EventSpec:
    return EventSpec(
        AUDIT,
        event_id,
        T0 + timedelta(seconds=seconds),
        host,
        channel="Security",
        data=(("TargetUserName", user), *data.items()),
    )


def _run(tmp_path: Path, rules: str, events: list[EventSpec]) -> tuple[SigmaRuleSet, pd.DataFrame]:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "rules.yml").write_text(rules, encoding="utf-8")
    rule_set = load_sigma(tmp_path / "rules")
    assert not rule_set.refused, rule_set.refused
    frame = evtxscan.read_frame(write_evtx(tmp_path / "events.evtx", events))
    matches = SigmaMatcher(rule_set.detections).match(frame)
    hits = hits_of(frame, matches, rule_set.detections, rule_set.field_needs())
    return rule_set, hits


def _groups(rule_set: SigmaRuleSet, hits: pd.DataFrame, title: str) -> list[tuple[str, list[int]]]:
    """(host, sorted event positions in the written list) per occurrence of a correlation."""
    ids = hits["event_record_id"].to_numpy()
    return sorted(
        (o.host, sorted(int(ids[h]) - 1 for h in o.hits))
        for o in correlate(rule_set, hits)
        if o.rule == title
    )


def test_event_count_per_host_and_group(tmp_path: Path) -> None:
    rules = BASES + _correlation(
        "brute",
        "    type: event_count\n    rules: [failed]\n    group-by: [TargetUserName]\n"
        "    timespan: 10m\n    condition:\n        gte: 5\n",
    )
    events = [_event("H1", 30 * i, 4625, "bob") for i in range(6)]  # 0-5: one burst
    events += [_event("H1", 10 + 30 * i, 4625, "alice") for i in range(4)]  # 6-9: too few
    events += [_event("H1", 3600 + 60 * i, 4625, "bob") for i in range(3)]  # 10-12: later, few
    events += [_event("H2", 20 * i, 4625, "BOB") for i in range(5)]  # 13-17: other host
    rule_set, hits = _run(tmp_path, rules, events)
    assert _groups(rule_set, hits, "brute") == [
        ("h1", [0, 1, 2, 3, 4, 5]),
        ("h2", [13, 14, 15, 16, 17]),
    ]
    findings = sigma_findings(rule_set, hits)
    brute = findings[findings["rule"] == "brute"]
    assert brute["host"].tolist() == ["h1", "h2"] and brute["occurrences"].tolist() == [1, 1]
    # Base rules used by a correlation without ``generate`` are not reported on their own.
    assert set(findings["rule"]) == {"brute"}


def test_value_count_distinct_values(tmp_path: Path) -> None:
    rules = BASES + _correlation(
        "spray",
        "    type: value_count\n    rules: [failed]\n    group-by: [IpAddress]\n"
        "    timespan: 5m\n    condition:\n        field: TargetUserName\n        gte: 3\n",
    )
    events = [_event("H1", 10 * i, 4625, f"user{i}", IpAddress="10.0.0.9") for i in range(4)]
    events += [_event("H1", 10 * i, 4625, "same", IpAddress="10.0.0.8") for i in range(5)]
    events += [_event("H1", 600 * i, 4625, f"slow{i}", IpAddress="10.0.0.7") for i in range(4)]
    rule_set, hits = _run(tmp_path, rules, events)
    assert _groups(rule_set, hits, "spray") == [("h1", [0, 1, 2, 3])]


def test_temporal_and_temporal_ordered(tmp_path: Path) -> None:
    rules = BASES + _correlation(
        "any-order",
        "    type: temporal\n    rules: [failed, success, logoff]\n"
        "    group-by: [TargetUserName]\n    timespan: 2m\n",
    )
    rules += _correlation(
        "in-order",
        "    type: temporal_ordered\n    rules: [failed, success]\n"
        "    group-by: [TargetUserName]\n    timespan: 1m\n",
    )
    events = [
        _event("H1", 0, 4624, "carol"),  # 0: success first ...
        _event("H1", 20, 4625, "carol"),  # 1: ... then failure: not in order
        _event("H1", 40, 4634, "carol"),  # 2: logoff: all three within 2m (any order)
        _event("H1", 100, 4625, "dave"),  # 3: failure
        _event("H1", 130, 4624, "dave"),  # 4: success 30 s later: in order
        _event("H1", 300, 4625, "eve"),  # 5: failure
        _event("H1", 420, 4624, "eve"),  # 6: success 2 min later: too late
    ]
    rule_set, hits = _run(tmp_path, rules, events)
    assert _groups(rule_set, hits, "any-order") == [("h1", [0, 1, 2])]
    assert _groups(rule_set, hits, "in-order") == [("h1", [3, 4])]


def test_aliases_extended_condition_and_value_sum(tmp_path: Path) -> None:
    rules = BASES + _correlation(
        "aliased",
        "    type: temporal\n    rules: [failed, logoff]\n"
        "    aliases:\n        account:\n            failed: TargetUserName\n"
        "            logoff: SubjectUserName\n"
        "    group-by: [account]\n    timespan: 1m\n",
    )
    rules += _correlation(
        "failed-no-success",
        "    type: temporal\n    rules: [failed, success]\n    group-by: [TargetUserName]\n"
        "    timespan: 1m\n    condition: failed and not success\n",
    )
    rules += _correlation(
        "exfil",
        "    type: value_sum\n    rules: [transfer]\n    group-by: [TargetUserName]\n"
        "    timespan: 1h\n    condition:\n        field: Bytes\n        gt: 1000\n",
    )
    events = [
        _event("H1", 0, 4625, "frank"),  # 0
        _event("H1", 10, 4634, "x", SubjectUserName="frank"),  # 1: alias joins 0 and 1
        _event("H1", 500, 4625, "gina"),  # 2: failure, then a success: excluded
        _event("H1", 510, 4624, "gina"),  # 3
        _event("H1", 1000, 5156, "hal", Bytes="600"),  # 4
        _event("H1", 1100, 5156, "hal", Bytes="500"),  # 5: 1100 > 1000
        _event("H1", 1200, 5156, "ivy", Bytes="900"),  # 6: alone, under
    ]
    rule_set, hits = _run(tmp_path, rules, events)
    assert _groups(rule_set, hits, "aliased") == [("h1", [0, 1])]
    assert _groups(rule_set, hits, "failed-no-success") == [("h1", [0])]
    assert _groups(rule_set, hits, "exfil") == [("h1", [4, 5])]


def test_extracted_specification_example(tmp_path: Path, sigma_dir: Path) -> None:
    """The specification's "failed logins followed by successful login" (a chain: event_count
    inside temporal_ordered), on its own file from ../shared/sigma."""
    source = sigma_dir / "sigma-specification/extracted"
    rule_set = load_sigma(source / "correlation_failed_logins_followed_by_successful_login.yml")
    assert not rule_set.refused
    events = [_event("H1", 10 * i, 4625, "u") for i in range(12)]  # 0-11
    events.append(_event("H1", 180, 4624, "u"))  # 12: success after 12 failures
    events += [_event("H2", 10 * i, 4625, "u") for i in range(9)]  # 13-21: only 9
    events.append(_event("H2", 100, 4624, "u"))  # 22
    events += [_event("H3", 10 * i, 4625, "u") for i in range(10)]  # 23-32
    events.append(_event("H3", 90 + 900, 4624, "u"))  # 33: 15 minutes later
    frame = evtxscan.read_frame(write_evtx(tmp_path / "events.evtx", events))
    matches = SigmaMatcher(rule_set.detections).match(frame)
    hits = hits_of(frame, matches, rule_set.detections, rule_set.field_needs())
    outer = "b180ead8-d58f-40b2-ae54-c8940995b9b6"
    assert _groups(rule_set, hits, outer) == [("h1", list(range(13)))]
    findings = sigma_findings(rule_set, hits)
    assert findings["rule"].tolist() == [outer]  # the chain's inner rules are not reported


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_events_against_the_brute_force_reference(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rules = BASES + _correlation(
        "count",
        "    type: event_count\n    rules: [failed, success]\n"
        "    group-by: [TargetUserName]\n    timespan: 3m\n    condition:\n        gte: 3\n",
    )
    rules += _correlation(
        "values",
        "    type: value_count\n    rules: [failed]\n    group-by: [IpAddress]\n"
        "    timespan: 4m\n    condition:\n        field: TargetUserName\n        gt: 2\n",
    )
    rules += _correlation(
        "together",
        "    type: temporal\n    rules: [failed, success, logoff]\n"
        "    group-by: [TargetUserName]\n    timespan: 2m\n",
    )
    rules += _correlation(
        "ordered",
        "    type: temporal_ordered\n    rules: [failed, success, logoff]\n"
        "    group-by: [TargetUserName]\n    timespan: 2m\n",
    )
    kinds = {4625: 0, 4624: 1, 4634: 2}
    events, plain = [], []
    times = rng.sample(range(0, 3600), 500)  # distinct seconds: no ties
    for n, second in enumerate(sorted(times)):
        host = rng.choice(["H1", "H2"])
        event_id = rng.choice(list(kinds))
        user, address = rng.choice(["u1", "u2", "u3", "u4"]), rng.choice(["10.0.0.1", "10.0.0.2"])
        events.append(_event(host, second, event_id, user, IpAddress=address))
        plain.append((host.lower(), float(second), kinds[event_id], user, address, n))
    rule_set, hits = _run(tmp_path, rules, events)

    def expected(
        kind: str,
        op: str,
        count: float,
        positions: tuple[int, ...],
        span: float,
        by_address: bool = False,
    ) -> list[tuple[str, list[int]]]:
        chosen = [
            Event(h, t, positions.index(p), (a if by_address else u,), u, frozenset({n}))
            for h, t, p, u, a, n in plain
            if p in positions
        ]
        found, _ = occurrences(kind, op, count, chosen, len(positions), span)
        return sorted((host, sorted(records)) for host, records in found)

    assert _groups(rule_set, hits, "count") == expected("event_count", "gte", 3, (0, 1), 180)
    assert _groups(rule_set, hits, "values") == expected(
        "value_count", "gt", 2, (0,), 240, by_address=True
    )
    assert _groups(rule_set, hits, "together") == expected("temporal", "gte", 3, (0, 1, 2), 120)
    ordered = _groups(rule_set, hits, "ordered")
    assert ordered == expected("temporal_ordered", "gte", 3, (0, 1, 2), 120)
    # The random data exercises every type (several occurrences each).
    assert min(len(_groups(rule_set, hits, t)) for t in ("count", "values", "together")) >= 3
    assert len(ordered) >= 2
