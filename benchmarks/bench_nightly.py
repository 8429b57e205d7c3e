"""Nightly incremental runs against full scans: unchanged collection, and 1% new records.

Targets (issue 10): a nightly re-run over an unchanged collection takes at most 2% of a
full scan's time (``evtxscan scan`` = ``scan()`` + ``write_report()``); after 1% new
records, at most 5%. The collection is synthetic (``evtxscan.synth`` writer: a realistic
System-log mix, a few KB incidents), written once into ``--dir`` and reused. Three nightly cases:

- ``unchanged``: the same files again (skipped by SHA-256);
- ``+1% copy``: every log grew by 1%, copied into a new dated folder (old chunks are
  byte-identical: skipped by chunk fingerprint);
- ``+1% re-exported``: the same, but every chunk re-packed (as an export tool may do): no
  old chunk is byte-identical, only the (host, channel) watermarks can skip them.

Everything runs in this process after the imports; each nightly case starts from a copy of
the state the first nightly run left. A last row gives the floor of a night over logs at new
paths: reading and hashing every log in one thread (``hashing_floor``), which such a night
cannot skip however little is new. Run by hand, never from the test suite:

    python3 benchmarks/bench_nightly.py                      # 12 hosts x 40,000 records
    python3 benchmarks/bench_nightly.py --hosts 16 --per-host 15000 --runs 5
    python3 benchmarks/bench_nightly.py --collection /path/to/coll200d   # unchanged, grown

``--collection`` measures a real collection instead: full scan, first nightly run, nightly
over it unchanged, and two grown nights (each night before reads a copy written once into
``--dir``):

- ``grown by a chunk slot``: each log of two chunks or more cut by its last chunk slot, so
  each such log grows by that slot overnight. In coll200d that slot holds pre-allocated
  zeros for 358 of 391 logs (their records do not change: only the file does), and half
  a chunk cut mid-record for the others;
- ``+1%, newest chunks``: logs of two chunks or more have their newest chunk of records
  zeroed (the size unchanged), so overnight that chunk is new, as when Windows has logged a
  chunk more; one in five of the distinct newest chunks, zeroed in every log that holds it
  (a chunk read before is skipped wherever it is): about 1% of coll200d's records. A log's
  other chunks stay byte-identical, its header too, which an export would change (the
  planner reads neither).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evtxscan.nightly import NightlyOptions, run_nightly
from evtxscan.outputs.report_dir import write_report
from evtxscan.scanning import scan
from evtxscan.synth.evtx_writer import EventSpec, write_evtx
from evtxscan.synth.scenarios import SRV_POPUP, boot, popup, scm, server_2508, shutdown

START = datetime(2021, 3, 1, tzinfo=UTC)
INFO = [
    ("Microsoft-Windows-Time-Service", 37),
    ("Microsoft-Windows-Kernel-Power", 105),
    ("Tcpip", 4201),
    ("Microsoft-Windows-GroupPolicy", 1500),
    ("Microsoft-Windows-DNS-Client", 1014),
    ("Microsoft-Windows-Winlogon", 7001),
]
SERVICES = ["Spooler", "BITS", "wuauserv", "Browser", "Netlogon", "Schedule", "W32Time"]


def host_events(host: str, count: int, rng: random.Random) -> list[EventSpec]:
    """About ``count`` events over days: 70% info noise, 20% service changes, 8% errors and
    warnings, boots, and on some hosts the Q138713 incident."""
    events: list[EventSpec] = []
    when = START
    day = -1
    while len(events) < count:
        when += timedelta(seconds=rng.randrange(5, 90))
        if when.day != day:
            day = when.day
            events += boot(host, when, "Uniprocessor Free", "3.51", "1057")
            if rng.random() < 0.1:
                events += [
                    popup(host, when + timedelta(seconds=20), *SRV_POPUP),
                    server_2508(host, when + timedelta(seconds=30)),
                    scm(host, when + timedelta(seconds=31), 7023, "Server", "%%2"),
                ]
            when += timedelta(minutes=1)
            continue
        roll = rng.random()
        if roll < 0.70:
            provider, event_id = rng.choice(INFO)
            events.append(
                EventSpec(provider, event_id, when, host, data=(("Value", str(rng.random())),))
            )
        elif roll < 0.90:
            events.append(scm(host, when, 7036, rng.choice(SERVICES), "running", level=4))
        elif roll < 0.98:
            service = rng.choice(SERVICES)
            events.append(scm(host, when, 7000, service, "%%1069", level=rng.choice([2, 3])))
        else:
            events.append(shutdown(host, when))
    return sorted(events, key=lambda e: e.time)


def build(directory: Path, hosts: int, per_host: int) -> dict[str, Path]:
    """Write (or reuse) the three folders: base, grown by 1%, grown and re-packed."""
    folders = {name: directory / name for name in ("base", "grown", "repacked")}
    manifest = directory / "manifest.json"
    wanted = {"hosts": hosts, "per_host": per_host}
    if manifest.is_file() and json.loads(manifest.read_text()) == wanted:
        return folders
    shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    for index in range(hosts):
        name = f"SRV{index:03d}"
        events = host_events(name, per_host + per_host // 100, random.Random(index))
        base = events[:per_host]
        write_evtx(folders["base"] / name / "System.evtx", base)
        write_evtx(folders["grown"] / name / "System.evtx", events)
        write_evtx(folders["repacked"] / name / "System.evtx", events, records_per_chunk=97)
    manifest.write_text(json.dumps(wanted))
    print(f"wrote the collection in {time.perf_counter() - started:.0f} s")
    return folders


def timed(action: Callable[[], object], runs: int, before: Callable[[], None]) -> float:
    """Median wall seconds of ``runs`` runs (``before`` is untimed setup for each)."""
    seconds = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def hashing_floor(folder: Path, runs: int) -> float:
    """Median seconds to read and SHA-256 every log in ``folder``: what a night over logs at
    new paths cannot avoid (each file's integrity row carries its hash, and only a hash
    tells a log seen before from a new one), however little of it is new."""

    def hash_all() -> None:
        for path in sorted(folder.rglob("*.evtx")):
            with path.open("rb") as handle:
                digest = hashlib.sha256()
                while block := handle.read(1 << 20):
                    digest.update(block)

    return timed(hash_all, runs, lambda: None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=12)
    parser.add_argument(
        "--per-host",
        type=int,
        default=40_000,
        help="records per host log (40,000: about 10 MB; Windows' default maximum is 20 MB)",
    )
    parser.add_argument("--runs", type=int, default=3, help="median of this many runs")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-nightly")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument(
        "--collection", type=Path, help="a real collection: unchanged and grown by a chunk per log"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="evtxscan-nightly-"))
    try:
        if args.collection:
            numbers = measure_unchanged(args.collection, work, args.runs, args.dir)
        else:
            numbers = measure(build(args.dir, args.hosts, args.per_host), work, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2))


def measure(folders: dict[str, Path], work: Path, runs: int) -> dict[str, float]:
    def fresh_out() -> None:
        shutil.rmtree(work / "out", ignore_errors=True)

    def full(name: str) -> Callable[[], object]:
        return lambda: write_report(scan(folders[name]), work / "out")

    snapshot, state = work / "after-base.db", work / "state.db"

    def nightly(name: str, night: int) -> Callable[[], object]:
        now = datetime(2024, 3, night, 3, tzinfo=UTC)
        options = NightlyOptions(state=state, out=work / "out", now=now)
        return lambda: run_nightly([folders[name]], options)

    def from_snapshot() -> None:
        fresh_out()
        shutil.copy(snapshot, state)

    numbers = {
        "full scan (base)": timed(full("base"), runs, fresh_out),
        "full scan (grown)": timed(full("grown"), runs, fresh_out),
    }
    fresh_out()
    started = time.perf_counter()
    first = run_nightly([folders["base"]], NightlyOptions(state=state, out=work / "out"))
    numbers["nightly, first run (empty state)"] = time.perf_counter() - started
    shutil.copy(state, snapshot)
    numbers["nightly, unchanged"] = timed(nightly("base", 2), runs, from_snapshot)
    numbers["nightly, +1% copy"] = timed(nightly("grown", 2), runs, from_snapshot)
    numbers["nightly, +1% re-exported"] = timed(nightly("repacked", 2), runs, from_snapshot)
    floor = hashing_floor(folders["grown"], runs)
    records = first.stats.records_decoded
    print(f"\n{len(first.result.hosts)} hosts, {records:,} records in the base collection")
    print("\n| run | seconds | share of a full scan | target |")
    print("|---|---:|---:|---|")
    targets = {"unchanged": ("base", 0.02), "+1% copy": ("grown", 0.05)}
    targets["+1% re-exported"] = ("grown", 0.05)
    for name, seconds in numbers.items():
        line = f"| {name} | {seconds:.2f} |"
        for key, (base, limit) in targets.items():
            if name.endswith(key):
                share = seconds / numbers[f"full scan ({base})"]
                verdict = "met" if share <= limit else "MISSED"
                line += f" {share:.1%} | <= {limit:.0%}: {verdict} |"
                break
        else:
            line += " | |"
        print(line)
    share = floor / numbers["full scan (grown)"]
    print(f"| floor, a +1% night at new paths: hashing every log | {floor:.2f} | {share:.1%} | |")
    numbers["floor: SHA-256 of every grown log"] = floor
    return numbers


def _copied_once(
    collection: Path, directory: Path, name: str, change: Callable[[Path], None]
) -> Path:
    """``collection`` copied into ``directory / name`` and changed there by ``change``, once
    (a later run reuses the copy)."""
    earlier = directory / name
    if earlier.is_dir():
        return earlier
    partial = directory / f"{name}.part"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(collection, partial)
    change(partial)
    partial.rename(earlier)
    return earlier


def earlier_copy(collection: Path, directory: Path) -> Path:
    """The collection as it was a day earlier: every log of two chunks or more without its
    last chunk slot, so the next night finds each grown by what that slot holds (new
    records, or pre-allocated zeros for logs that did not)."""

    def cut(copy: Path) -> None:
        for path in copy.rglob("*.evtx"):
            size = path.stat().st_size
            if size >= 4096 + 2 * 65536:
                os.truncate(path, size - 65536)

    return _copied_once(collection, directory, f"{collection.name}-earlier", cut)


def earlier_by_newest_chunk(collection: Path, directory: Path, every: int = 5) -> Path:
    """The collection as it was a day earlier: one in ``every`` of the distinct newest
    chunks of its logs of two chunks or more zeroed, in every log whose newest it is."""

    def zero(copy: Path) -> None:
        newest: dict[Path, tuple[int, bytes]] = {}  # log: its newest chunk (offset, SHA-256)
        for path in sorted(copy.rglob("*.evtx")):
            data = path.read_bytes()
            heads = [  # (last record number, offset) of each chunk
                (struct.unpack_from("<Q", data, offset + 16)[0], offset)
                for offset in range(4096, len(data) - 511, 65536)
                if data[offset : offset + 8] == b"ElfChnk\x00"
            ]
            if len(heads) >= 2:
                at = max(heads)[1]
                newest[path] = (at, hashlib.sha256(data[at : at + 65536]).digest())
        # A chunk read before is skipped wherever it is, and coll200d's hosts share copies of
        # 16 sample logs: a newest chunk grows in every log holding it, or in none.
        chosen = sorted({digest for _, digest in newest.values()})[::every]
        for path, (at, digest) in newest.items():
            if digest in chosen:
                data = bytearray(path.read_bytes())
                data[at : at + 65536] = bytes(len(data[at : at + 65536]))
                path.write_bytes(data)

    return _copied_once(collection, directory, f"{collection.name}-earlier-newest-{every}", zero)


def measure_unchanged(collection: Path, work: Path, runs: int, directory: Path) -> dict[str, float]:
    """Full scans against nightly runs over the same, unchanged, real collection, and over
    it grown by a chunk slot per log since the night before."""
    state, snapshot = work / "state.db", work / "after-first.db"

    def fresh_out() -> None:
        shutil.rmtree(work / "out", ignore_errors=True)

    def from_snapshot() -> None:
        fresh_out()
        shutil.copy(snapshot, state)

    full = timed(lambda: write_report(scan(collection), work / "out"), runs, fresh_out)
    fresh_out()
    started = time.perf_counter()
    run_nightly([collection], NightlyOptions(state=state, out=work / "out"))
    first = time.perf_counter() - started
    shutil.copy(state, snapshot)
    now = datetime.now(UTC) + timedelta(days=1)
    options = NightlyOptions(state=state, out=work / "out", now=now)
    unchanged = timed(lambda: run_nightly([collection], options), runs, from_snapshot)

    def after(earlier: Path) -> float:
        """Tonight's run over the collection after a night over ``earlier``."""
        state.unlink()
        fresh_out()
        run_nightly([earlier], NightlyOptions(state=state, out=work / "out"))
        shutil.copy(state, snapshot)
        return timed(lambda: run_nightly([collection], options), runs, from_snapshot)

    grown = after(earlier_copy(collection, directory))
    added = after(earlier_by_newest_chunk(collection, directory))
    floor = hashing_floor(collection, runs)
    print(f"\n{collection}: median of {runs}")
    print("\n| run | seconds | share of a full scan | target |")
    print("|---|---:|---:|---|")
    print(f"| full scan | {full:.2f} | | |")
    print(f"| nightly, first run (empty state) | {first:.2f} | {first / full:.0%} | |")
    rows = (
        ("unchanged", unchanged, 0.02),
        ("grown by a chunk slot per log", grown, 0.05),
        ("+1%, newest chunks", added, 0.05),
    )
    for name, seconds, limit in rows:
        share = seconds / full
        verdict = "met" if share <= limit else "MISSED"
        print(f"| nightly, {name} | {seconds:.2f} | {share:.1%} | <= {limit:.0%}: {verdict} |")
    share = floor / full
    print(f"| floor, a night at new paths: hashing every log | {floor:.2f} | {share:.1%} | |")
    return {
        "floor: SHA-256 of every log": floor,
        "full scan": full,
        "nightly, first run": first,
        "nightly, unchanged": unchanged,
        "nightly, grown by a chunk per log": grown,
        "nightly, +1% newest chunks": added,
    }


if __name__ == "__main__":
    main()
