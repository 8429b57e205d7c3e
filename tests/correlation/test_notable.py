"""The notable events: their kinds, their counts (one happening logged twice counts once) and
the selection pairs the record probe and the prefilter read."""

from __future__ import annotations

import pandas as pd

from evtxscan.correlation.notable import (
    COUNT_COLUMNS,
    NOTABLE_EVENTS,
    Notable,
    notable_counts,
    notable_kinds,
    notable_pairs,
)
from evtxscan.correlation.selection import ProviderNames

NAMES = ProviderNames()
ROWS = [  # host, provider, event ID, level
    ("a", "EventLog", 6005, 4),
    ("a", "Microsoft-Windows-Kernel-General", 12, 4),  # the same boot, logged twice
    ("a", "EventLog", 6005, 4),  # a second boot, logged once (older system)
    ("a", "EventLog", 6008, 2),
    ("a", "Microsoft-Windows-Kernel-Power", 41, 1),  # the same unexpected shutdown
    ("a", "Service Control Manager", 7034, 2),
    ("a", "Service Control Manager", 7000, 2),
    ("a", "Microsoft-Windows-Eventlog", 104, 4),
    ("a", "Microsoft-Windows-Eventlog", 1102, 4),  # two different logs cleared
    ("a", "BugCheck", 1001, 2),  # an alias of WER-SystemErrorReporting
    ("a", "Application Error", 1000, 2),
    ("a", "Schannel", 36888, 1),
    ("a", "Service Control Manager", 7036, 4),  # context, not notable
    ("b", "Microsoft-Windows-Kernel-General", 1, 4),
    ("b", "Microsoft-Windows-Security-Auditing", 4616, 0),  # the same time change
    ("b", "EventLog", 6011, 4),
]


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["host", "provider", "event_id", "level"])
    frame["provider_key"] = [NAMES(p) for p in frame["provider"]]
    frame["event_id"] = frame["event_id"].astype("UInt16")
    frame["level"] = frame["level"].astype("UInt8")
    return frame


def test_each_row_gets_its_sources_kind_else_its_levels() -> None:
    frame = _frame()
    kinds = notable_kinds(frame["provider_key"], frame["event_id"], frame["level"], NAMES)
    assert [None if pd.isna(k) else k for k in kinds] == [
        "boot", "boot", "boot", "unexpected_shutdown", "unexpected_shutdown", "service_crash",
        "service_start_failure", "log_cleared", "log_cleared", "bugcheck", "error", "critical",
        None, "time_changed", "time_changed", "host_renamed",
    ]  # fmt: skip


def test_counts_by_kind_with_same_happenings_counted_once() -> None:
    frame = _frame()
    counts = notable_counts(
        frame["host"], frame["provider_key"], frame["event_id"], frame["level"], NAMES
    )
    assert list(counts.columns) == list(COUNT_COLUMNS.values())
    a, b = counts.loc["a"], counts.loc["b"]
    assert a["boots"] == 2  # max(6005 x2, Kernel-General 12 x1)
    assert a["unexpected_shutdowns"] == 1 and a["bugchecks"] == 1
    assert a["service_crashes"] == 1 and a["service_start_failures"] == 1
    assert a["log_clears"] == 2  # 104 and 1102 are different logs
    assert a["critical"] == 2 and a["errors"] == 5  # by level, whatever the kind
    assert b["time_changes"] == 1 and b["renames"] == 1 and b["boots"] == 0
    assert counts.dtypes.eq("int64").all()


def test_selection_pairs_cover_every_declared_source() -> None:
    pairs = notable_pairs(NAMES)
    for source in NOTABLE_EVENTS:
        assert {(NAMES(source.provider), i) for i in source.event_ids} <= pairs
    assert (NAMES("Service Control Manager"), 7036) not in pairs
    assert {s.kind for s in NOTABLE_EVENTS} | {Notable.CRITICAL, Notable.ERROR} == set(Notable)


def test_kinds_are_the_same_from_a_column_of_any_text_kind_or_a_list() -> None:
    """Provider keys as a pandas column (any text dtype, missing keys too) or as a list."""
    frame = _frame()
    keys = [None if i == 3 else k for i, k in enumerate(frame["provider_key"])]
    expected = notable_kinds(keys, frame["event_id"], frame["level"], NAMES)
    assert pd.isna(expected[3]) is False  # its level still makes it notable
    for dtype in (object, "str", "string[pyarrow]", "category"):
        column = pd.Series(keys, dtype=dtype)
        kinds = notable_kinds(column, frame["event_id"], frame["level"], NAMES)
        assert list(kinds) == list(expected), dtype
