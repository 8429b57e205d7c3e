"""The names of the chunk parsers (``--backend``), apart from the parsers themselves so the
command line can offer them without importing any parser."""

from __future__ import annotations

from enum import StrEnum


class Backend(StrEnum):
    """Which parser renders the events."""

    RUST = "rust"
    PYTHON = "python"
