"""The built-in catalogs and tables: every file loads, and KB-cited events render as Windows did."""

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from evtxscan.messages import MessageRenderer, load_catalog
from evtxscan.messages.catalog import builtin_catalog, parse_catalog
from evtxscan.messages.error_tables import parameter_table

MESSAGES = resources.files("evtxscan.data.messages")
ERRORS = resources.files("evtxscan.data.errors")


class _UniqueKeys(yaml.SafeLoader):
    """A loader that refuses duplicate keys (PyYAML would silently keep the last one)."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert not duplicates, f"duplicate keys {duplicates} at {node.start_mark}"
    return loader.construct_mapping(node)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _yaml_files(root: Any) -> list[Any]:
    return sorted((e for e in root.iterdir() if e.name.endswith(".yaml")), key=lambda e: e.name)


@pytest.mark.parametrize("entry", _yaml_files(MESSAGES), ids=lambda e: e.name)
def test_every_message_catalog_loads(entry: Any) -> None:
    text = entry.read_text("utf-8")
    yaml.load(text, Loader=_UniqueKeys)
    provider = parse_catalog(text, entry.name)
    assert provider.events, f"{entry.name} has no events"
    if provider.parameters is not None:
        assert parameter_table(provider.parameters), f"{entry.name}: empty parameter table"


@pytest.mark.parametrize("entry", _yaml_files(ERRORS), ids=lambda e: e.name)
def test_every_error_table_loads(entry: Any) -> None:
    table = yaml.load(entry.read_text("utf-8"), Loader=_UniqueKeys)
    assert table
    for code, text in table.items():
        assert isinstance(code, int), f"{entry.name}: key {code!r}"
        assert isinstance(text, str) and text.strip() == text and text, f"{entry.name}: {code}"


def test_no_alias_is_claimed_by_two_providers() -> None:
    owners: dict[str, str] = {}
    for entry in _yaml_files(MESSAGES):
        provider = parse_catalog(entry.read_text("utf-8"), entry.name)
        for alias in {a.casefold() for a in (provider.name, *provider.aliases)}:
            assert alias not in owners, f"{alias!r} in {entry.name} and {owners[alias]}"
            owners[alias] = entry.name


SRV_7023 = "The Server service terminated with the following error: \n"

# (provider, source, event ID, qualifiers, level, inserts) -> the message Windows shows.
CASES: list[tuple[str | None, str | None, int, int | None, int, list[str], str]] = [
    # Q138713
    (
        "Server",
        None,
        2508,
        0xC000,
        2,
        [],
        "The server service was unable to load the server driver.",
    ),
    (
        "Service Control Manager",
        None,
        7023,
        0xC000,
        2,
        ["Server", "%%2"],
        SRV_7023 + "The system cannot find the file specified.",
    ),
    # Q151427, Q180140
    (
        None,
        "Service Control Manager",
        7023,
        0xC000,
        2,
        ["Server", "%%1130"],
        SRV_7023 + "Not enough server storage is available to process this command.",
    ),
    (
        "Service Control Manager",
        None,
        7001,
        0xC000,
        2,
        ["Computer Browser", "Server", "%%1130"],
        "The Computer Browser service depends on the Server service which failed to start "
        "because of the following error: \n"
        "Not enough server storage is available to process this command.",
    ),
    # Q157678
    (
        "Service Control Manager",
        None,
        7000,
        0xC000,
        2,
        ["4mmdat", "%%20"],
        "The 4mmdat service failed to start due to the following error: \n"
        "The system cannot find the device specified.",
    ),
    (
        "Service Control Manager",
        None,
        7026,
        0xC000,
        2,
        ["4mmdat.sys"],
        "The following boot-start or system-start driver(s) failed to load: \n4mmdat.sys",
    ),
    # Q246762 (Windows NT 4.0 logs one string) and the current two-string form
    (
        "Service Control Manager",
        None,
        7009,
        0xC000,
        2,
        ["120000"],
        "Timeout (120000 milliseconds) waiting for service to connect.",
    ),
    (
        "Service Control Manager",
        None,
        7009,
        0xC000,
        2,
        ["30000", "Spooler"],
        "A timeout was reached (30000 milliseconds) while waiting for the Spooler service to "
        "connect.",
    ),
    # Q163595
    (
        "Service Control Manager",
        None,
        7022,
        0xC000,
        2,
        ["SNMP"],
        "The SNMP service hung on starting.",
    ),
    (
        None,
        "SNMP",
        1106,
        0xC000,
        2,
        ["C:\\winnt\\system32\\inetmib1.dll"],
        "The SNMP service is ignoring extension agent dll C:\\winnt\\system32\\inetmib1.dll "
        "because it is missing or misconfigured.",
    ),
    # Q320200 (partial: no logged text, no inserts -> the quoted text)
    (
        None,
        "MSExchangeMTA",
        9321,
        0xC000,
        2,
        [],
        "An RPC communication error has occurred.",
    ),
    # KB corpus (Q195731 gives the insertion strings)
    (
        None,
        "MSExchangeMTA",
        9405,
        0xC000,
        2,
        ["BASE", "APPLICATION", "36", "Access violation (0xc0000005) at Address 0x415170."],
        "An unexpected error has occurred which may cause the MTA to terminate. Error: "
        "Access violation (0xc0000005) at Address 0x415170. [BASE APPLICATION 36] (16)",
    ),
    # Q253889 (legacy .evt: only the source name)
    (
        None,
        "Shared Folders Gateway",
        5009,
        0xC000,
        2,
        [],
        "IFS Driver cannot be unloaded.\n\nEXPLANATION\nThe Shared Folders Gateway was unable "
        "to unload the Shared Folders File System Driver (SFFSD.SYS).\n\nACTION\nNone",
    ),
    # Q278401
    (
        None,
        "WAM",
        205,
        0xC000,
        2,
        ["C:\\WINNTSRV\\System32\\inetsrv\\asp.dll"],
        "The HTTP server was unable to load the ISAPI Application "
        "'C:\\WINNTSRV\\System32\\inetsrv\\asp.dll'. The data is the error.\n"
        "For additional information specific to this message please visit the Microsoft "
        "Online Support site located at: http://www.microsoft.com/contentredirect.asp.",
    ),
    # Q246805
    (
        None,
        "rasctrs",
        2001,
        0xC000,
        2,
        [],
        "Load of Rasctrs.dll failed. Make sure the DLL file is in the PATH. WIN32 Error number "
        "is returned in the data.",
    ),
    (
        None,
        "perflib",
        1008,
        0xC000,
        2,
        ["Remote Access", "Rasctrs.dll"],
        "The Open Procedure for service 'Remote Access' in DLL 'Rasctrs.dll' failed. "
        "Performance data for this service will not be available. Status code returned is "
        "DWORD 0.",
    ),
    # Q295162
    (
        "Application Popup",
        None,
        26,
        0x4000,
        4,
        [
            "Service Control Manager",
            "At least one service or driver failed during system startup. Use Event Viewer "
            "to examine the event log for details.",
        ],
        "Application popup: Service Control Manager : At least one service or driver failed "
        "during system startup. Use Event Viewer to examine the event log for details.",
    ),
    (
        None,
        "CertSvc",
        42,
        0xC000,
        2,
        ["CA1 Certificate Authority", "Keyset does not exist 0x80090016 (-2146893802)."],
        "Certificate Services did not start: Could not build CA certificate chain for "
        "CA1 Certificate Authority. Keyset does not exist 0x80090016 (-2146893802).",
    ),
    # Q169038
    (
        None,
        "SMS",
        132,
        0xC000,
        2,
        ["C:\\SMS\\site.srv\\inventry.box\\badraws\\00000000.RAW", "PC1", "ABC", "SMS_EXECUTIVE"],
        "Length of data given in Inventory Agent output file does not match expected length: "
        "C:\\SMS\\site.srv\\inventry.box\\badraws\\00000000.RAW\nMachineName = PC1\n"
        "SiteCode = ABC\nComponent = SMS_EXECUTIVE",
    ),
    # Q244984
    (
        None,
        "cpq32fs2",
        11,
        0xC004,
        2,
        ["\\Device\\ScsiPort2"],
        "The driver detected a controller error on \\Device\\ScsiPort2.",
    ),
    # Exchange, from the wider KB corpus
    (
        None,
        "MSExchangeIS",
        1120,
        0xC000,
        2,
        ["-1022"],
        "Error -1022 initializing the Microsoft Exchange Server Information Store database.",
    ),
    (
        None,
        "MSExchangeDS",
        1002,
        0xC000,
        2,
        ["-1811"],
        "The Microsoft Exchange Server database (EDB) could not be initialized and returned "
        "error -1811. Unrecoverable error, the directory can't continue.",
    ),
    (
        None,
        "MSExchangeSA",
        5000,
        0x4000,
        4,
        ["The operation has completed successfully."],
        "Recalculation of the routing table is complete. Result: The operation has completed "
        "successfully.",
    ),
    # Security: first line, then the insertion strings with %%N from MsObjs
    (
        "Microsoft-Windows-Security-Auditing",
        None,
        4624,
        None,
        0,
        ["S-1-5-18", "", "%%1833", "%%1843"],
        # Four values fit no 4624 template: the fallback, with msobjs parameters resolved.
        "Microsoft-Windows-Security-Auditing event 4624: S-1-5-18; Impersonation; No",
    ),
    (
        "Microsoft-Windows-Eventlog",
        None,
        1102,
        None,
        4,
        [],
        "The audit log was cleared.",
    ),
]


@pytest.mark.parametrize(
    ("provider", "source", "event_id", "qualifiers", "level", "inserts", "expected"),
    CASES,
    ids=[f"{c[0] or c[1]}-{c[2]}-{len(c[5])}" for c in CASES],
)
def test_rendering_table(
    provider: str | None,
    source: str | None,
    event_id: int,
    qualifiers: int | None,
    level: int,
    inserts: list[str],
    expected: str,
) -> None:
    renderer = MessageRenderer()
    assert renderer.render(provider, source, event_id, qualifiers, level, inserts) == expected


def test_partial_templates_prefer_the_logged_text() -> None:
    renderer = MessageRenderer()
    logged = "An account was successfully logged on.\n\nSubject: ... (as Windows rendered it)"
    assert renderer.render("Security", None, 4624, None, 0, ["x"], logged=logged) == logged
    # A complete template still wins over the logged text (our rendering is the reference).
    assert renderer.render("Srv", None, 2508, 0xC000, 2, [], logged="x").startswith("The server")


def test_catalog_covers_the_kb_articles_sources() -> None:
    catalog = builtin_catalog()
    for name in (
        "MSExchangeMTA",
        "SNMP",
        "Shared Folders Gateway",
        "WAM",
        "Perflib",
        "rasctrs",
        "MSExchangeDS",
        "MSExchangeIS",
        "MSExchangeSA",
        "CertSvc",
        "cpq32fs2",
    ):
        assert catalog.provider(name) is not None, name
    # Security auditing comes from the template catalog, whole templates for every event.
    assert catalog.templates[0].has_provider("Security")
    assert catalog.templates[0].has_provider("Microsoft-Windows-Security-Auditing")


def test_user_catalog_overrides_builtin(tmp_path: Path) -> None:
    (tmp_path / "wam.yaml").write_text("provider: WAM\nevents:\n  205: 'Mine: %1'\n")
    renderer = MessageRenderer(load_catalog(tmp_path))
    assert renderer.render(None, "WAM", 205, 0xC000, 2, ["a.dll"]) == "Mine: a.dll"
