"""Canonical text for event values, so every backend and format shows the same string.

The target is the text Windows' own XML rendering shows. Parsers differ (pyevtx-rs prints a
GUID-typed value as ``47BFA2B7-...`` without braces, python-evtx as ``{47bfa2b7-...}``); the
rules here settle each such difference once, as column operations on Arrow arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: A value that is exactly a GUID, with or without braces. Windows renders GUID-typed values
#: as ``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` (braces, upper case); we use that form for
#: every GUID-shaped value, whatever its stored type.
GUID_PATTERN = (
    r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$"
)

EARLIEST_TIME = pd.Timestamp("1970-01-01", tz="UTC")
LATEST_TIME = pd.Timestamp("2100-01-01", tz="UTC")


def canonical_guid(text: str) -> str:
    """One GUID string in Windows' rendering: braces, upper case."""
    return "{" + text.strip("{}").upper() + "}"


def canonical_values(values: pa.Array) -> pa.Array:
    """Apply the canonical-text rules to a string array (vectorized).

    - an empty value is ``""`` (pyevtx-rs prints a null value as a line break and indent);
    - a GUID-shaped value is ``{UPPER-CASE}`` in braces.
    """
    if len(values) == 0:
        return values
    # pyevtx-rs renders an empty (null) value as a line break plus indentation.
    blank = pc.match_substring_regex(values, r"^\n[ \t]*$")
    if pc.any(blank).as_py():
        values = pc.if_else(blank, "", values)
    is_guid = pc.match_substring_regex(values, GUID_PATTERN)
    if not pc.any(is_guid).as_py():
        return values
    braced = pc.binary_join_element_wise("{", pc.utf8_upper(pc.utf8_trim(values, "{}")), "}", "")
    return pc.if_else(is_guid, braced, values)


def parse_event_times(texts: Sequence[str | None]) -> tuple[pd.arrays.DatetimeArray, np.ndarray]:
    """ISO-8601 texts -> UTC datetimes (µs) and a mask of values that are missing or torn.

    A torn record's 1601-01-01 (FILETIME 0), an unparseable text, or any time outside
    1970-2100 becomes NaT, never an exception downstream.
    """
    series = pd.Series(list(texts), dtype="object")
    parsed = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
    parsed = parsed.astype("datetime64[us, UTC]")
    in_range = (parsed >= EARLIEST_TIME) & (parsed < LATEST_TIME)
    parsed = parsed.where(in_range)
    bad = ~np.asarray(in_range.fillna(False), dtype=bool)
    return parsed.array, bad


def iso_utc(text: str) -> str:
    """Normalize a timestamp text to ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` where it parses."""
    stamp = pd.Timestamp(text)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
