"""Decoded rows as a record index, so that index selectors judge formats read whole.

A scan chooses what to keep from the EVTX record index's columns
(:class:`~evtxscan.sources.evtx.selectors.IndexSelector`): decode, locate for later, or
only count. Formats read whole (.evt, XML and text exports) are decoded as they are read,
but what a scan keeps of them follows the same choice, so that their context records are
located and decoded again only near a symptom, as EVTX's are (a scan's memory then
follows its findings, not the collection). :func:`rows_index` gives the System columns of
typed rows (the record schema's) the index's shape.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
