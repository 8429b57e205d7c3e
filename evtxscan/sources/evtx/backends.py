"""Event parsers for one chunk image: pyevtx-rs (``rust``, default) and python-evtx (``python``).

A backend takes the bytes of a small EVTX image (a valid file header plus chunks, built by
:mod:`evtxscan.sources.evtx.layout`) and yields, in file order, ``(header record number,
EventFields)`` for each event it can render, or a :class:`BackendError` for each one it
cannot. It never raises for bad data; the caller ties records to chunk offsets.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from evtxscan.records.event_xml import fields_from_xml
from evtxscan.sources.evtx.backend_kind import Backend
from evtxscan.sources.evtx.chunk_events import MAX_CONSECUTIVE_ERRORS, BackendError, ChunkEvents
from evtxscan.sources.evtx.fast_xml import fast_row
from evtxscan.sources.evtx.native_bound import address_space_bound


def describe_panic(exc: BaseException) -> str:
    """A panic's first line, briefly (an allocation failure names its size)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def rust_events(image: bytes) -> ChunkEvents:
    """pyevtx-rs: XML text per record, read by the fast path (reference normalizer as fallback).

    pyevtx-rs raises ``RuntimeError`` for a bad record and can resume, so ``next()`` is
    called by hand instead of a ``for`` loop, which would stop at the first error.
    """
    from evtx import PyEvtxParser

    try:
        records = PyEvtxParser(io.BytesIO(image), number_of_threads=1).records()
    except (OSError, RuntimeError, ValueError) as exc:
        yield BackendError(f"pyevtx-rs could not open the chunk: {exc}")
        return
    failures = 0
    while failures < MAX_CONSECUTIVE_ERRORS:
        try:
            with address_space_bound():
                record: Any = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as exc:
            failures += 1
            yield BackendError(f"pyevtx-rs: {exc}")
            continue
        except BaseException as exc:  # a panic (pyo3's PanicException), e.g. out of memory
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            yield BackendError(f"pyevtx-rs gave up on the chunk: {describe_panic(exc)}")
            return
        failures = 0
        xml: str = record["data"]
        row = fast_row(xml)
        if row is not None:
            yield record["event_record_id"], row
            continue
        try:
            fields = fields_from_xml(xml)
        except Exception as exc:  # lxml refused even in recovery mode
            yield BackendError(f"unreadable event XML: {exc}", record["event_record_id"])
            continue
        yield record["event_record_id"], fields
    yield BackendError(f"gave up on the chunk after {MAX_CONSECUTIVE_ERRORS} consecutive errors")


def python_events(image: bytes) -> ChunkEvents:
    """python-evtx, rendered to canonical XML and normalized by the reference path."""
    from evtxscan.sources.evtx.python_backend import python_chunk_events

    return python_chunk_events(image)


def backend_function(backend: Backend | str) -> Callable[[bytes], ChunkEvents]:
    """The chunk parser for a backend name."""
    return python_events if Backend(backend) is Backend.PYTHON else rust_events


__all__ = ["Backend", "backend_function", "python_events", "rust_events"]
