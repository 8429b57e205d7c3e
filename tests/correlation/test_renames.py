"""Renamed machines (EventLog 6011) joined into one host: chains, image names, cycles,
NetBIOS names cut at 15 characters, and the option to keep the names apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from evtxscan.correlation.renames import find_renames
from evtxscan.correlation.selection import ProviderNames
from evtxscan.records.hosts import default_host
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2023, 5, 24, tzinfo=UTC)
NAMES = ProviderNames()


def _renames(*pairs: tuple[str, str], known: set[str] | None = None, join: bool = True):  # type: ignore[no-untyped-def]
    rows = pd.DataFrame(
        {
            "provider_key": ["eventlog"] * len(pairs),
            "event_id": pd.array([6011] * len(pairs), dtype="UInt16"),
            "data": [[{"name": None, "value": a}, {"name": None, "value": b}] for a, b in pairs],
            "source_file": ["System.evtx"] * len(pairs),
            "time": [pd.Timestamp(T0) + pd.Timedelta(hours=i) for i in range(len(pairs))],
        }
    )
    hosts = known if known is not None else {default_host(n) for p in pairs for n in p}
    return find_renames(rows, lambda name, _: default_host(name), hosts, NAMES, join)


def test_a_chain_ends_at_the_last_name() -> None:
    found = _renames(("EC2AMAZ-GQ0HEKD", "WIN-5I1NNE9IUV7"), ("WIN-5I1NNE9IUV7", "ASLWINCLIENT"))
    assert found.joins == {"ec2amaz-gq0hekd": "aslwinclient", "win-5i1nne9iuv7": "aslwinclient"}
    assert "renamed from ec2amaz-gq0hekd to win-5i1nne9iuv7" in found.notes["aslwinclient"]
    assert found.host("other") == "other"


def test_an_image_name_renamed_to_several_machines_is_not_joined() -> None:
    found = _renames(("MINWINPC", "KIOSK-1"), ("MINWINPC", "KIOSK-2"))
    assert found.joins == {}
    assert "kiosk-1, kiosk-2" in found.notes["minwinpc"] and "not joined" in found.notes["minwinpc"]


def test_renamed_back_and_forth_ends_at_the_newest_name() -> None:
    found = _renames(("A", "B"), ("B", "A"))
    assert found.joins == {"a": "a", "b": "a"}


def test_a_netbios_name_cut_at_15_characters_finds_its_host() -> None:
    found = _renames(
        ("WIN-OLDNAME", "VERYLONGSERVERN"), known={"win-oldname", "verylongservername01"}
    )
    assert found.joins == {"win-oldname": "verylongservername01"}


def test_without_joining_both_names_are_noted() -> None:
    found = _renames(("OLD", "NEW"), join=False)
    assert found.joins == {}
    assert found.notes["old"].startswith("renamed to new at 2023-05-24 00:00:00 UTC (not joined")
    assert found.notes["new"].startswith("renamed from old")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def at(hours: float, computer: str, event_id: int, *data: str) -> EventSpec:
        values = tuple((None, v) for v in data)
        return EventSpec("EventLog", event_id, T0 + timedelta(hours=hours), computer, data=values)

    events = [
        at(0, "WIN-TEMPLATE01", 6005),
        at(1, "WIN-TEMPLATE01", 6006),
        at(2, "FS07.corp.example.com", 6005),
        at(2.01, "FS07.corp.example.com", 6011, "WIN-TEMPLATE01", "FS07"),
    ]
    root = tmp_path_factory.mktemp("renamed")
    write_evtx(root / "fs07" / "System.evtx", events)
    return root


def test_a_scan_joins_the_old_name_into_the_host(logs: Path) -> None:
    result = scan(logs, workers=1)
    hosts = result.hosts.set_index("host")
    assert list(hosts.index) == ["fs07"]
    assert hosts.loc["fs07", "records"] == 4 and hosts.loc["fs07", "boots"] == 2
    assert "renamed from win-template01 to fs07" in hosts.loc["fs07", "notes"]
    assert set(result.timeline["host"].astype(str)) == {"fs07"}
    assert set(result.daily["host"]) == {"fs07"}


def test_a_scan_can_keep_the_names_apart(logs: Path) -> None:
    hosts = scan(logs, workers=1, join_renamed=False).hosts.set_index("host")
    assert sorted(hosts.index) == ["fs07", "win-template01"]
    assert "(not joined" in hosts.loc["win-template01", "notes"]
