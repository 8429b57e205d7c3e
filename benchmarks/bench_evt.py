"""Legacy .evt logs (NT 3.51 to Server 2003): evtxscan against a bare libevt read, side by side.

The KB cases evtxscan starts from are NT-era, and their logs are .evt files. There is no
pyevtx-rs for .evt, so the reference is libevt's Python binding (``pyevt``, the test
oracle) reading every record and every field a scan uses (source, computer, SID, strings,
data, times as integers: its datetime conversion fails on some), one process, on the same
files. The collection is synthetic (written once
into ``--dir`` by ``evtxscan.synth``): per host a System, Application and Security log of
a realistic mix (service changes with inserts, audits with SIDs, binary data), 512 KiB-class
logs as NT wrote them by default, some wrapped.

Modes, rotated run by run (median of ``--runs``): ``bare`` (pyevt), ``read`` (``evtxscan
dump --format parquet``: every record typed), ``scan`` (``evtxscan scan``, defaults) and
``scan-j1``. Run by hand, never from the test suite:

    python3 benchmarks/bench_evt.py --hosts 60 --runs 3
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_collection import compile_bytecode, run_once

from evtxscan.synth import EvtEventSpec, write_evt

_BARE = r"""
import os, sys, pyevt
n = 0
for root, dirs, names in os.walk(sys.argv[1]):
    for name in sorted(names):
        log = pyevt.file()
        log.open(os.path.join(root, name))
        for records in (log.records, log.recovered_records):
            for r in records:
                fields = (r.identifier, r.event_identifier, r.event_type, r.event_category,
                          r.source_name, r.computer_name, r.user_security_identifier,
                          r.get_creation_time_as_integer(), r.get_written_time_as_integer(),
                          list(r.strings))
                try:
                    data = r.data
                except OSError:
                    data = b""
                n += 1
        log.close()
print(n, "records")
"""
_SIDS = ["S-1-5-18", "S-1-5-19", "S-1-5-21-1004336348-1177238915-682003330-500"]
_SERVICES = ["Spooler", "Browser", "Netlogon", "Messenger", "Alerter", "Schedule", "W3SVC"]


def _system(rng: random.Random, when: datetime, host: str) -> EvtEventSpec:
    kind = rng.random()
    if kind < 0.5:
        service = rng.choice(_SERVICES)
        state = rng.choice(["running", "stopped"])
        return EvtEventSpec("Service Control Manager", 7036, when, qualifiers=0x4000,
                            computer=host, strings=(service, state))  # fmt: skip
    if kind < 0.7:
        return EvtEventSpec("EventLog", rng.choice([6005, 6006, 6009]), when, qualifiers=0x8000,
                            computer=host, strings=("5.00.", "2195", "Service Pack 4"),
                            data=bytes(rng.randrange(256) for _ in range(16)))  # fmt: skip
    if kind < 0.9:
        return EvtEventSpec("Srv", 2013, when, qualifiers=0x8000, event_type=2, computer=host,
                            strings=("\\Device\\Harddisk0\\Partition1",),
                            data=bytes(28))  # fmt: skip
    missing = ("Server", "The system cannot find the file specified.")
    return EvtEventSpec("Service Control Manager", 7023, when, qualifiers=0xC000,
                        event_type=1, computer=host, strings=missing)  # fmt: skip


def _security(rng: random.Random, when: datetime, host: str) -> EvtEventSpec:
    user = rng.choice(["Administrator", "svc_backup", "jdoe", "SYSTEM"])
    failure = rng.random() < 0.1
    return EvtEventSpec(
        "Security", 529 if failure else rng.choice([528, 538, 540, 576]), when,
        event_type=16 if failure else 8, category=2, computer=host, sid=rng.choice(_SIDS),
        strings=(user, "CORP", "(0x0,0x3E7)", "2", "User32  ", "Negotiate", host),
    )  # fmt: skip


def _application(rng: random.Random, when: datetime, host: str) -> EvtEventSpec:
    source = rng.choice(["MSExchangeIS", "Userenv", "Winlogon", "MSSQLServer", "Perflib"])
    return EvtEventSpec(
        source, rng.randrange(1000, 9000), when, qualifiers=rng.choice([0, 0x4000, 0xC000]),
        event_type=rng.choice([1, 2, 4, 4, 4]), computer=host,
        strings=tuple(f"value {rng.randrange(10**6)}" for _ in range(rng.randrange(4))),
        data=bytes(rng.randrange(256) for _ in range(rng.choice([0, 0, 8, 40]))),
    )  # fmt: skip


def build(directory: Path, hosts: int) -> Path:
    """The collection (written once): a System, Application and Security log per host."""
    target = directory / f"evt-{hosts}"
    if target.is_dir():
        return target
    partial = directory / f"evt-{hosts}.part"
    rng = random.Random(1996)
    logs = {"SysEvent.Evt": _system, "AppEvent.Evt": _application, "SecEvent.Evt": _security}
    for number in range(hosts):
        host = f"NT{number:03d}"
        for name, make in logs.items():
            count = rng.randrange(1500, 4500)
            start = datetime(1999, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(900))
            events = [make(rng, start + timedelta(minutes=7 * i), host) for i in range(count)]
            wrap = rng.random() < 0.3  # a full log, written round its 512 KiB buffer
            size = 512 * 1024 if wrap else None
            write_evt(partial / host / name, events, max_size=size, wrap=wrap)
    partial.rename(target)
    return target


def command(mode: str, path: Path, out: Path) -> list[str]:
    python = sys.executable
    if mode == "bare":
        return [python, "-c", _BARE, str(path)]
    if mode == "read":
        return [python, "-m", "evtxscan", "dump", str(path), "--format", "parquet", "-q",
                "-o", str(out / "records.parquet")]  # fmt: skip
    extra = ["--jobs", "1"] if mode == "scan-j1" else []
    return [python, "-m", "evtxscan", "scan", str(path), "--out", str(out / mode), "-q",
            "--fail-on", "never", *extra]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="bare,read,scan,scan-j1")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-evt")
    args = parser.parse_args()
    collection = build(args.dir, args.hosts)
    size = sum(p.stat().st_size for p in collection.rglob("*")) / 2**20
    compile_bytecode()
    out = Path(tempfile.mkdtemp(prefix="evtxscan-bench-evt-"))
    modes = args.modes.split(",")
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    load_before = os.getloadavg()
    try:
        for _ in range(args.runs):
            for mode in modes:  # rotated: each round runs every mode once
                samples[mode].append(run_once(command(mode, collection, out)))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"{collection} ({args.hosts * 3} logs, {size:.0f} MiB): {args.runs} runs per mode, "
          f"rotated; load {load_before[0]:.2f} -> {load_after[0]:.2f} (1 min)")  # fmt: skip
    print("| mode | median wall s | median CPU s | peak RSS MiB | x bare (wall) |")
    print("|---|---:|---:|---:|---:|")
    bare = statistics.median(r["wall"] for r in samples["bare"]) if "bare" in samples else None
    for mode, runs in samples.items():
        row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        ratio = f"{bare / row['wall']:.2f}" if bare else "-"
        print(f"| {mode} | {row['wall']:.2f} | {row['cpu']:.2f} | {row['rss_mib']:.0f} | "
              f"{ratio} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
