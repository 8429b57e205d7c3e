"""Local dates and times of text exports: day/month order, 12/24-hour clocks, time zones.

Exports print the local wall-clock time of the machine that wrote them, with no zone, at a
1-second (sometimes 1-minute) resolution, in the writer's regional date order. The order is
read from the values when a day above 12 tells it (``13/3/96`` is D/M/Y, ``3/13/96`` M/D/Y);
otherwise it is assumed (M/D/Y for ``/`` and ``-``, D/M/Y for ``.``) and reported. Two-digit
years follow Windows' default window (30-99 -> 19xx, 00-29 -> 20xx).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

_DATE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})\.?")
_TIME = re.compile(
    r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2})(?:[.,](\d{1,7}))?)?\s*(?:([AaPp])\.?\s?[Mm]\.?)?"
)
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
ORDERS = {"MDY": "M/D/Y", "DMY": "D/M/Y", "YMD": "Y/M/D"}


def looks_like_date(text: str) -> bool:
    match = _DATE.fullmatch(text)
    return match is not None and int(match[1]) > 0 and int(match[3]) > 0


def looks_like_time(text: str) -> bool:
    match = _TIME.fullmatch(text)
    return match is not None and int(match[1]) < 24 and int(match[2]) < 60


class DateOrder:
    """Day/month order of a file's dates, decided from the values seen."""

    def __init__(self) -> None:
        self.votes = {"MDY": 0, "DMY": 0}
        self.first: dict[str, int] = {}  # order -> first line that shows it
        self.separator = ""
        self.year_first = 0
        self.order: str | None = None

    def observe(self, text: str, line: int) -> None:
        match = _DATE.fullmatch(text.strip())
        if match is None:
            return
        if len(match[1]) == 4:
            self.year_first += 1
            return
        self.separator = self.separator or match[2]
        first, second = int(match[1]), int(match[3])
        vote = "DMY" if first > 12 >= second else "MDY" if second > 12 >= first else None
        if vote is not None:
            self.votes[vote] += 1
            self.first.setdefault(vote, line)

    @property
    def evident(self) -> bool:
        return any(self.votes.values())

    def settle(self) -> str:
        """Fix the order; a note saying how it was chosen."""
        mdy, dmy = self.votes["MDY"], self.votes["DMY"]
        if mdy or dmy:
            self.order = "MDY" if mdy >= dmy else "DMY"
            note = (
                f"dates read as {ORDERS[self.order]} (detected: line {self.first[self.order]} "
                "has a day above 12)"
            )
            if mdy and dmy:
                other = "DMY" if self.order == "MDY" else "MDY"
                note += (
                    f"; but {self.votes[other]} line(s) read only as {ORDERS[other]} "
                    f"(first line {self.first[other]}): mixed date orders, those are unreadable"
                )
            return note
        self.order = "DMY" if self.separator == "." else "MDY"
        if not self.separator:
            return "dates are year-first (Y-M-D)" if self.year_first else "no readable dates"
        return (
            f"dates read as {ORDERS[self.order]} (assumed: no day above 12 tells day from "
            "month; a D/M/Y file would be read wrongly)"
        )


class Stamp:
    """A parsed local time: naive datetime, an explicit UTC offset if the text had one."""

    __slots__ = ("local", "offset", "seconds")

    def __init__(self, local: datetime, offset: timedelta | None, seconds: bool) -> None:
        self.local, self.offset, self.seconds = local, offset, seconds


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:
        year += 2000 if year < 30 else 1900
    return year


def _clock(text: str) -> tuple[int, int, int, int, bool] | None:
    """(hour, minute, second, microsecond, has seconds) of a 12- or 24-hour time."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    second = int(match[3] or 0)
    micro = int((match[4] or "0").ljust(6, "0")[:6])
    if match[5]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[5] in "Pp" else 0)
    return hour, minute, second, micro, match[3] is not None


@lru_cache(maxsize=1 << 16)
def parse_stamp(date: str, time: str | None, order: str) -> Stamp | str:
    """A :class:`Stamp`, or why the text is not a time. ``time`` None: ``date`` holds both.

    Cached: a log repeats its dates and times (stamps are never modified)."""
    date = date.strip()
    if time is None:
        iso = _ISO.fullmatch(date)
        if iso is not None:
            return _iso(iso)
        date, _, time = date.partition(" ")
    match = _DATE.fullmatch(date)
    clock = _clock(time)
    if match is None:
        return f"not a date: {date[:40]!r}"
    if clock is None:
        return f"not a time: {time.strip()[:40]!r}"
    a, b, c = match[1], int(match[3]), match[4]
    if len(a) == 4:
        year, month, day = int(a), b, int(c)
    elif order == "DMY":
        year, month, day = _year(c), b, int(a)
    else:
        year, month, day = _year(c), int(a), b
    try:
        local = datetime(year, month, day, *clock[:4])
    except ValueError:
        return f"not a valid date as {ORDERS[order]}: {date!r}"
    return _in_range(Stamp(local, None, clock[4]), date)


def _iso(match: re.Match[str]) -> Stamp | str:
    zone = match[8]
    offset: timedelta | None = None
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    elif zone:
        offset = timedelta(0)
    year, month, day, hour, minute = (int(match[i]) for i in range(1, 6))
    try:
        second, micro = int(match[6] or 0), int((match[7] or "0").ljust(6, "0")[:6])
        local = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return f"not a valid time: {match[0]!r}"
    return _in_range(Stamp(local, offset, match[6] is not None), match[0])


#: Years a local time may have: a zone shift must not leave what datetime can hold.
_YEARS = (1601, 9998)


def _in_range(stamp: Stamp, text: str) -> Stamp | str:
    if not _YEARS[0] <= stamp.local.year <= _YEARS[1]:
        return f"year {stamp.local.year} out of range ({_YEARS[0]}-{_YEARS[1]}): {text[:40]!r}"
    return stamp


def utc_texts(stamps: list[Stamp | None], tz: str) -> tuple[list[str | None], int]:
    """ISO-8601 UTC texts for local stamps in zone ``tz``, and how many fell in a daylight
    saving change (an hour that happened twice: read as daylight time; one that never
    happened: moved forward)."""
    local = pd.DatetimeIndex(
        [None if s is None or s.offset is not None else s.local for s in stamps]
    )
    if tz.upper() == "UTC":
        zoned, shifted = local.tz_localize("UTC"), 0
    else:
        first = np.ones(len(local), dtype=bool)
        zoned = local.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
        strict = local.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        shifted = int(np.sum(np.asarray(strict.isna()) & np.asarray(local.notna())))
    texts = zoned.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out: list[str | None] = [t if isinstance(t, str) else None for t in texts]
    for index, stamp in enumerate(stamps):
        if stamp is not None and stamp.offset is not None:
            utc = (stamp.local - stamp.offset).replace(tzinfo=UTC)
            out[index] = utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return out, shifted


def check_zone(tz: str) -> str:
    """``tz`` when it names a time zone (IANA name such as ``Europe/Berlin``, or UTC)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(tz, str) or not tz:
        raise ValueError(f"tz must be a time zone name, got {tz!r}")
    if tz.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    return tz
