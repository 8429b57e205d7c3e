import re
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.records.hosts import UNKNOWN_HOST, HostMap, default_host


@pytest.mark.parametrize(
    ("computer", "host"),
    [
        ("EXCH01", "exch01"),
        ("Exch01", "exch01"),
        ("exch01.corp.example.com", "exch01"),
        ("EXCH01.corp.example.com.", "exch01"),
        ("10.1.2.3", "10.1.2.3"),
        ("", UNKNOWN_HOST),
        (None, UNKNOWN_HOST),
        ("  DC1  ", "dc1"),
        ("..\\x", "..\\x"),  # an empty first label: kept whole, not "unknown"
        (".\\x", ".\\x"),
        (".", UNKNOWN_HOST),
    ],
)
def test_default_host(computer: str | None, host: str) -> None:
    assert default_host(computer) == host


def test_mapping_overrides_suffix_stripping(tmp_path: Path) -> None:
    table = tmp_path / "hosts.csv"
    table.write_text(
        "computer,host\nweb01.eu.example.com,web01-eu\nWEB01.US.example.com,web01-us\n"
    )
    mapping = HostMap.from_file(table)
    assert mapping.host_for("web01.eu.example.com") == "web01-eu"
    assert mapping.host_for("web01.us.example.com") == "web01-us"
    assert mapping.host_for("other.example.com") == "other"


def test_path_regex_names_the_host() -> None:
    mapping = HostMap.from_option("regex:collected/(?P<host>[^/]+)/")
    assert mapping.host_for("MINWINPC", "/x/collected/SRV-07/System.evtx") == "srv-07"
    assert mapping.host_for("MINWINPC", "/elsewhere/System.evtx") == "minwinpc"


def test_path_regex_needs_a_host_group() -> None:
    with pytest.raises(ValueError, match="host"):
        HostMap(path_pattern=re.compile("collected/([^/]+)"))


def test_hosts_are_per_record_for_forwarded_events() -> None:
    computers = pd.Categorical(["A.corp", "b", None, "A.corp"])
    hosts = HostMap().hosts_for(computers, "ForwardedEvents.evtx")
    assert list(hosts) == ["a", "b", UNKNOWN_HOST, "a"]


def test_malformed_mapping_file_says_where(tmp_path: Path) -> None:
    table = tmp_path / "hosts.csv"
    table.write_text("computer,host\njust-one-column\n")
    with pytest.raises(ValueError, match=r"hosts.csv:2"):
        HostMap.from_file(table)


def test_names_with_an_empty_first_label_stay_apart(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from evtxscan.scanning import scan
    from evtxscan.synth import EventSpec, write_evtx

    when = datetime(2001, 1, 1, tzinfo=UTC)
    events = [EventSpec("EventLog", 6005, when, name) for name in ("..\\x", ".\\x", "..\\y")]
    write_evtx(tmp_path / "System.evtx", events)
    hosts = scan(tmp_path, workers=1).hosts
    assert set(hosts["host"]) == {".\\x", "..\\x", "..\\y"}
