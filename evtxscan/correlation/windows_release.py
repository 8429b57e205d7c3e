"""Which Windows release a host runs, from the 6009 banner's build, declared once.

The banner says the version and build (``10.00.``, ``20348``), not the product: Windows 10
and Windows Server 2022 both say 10.00, and many builds are shared by a client and a server
release (14393: Windows 10 1607 and Windows Server 2016). A build only one product had is
named at once; a shared build is named for the server when the host's logs show a server
role (:data:`SERVER_PROVIDERS`, :data:`SERVER_SERVICES`), else both names are given
("Windows 10 1607 / Server 2016 (14393)") rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    """The products one build shipped as (``None``: no such product)."""

    client: str | None
    server: str | None
    either: str = ""  # what to say when a shared build's product is unknown

    def name(self, server: bool) -> str:
        if self.client is None or self.server is None:
            return self.client or self.server or ""
        if server:
            return self.server
        return self.either or f"{self.client} / {self.server.removeprefix('Windows ')}"


def _pair(client: str, server: str, either: str = "") -> Release:
    return Release(client, server, either)


#: Build number -> release (RTM builds; service packs keep the build).
WINDOWS_RELEASES: dict[int, Release] = {
    528: _pair("Windows NT Workstation 3.1", "Windows NT Advanced Server 3.1", "Windows NT 3.1"),
    807: _pair("Windows NT Workstation 3.5", "Windows NT Server 3.5", "Windows NT 3.5"),
    1057: _pair("Windows NT Workstation 3.51", "Windows NT Server 3.51", "Windows NT 3.51"),
    1381: _pair("Windows NT Workstation 4.0", "Windows NT Server 4.0", "Windows NT 4.0"),
    2195: _pair("Windows 2000 Professional", "Windows 2000 Server", "Windows 2000"),
    2600: Release("Windows XP", None),
    3790: _pair(
        "Windows XP Professional x64", "Windows Server 2003", "Windows Server 2003 / XP x64"
    ),
    6000: Release("Windows Vista", None),
    6001: _pair("Windows Vista", "Windows Server 2008"),
    6002: _pair("Windows Vista", "Windows Server 2008"),
    6003: _pair("Windows Vista", "Windows Server 2008"),
    7600: _pair("Windows 7", "Windows Server 2008 R2"),
    7601: _pair("Windows 7", "Windows Server 2008 R2"),
    9200: _pair("Windows 8", "Windows Server 2012"),
    9600: _pair("Windows 8.1", "Windows Server 2012 R2"),
    10240: Release("Windows 10 1507", None),
    10586: Release("Windows 10 1511", None),
    14393: _pair("Windows 10 1607", "Windows Server 2016"),
    15063: Release("Windows 10 1703", None),
    16299: _pair("Windows 10 1709", "Windows Server, version 1709"),
    17134: _pair("Windows 10 1803", "Windows Server, version 1803"),
    17763: _pair("Windows 10 1809", "Windows Server 2019"),
    18362: _pair("Windows 10 1903", "Windows Server, version 1903"),
    18363: _pair("Windows 10 1909", "Windows Server, version 1909"),
    19041: _pair("Windows 10 2004", "Windows Server, version 2004"),
    19042: _pair("Windows 10 20H2", "Windows Server, version 20H2"),
    19043: Release("Windows 10 21H1", None),
    19044: Release("Windows 10 21H2", None),
    19045: Release("Windows 10 22H2", None),
    20348: Release(None, "Windows Server 2022"),
    22000: Release("Windows 11 21H2", None),
    22621: Release("Windows 11 22H2", None),
    22631: Release("Windows 11 23H2", None),
    25398: Release(None, "Windows Server, version 23H2"),
    26100: _pair("Windows 11 24H2", "Windows Server 2025"),
    26200: Release("Windows 11 25H2", None),
}
#: Providers only a server edition logs (its roles), case-folded.
SERVER_PROVIDERS = frozenset(
    name.casefold()
    for name in (
        "Microsoft-Windows-ActiveDirectory_DomainService",
        "NTDS General",
        "NTDS Replication",
        "NTDS KCC",
        "Microsoft-Windows-Kerberos-Key-Distribution-Center",
        "Microsoft-Windows-DNS-Server-Service",
        "DNS",
        "Microsoft-Windows-DHCP-Server",
        "DhcpServer",
        "DFSR",
        "Microsoft-Windows-DFSR",
        "Microsoft-Windows-FailoverClustering",
        "Microsoft-Windows-CertificationAuthority",
        "CertSvc",
        "Microsoft-Windows-TerminalServices-Licensing",
        "TermServLicensing",
        "Microsoft-Windows-ServerManager",
        "Microsoft-Windows-ServerManager-MultiMachine",
        "Microsoft-Windows-ServerManager-ManagementProvider",
        "Windows Server Update Services",
        "MSExchangeIS",
        "MSExchangeSA",
        "MSExchangeTransport",
    )
)
#: Services only a server edition runs (display and key names, English), case-folded; seen
#: in Service Control Manager state changes (7036, 7040).
SERVER_SERVICES = frozenset(
    name.casefold()
    for name in (
        "Active Directory Domain Services",
        "NTDS",
        "Kerberos Key Distribution Center",
        "Kdc",
        "DNS Server",
        "DHCP Server",
        "DHCPServer",
        "DFS Replication",
        "DFSR",
        "Intersite Messaging",
        "IsmServ",
        "Active Directory Certificate Services",
        "CertSvc",
        "Cluster Service",
        "ClusSvc",
        "Remote Desktop Licensing",
        "TermServLicensing",
        "Windows Deployment Services Server",
        "WDSServer",
        "WSUS Service",
        "WsusService",
    )
)


def shared_build(build: str | int | None) -> bool:
    """Whether a client and a server release share ``build`` (the product needs the logs)."""
    try:
        release = WINDOWS_RELEASES.get(int(str(build).strip()))
    except ValueError:
        return False
    return release is not None and release.client is not None and release.server is not None


def release_name(build: str | int | None, server: bool = False) -> str | None:
    """``"Windows Server 2022 (20348)"`` for a banner's build; ``server``: the logs show a
    server role. ``None`` when the build is missing; a build not in the table is named by
    its number only (``"Windows build 27000"``)."""
    try:
        number = int(str(build).strip())
    except ValueError:
        return None
    release = WINDOWS_RELEASES.get(number)
    return f"{release.name(server)} ({number})" if release else f"Windows build {number}"
