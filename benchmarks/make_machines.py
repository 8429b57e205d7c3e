"""Copies of one real log as if collected from distinct machines, to measure what the
benchmark collection hides.

Windows writes a machine's name literally into every template definition of its logs, so
the logs of 200 real machines carry 200 versions of each template, where the copies of
``../shared/bench-tools/make_distinct.py`` share one. This script writes ``--copies``
copies of a real log into DEST: with ``--same-name`` each copy differs from the others only
by a serial written in the file header's padding (as make_distinct does); without it, every
UTF-16 occurrence of the log's computer name is replaced by a name of the same length,
one per copy, and the chunks' checksums are recomputed where they were right::

    python3 benchmarks/make_machines.py ../shared/samples/anotherc0ne-EventLog/System.evtx \\
        /tmp/machines-named --copies 60
    python3 benchmarks/make_machines.py ../shared/samples/anotherc0ne-EventLog/System.evtx \\
        /tmp/machines-same --copies 60 --same-name
    python3 benchmarks/bench_collection.py /tmp/machines-named --modes bare,index,scan-j1
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

from evtxscan.sources.evtx.layout import CHUNK_MAGIC, CHUNK_SIZE, FILE_HEADER_SIZE, crc_kept

SERIAL_AT = 2000  # zero padding of the file header, outside every field and its CRC


def computer_names(path: Path) -> list[str]:
    """Every Computer the log's records show (read with pyevtx-rs; a machine renamed in
    its life shows more than one)."""
    from evtx import PyEvtxParser

    names: set[str] = set()
    for record in PyEvtxParser(str(path)).records_json():
        if record is None:
            continue
        event: dict[str, dict[str, dict[str, object]]] = json.loads(str(record["data"]))
        names.add(str(event["Event"]["System"]["Computer"]))
    if not names:
        raise SystemExit(f"{path}: no records")
    return sorted(names)


def renamed(data: bytes, names: dict[str, str]) -> bytes:
    """``data`` with each UTF-16 name replaced by its new name (of the same length) and each
    chunk's records and header CRC32 recomputed where the original's were right."""
    changed = data
    for old, new in sorted(names.items(), key=lambda pair: -len(pair[0])):  # longest first
        if len(old) != len(new):
            raise ValueError("names must keep their length")
        changed = changed.replace(old.encode("utf-16-le"), new.encode("utf-16-le"))
    return _checksums_kept(data, bytearray(changed))


def _checksums_kept(data: bytes, changed: bytearray) -> bytes:
    """``changed`` (``data`` with names replaced) with each chunk's CRCs made right again
    where the original's were right."""
    out = bytearray(changed)
    for start in range(FILE_HEADER_SIZE, len(data) - CHUNK_SIZE + 1, CHUNK_SIZE):
        original, chunk = data[start : start + CHUNK_SIZE], changed[start : start + CHUNK_SIZE]
        if original[:8] == CHUNK_MAGIC and original != chunk:
            out[start : start + CHUNK_SIZE] = crc_kept(original, bytearray(chunk))
    return bytes(out)


def _name(name: str, copy: int) -> str:
    """A name of the same length for copy number ``copy`` (its first letter kept)."""
    digits = f"{copy:04d}"
    return (name[0] + "M" + digits + name)[: len(name)] if len(name) >= 6 else name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="a real .evtx log with several chunks")
    parser.add_argument("dest", type=Path, help="a new directory for the copies")
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--same-name", action="store_true", help="keep the computer name")
    args = parser.parse_args()
    data = args.log.read_bytes()
    names = computer_names(args.log)
    args.dest.mkdir(parents=True, exist_ok=False)
    for copy in range(args.copies):
        if args.same_name:
            image = bytearray(data)
            struct.pack_into("<I", image, SERIAL_AT, 0x5EED0000 + copy)
            out = bytes(image)
        else:
            out = renamed(data, {name: _name(name, copy) for name in names})
        (args.dest / f"m{copy:03d}.evtx").write_bytes(out)
    kind = "one name" if args.same_name else "a name each"
    print(f"{args.copies} copies of {args.log} ({', '.join(names)}: {kind}) in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
