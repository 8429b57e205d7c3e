"""Nightly test collections: a few hosts' logs growing night by night, copied each night into
a new dated folder (as collectors do), plus helpers to run and compare."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from evtxscan.nightly import NightlyOptions, NightlyOutcome, run_nightly
from evtxscan.synth.evtx_writer import EventSpec, write_evtx
from evtxscan.synth.scenarios import SRV_POPUP, boot, popup, scm, server_2508, shutdown

DAY0 = datetime(2000, 2, 7, tzinfo=UTC)
Q138713 = "q138713-srv-kernel-entry-point"
Q217215 = "q217215-exchange-sp2-entry-point"
GENERIC = "entry-point-not-found"
EXCH_POPUP = (
    "Dsamain.exe - Entry Point Not Found",
    "The procedure entry point ?HrRegisterProtocol@@YGJPAVPROTO@@FJJJKHPAXK@Z could not be "
    "located in the dynamic link library NETIF.dll.",
)
APP_POPUP = (
    "report.exe - Entry Point Not Found",
    "The procedure entry point DecodePointer could not be located in the dynamic link "
    "library KERNEL32.dll.",
)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def chatter(host: str, day: int, count: int = 12) -> list[EventSpec]:
    """A healthy working day: a boot, service state changes, one unrelated error."""
    events = boot(host, at(day, 8))
    for i in range(count):
        events.append(scm(host, at(day, 8, 1 + i), 7036, "Spooler", "running", level=4))
    events.append(scm(host, at(day, 9), 7000, "Alerter", "%%1069"))
    events.append(shutdown(host, at(day, 18)))
    return events


def story() -> dict[str, list[EventSpec]]:
    """Every host's System log over five days (day n is collected at the end of night n+1).

    - srv-a: Q138713 on day 0; day 1 boots with the Server service running (recovery).
    - exch: healthy day 0; Q217215 (popup + Directory 7000) on day 1.
    - app: the generic entry-point finding on day 0, then quiet days with data.
    - gone: data on day 0 only (stale from night 2).
    - cross: popup at 23:58 on day 0, Server 2508 + 7023 just after midnight (one boot).
    - noise: healthy every day.
    """
    logs: dict[str, list[EventSpec]] = {h: [] for h in ("srv-a", "exch", "app", "gone", "cross")}
    logs["noise"] = []
    for day in range(5):
        for host in ("srv-a", "exch", "app", "noise"):
            logs[host] += chatter(host, day)
    logs["srv-a"] += [
        popup("srv-a", at(0, 8, 0, 20), *SRV_POPUP),
        server_2508("srv-a", at(0, 8, 0, 30)),
        scm("srv-a", at(0, 8, 0, 31), 7023, "Server", "%%2"),
        scm("srv-a", at(1, 8, 0, 40), 7036, "Server", "running", level=4),
    ]
    logs["exch"] += [
        popup("exch", at(1, 10), *EXCH_POPUP),
        scm("exch", at(1, 10, 0, 2), 7000, "Microsoft Exchange Directory", "%%127"),
    ]
    logs["app"].append(popup("app", at(0, 11), *APP_POPUP))
    logs["gone"] += chatter("gone", 0)
    logs["cross"] += [
        *boot("cross", at(0, 23, 50)),
        popup("cross", at(0, 23, 58), *SRV_POPUP),
        server_2508("cross", at(1, 0, 2)),
        scm("cross", at(1, 0, 3), 7023, "Server", "%%2"),
        *[scm("cross", at(d, 12), 7036, "Spooler", "running", level=4) for d in (1, 2, 3, 4)],
    ]
    return {h: sorted(e, key=lambda e: e.time) for h, e in logs.items()}


def write_night(
    root: Path,
    night: int,
    logs: dict[str, list[EventSpec]] | None = None,
    records_per_chunk: int | Callable[[str], int] = 8,
) -> Path:
    """Night ``night`` (1-based): every host's log up to the end of day ``night - 1``, in a
    new dated folder ``root/<date>/<host>/System.evtx``."""
    logs = story() if logs is None else logs
    folder = root / (DAY0 + timedelta(days=night)).strftime("%Y-%m-%d")
    for host, events in logs.items():
        upto = [e for e in events if e.time < at(night)]
        size = records_per_chunk(host) if callable(records_per_chunk) else records_per_chunk
        if upto:
            write_evtx(folder / host / "System.evtx", upto, records_per_chunk=size)
    return folder


def run_at(
    paths: list[Path], state: Path, out: Path, night: int, **options: object
) -> NightlyOutcome:
    """A nightly run at 03:00 on the morning after day ``night - 1``."""
    now = datetime(2024, 3, night, 3, tzinfo=UTC)
    return run_nightly(paths, NightlyOptions(state=state, out=out, now=now, **options))  # type: ignore[arg-type]


def pairs(frame: pd.DataFrame, *columns: str) -> set[tuple[object, ...]]:
    names = ["host", "signature_id", *columns]
    return {tuple(r) for r in frame[names].itertuples(index=False)}


COMPARED = ["host", "signature_id", "occurrences", "confidence", "first_seen", "last_seen"]


def same_diagnoses(nightly: pd.DataFrame, full: pd.DataFrame) -> bool:
    key = ["host", "signature_id"]
    a = nightly[[*COMPARED, "diagnosis_id"]].sort_values(key, ignore_index=True)
    b = full[[*COMPARED, "diagnosis_id"]].sort_values(key, ignore_index=True)
    return a.equals(b)


def state_tables(state: Path) -> dict[str, list[tuple[object, ...]]]:
    """The state's contents, without run ids and the carried rows' bytes."""
    queries = {
        "watermarks": "SELECT host, channel, record_id, record_time, record_key FROM watermarks",
        "files": "SELECT sha256, path, size FROM files",
        "chunks": "SELECT fingerprint FROM chunks",
        "hosts": "SELECT * FROM hosts",
        "incidents": "SELECT * FROM incidents",
        "diagnoses": "SELECT * FROM diagnoses",
        "history": "SELECT at, kind, host, signature_id, diagnosis_id, detail FROM history",
        "runs": "SELECT at, stats FROM runs",
    }
    with sqlite3.connect(state) as db:
        return {name: sorted(db.execute(q).fetchall()) for name, q in queries.items()}


def carried(state: Path) -> pd.DataFrame:
    from evtxscan.nightly.state import rows_from_blob

    with sqlite3.connect(state) as db:
        blob = db.execute("SELECT rows FROM carry").fetchone()[0]
    return rows_from_blob(blob)
