"""Windows releases from the 6009 banner's build, client or server by the logs' hints."""

from __future__ import annotations

import pandas as pd
import pytest

from evtxscan.correlation.selection import ProviderNames
from evtxscan.correlation.sessions import host_facts
from evtxscan.correlation.windows_release import WINDOWS_RELEASES, release_name


@pytest.mark.parametrize(
    ("build", "server", "name"),
    [
        ("20348", False, "Windows Server 2022 (20348)"),
        ("19045", True, "Windows 10 22H2 (19045)"),  # a client-only build stays a client
        (14393, False, "Windows 10 1607 / Server 2016 (14393)"),  # shared: both, no guess
        (14393, True, "Windows Server 2016 (14393)"),
        ("7601", False, "Windows 7 / Server 2008 R2 (7601)"),
        ("1057", False, "Windows NT 3.51 (1057)"),
        ("1381", True, "Windows NT Server 4.0 (1381)"),
        ("2600", False, "Windows XP (2600)"),
        ("27999", False, "Windows build 27999"),
        ("", False, None),
        (None, False, None),
    ],
)
def test_release_names(build: object, server: bool, name: str | None) -> None:
    assert release_name(build, server) == name  # type: ignore[arg-type]


def test_every_release_has_a_name() -> None:
    for build, release in WINDOWS_RELEASES.items():
        assert release.client or release.server, build
        assert release_name(build, False) and release_name(build, True)


def _rows(*events: tuple[str, str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": [e[0] for e in events],
            "provider": [e[1] for e in events],
            "event_id": pd.array([e[2] for e in events], dtype="UInt16"),
            "time": pd.date_range("2021-02-12", periods=len(events), freq="min", tz="UTC"),
            "data": [[{"name": None, "value": v} for v in e[3].split("|")] for e in events],
        }
    )


def test_a_server_role_in_the_logs_names_the_server_release() -> None:
    banner = "10.00.|14393||Multiprocessor Free|0"
    rows = _rows(
        ("dc", "EventLog", 6009, banner),
        ("dc", "Service Control Manager", 7036, "DNS Server|running"),
        ("ws", "EventLog", 6009, banner),
        ("ws", "Service Control Manager", 7036, "Print Spooler|running"),
        ("kdc", "EventLog", 6009, "6.01.|7601|Service Pack 1|Multiprocessor Free"),
        ("kdc", "Microsoft-Windows-Kerberos-Key-Distribution-Center", 7, "x"),
    )
    names = ProviderNames()
    facts = host_facts(rows, rows["provider"].map(names))
    assert facts["dc"].release == "Windows Server 2016 (14393)"
    assert facts["ws"].release == "Windows 10 1607 / Server 2016 (14393)"
    assert facts["kdc"].release == "Windows Server 2008 R2 (7601)"
