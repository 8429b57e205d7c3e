"""Scenario collections for accuracy tests: seed incidents, variants, near misses, noise.

Each scenario is a host's System (and Application) events plus the diagnoses a correct scan
must give for that host: ``expected`` maps host -> set of signature ids.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evtxscan.synth.evt_writer import EvtEventSpec, write_evt
from evtxscan.synth.evtx_writer import EventSpec, write_evtx

Q138713 = "q138713-srv-kernel-entry-point"
Q217215 = "q217215-exchange-sp2-entry-point"
ENTRY_POINT = "entry-point-not-found"
START = datetime(2000, 2, 7, 8, 0, tzinfo=UTC)
SRV_POPUP = (
    "System Process - Driver Entry Point Not Found",
    "The \\SystemRoot\\System32\\drivers\\srv.sys device driver could not locate the "
    "entry point RtlIsNameLegalDOS8Dot3 in driver NTOSKRNL.EXE.",
)


def boot(
    host: str,
    at: datetime,
    processors: str = "Uniprocessor Free",
    version: str = "3.51",
    build: str = "1057",
) -> list[EventSpec]:
    banner = tuple((None, v) for v in (version, build, "Service Pack 5", processors))
    return [
        EventSpec("EventLog", 6009, at, host, qualifiers=0x8000, data=banner),
        EventSpec("EventLog", 6005, at, host, qualifiers=0x8000, data=((None, ""),)),
    ]


def shutdown(host: str, at: datetime) -> EventSpec:
    return EventSpec("EventLog", 6006, at, host, qualifiers=0x8000, data=((None, ""),))


def scm(host: str, at: datetime, event_id: int, *params: str, level: int = 2) -> EventSpec:
    names = [f"param{i + 1}" for i in range(len(params))]
    return EventSpec(
        "Service Control Manager",
        event_id,
        at,
        host,
        qualifiers=0xC000,
        level=level,
        data=tuple(zip(names, params, strict=True)),
    )


def popup(host: str, at: datetime, caption: str, message: str) -> EventSpec:
    return EventSpec(
        "Application Popup",
        26,
        at,
        host,
        qualifiers=0x4000,
        data=((None, caption), (None, message)),
    )


def server_2508(host: str, at: datetime) -> EventSpec:
    return EventSpec("Server", 2508, at, host, qualifiers=0xC000, level=2, data=((None, ""),))


@dataclass
class Collection:
    """Events per (host, log) and the diagnoses expected per host."""

    logs: dict[tuple[str, str], list[EventSpec]] = field(default_factory=dict)
    expected: dict[str, set[str]] = field(default_factory=dict)

    def add(
        self,
        host: str,
        events: list[EventSpec],
        expect: set[str],
        log: str = "System",
    ) -> None:
        self.logs.setdefault((host, log), []).extend(events)
        self.expected.setdefault(host.lower().split(".")[0], set()).update(expect)

    def write(self, directory: Path) -> list[Path]:
        paths = []
        for (host, log), events in sorted(self.logs.items()):
            ordered = sorted(events, key=lambda e: e.time)
            paths.append(write_evtx(directory / host / f"{log}.evtx", ordered))
        return paths

    def write_evt(self, directory: Path) -> list[Path]:
        """The same logs as the NT-era machines kept them: legacy .evt files named as
        Windows names them (``SysEvent.Evt``), whose inserts are the events' data values."""
        paths = []
        for (host, log), events in sorted(self.logs.items()):
            ordered = [as_evt(e) for e in sorted(events, key=lambda e: e.time)]
            name = EVT_FILE_NAMES.get(log, f"{log}.evt")
            paths.append(write_evt(directory / host / name, ordered))
        return paths


#: The classic logs' file names.
EVT_FILE_NAMES = {
    "System": "SysEvent.Evt",
    "Application": "AppEvent.Evt",
    "Security": "SecEvent.Evt",
}
#: EVTX Level -> .evt EventType (critical and error: error; warning; the rest: information).
_EVENT_TYPES = {1: 1, 2: 1, 3: 2}


def as_evt(event: EventSpec) -> EvtEventSpec:
    """An event as an .evt record gives it: the provider as the source name, the data
    values (as text) as the inserts, the level as the event type."""
    return EvtEventSpec(
        source=event.provider,
        event_id=event.event_id,
        qualifiers=event.qualifiers or 0,
        time_generated=event.time,
        event_type=_EVENT_TYPES.get(event.level, 4),
        category=event.task,
        computer=event.computer,
        strings=tuple("" if value is None else str(value) for _name, value in event.data),
        sid=event.user_sid,
    )


def seed_cases(c: Collection) -> None:
    """The article incidents and their variants."""
    t = START
    c.add(
        "NT351-UP",
        [
            *boot("NT351-UP", t),
            popup("NT351-UP", t + timedelta(seconds=20), *SRV_POPUP),
            server_2508("NT351-UP", t + timedelta(seconds=30)),
            scm("NT351-UP", t + timedelta(seconds=31), 7023, "Server", "%%2"),
        ],
        {Q138713},
    )
    c.add(
        "NT351-MP",
        [
            *boot("NT351-MP", t, "Multiprocessor Free"),
            server_2508("NT351-MP", t + timedelta(seconds=30)),
            scm("NT351-MP", t + timedelta(seconds=31), 7023, "Server", "%%2"),
        ],
        {Q138713},
    )
    # Recurs at every boot until fixed: one diagnosis, three occurrences.
    events: list[EventSpec] = []
    for day in range(3):
        at = t + timedelta(days=day)
        events += [
            *boot("NT351-RECUR", at),
            server_2508("NT351-RECUR", at + timedelta(seconds=30)),
            scm("NT351-RECUR", at + timedelta(seconds=31), 7023, "Server", "%%2"),
            shutdown("NT351-RECUR", at + timedelta(hours=8)),
        ]
    c.add("NT351-RECUR", events, {Q138713})
    c.add(
        "EXCH-DS",
        [
            *boot("EXCH-DS", t, version="4.0", build="1381"),
            popup(
                "EXCH-DS",
                t + timedelta(minutes=2),
                "Dsamain.exe - Entry Point Not Found",
                "The procedure entry point ?HrRegisterProtocol@@YGJPAVPROTO@@FJJJKHPAXK@Z "
                "could not be located in the dynamic link library NETIF.dll.",
            ),
            scm(
                "EXCH-DS",
                t + timedelta(minutes=2, seconds=2),
                7000,
                "Microsoft Exchange Directory",
                "%%127",
            ),
        ],
        {Q217215},
    )
    c.add(
        "EXCH-STORE",
        [
            *boot("EXCH-STORE", t, version="4.0", build="1381"),
            popup(
                "EXCH-STORE",
                t + timedelta(minutes=5),
                "STORE.EXE - Entry Point Not Found",
                "The procedure entry point ??_7type_info@@6B@ could not be located "
                "in the dynamic link library MSVCRT.dll.",
            ),
        ],
        {Q217215},
    )
    c.add(
        "APP-EP",
        [
            popup(
                "APP-EP",
                t,
                "report.exe - Entry Point Not Found",
                "The procedure entry point DecodePointer could not be located in the "
                "dynamic link library KERNEL32.dll.",
            )
        ],
        {ENTRY_POINT},
    )


def near_misses(c: Collection) -> None:
    """Looks like an incident, is not one (or not that one)."""
    t = START
    c.add(
        "MISS-OTHER-SVC",
        [
            *boot("MISS-OTHER-SVC", t),
            server_2508("MISS-OTHER-SVC", t + timedelta(seconds=30)),
            scm("MISS-OTHER-SVC", t + timedelta(seconds=31), 7023, "Spooler", "%%2"),
        ],
        set(),
    )
    c.add(
        "MISS-2508-ONLY",
        [*boot("MISS-2508-ONLY", t), server_2508("MISS-2508-ONLY", t + timedelta(seconds=30))],
        set(),
    )
    c.add(
        "MISS-OTHER-ERR",
        [
            *boot("MISS-OTHER-ERR", t),
            server_2508("MISS-OTHER-ERR", t + timedelta(seconds=30)),
            scm("MISS-OTHER-ERR", t + timedelta(seconds=31), 7023, "Server", "%%1067"),
        ],
        set(),
    )
    split = [
        *boot("MISS-SPLIT", t),
        popup("MISS-SPLIT", t + timedelta(seconds=10), *SRV_POPUP),
        shutdown("MISS-SPLIT", t + timedelta(hours=1)),
        *boot("MISS-SPLIT", t + timedelta(days=1)),
        shutdown("MISS-SPLIT", t + timedelta(days=1, hours=1)),
        *boot("MISS-SPLIT", t + timedelta(days=3)),
        server_2508("MISS-SPLIT", t + timedelta(days=3, seconds=30)),
        shutdown("MISS-SPLIT", t + timedelta(days=3, hours=2)),
        *boot("MISS-SPLIT", t + timedelta(days=4)),
        scm("MISS-SPLIT", t + timedelta(days=4, seconds=31), 7023, "Server", "%%2"),
    ]
    # The Monday popup is a real entry-point error (the generic finding), but 2508 and 7023
    # on different boots are not the article's incident.
    c.add("MISS-SPLIT", split, {ENTRY_POINT})
    c.add(
        "MISS-POPUP-OTHER-MODULE",
        [
            popup(
                "MISS-POPUP-OTHER-MODULE",
                t,
                "notepad.exe - System Error",
                "The code execution cannot proceed because MSVCR71.dll was not found.",
            )
        ],
        set(),
    )
    # The popup is logged under another host's name: that host gets no KB diagnosis.
    c.add(
        "MISS-HOST-A",
        [
            *boot("MISS-HOST-A", t),
            server_2508("MISS-HOST-A", t + timedelta(seconds=30)),
            scm("MISS-HOST-A", t + timedelta(seconds=31), 7023, "Server", "%%2"),
        ],
        {Q138713},
    )
    c.add(
        "MISS-HOST-B", [popup("MISS-HOST-B", t + timedelta(seconds=20), *SRV_POPUP)], {ENTRY_POINT}
    )
    c.add(
        "MISS-EXCH-OTHER",
        [
            popup(
                "MISS-EXCH-OTHER",
                t,
                "Dsamain.exe - Application Error",
                "The instruction at 0x77f8 referenced memory at 0x0000. "
                "The memory could not be read.",
            )
        ],
        set(),
    )


def noise_hosts(c: Collection, count: int, seed: int = 7) -> None:
    """Healthy hosts with ordinary errors and warnings."""
    rng = random.Random(seed)
    services = ["Spooler", "Alerter", "Messenger", "Browser", "Netlogon", "Schedule"]
    for n in range(count):
        host = f"NOISE{n:03}"
        events: list[EventSpec] = []
        for day in range(3):
            at = START + timedelta(days=day, minutes=rng.randrange(60))
            events += boot(
                host, at, rng.choice(["Uniprocessor Free", "Multiprocessor Free"]), "4.0", "1381"
            )
            for minute in range(rng.randrange(5, 30)):
                service = rng.choice(services)
                kind = rng.random()
                when = at + timedelta(minutes=minute + 1)
                if kind < 0.05:
                    events.append(scm(host, when, 7023, service, rng.choice(["%%1067", "%%2"])))
                elif kind < 0.1:
                    events.append(scm(host, when, 7000, service, "%%1069"))
                elif kind < 0.12:
                    events.append(
                        popup(
                            host,
                            when,
                            "Windows - Delayed Write Failed",
                            "Windows was unable to save all the data for the file.",
                        )
                    )
                else:
                    events.append(scm(host, when, 7036, service, "running", level=4))
            events.append(shutdown(host, at + timedelta(hours=9)))
        c.add(host, events, set())


def standard_collection(noise: int = 20) -> Collection:
    collection = Collection()
    seed_cases(collection)
    near_misses(collection)
    noise_hosts(collection, noise)
    return collection


def iter_expected(c: Collection) -> Iterator[tuple[str, str]]:
    for host, ids in sorted(c.expected.items()):
        for signature_id in sorted(ids):
            yield host, signature_id
