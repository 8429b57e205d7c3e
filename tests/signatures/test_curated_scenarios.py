"""The curated signatures on a mixed collection: article stories in the forms real collections
bring (named Vista-style data, positional NT strings, legacy .evt source names, an Event Viewer
text export), next to near misses, noise hosts and the seed scenarios. Every host must get
exactly the diagnoses its story calls for: none missed, none extra, no two articles for one
incident, and the generic findings only where no article explains the records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, EvtEventSpec, write_evt
from evtxscan.synth.scenarios import (
    ENTRY_POINT,
    SRV_POPUP,
    Collection,
    boot,
    popup,
    scm,
    server_2508,
    standard_collection,
)

T0 = datetime(1999, 3, 1, 8, 0, tzinfo=UTC)
Q138713 = "q138713-srv-kernel-entry-point"
Q148245 = "q148245-uniprocessor-to-multiprocessor-srv-sys"
Q175529 = "q175529-server-nullsessionpipes-too-large"
Q231604 = "q231604-server-service-no-network"
Q193840 = "q193840-ras-netbeui-nbf-missing"
Q295162 = "q295162-machinekeys-permissions-w3svc-certsvc"
Q320200 = "q320200-exchange-mta-sp4-tcpip"
Q190697 = "q190697-sbs-mail-connector-address-dll"
Q162664 = "q162664-spooler-moved-spoolss-entry-point"
Q134425 = "q134425-service-not-valid-application"
Q244984 = "q244984-compaq-ssd-cpq32fs2"
Q190828 = "q190828-exchange-store-gapi32-entry-point"
Q166708 = "q166708-cleansweep-imagehlp-entry-point"
Q169038 = "q169038-sms-inventory-raw-length-mismatch"
DLL_NOT_FOUND = "dll-not-found"
#: (host, signature) pairs found by the scan, those the stories call for, and the diagnoses.
Outcome = tuple[set[tuple[str, str]], set[tuple[str, str]], pd.DataFrame]


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _event(host: str, provider: str, event_id: int, seconds: float, *values: str) -> EventSpec:
    """An Application-log style event with positional strings (level error)."""
    return EventSpec(
        provider,
        event_id,
        _at(seconds),
        host,
        channel="Application",
        qualifiers=0xC000,
        level=2,
        data=tuple((None, v) for v in values),
    )


def _nt4(
    host: str, service_pack: str = "Service Pack 3", cpu: str = "Uniprocessor Free"
) -> list[EventSpec]:
    """The boot of a Windows NT 4.0 host: the 6009 banner (with its service pack) and 6005."""
    banner = tuple((None, v) for v in ("4.0", "1381", service_pack, cpu))
    return [
        EventSpec("EventLog", 6009, T0, host, qualifiers=0x8000, data=banner),
        EventSpec("EventLog", 6005, T0, host, qualifiers=0x8000, data=((None, ""),)),
    ]


def article_stories(c: Collection) -> None:
    """One host per article story, in .evtx with SCM's named data (param1, param2...)."""
    c.add(
        "NULLPIPES",
        [
            *_nt4("NULLPIPES"),
            scm("NULLPIPES", _at(30), 7023, "Server", "%%234"),
            scm("NULLPIPES", _at(40), 7001, "Net Logon", "Server", "%%234"),
            scm("NULLPIPES", _at(41), 7001, "Computer Browser", "Server", "%%234"),
        ],
        {Q175529},
    )
    c.add(
        "STANDALONE",
        [
            *_nt4("STANDALONE", "Service Pack 4"),
            scm("STANDALONE", _at(30), 7023, "Server", "%%31"),
            scm("STANDALONE", _at(31), 7001, "Computer Browser", "Server", "%%31"),
        ],
        {Q231604},
    )
    c.add(
        "RAS-NBF",
        [
            *_nt4("RAS-NBF", "Service Pack 4"),
            scm("RAS-NBF", _at(25), 7000, "NetBEUI Protocol", "%%2"),
            scm("RAS-NBF", _at(40), 7001, "Remote Access Service", "NetBEUI Protocol", "%%2"),
        ],
        {Q193840},
    )
    w2k = "W2K-CA"
    c.add(
        w2k,
        [
            *boot(w2k, T0, "Uniprocessor Free", "5.00.", "2195"),
            scm(w2k, _at(41), 7024, "Certificate Services", "2148073494"),
            scm(w2k, _at(180), 7022, "World Wide Web Publishing Service"),
            scm(w2k, _at(240), 7023, "World Wide Web Publishing Service", "%%2148073487"),
            popup(w2k, _at(250), "Service Control Manager", "At least one service failed."),
        ],
        {Q295162},
    )
    c.add(
        w2k,
        [
            _event(
                w2k, "CertSvc", 42, 40, "CORP CA", "Keyset does not exist 0x80090016 (-2146893802)"
            )
        ],
        set(),
        log="Application",
    )
    c.add(
        "EXCH-MTA4",
        [
            *_nt4("EXCH-MTA4", "Service Pack 6"),
            scm("EXCH-MTA4", _at(63), 7023, "Microsoft Exchange Message Transfer Agent", "%%2140"),
        ],
        {Q320200},
    )
    c.add(
        "EXCH-MTA4",
        [
            _event("EXCH-MTA4", "MSExchangeMTA", 9406, 60),
            _event("EXCH-MTA4", "MSExchangeMTA", 9321, 61),
            _event("EXCH-MTA4", "MSExchangeMTA", 9266, 62),
        ],
        set(),
        log="Application",
    )
    c.add(
        "SBS-MAIL",
        [
            *_nt4("SBS-MAIL", "Service Pack 4"),
            popup(
                "SBS-MAIL",
                _at(40),
                "MT.EXE - Unable To Locate DLL",
                "The dynamic link library address.dll could not be found in the specified path "
                "c:\\exchsrvr\\connect\\msmcon\\bin;;c:\\winnt.sbs\\system32;c:\\winnt.sbs.",
            ),
            EventSpec(
                "Service Control Manager", 7009, _at(160), "SBS-MAIL",
                qualifiers=0xC000, level=2, data=((None, "120000"),),
            ),
            scm("SBS-MAIL", _at(161), 7000, "MS Mail Connector Interchange", "%%1053"),
        ],
        {Q190697},
    )  # fmt: skip
    c.add(
        "SPOOLMOVED",
        [
            *_nt4("SPOOLMOVED", "Service Pack 1"),
            popup(
                "SPOOLMOVED",
                _at(35),
                "SPOOLSS.EXE - Entry Point Not Found",
                "The procedure entry point LoadDriverFiletoConvertDevmode could not be located "
                "in the dynamic link library SPOOLSS.dll.",
            ),
            scm("SPOOLMOVED", _at(40), 7023, "Spooler", "%%127"),
        ],
        {Q162664},
    )
    c.add("SVC193", [scm("SVC193", _at(5), 7000, "Backup Exec Agent", "%%193")], {Q134425})
    c.add("WIN10-GAME", [scm("WIN10-GAME", _at(5), 7023, "YxhGameSvc", "%%126")], {DLL_NOT_FOUND})
    c.add(
        "PROLIANT",
        [
            *_nt4("PROLIANT", "Service Pack 4", "Multiprocessor Free"),
            EventSpec(
                "cpq32fs2", 11, _at(5), "PROLIANT", qualifiers=0xC004, level=2,
                data=((None, "\\Device\\ScsiPort2"),),
            ),
            EventSpec(
                "Service Control Manager", 7026, _at(40), "PROLIANT", qualifiers=0xC000,
                level=2, data=((None, "\nCpq32fs2"),),
            ),
        ],
        {Q244984},
    )  # fmt: skip
    c.add(
        "EXCH-GAPI",
        [
            popup(
                "EXCH-GAPI",
                _at(60),
                "STORE.EXE - Entry Point Not Found",
                "The procedure entry point UIEncodeEUC_KR@20 could not be located in the "
                "dynamic link library gapi32.dll.",
            ),
            scm("EXCH-GAPI", _at(180), 7000, "Microsoft Exchange Information Store", "%%1053"),
        ],
        {Q190828},
    )
    # Q148245 on a multiprocessor host (popup only) and Q138713's full story on another one:
    # one article each, never both.
    c.add(
        "NT351-MPUPG",
        [
            *boot("NT351-MPUPG", T0, "Uniprocessor Free"),
            *boot("NT351-MPUPG", T0 + timedelta(days=2), "Multiprocessor Free"),
            popup("NT351-MPUPG", T0 + timedelta(days=2, seconds=20), *SRV_POPUP),
        ],
        {Q148245},
    )
    c.add(
        "NT351-MPFULL",
        [
            *boot("NT351-MPFULL", T0, "Multiprocessor Free"),
            popup("NT351-MPFULL", _at(20), *SRV_POPUP),
            server_2508("NT351-MPFULL", _at(30)),
            scm("NT351-MPFULL", _at(31), 7023, "Server", "%%2"),
        ],
        {Q138713},
    )


def curated_near_misses(c: Collection) -> None:
    """Looks like a curated article, is not one (or is only the generic finding)."""
    c.add(
        "MISS-SRV-1067",
        [*_nt4("MISS-SRV-1067"), scm("MISS-SRV-1067", _at(30), 7023, "Server", "%%1067")],
        set(),
    )
    c.add(
        "MISS-NBF-31",
        [*_nt4("MISS-NBF-31"), scm("MISS-NBF-31", _at(30), 7000, "NetBEUI Protocol", "%%31")],
        set(),
    )
    c.add(
        "MISS-OTHER-31",
        [scm("MISS-OTHER-31", _at(30), 7023, "Network Connection Broker", "%%31")],
        set(),
    )
    c.add("MISS-MTA", [_event("MISS-MTA", "MSExchangeMTA", 9266, 5)], set(), log="Application")
    c.add(
        "MISS-DISK",
        [
            EventSpec(
                "disk", 11, _at(5), "MISS-DISK", qualifiers=0xC004, level=2,
                data=((None, "\\Device\\Harddisk0\\DR0"),),
            ),
            EventSpec(
                "Service Control Manager", 7026, _at(40), "MISS-DISK", qualifiers=0xC000,
                level=2, data=((None, "\nSymc810"),),
            ),
        ],
        set(),
    )  # fmt: skip
    c.add(
        "MISS-PROC",
        [scm("MISS-PROC", _at(5), 7000, "Backup Agent", "%%127")],
        {ENTRY_POINT},
    )
    c.add(
        "MISS-SPOOLER",
        [scm("MISS-SPOOLER", _at(5), 7023, "Spooler", "%%1067")],
        set(),
    )


def _legacy(host: str, source: str, event_id: int, seconds: float, *strings: str) -> EvtEventSpec:
    kind = 4 if event_id in (6005, 6009) else 1
    qualifiers = 0x8000 if kind == 4 else 0xC000
    return EvtEventSpec(
        source,
        event_id,
        _at(seconds),
        qualifiers=qualifiers,
        event_type=kind,
        computer=host,
        strings=strings,
    )


def write_legacy_logs(root: Path) -> dict[str, set[str]]:
    """Stories as NT wrote them to SysEvent.Evt / AppEvent.Evt: positional strings, source
    names as the .evt stores them (MSExchange MTA, SMS, Application Popup)."""
    nt4 = ("4.0", "1381", "Service Pack 3", "Uniprocessor Free")
    write_evt(
        root / "legacy-nbf" / "SysEvent.Evt",
        [
            _legacy("LEGACY-NBF", "EventLog", 6009, 0, *nt4),
            _legacy("LEGACY-NBF", "EventLog", 6005, 0),
            _legacy("LEGACY-NBF", "Service Control Manager", 7000, 25, "NetBEUI Protocol", "%%2"),
            _legacy(
                "LEGACY-NBF",
                "Service Control Manager",
                7001,
                40,
                "Remote Access Service",
                "NetBEUI Protocol",
                "%%2",
            ),
        ],
    )
    write_evt(
        root / "legacy-mta" / "AppEvent.Evt",
        [
            _legacy("LEGACY-MTA", "MSExchange MTA", 9321, 61),
            _legacy("LEGACY-MTA", "MSExchange MTA", 9266, 62),
        ],
    )
    write_evt(
        root / "legacy-sms" / "AppEvent.Evt",
        [
            _legacy(
                "LEGACY-SMS",
                "SMS",
                132,
                5,
                "C:\\SMS\\site.srv\\inventry.box\\badraws\\00000012.RAW",
                "WKS042",
                "S01",
                "SMS_EXECUTIVE",
            )
        ],
    )
    write_evt(
        root / "legacy-sweep" / "SysEvent.Evt",
        [
            _legacy("LEGACY-SWEEP", "EventLog", 6009, 0, "3.51", "1057", "Service Pack 5", "x"),
            _legacy("LEGACY-SWEEP", "EventLog", 6005, 0),
            _legacy(
                "LEGACY-SWEEP",
                "Application Popup",
                26,
                90,
                "WINFILE.EXE - Entry Point Not Found",
                "The procedure entry point SymSetOptions could not be located in the dynamic "
                "link library IMAGEHLP.dll.",
            ),
        ],
    )
    return {
        "legacy-nbf": {Q193840},
        "legacy-mta": {Q320200},
        "legacy-sms": {Q169038},
        "legacy-sweep": {Q166708},
    }


def write_text_export(root: Path) -> dict[str, set[str]]:
    """Q175529 as an NT 4.0 Event Viewer text export: descriptions only, no insertion strings."""
    lines = [
        "3/1/99\t8:00:30 AM\tService Control Manager\tError\tNone\t7023\tN/A\tTEXTHOST\t"
        "The Server service terminated with the following error: More data is available.",
        "3/1/99\t8:00:40 AM\tService Control Manager\tError\tNone\t7001\tN/A\tTEXTHOST\t"
        "The Net Logon service depends on the Server service which failed to start because "
        "of the following error: More data is available.",
    ]
    path = root / "texthost" / "system.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return {"texthost": {Q175529}}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("curated-scenarios")
    collection = standard_collection(noise=8)
    article_stories(collection)
    curated_near_misses(collection)
    collection.write(root)
    expected = {(h, s) for h, ids in collection.expected.items() for s in ids}
    for host, ids in (write_legacy_logs(root) | write_text_export(root)).items():
        expected |= {(host, s) for s in ids}
    diagnoses = scan(root).diagnoses
    found = set(zip(diagnoses["host"], diagnoses["signature_id"], strict=True))
    return found, expected, diagnoses


def test_every_story_is_diagnosed_by_its_article(outcome: Outcome) -> None:
    found, expected, _ = outcome
    assert expected - found == set(), "missed"


def test_no_extra_diagnosis_anywhere(outcome: Outcome) -> None:
    found, expected, _ = outcome
    assert found - expected == set(), "false alarms"


def test_one_story_is_one_occurrence(outcome: Outcome) -> None:
    """Q295162's startup logs three alternative symptoms: one incident, all three as evidence."""
    _, _, diagnoses = outcome
    rows = diagnoses[(diagnoses["host"] == "w2k-ca") & (diagnoses["signature_id"] == Q295162)]
    assert rows["occurrences"].tolist() == [1]
    records: list[dict[str, Any]] = list(rows["evidence"].iloc[0])
    evidence = {(e["provider"], e["event_id"]) for e in records}
    assert {("CertSvc", 42), ("Service Control Manager", 7024)} <= evidence
    assert ("Service Control Manager", 7023) in evidence
