"""Decoded rows as a record index, so that index selectors judge formats read whole.

A scan chooses what to keep from the EVTX record index's columns
(:class:`~evtxscan.sources.evtx.selectors.IndexSelector`): decode, locate for later, or
only count. Formats read whole (.evt, XML and text exports) are decoded as they are read,
but what a scan keeps of them follows the same choice, so that their context records are
located and decoded again only near a symptom, as EVTX's are (a scan's memory then
follows its findings, not the collection). :func:`rows_index` gives the System columns of
typed rows (the record schema's) the index's shape; :func:`evt_index` gives it to an .evt
batch before it is typed (a scan types only the records it keeps), equal to the index of
its typed rows, and :func:`evt_observed` what the batch's integrity report folds in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evtxscan.records.values import LATEST_TIME
from evtxscan.sources.evt.frame import KEYWORDS, LEVELS, EventType, type_values
from evtxscan.sources.evt.reader import EvtBatch
from evtxscan.sources.evtx.index import Numbers, RecordIndex, Texts

_NUMBERS = (
    "event_record_id", "event_id", "qualifiers", "version", "level", "task", "opcode",
    "keywords", "process_id", "thread_id",
)  # fmt: skip
_TEXTS = ("provider", "event_source_name", "provider_guid", "channel", "computer", "user_sid")


def rows_index(frame: pd.DataFrame) -> RecordIndex:
    """The index of typed rows (the record schema's columns): every row read (none falls
    back), its file offset, and the System fields as the rows give them."""
    n = len(frame)
    record_number = frame["record_number"].to_numpy(dtype=np.uint64, na_value=0)
    times = frame["time"].dt.tz_convert("UTC").dt.tz_localize(None)
    columns: dict[str, object] = {
        "source": np.zeros(n, dtype=np.int32),
        "chunk": frame["chunk"].to_numpy(dtype=np.int32, na_value=0),
        "offset": frame["offset"].to_numpy(dtype=np.int64, na_value=-1),
        "recovered": frame["recovered"].to_numpy(dtype=bool),
        "record_number": record_number,
        "written_time": np.zeros(n, dtype=np.uint64),  # (not a choice's: not carried)
        "fallback": np.zeros(n, dtype=bool),
        "problem": np.zeros(n, dtype=np.int8),
        "time": times.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT")),
    }
    for name in _NUMBERS:
        columns[name] = _numbers(frame[name])
    for name in _TEXTS:
        columns[name] = _texts(frame[name])
    return RecordIndex(**columns)  # type: ignore[arg-type]


def _numbers(column: pd.Series) -> Numbers:
    missing = column.isna().to_numpy(dtype=bool)
    values = column.to_numpy(dtype=np.uint64, na_value=0)
    return Numbers(values, ~missing, np.zeros(len(column), dtype=bool))


def _texts(column: pd.Series) -> Texts:
    """A text column as codes over its distinct texts (missing: -1)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return Texts(codes.astype(np.int32), [str(value) for value in uniques])


#: .evt times at or after this (seconds since 1970) are read as missing (as typed rows are).
_LATEST_EVT_SECONDS = int(LATEST_TIME.timestamp())


def evt_index(batch: EvtBatch) -> RecordIndex:
    """The index of an .evt batch: what :func:`rows_index` gives for its typed rows
    (``EvtBatch.frame``), read straight from its columns."""
    head = batch.columns.head
    n = len(head)
    number = head["number"].astype(np.uint64)
    seconds = head["generated"].astype(np.int64)
    time = (seconds * 1_000_000).astype("datetime64[us]")
    time[seconds >= _LATEST_EVT_SECONDS] = np.datetime64("NaT")  # as typed rows read it
    event_id, kind = head["event_id"].astype(np.uint64), head["event_type"]
    absent = Numbers(np.zeros(n, np.uint64), np.zeros(n, bool), np.zeros(n, bool))
    provider = _listed(batch.columns.source_name)
    channel = None if batch.channel is None else batch.channel.strip()
    channels = Texts(
        np.full(n, -1 if channel is None else 0, dtype=np.int32),
        [channel] if channel is not None else [],
    )
    return RecordIndex(
        source=np.zeros(n, dtype=np.int32),
        chunk=np.zeros(n, dtype=np.int32),
        offset=batch.offsets.astype(np.int64),
        recovered=np.asarray(batch.recovered, dtype=bool),
        record_number=number,
        written_time=np.zeros(n, dtype=np.uint64),
        fallback=np.zeros(n, dtype=bool),
        problem=np.zeros(n, dtype=np.int8),
        time=time,
        event_record_id=_present(number),
        event_id=_present(event_id & np.uint64(0xFFFF)),
        qualifiers=_present(event_id >> np.uint64(16)),
        version=absent,
        level=_by_type(kind, LEVELS),
        task=_present(head["category"].astype(np.uint64)),
        opcode=absent,
        keywords=_by_type(kind, KEYWORDS),
        process_id=absent,
        thread_id=absent,
        provider=provider,
        event_source_name=provider,
        provider_guid=Texts(np.full(n, -1, dtype=np.int32), []),
        channel=channels,
        computer=_listed(batch.columns.computer, strip=True),
        user_sid=_listed(batch.columns.user_sid),
    )


def evt_observed(batch: EvtBatch, index: RecordIndex) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What :meth:`FileReport.observe_rows` takes for every record of an .evt batch (``index``:
    its :func:`evt_index`), as :meth:`FileReport.observe` reads its typed rows, and which
    records' written times are read as missing (after 2100: counted as values lost)."""
    number = index.record_number.astype(np.float64)
    columns = {
        "recovered": index.recovered,
        "torn": np.isnat(index.time) | (index.record_number == 0),  # (a time from 2100 on)
        "time": index.time,
        "chunk": np.full(len(index), -1, dtype=np.int64),
        "number": number,
        "record_id": number,
    }
    written = batch.columns.head["written"].astype(np.int64)
    return columns, np.asarray(written >= _LATEST_EVT_SECONDS)


def _present(values: np.ndarray) -> Numbers:
    n = len(values)
    return Numbers(values.astype(np.uint64), np.ones(n, dtype=bool), np.zeros(n, dtype=bool))


def _by_type(kind: np.ndarray, table: dict[EventType, int]) -> Numbers:
    """Per record, the number ``table`` gives its event type (absent for unknown types)."""
    values, known = type_values(kind, table, "uint64")
    return Numbers(values, known, np.zeros(len(kind), dtype=bool))


def _listed(values: list[str | None] | list[str], strip: bool = False) -> Texts:
    """Texts of a list (None: missing) coded as :func:`_texts` codes a column of them."""
    texts = [None if v is None else v.strip() for v in values] if strip else values
    codes, uniques = pd.factorize(np.array(texts, dtype=object), use_na_sentinel=True)
    return Texts(codes.astype(np.int32), [str(value) for value in uniques])
