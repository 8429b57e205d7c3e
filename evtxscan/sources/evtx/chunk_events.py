"""What a chunk parser yields: events in file order, or an error per event it cannot render.

Shared by the backends (:mod:`evtxscan.sources.evtx.backends`, ``python_backend``) and the
reader that ties events to chunk offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from evtxscan.records.schema import EventFields
from evtxscan.sources.evtx.fast_xml import FastRow

#: Stop a chunk after this many consecutive parser errors (a parser that cannot advance).
MAX_CONSECUTIVE_ERRORS = 64


@dataclass(frozen=True)
class BackendError:
    """One event the parser could not render, with its reason."""

    reason: str
    record_number: int | None = None


ChunkEvents = Iterator[tuple[int, EventFields | FastRow] | BackendError]
