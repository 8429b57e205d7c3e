"""The bundled demo collection: a few hosts' logs showing the first KB cases, plus the mess
real collections bring (a duplicate copy, a truncated log, a file that is not a log).

``python -m evtxscan.synth.demo DIR`` writes it; the copy under ``demo/collection`` in the
repository is this output (a test checks they stay identical). Every event is synthetic,
written by :mod:`evtxscan.synth.evtx_writer`; message texts quote the KB articles.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evtxscan.synth.evtx_writer import EventSpec, evtx_bytes

SCM = "Service Control Manager"
POPUP = "Application Popup"


def _boot(host: str, when: datetime, version: tuple[str, str, str, str]) -> list[EventSpec]:
    """The EventLog service's start markers (6009 version banner, then 6005)."""
    return [
        EventSpec(
            provider="EventLog",
            event_id=6009,
            qualifiers=0x8000,
            time=when,
            computer=host,
            data=tuple((None, v) for v in version),
        ),
        EventSpec(
            provider="EventLog",
            event_id=6005,
            qualifiers=0x8000,
            time=when,
            computer=host,
            data=((None, ""),),
        ),
    ]


def _shutdown(host: str, when: datetime) -> EventSpec:
    return EventSpec(
        provider="EventLog",
        event_id=6006,
        qualifiers=0x8000,
        time=when,
        computer=host,
        data=((None, ""),),
    )


def _scm(host: str, when: datetime, event_id: int, *params: str, level: int = 2) -> EventSpec:
    names = [f"param{i + 1}" for i in range(len(params))]
    return EventSpec(
        provider=SCM,
        event_source_name=SCM,
        event_id=event_id,
        qualifiers=0xC000,
        level=level,
        time=when,
        computer=host,
        data=tuple(zip(names, params, strict=True)),
    )


def _popup(host: str, when: datetime, caption: str, message: str) -> EventSpec:
    return EventSpec(
        provider=POPUP,
        event_id=26,
        qualifiers=0x4000,
        time=when,
        computer=host,
        data=((None, caption), (None, message)),
    )


def nt351_file_server() -> list[EventSpec]:
    """Q138713: NT 3.51 after a Service Pack whose UPDATE.EXE left the old kernel."""
    host, day = "FS01", datetime(1996, 3, 11, 8, 0, tzinfo=UTC)
    version = ("3.51", "1057", "Service Pack 5", "Uniprocessor Free")
    events = [*_boot(host, day, version)]
    events.append(_shutdown(host, day + timedelta(hours=9)))
    boot = day + timedelta(days=1)
    events += _boot(host, boot, version)
    events.append(
        _popup(
            host,
            boot + timedelta(seconds=20),
            "System Process - Driver Entry Point Not Found",
            "The \\SystemRoot\\System32\\drivers\\srv.sys device driver could not locate the "
            "entry point RtlIsNameLegalDOS8Dot3 in driver NTOSKRNL.EXE.",
        )
    )
    events.append(
        EventSpec(
            provider="Server",
            event_id=2508,
            qualifiers=0xC000,
            level=2,
            time=boot + timedelta(seconds=31),
            computer=host,
            data=((None, ""),),
            binary=bytes(0x14) + (0xC0000034).to_bytes(4, "little") + bytes(8),
        )
    )
    events.append(_scm(host, boot + timedelta(seconds=32), 7023, "Server", "%%2"))
    return events


def exchange_server(host: str, *, variant: str) -> list[EventSpec]:
    """Q217215: an aborted Exchange 5.5 SP2 update left old binaries beside new ones."""
    day = datetime(1999, 6, 2, 22, 0, tzinfo=UTC)
    events = [*_boot(host, day, ("4.0", "1381", "Service Pack 4", "Multiprocessor Free"))]
    start = day + timedelta(minutes=3)
    if variant == "netif":
        caption = "Dsamain.exe - Entry Point Not Found"
        message = (
            "The procedure entry point ?HrRegisterProtocol@@YGJPAVPROTO@@FJJJKHPAXK@Z "
            "could not be located in the dynamic link library NETIF.dll."
        )
        failed = "Microsoft Exchange Directory"
    else:
        caption = "STORE.EXE - Entry Point Not Found"
        message = (
            "The procedure entry point ??_7type_info@@6B@ could not be located in the "
            "dynamic link library MSVCRT.dll."
        )
        failed = "Microsoft Exchange Information Store"
    events.append(_popup(host, start, caption, message))
    events.append(_scm(host, start + timedelta(seconds=2), 7000, failed, "%%127"))
    if variant == "netif":
        events.append(
            _scm(
                host,
                start + timedelta(seconds=3),
                7001,
                "Microsoft Exchange Information Store",
                failed,
                "%%1068",
            )
        )
    return events


def healthy_workstation(host: str, days: int) -> list[EventSpec]:
    """A busy, healthy log: daily boots and service chatter."""
    events: list[EventSpec] = []
    services = ["Spooler", "Messenger", "Alerter", "Workstation", "Computer Browser"]
    for day in range(days):
        boot = datetime(1999, 5, 1, 7, 30, tzinfo=UTC) + timedelta(days=day)
        events += _boot(host, boot, ("4.0", "1381", "Service Pack 6", "Uniprocessor Free"))
        for i in range(40):
            name = services[i % len(services)]
            events.append(
                _scm(
                    host,
                    boot + timedelta(minutes=i),
                    7036,
                    name,
                    "running" if i % 2 else "stopped",
                    level=4,
                )
            )
        events.append(_shutdown(host, boot + timedelta(hours=10)))
    return events


def collection() -> Iterator[tuple[str, bytes]]:
    """(relative path, content) of every file in the demo collection."""
    yield "fs01/System.evtx", evtx_bytes(nt351_file_server())
    yield "exch01/System.evtx", evtx_bytes(exchange_server("EXCH01", variant="netif"))
    yield (
        "exch02.corp.example.com/System.evtx",
        evtx_bytes(exchange_server("exch02.corp.example.com", variant="msvcrt")),
    )
    busy = evtx_bytes(healthy_workstation("WS042", days=30), dirty=True, header_chunk_count=1)
    yield "ws042/System.evtx", busy
    yield "ws042/copy-of-System.evtx", busy
    broken = evtx_bytes(healthy_workstation("WS043", days=20))
    yield "ws043/System.evtx", broken[: len(broken) - 40_000]
    yield (
        "README.txt",
        (b"Demo collection for evtxscan: synthetic logs written by evtxscan.synth.\n"),
    )


def write_demo(directory: str | Path) -> list[Path]:
    """Write the demo collection under ``directory``; return the files written."""
    root = Path(directory)
    written = []
    for relative, content in collection():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(target)
    return written


if __name__ == "__main__":
    for path in write_demo(sys.argv[1] if len(sys.argv) > 1 else "demo/collection"):
        print(path)
