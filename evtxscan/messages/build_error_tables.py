"""Rebuild the shipped system error tables (Win32 and NTSTATUS) from Impacket's MS-ERREF data.

Impacket (PyPI ``impacket``, modified Apache 1.1 licence) carries the code/name/text lists of
Microsoft's [MS-ERREF] as Python dictionaries (``impacket/system_errors.py``,
``impacket/nt_errors.py``). They are read here as data (parsed, never imported) and written
as gzip'd JSON next to our curated tables, which win where both have a code (the curated
texts are the FormatMessage wording Event Viewer shows, where MS-ERREF sometimes differs).

Run: ``pip download --no-deps -d /tmp/imp impacket`` then
``python -m evtxscan.messages.build_error_tables /tmp/imp/impacket-*.whl``.
"""

from __future__ import annotations

import ast
import gzip
import json
import sys
import zipfile
from pathlib import Path

from evtxscan.messages.error_tables import DATA_DIR, SYSTEM_TABLES

_MEMBERS = {"win32": "impacket/system_errors.py", "ntstatus": "impacket/nt_errors.py"}


def read_messages(source: str) -> dict[int, str]:
    """The ``ERROR_MESSAGES`` literal of an Impacket module's source: code -> message text."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ERROR_MESSAGES" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
            # A code without text carries its symbolic name as text: not a message, left out.
            return {
                int(code): str(text).strip()
                for code, (name, text) in table.items()
                if str(text).strip() and str(text).strip() != name
            }
    raise ValueError("no ERROR_MESSAGES table in the source")


def write_table(table: dict[int, str], path: Path) -> None:
    """Deterministic gzip'd JSON (sorted keys, no timestamp), so rebuilds are byte-identical."""
    text = json.dumps({str(k): table[k] for k in sorted(table)}, ensure_ascii=False, indent=0)
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def build(wheel: Path, out_dir: Path = DATA_DIR) -> dict[str, int]:
    """Write every table from an Impacket wheel; returns the number of codes per table."""
    counts = {}
    with zipfile.ZipFile(wheel) as archive:
        for name, member in _MEMBERS.items():
            table = read_messages(archive.read(member).decode("utf-8"))
            write_table(table, out_dir / SYSTEM_TABLES[name])
            counts[name] = len(table)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m evtxscan.messages.build_error_tables IMPACKET_WHEEL")
        return 2
    for name, count in build(Path(args[0])).items():
        print(f"{name}: {count} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
