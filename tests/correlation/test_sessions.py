"""Unit tests of boot sessions and host facts (correlation/sessions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evtxscan.correlation.sessions import UNKNOWN_SESSION, HostFacts, assign_sessions, host_facts


def _rows(events: list[tuple[str, str, int, str, list[str]]]) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.DataFrame(
        {
            "host": [e[0] for e in events],
            "time": pd.to_datetime([e[3] for e in events], utc=True),
            "event_id": pd.array([e[2] for e in events], dtype="UInt16"),
            "data": [[{"name": None, "value": v} for v in e[4]] for e in events],
        }
    )
    return frame, pd.Series([e[1] for e in events])


def test_host_facts_from_boot_markers_and_the_version_banner() -> None:
    rows, canon = _rows(
        [
            ("a", "eventlog", 6005, "2024-01-02 08:00", []),
            ("a", "eventlog", 6005, "2024-01-01 08:00", []),
            ("a", "eventlog", 6005, "2024-01-01 08:00", []),  # the same marker twice
            ("a", "eventlog", 6009, "2024-01-01 08:00", ["4.0.", "1381", "Service Pack 6",
                                                        "Multiprocessor Free"]),
            ("a", "service control manager", 7036, "2024-01-01 09:00", ["x", "running"]),
            ("b", "microsoft-windows-kernel-general", 12, "2024-01-03 10:00", []),
        ]
    )  # fmt: skip
    facts = host_facts(rows, canon)
    a, b = facts["a"], facts["b"]
    assert a.boot_starts == [pd.Timestamp("2024-01-01 08:00", tz="UTC"),
                             pd.Timestamp("2024-01-02 08:00", tz="UTC")]  # fmt: skip
    assert (a.os_version, a.build, a.service_pack, a.processors) == (
        "4.0", "1381", "Service Pack 6", "multiprocessor"
    )  # fmt: skip
    assert b.sessions_known and b.os_version is None and b.processors == "unknown"
    assert "NTKRNLMP.EXE" in a.kernel_files


def test_assign_sessions_counts_markers_before_each_time() -> None:
    facts = HostFacts(boot_starts=[pd.Timestamp("2024-01-01 08:00", tz="UTC"),
                                   pd.Timestamp("2024-01-02 08:00", tz="UTC")])  # fmt: skip
    times = pd.Series(pd.to_datetime(
        ["2024-01-01 07:00", "2024-01-01 08:00", "2024-01-01 20:00", "2024-01-03 00:00"], utc=True
    ))  # fmt: skip
    assert assign_sessions(times, facts).tolist() == [0, 1, 1, 2]
    unknown = assign_sessions(times, HostFacts())
    assert np.all(unknown == UNKNOWN_SESSION)
    assert np.all(assign_sessions(times, None) == UNKNOWN_SESSION)


def test_distinct_codes_of_categorical_and_text_columns_agree() -> None:
    from evtxscan.correlation.sessions import distinct_codes

    values = ["Tcpip", None, "Service Control Manager", "Tcpip"]
    for column in (
        pd.Series(values, dtype="category"),
        pd.Series(values, dtype=object),
        pd.Series(values, dtype="string"),
    ):
        codes, distinct = distinct_codes(column)
        decoded = [distinct[c] if c >= 0 else None for c in np.asarray(codes).tolist()]
        assert decoded == values, column.dtype
        assert None not in distinct
