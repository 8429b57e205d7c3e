"""The process exit status of every command and of the nightly runner, declared once."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a run's exit status says (the same for ``scan``, ``nightly``, ``signatures``).

    ``FOUND`` is "diagnoses found" for ``scan``, "new diagnoses" for ``nightly`` and
    "problems found" for ``signatures lint|test``; an error is never ``FOUND``.
    """

    OK = 0
    FOUND = 1
    FAILURE = 2
