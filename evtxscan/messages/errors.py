"""Built-in error texts: Win32 error codes, NTSTATUS codes, and providers' parameter tables.

The tables are data files (``evtxscan/data/errors/*.yaml``), loaded once. A number is only
ever looked up in the table its context names: ``%%N`` in the provider's own parameter
table (Win32 text for the Service Control Manager, but ``%%1833`` in a Security event means
"Impersonation"), a status field in the NTSTATUS table. A bare number is never guessed.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


def _load(name: str) -> dict[int, str]:
    text = resources.files("evtxscan.data.errors").joinpath(f"{name}.yaml").read_text("utf-8")
    table = yaml.safe_load(text) or {}
    return {int(str(code), 0): str(message).strip() for code, message in table.items()}


@cache
def win32_errors() -> dict[int, str]:
    """Win32 error code -> system message text."""
    return _load("win32")


@cache
def ntstatus_codes() -> dict[int, str]:
    """NTSTATUS value -> message text."""
    return _load("ntstatus")


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
