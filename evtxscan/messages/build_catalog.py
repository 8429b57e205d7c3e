"""Rebuild the compact built-in template catalog from the ts-evtx message database.

The database (``../shared/messages/ts-evtx-merged-messages.db``; MIT, from the npm package
``@ts-evtx/messages``) holds 338,729 templates of 448 providers. We ship the providers
Windows administrators meet most (``PROVIDERS`` below: patterns, case-insensitive), every
event of each, plus the rows of a provider's "sibling" message file when that is a strict
superset of its own (a newer build of a shared file, see :mod:`.templates`). Each distinct
text is stored once; providers with identical rows share one set. The output is
deterministic (sorted, gzip without a timestamp), so a rebuild from the same database is
byte-identical.

Run: ``python -m evtxscan.messages.build_catalog [DB] [OUT]``.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from evtxscan.messages.templates import EventSet

DEFAULT_DB = Path(__file__).resolve().parents[3] / "shared/messages/ts-evtx-merged-messages.db"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data/messages/templates/templates.json.gz"
_WILDCARD_MIN = 60_000  # a provider with "%1" for nearly every ID: .NET's EventLogMessages.dll

#: Providers (fnmatch patterns, case-insensitive) shipped in the built-in catalog.
PROVIDERS: tuple[str, ...] = (
    # Security auditing, the event log service, logon and session start-up
    "Microsoft-Windows-Security-Auditing",
    "Security",
    "Microsoft-Windows-Eventlog",
    "EventLog",
    "Microsoft-Windows-Winlogon",
    "Winlogon",
    "Wlclntfy",
    "Microsoft-Windows-Wininit",
    "Wininit",
    "User32",
    "Microsoft-Windows-Winsrv",
    "Microsoft-Windows-Subsys-SMSS",
    "LsaSrv",
    "Kerberos",
    "Netlogon",
    "Workstation",
    "Microsoft-Windows-Directory-Services-SAM",
    "SAM",
    "Schannel",
    "Microsoft-Windows-CAPI2",
    "Microsoft-Windows-Security-SPP",
    "Software Protection Platform*",
    "SecurityCenter",
    "Microsoft-Windows-User Profiles*",
    "Profsvc",
    "Userenv",
    # kernel, boot, power, hardware
    "Microsoft-Windows-Kernel-*",
    "Microsoft-Windows-HAL",
    "ACPI",
    "Microsoft-Windows-WHEA-Logger",
    "Microsoft-Windows-Power-Troubleshooter",
    "Microsoft-Windows-UserModePowerService",
    "Microsoft-Windows-UserPnp",
    "Microsoft-Windows-DriverFrameworks-UserMode",
    "Display",
    "Microsoft-Windows-Resource-Exhaustion-Detector",
    "Microsoft-Windows-MemoryDiagnostics-*",
    "Microsoft-Windows-TPM-WMI",
    "TPM",
    "Microsoft-Windows-BitLocker-*",
    "Win32k",
    "Microsoft-Windows-Hyper-V-Hypervisor",
    "Microsoft-Windows-USB-USBHUB3",
    "BTHUSB",
    "Serial",
    "Microsoft-Windows-Audio",
    # services, updates, installs, applications
    "Service Control Manager",
    "Microsoft-Windows-WindowsUpdateClient",
    "MsiInstaller",
    "Microsoft-Windows-Setup",
    "Microsoft-Windows-SetupPlatform",
    "Microsoft-Windows-Servicing",
    "Microsoft-Windows-TaskScheduler",
    "PowerShell",
    "Application Error",
    "Application Hang",
    "Windows Error Reporting",
    "WerSvc",
    "Application Popup",
    "SideBySide",
    ".NET Runtime",
    ".NET Runtime Optimization Service",
    "Microsoft-Windows-RestartManager",
    "WinDefend",
    "Microsoft-Windows-Fault-Tolerant-Heap",
    "Desktop Window Manager",
    "ESENT",
    "Microsoft-Windows-Search",
    "Windows Search Service*",
    "Microsoft-Windows-WMI",
    "Microsoft-Windows-Bits-Client",
    "Microsoft-Windows-LanguagePackSetup",
    "Lfsvc",
    "System Restore",
    "Microsoft-Windows-System-Restore",
    "Microsoft-Windows-EventCollector",
    "Microsoft-Windows-Perf*",
    "Microsoft-Windows-LoadPerf",
    "Microsoft-Windows-COMRuntime",
    "Microsoft-Windows-DistributedCOM",
    "Microsoft-Windows-RPC-Events",
    "Print",
    "Edge",
    "Microsoft-Windows-CertificateServicesClient*",
    "Microsoft-Windows-ProcessExitMonitor",
    # policy
    "Microsoft-Windows-GroupPolicy",
    "Group Policy *",
    "SceCli",
    "SceSrv",
    "Microsoft-Windows-Folder Redirection",
    "Folder Redirection",
    # remote desktop
    "Microsoft-Windows-TerminalServices-*",
    "TermService",
    "UmRdpService",
    "LSM",
    "TermServJet",
    "Microsoft-Windows-RemoteApp and Desktop Connections",
    "RAS RDP Backend Service",
    # network
    "Microsoft-Windows-DNS-Client",
    "Dnsapi",
    "Dnscache",
    "Microsoft-Windows-Dhcp-Client",
    "Dhcp",
    "Dhcpv6",
    "Microsoft-Windows-DHCPv6-Client",
    "Microsoft-Windows-Time-Service",
    "W32Time",
    "Tcpip",
    "Tcpip6",
    "NetBT",
    "Server",
    "Srv",
    "mrxsmb",
    "Mup",
    "Microsoft-Windows-DfsSvc",
    "Microsoft-Windows-NDIS",
    "Microsoft-Windows-Iphlpsvc",
    "Microsoft-Windows-WLAN-AutoConfig",
    "Microsoft-Windows-HttpEvent",
    "Microsoft-Windows-Firewall",
    "Microsoft-Windows-Windows Firewall With Advanced Security",
    "NetJoin",
    "RasClient",
    "Rasman",
    "RemoteAccess",
    "Microsoft-Windows-EapHost",
    "Microsoft-Windows-Diagnostics-Networking",
    # file systems, disks, storage, backup
    "Microsoft-Windows-Ntfs",
    "Ntfs",
    "Microsoft-Windows-ReFS",
    "exFAT",
    "Chkdsk",
    "disk",
    "atapi",
    "cdrom",
    "volmgr",
    "partmgr",
    "Volsnap",
    "VSS",
    "storahci",
    "stornvme",
    "nvme",
    "iaStorV",
    "iaStorAVC",
    "spaceport",
    "iScsiPrt",
    "MSiSCSI",
    "Virtual Disk Service",
    "VDS *",
    "Microsoft-Windows-FilterManager",
    "FltMgr",
    "Microsoft-Windows-DiskDiagnostic",
    "Microsoft-Windows-Defrag",
    "Microsoft-Windows-Deduplication",
    "Microsoft-Windows-Backup",
    "Windows Backup",
    "LSI_SAS*",
    "megasas*",
)


def _selected(name: str) -> bool:
    folded = name.casefold()
    return any(fnmatch.fnmatchcase(folded, pattern.casefold()) for pattern in PROVIDERS)


def _rows(db: Path) -> dict[str, set[tuple[int, str]]]:
    connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        query = (
            "SELECT p.name, m.event_id, m.message FROM messages m "
            "JOIN providers p ON p.id = m.provider_id"
        )
        rows: dict[str, set[tuple[int, str]]] = defaultdict(set)
        for name, event_id, message in connection.execute(query):
            text = str(message).replace("\r\n", "\n").rstrip()
            rows[str(name)].add((int(event_id), text))
        return rows
    finally:
        connection.close()


def _supersets(rows: dict[str, set[tuple[int, str]]], name: str) -> list[str]:
    """Providers whose rows strictly contain ``name``'s (largest first, then by name)."""
    own = rows[name]
    found = [other for other, theirs in rows.items() if len(theirs) > len(own) and own <= theirs]
    return sorted(found, key=lambda other: (-len(rows[other]), other))[:1]


def build_document(db: Path) -> dict[str, Any]:
    """The catalog document (see :class:`~evtxscan.messages.templates.BuiltinTemplates`)."""
    rows = _rows(db)
    texts: dict[str, int] = {}
    sets: dict[tuple[tuple[int, int], ...], int] = {}
    providers: dict[str, list[int]] = {}
    wildcard: list[str] = []

    def set_of(pairs: set[tuple[int, str]]) -> int:
        for _, text in sorted(pairs):
            texts.setdefault(text, len(texts))
        key = tuple(sorted((event_id, texts[text]) for event_id, text in pairs))
        return sets.setdefault(key, len(sets))

    for name in sorted(rows):
        if not _selected(name):
            continue
        pairs = rows[name]
        if len(pairs) >= _WILDCARD_MIN and {text for _, text in pairs} == {"%1"}:
            wildcard.append(name)
            continue
        chosen = [set_of(pairs)]
        for other in _supersets(rows, name):
            chosen.append(set_of(rows[other] - pairs))
        providers[name] = chosen
    set_list: list[dict[str, list[int]]] = [{} for _ in sets]
    for key, index in sets.items():
        for event_id, text_index in key:
            set_list[index].setdefault(str(event_id), []).append(text_index)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    meta = {
        "source": "@ts-evtx/messages 1.1.1 merged-messages.db (MIT), as in shared/messages",
        "sha256": digest,
        "providers": len(providers) + len(wildcard),
        "templates": len(texts),
    }
    return {
        "meta": meta,
        "texts": list(texts),
        "sets": set_list,
        "providers": providers,
        "wildcard": wildcard,
    }


def write_document(document: dict[str, Any], out: Path) -> int:
    """Write gzip'd JSON deterministically, each set as packed arrays (``EventSet.packed``:
    loading them makes no Python object per event); returns the file size in bytes."""
    sets = [EventSet.of(entries).packed() for entries in document["sets"]]
    document = {**document, "sets": sets}
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    out.write_bytes(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    db = Path(args[0]) if args else DEFAULT_DB
    out = Path(args[1]) if len(args) > 1 else DEFAULT_OUT
    document = build_document(db)
    size = write_document(document, out)
    meta = document["meta"]
    print(f"{out}: {meta['providers']} providers, {meta['templates']} templates, {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
