"""One duration parser for signature files, self-test offsets and command-line options."""

from __future__ import annotations

from datetime import timedelta

import pytest

from evtxscan.signatures.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), (" 10 m", timedelta(minutes=10)),
     ("1.5h", timedelta(hours=1.5)), ("2d", timedelta(days=2))],
)  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "1h30m", "all"])
def test_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration such as 90s"):
        parse_duration(text)


def test_offsets_may_be_signed_and_bare() -> None:
    assert parse_duration("-5m", signed=True) == timedelta(minutes=-5)
    assert parse_duration(30, signed=True, bare_unit="s") == timedelta(seconds=30)
