"""A collection of distinct machines whose names differ in length, to measure what their
templates cost (each machine's logs carry their own version of every template, and a name
of another length moves every byte after it; ``make_machines.py`` keeps the lengths).

Writes ``--hosts`` System logs (``evtxscan.synth``: the mix of ``bench_fixed_costs``) into
DEST, one folder per host, each named by a prefix and a random suffix (4 to 19
characters)::

    python3 benchmarks/make_named_hosts.py /tmp/named-hosts --hosts 400 --records 400
    python3 benchmarks/bench_collection.py /tmp/named-hosts --modes bare,index,scan-j1
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fixed_costs import host_events

from evtxscan.synth import write_evtx

PREFIXES = ("WS", "PC-", "DESKTOP-", "SRV-SQL-", "LAPTOP-EU-")
SUFFIX = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for host in range(args.hosts):
        prefix = rng.choice(PREFIXES)
        name = prefix + "".join(rng.choice(SUFFIX) for _ in range(rng.randint(2, 9)))
        events = [replace(event, computer=name) for event in host_events(host, args.records)]
        write_evtx(args.dest / f"h{host:03d}" / "System.evtx", events)
    print(f"{args.hosts} hosts written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
