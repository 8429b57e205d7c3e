"""Snapshot a scan's result tables, or compare a scan with a snapshot taken earlier.

Refactors of the reading path must not change results (issue 10): take a snapshot on the
old code, then compare on the new one. Tables are written as CSV in a canonical order, so a
diff shows what changed::

    python3 benchmarks/snapshot_results.py ../shared/samples --write /tmp/before
    python3 benchmarks/snapshot_results.py ../shared/samples --compare /tmp/before
    python3 benchmarks/snapshot_results.py ../shared/samples --compare /tmp/before --skip integrity
    python3 benchmarks/snapshot_results.py ../shared/samples --compare /tmp/before \
        --timeline symptoms --old-columns   # the timeline as before, new hosts columns aside

Exit status 0 when every compared table is equal, 1 otherwise (the differing tables are named).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

TABLES = ("diagnoses", "timeline", "hosts", "integrity", "daily")
#: Columns written per table (None: all); the timeline's ``data`` is written as JSON text.
TIMELINE_COLUMNS = [
    "host",
    "time",
    "channel",
    "provider",
    "event_id",
    "level",
    "event_record_id",
    "record_number",
    "source_file",
    "offset",
    "recovered",
    "data",
    "message",
    "binary_status",
    "signatures",
]


def _canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    if name == "timeline":
        frame = frame[[c for c in TIMELINE_COLUMNS if c in frame.columns]]
        frame["data"] = frame["data"].map(
            lambda items: (
                "|".join(f"{i['name']}={i['value']}" for i in items) if items is not None else ""
            )
        )
        frame["signatures"] = frame["signatures"].map(lambda s: ",".join(sorted(s)))
    if name == "diagnoses":  # typed evidence keys, compared in their CSV (JSON) form
        from evtxscan.outputs.tables import csv_cells

        frame["evidence"] = csv_cells(frame[["evidence"]])["evidence"]
    for column in frame.columns:
        frame[column] = frame[column].astype(str)
    return frame.sort_values(list(frame.columns), ignore_index=True)


def snapshot(paths: list[str], workers: int, timeline: str | None) -> dict[str, pd.DataFrame]:
    import evtxscan

    options = {"timeline": timeline} if timeline else {}
    result = evtxscan.scan(paths, workers=workers, **options)
    return {name: _canonical(name, getattr(result, name)) for name in TABLES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="write a snapshot to this directory")
    action.add_argument("--compare", type=Path, help="compare with the snapshot here")
    parser.add_argument("--skip", nargs="*", default=[], choices=TABLES, help="tables to skip")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeline", help="scan(timeline=...): notable, symptoms or all")
    parser.add_argument(
        "--old-columns",
        action="store_true",
        help="compare only the columns the snapshot has (for a change that adds columns)",
    )
    args = parser.parse_args()
    tables = snapshot(args.paths, args.workers, args.timeline)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            frame.to_csv(args.write / f"{name}.csv", index=False)
        print(", ".join(f"{n}: {len(f)} rows" for n, f in tables.items()))
        return 0
    differ = []
    for name, frame in tables.items():
        if name in args.skip:
            continue
        before = pd.read_csv(args.compare / f"{name}.csv", dtype=str, keep_default_na=False)
        now = frame.fillna("").astype(str)
        if args.old_columns:
            now = now[[c for c in before.columns if c in now.columns]]
        now = pd.read_csv(
            __import__("io").StringIO(now.to_csv(index=False)), dtype=str, keep_default_na=False
        )
        if not before.equals(now):
            differ.append(f"{name} ({len(before)} rows before, {len(now)} now)")
    print("equal" if not differ else "differ: " + "; ".join(differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
