"""``python3 -m fuzz``: run the fuzzer, or minimize a finding.

    python3 -m fuzz run --count 1000000 --seed 1 --findings fuzz-findings
    python3 -m fuzz minimize fuzz-findings/internal-error-1-3/007-xml
    python3 -m fuzz atheris -- -runs=100000 fuzz-corpus/

See benchmarks/FUZZING.md for the overnight run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FORMATS = ("evtx", "evt", "xml", "text", "bundle")  # as fuzz.driver.FORMATS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m fuzz")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="mutation fuzzing of read_records (and scan outputs)")
    run.add_argument("--count", type=int, default=10_000)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch", type=int, default=25)
    run.add_argument("--formats", default=",".join(FORMATS))
    run.add_argument("--findings", type=Path, default=Path("fuzz-findings"))
    run.add_argument("--outputs-every", type=int, default=200, help="batches (0: never)")
    run.add_argument("--time-budget", type=float, default=10.0)
    run.add_argument("--hang-seconds", type=float, default=20.0)
    run.add_argument("--full-every", type=int, default=10, help="batches typed per file")
    run.add_argument(
        "--workers-every", type=int, default=25, help="batches read by two workers (0: never)"
    )
    run.add_argument(
        "--nightly-every", type=int, default=20, help="batches run as nightly runs (0: never)"
    )
    run.add_argument(
        "--sigma-every",
        type=int,
        default=15,
        help="batches scanned with Sigma rules, hits compared with a plain read (0: never)",
    )
    shrink = commands.add_parser("minimize", help="shrink a finding that still fails")
    shrink.add_argument("input", type=Path)
    shrink.add_argument("--output", type=Path)
    fuzz = commands.add_parser("atheris", help="coverage-guided fuzzing (pip install atheris)")
    fuzz.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    if options.command == "run":
        from fuzz.driver import Fuzzer, Settings  # imported here: atheris instruments first

        settings = Settings(
            seed=options.seed,
            batch=options.batch,
            time_budget=options.time_budget,
            hang_seconds=options.hang_seconds,
            findings=options.findings,
            formats=tuple(options.formats.split(",")),
            outputs_every=options.outputs_every,
            full_every=options.full_every,
            workers_every=options.workers_every,
            nightly_every=options.nightly_every,
            sigma_every=options.sigma_every,
        )
        started = time.monotonic()
        stats = Fuzzer(settings).run(options.count, report=lambda line: print(line, flush=True))
        print(f"done in {time.monotonic() - started:.0f} s: {stats.line()}", flush=True)
        return 1 if stats.findings else 0
    if options.command == "minimize":
        from fuzz.minimize import minimize_file

        out = minimize_file(options.input, options.output)
        print(f"minimized to {out} ({out.stat().st_size} bytes)")
        return 0
    from fuzz.coverage import run_atheris

    run_atheris([sys.argv[0], *[a for a in options.args if a != "--"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
