"""Compare the record index (and decoded rows) with what the rendering path gives.

The reference is the rendering path: pyevtx-rs renders each record's XML chunk by chunk
(:func:`~evtxscan.sources.evtx.reader.read_chunk_range`) and the record schema types it.
(``read_records(backend="rust")`` itself now goes through the decoder, so it cannot be the
reference.) Records are matched by file offset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from evtxscan import read_records
from evtxscan.records.batch import concat_frames
from evtxscan.sources.evtx.backends import rust_events
from evtxscan.sources.evtx.index import RecordIndex, index_chunks
from evtxscan.sources.evtx.layout import CHUNK_MAGIC, FILE_HEADER_SIZE
from evtxscan.sources.evtx.reader import RangeResult, chunk_ranges, read_chunk_range

TEXTS = ("provider", "event_source_name", "provider_guid", "channel", "computer", "user_sid")
NUMBERS = (
    "event_id",
    "qualifiers",
    "version",
    "level",
    "task",
    "opcode",
    "keywords",
    "event_record_id",
    "process_id",
    "thread_id",
)
EARLIEST, LATEST = np.datetime64("1970-01-01", "us"), np.datetime64("2100-01-01", "us")


@lru_cache(maxsize=64)
def rust_frame(path: Path) -> pd.DataFrame:
    """Every record of the file as pyevtx-rs renders it (cached per test session)."""
    data = path.read_bytes()
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    frames = [
        frame
        for span in chunk_ranges(len(data), first, 64)
        for frame in read_chunk_range(
            data,
            span,
            rust_events,
            source=str(path),
            host_map=None,
            batch_size=100_000,
            include_recovered=True,
            result=RangeResult(),
        )
    ]
    return concat_frames(frames) if frames else read_records(path, backend="rust").frame()


def index_file(data: bytes) -> RecordIndex:
    """The index of every chunk slot of an EVTX image."""
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    return index_chunks(data, chunk_ranges(len(data), first, 64))


@dataclass
class Comparison:
    """How an index compares with the rendered records of the same file."""

    mismatches: dict[str, list[tuple[object, object]]] = field(default_factory=dict)
    compared: int = 0  # records both read
    fallback: Counter[str] = field(default_factory=Counter)  # rendered, index fell back
    index_only: int = 0  # indexed records the renderer could not render
    rendered_only: int = 0  # rendered records the index does not list


def compare_index(index: RecordIndex, frame: pd.DataFrame) -> Comparison:
    """Field by field, for every record both have (see :class:`Comparison`)."""
    out = Comparison()
    position = pd.Series(np.arange(len(index)), index=index.offset)
    assert not position.index.duplicated().any(), "two index rows at one offset"
    rows = position.reindex(frame["offset"].astype("int64")).to_numpy()
    found = ~np.isnan(rows)
    out.rendered_only = int((~found).sum())
    frame, rows = frame[found], rows[found].astype(np.int64)
    out.index_only = len(index) - len(rows)
    fallback = index.fallback[rows]
    for problem in index.problem[rows][fallback].tolist():
        out.fallback[_problem_name(problem)] += 1
    frame, rows = frame[~fallback], rows[~fallback]
    out.compared = len(rows)
    for name in TEXTS:
        got = getattr(index, name).texts()[rows]
        expected = frame[name].astype(object).where(frame[name].notna(), None).to_numpy()
        _note(out, name, got, expected)
    for name in NUMBERS:
        column = getattr(index, name)
        got = np.where(column.present[rows], column.values[rows].astype(object), None)
        expected = frame[name].astype(object).where(frame[name].notna(), None).to_numpy()
        _note(out, name, got, expected)
    time = index.time[rows]
    time = np.where((time >= EARLIEST) & (time < LATEST), time, np.datetime64("NaT"))
    expected_time = frame["time"].dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    _note(out, "time", time.astype(object), expected_time.astype(object))
    _note(out, "record_number", index.record_number[rows], frame["record_number"].to_numpy())
    _note(out, "recovered", index.recovered[rows], frame["recovered"].to_numpy())
    _note(out, "chunk", index.chunk[rows], frame["chunk"].to_numpy())
    return out


def _note(out: Comparison, name: str, got: np.ndarray, expected: np.ndarray) -> None:
    differ = [
        (a, b)
        for a, b in zip(got.tolist(), expected.tolist(), strict=True)
        if a != b and not (_missing(a) and _missing(b))
    ]
    if differ:
        out.mismatches[name] = differ[:5]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _problem_name(code: int) -> str:
    from evtxscan.sources.evtx.instances import Problem

    return Problem(code).name
