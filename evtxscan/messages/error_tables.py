"""Built-in error texts: Win32 error codes, NTSTATUS codes, and providers' parameter tables.

The tables are data files (``evtxscan/data/errors/``), loaded once, on first use:

- ``win32.yaml``, ``ntstatus.yaml``: curated texts in the FormatMessage wording Event Viewer
  shows (with the KB articles that quote them);
- ``win32-system.json.gz``, ``ntstatus-system.json.gz``: the whole system tables of
  [MS-ERREF], as Impacket ships them (see ``build_error_tables.py`` and ``NOTICE``); the
  curated texts win where both have a code;
- ``msobjs.yaml``: the Security auditing parameter strings (``%%1833`` = "Impersonation").

A number is only ever looked up in the table its context names: ``%%N`` in the provider's own
parameter table, a status field in the NTSTATUS table. A bare number is never guessed.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "errors"
SYSTEM_TABLES = {"win32": "win32-system.json.gz", "ntstatus": "ntstatus-system.json.gz"}
_HRESULT_FACILITY_WIN32 = 7
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


def _load(name: str) -> dict[int, str]:
    text = resources.files("evtxscan.data.errors").joinpath(f"{name}.yaml").read_text("utf-8")
    table = yaml.load(text, Loader=_LOADER) or {}
    return {int(str(code), 0): str(message).strip() for code, message in table.items()}


def _load_system(name: str) -> dict[int, str]:
    entry = resources.files("evtxscan.data.errors").joinpath(SYSTEM_TABLES[name])
    raw = json.loads(gzip.decompress(entry.read_bytes()).decode("utf-8"))
    return {int(code): str(text) for code, text in raw.items()}


@cache
def win32_errors() -> dict[int, str]:
    """Win32 error code -> system message text (the whole table, curated wording first)."""
    return {**_load_system("win32"), **_load("win32")}


@cache
def ntstatus_codes() -> dict[int, str]:
    """NTSTATUS value -> message text (the whole table, curated wording first)."""
    return {**_load_system("ntstatus"), **_load("ntstatus")}


@cache
def parameter_table(name: str) -> dict[int, str]:
    """A named parameter table (``win32``, ``msobjs``, ...)."""
    if name == "win32":
        return win32_errors()
    return _load(name)


def win32_message(code: int) -> str | None:
    """The text of a Win32 error code, or None when unknown."""
    return win32_errors().get(code)


def ntstatus_message(code: int) -> str | None:
    """The text of an NTSTATUS code, or None when unknown."""
    return ntstatus_codes().get(code & 0xFFFFFFFF)


def hresult_win32_code(value: int) -> int | None:
    """The Win32 code inside an HRESULT of facility Win32 (0x8007xxxx), else None.

    ``%%2147942414`` is 0x8007000E: HRESULT_FROM_WIN32(14). FormatMessage reads such a value
    from the system table as the Win32 code it wraps.
    """
    if value >> 31 != 1 or value > 0xFFFFFFFF:
        return None
    if (value >> 16) & 0x1FFF != _HRESULT_FACILITY_WIN32:
        return None
    return value & 0xFFFF
