"""Source names as written, and the provider names they stand for."""

from __future__ import annotations

import pytest

from evtxscan.authoring.sources import SourceTable, builtin_source_table, source_key

TABLE = SourceTable(
    {
        "NETLOGON": 20,
        "Netlogon": 8,
        "MSExchangeIMC": 90,
        "MSExchangeIS Private": 60,
        "MSExchangeMTA": 150,
        "Browser": 1,
        "BROWSER": 1,
        "Perflib": 3,
        "MSExchangeIMS": 1,
    },
    frozenset({"Field Engineering", "Interface"}),
)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Netlogon", "NETLOGON"),  # most common spelling wins
        ("Net Logon", "NETLOGON"),
        ("SCM", "Service Control Manager"),  # hand alias
        ("Dr. Watson", "DrWatson"),
        ("MSExchnageIMC", "MSExchangeIMC"),  # swapped letters: a typo of a common name
        ("MSEchangeIMC", "MSExchangeIMC"),  # a dropped letter
        ("ExchangeIS Private", "MSExchangeIS Private"),  # the "MS" left out
        ("MSExchangeIMS", "MSExchangeIMS"),  # a real, different source: not a typo
        ("BROWSER", "Browser"),  # a tie: mixed case over all capitals
    ],
)
def test_canonical(written: str, canonical: str) -> None:
    assert TABLE.canonical(written) == canonical


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ("Perflib, The library file could not be opened", "Perflib"),
        ("MSExchangeMTA Field Engineering", "MSExchangeMTA"),
        ("NetLogonType: Error", "NetLogon"),
        ("MSExchangeIS<BR/>", "MSExchangeIS"),
        ("<msfile>", ""),
        ("SNA Server (or SnaBase)", ""),
        ("MSExchangeIS Private | Public", ""),
        ("n", ""),
    ],
)
def test_written(value: str, source: str) -> None:
    assert TABLE.written(value) == source


def test_shipped_table_knows_the_common_sources() -> None:
    table = builtin_source_table()
    assert table.known("MSExchangeMTA") and table.known("Service Control Manager")
    assert source_key("MSExchange IS") == "msexchangeis"
