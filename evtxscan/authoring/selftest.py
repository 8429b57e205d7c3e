"""Run signatures' embedded tests through the real engine, on logs the writer makes.

Each test's events become an .evtx file (one host), which :func:`evtxscan.scanning` reads like
any collected log; the test passes when the signature is (or is not) diagnosed and the
diagnosis text contains the expected fragments.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evtxscan.signatures.durations import parse_duration
from evtxscan.signatures.model import Signature, SignatureTest
from evtxscan.synth import EventSpec, write_evtx

BASE_TIME = datetime(2001, 6, 4, 9, 0, tzinfo=UTC)
TEST_HOST = "TESTHOST"


@dataclass(frozen=True)
class TestOutcome:
    """One embedded test's result."""

    signature: str
    test: str
    passed: bool
    detail: str


def _offset(value: Any) -> timedelta:
    try:
        return parse_duration(value if value is not None else 0, signed=True, bare_unit="s")
    except ValueError:
        raise ValueError(f"'at' must be an offset such as 30s, 5m or 2h, got {value!r}") from None


def event_spec(event: Mapping[str, Any], base: datetime = BASE_TIME) -> EventSpec:
    """A test event description (YAML mapping) as a writer EventSpec."""
    data = event.get("data") or []
    pairs = (
        tuple((str(k), str(v)) for k, v in data.items())
        if isinstance(data, Mapping)
        else tuple((None, str(v)) for v in data)
    )
    qualifiers = event.get("qualifiers")
    level = event.get("level")
    if level is None:
        level = {0xC000: 2, 0x8000: 3}.get(qualifiers or 0, 4)
    binary = event.get("binary")
    return EventSpec(
        provider=str(event["provider"]),
        event_id=int(event["event_id"]),
        time=base + _offset(event.get("at")),
        computer=str(event.get("computer", TEST_HOST)),
        channel=str(event.get("channel", "System")),
        level=int(level),
        qualifiers=qualifiers,
        event_source_name=event.get("event_source_name"),
        data=pairs,
        binary=bytes.fromhex(binary) if binary else None,
    )


def run_test(signature: Signature, test: SignatureTest, directory: Path) -> TestOutcome:
    """Write the test's events, scan them with this signature, and judge the result."""
    from evtxscan.scanning import scan

    try:
        events = sorted((event_spec(e) for e in test.events), key=lambda e: e.time)
    except (KeyError, ValueError, TypeError) as exc:
        return TestOutcome(signature.id, test.name, False, f"bad test event: {exc}")
    path = write_evtx(directory / f"{abs(hash(test.name))}.evtx", events)
    result = scan(path, signatures=[signature])
    rows = result.diagnoses[result.diagnoses["signature_id"] == signature.id]
    if not test.expect:
        found = rows.empty
        return TestOutcome(
            signature.id,
            test.name,
            found,
            "no diagnosis, as expected"
            if found
            else "unexpected diagnosis: " + "; ".join(rows["title"]),
        )
    if rows.empty:
        return TestOutcome(signature.id, test.name, False, "expected a diagnosis, found none")
    row = rows.iloc[0]
    for column, fragment in test.expect_fields.items():
        text = str(row.get(column, ""))
        if fragment.casefold() not in text.casefold():
            return TestOutcome(
                signature.id, test.name, False, f"{column} lacks {fragment!r}: {text!r}"
            )
    return TestOutcome(signature.id, test.name, True, f"diagnosed: {row['title']}")


def run_signature_tests(signatures: Sequence[Signature]) -> list[TestOutcome]:
    """Every embedded test of every signature."""
    outcomes: list[TestOutcome] = []
    with tempfile.TemporaryDirectory(prefix="evtxscan-sigtest-") as tmp:
        for signature in signatures:
            if not signature.tests:
                outcomes.append(
                    TestOutcome(signature.id, "(none)", False, "signature has no embedded tests")
                )
            for test in signature.tests:
                outcomes.append(run_test(signature, test, Path(tmp)))
    return outcomes
