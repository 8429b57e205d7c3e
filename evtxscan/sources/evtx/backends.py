"""Event parsers for one chunk image: pyevtx-rs (``rust``, default) and python-evtx (``python``).

A backend takes the bytes of a small EVTX image (a valid file header plus chunks, built by
:mod:`evtxscan.sources.evtx.layout`) and yields, in file order, ``(header record number,
EventFields)`` for each event it can render, or a :class:`BackendError` for each one it
cannot. It never raises for bad data; the caller ties records to chunk offsets.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

from evtxscan.records.event_xml import fields_from_xml
from evtxscan.sources.evtx.backend_kind import Backend
from evtxscan.sources.evtx.chunk_events import MAX_CONSECUTIVE_ERRORS, BackendError, ChunkEvents
from evtxscan.sources.evtx.fast_xml import fast_row
from evtxscan.sources.evtx.isolated import RawItem, can_isolate, render_isolated
from evtxscan.sources.evtx.native_bound import address_space_bound


def describe_panic(exc: BaseException) -> str:
    """A panic's first line, briefly (an allocation failure names its size)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def rust_events(image: bytes) -> ChunkEvents:
    """pyevtx-rs: XML text per record, read by the fast path (reference normalizer as fallback).

    pyevtx-rs runs in a child process where the platform can fork
    (:mod:`evtxscan.sources.evtx.isolated`: a crash of the native code costs the chunk's
    remaining records, not the scan), else in this process under the address-space bound.
    """
    raw = render_isolated(image, raw_events) if can_isolate() else raw_events(image)
    for kind, number, xml in raw:
        if kind == "stop":
            yield BackendError(xml)
            return
        if kind == "error":
            yield BackendError(xml)
            continue
        row = fast_row(xml)
        if row is not None:
            yield number, row
            continue
        try:
            fields = fields_from_xml(xml)
        except Exception as exc:  # lxml refused even in recovery mode
            yield BackendError(f"unreadable event XML: {exc}", number)
            continue
        yield number, fields


def raw_events(image: bytes) -> Iterator[RawItem]:
    """pyevtx-rs's XML per record of ``image``, or why it could not render one (``error``)
    or any further one (``stop``).

    pyevtx-rs raises ``RuntimeError`` for a bad record and can resume, so ``next()`` is
    called by hand instead of a ``for`` loop, which would stop at the first error.
    """
    from evtx import PyEvtxParser

    try:
        records = PyEvtxParser(io.BytesIO(image), number_of_threads=1).records()
    except (OSError, RuntimeError, ValueError) as exc:
        yield ("stop", 0, f"pyevtx-rs could not open the chunk: {exc}")
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
            yield ("error", 0, f"pyevtx-rs: {exc}")
            continue
        except BaseException as exc:  # a panic (pyo3's PanicException), e.g. out of memory
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            yield ("stop", 0, f"pyevtx-rs gave up on the chunk: {describe_panic(exc)}")
            return
        failures = 0
        yield ("record", int(record["event_record_id"]), str(record["data"]))
    yield ("stop", 0, f"gave up on the chunk after {MAX_CONSECUTIVE_ERRORS} consecutive errors")


def python_events(image: bytes) -> ChunkEvents:
    """python-evtx, rendered to canonical XML and normalized by the reference path."""
    from evtxscan.sources.evtx.python_backend import python_chunk_events

    return python_chunk_events(image)


def backend_function(backend: Backend | str) -> Callable[[bytes], ChunkEvents]:
    """The chunk parser for a backend name."""
    return python_events if Backend(backend) is Backend.PYTHON else rust_events


__all__ = ["Backend", "backend_function", "python_events", "rust_events"]
