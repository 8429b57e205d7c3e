"""Durations as people write them (``90s``, ``10m``, ``1.5h``, ``2d``): one parser for the
signature files, the self-test offsets and every command-line option."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
EXAMPLES = "90s, 10m, 1h, 2d"


def parse_duration(
    text: object, *, signed: bool = False, bare_unit: str | None = None
) -> timedelta:
    """``text`` as a :class:`timedelta`; raises :class:`ValueError` saying what is expected.

    ``signed`` allows a leading minus (offsets before a base time); ``bare_unit`` (``"s"``,
    ``"m"``, ``"h"`` or ``"d"``) is the unit of a bare number, which is refused otherwise.
    """
    match = _DURATION.match(str(text))
    unit = (match.group(2) or bare_unit) if match else None
    if match is None or unit is None or (match.group(1).startswith("-") and not signed):
        raise ValueError(f"{text!r} is not a duration such as {EXAMPLES}")
    return timedelta(**{_UNITS[unit]: float(match.group(1))})
