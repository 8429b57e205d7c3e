"""The records a nightly planner looks at (a log's newest chunk, the watermark record's), as
numpy columns: the batch's columns are converted once (:class:`MarkColumns`) and each log
decides from its rows of them; deciding from a pandas slice per log cost about 4 ms a log,
more than reading its new records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.nightly.model import StreamKey
from evtxscan.sources.chunk_plan import MarkColumns, Marks

_ID_LIMIT = np.uint64(2**63)  # an EventRecordID this high or higher numbers no stream


#: The per-record columns of :class:`SeenRows` (all but ``parts``).
_COLUMNS = (
    "part",
    "at",
    "host",
    "channel",
    "record_id",
    "has_record_id",
    "record_number",
    "recovered",
)


@dataclass(frozen=True)
class SeenRows:
    """Records seen, in order: their columns, and where each is in its part's frame."""

    parts: tuple[MarkColumns, ...]
    part: np.ndarray  # int64: the part (frame) of each record
    at: np.ndarray  # int64: its position in that part's frame
    host: np.ndarray
    channel: np.ndarray
    record_id: np.ndarray
    has_record_id: np.ndarray
    record_number: np.ndarray
    recovered: np.ndarray

    @classmethod
    def of(cls, marks: list[Marks]) -> SeenRows:
        """The rows of several marks (or of whole frames: ``Marks(columns, slice(None))``)."""
        pieces = [_piece(number, mark) for number, mark in enumerate(marks)] or [_NO_PIECE]
        columns = {name: np.concatenate([p[name] for p in pieces]) for name in _COLUMNS}
        return cls(parts=tuple(m.columns for m in marks), **columns)

    def __len__(self) -> int:
        return len(self.part)

    def joined(self, other: SeenRows) -> SeenRows:
        """These rows, then ``other``'s."""
        columns = {name: np.concatenate([getattr(self, name), getattr(other, name)])
                   for name in _COLUMNS}  # fmt: skip
        columns["part"][len(self) :] += len(self.parts)
        return SeenRows(parts=self.parts + other.parts, **columns)

    def live(self) -> SeenRows:
        """The rows not recovered from chunk slack."""
        keep = ~self.recovered
        return SeenRows(self.parts, **{name: getattr(self, name)[keep] for name in _COLUMNS})

    def row(self, position: int) -> pd.Series:
        """Every column of the record at ``position``, as its frame holds it."""
        frame = self.parts[int(self.part[position])].frame
        return frame.iloc[int(self.at[position])]

    def single_stream(self) -> StreamKey | None:
        """(host, channel) when every record is of one stream and numbered as logged."""
        if not len(self) or _distinct(self.host) != 1 or _distinct(self.channel) != 1:
            return None
        ids, numbers = self.record_id, self.record_number
        if not self.has_record_id.all() or (ids >= _ID_LIMIT).any() or not ids.all():
            return None
        if (numbers < 0).any() or not (ids == numbers.astype(np.uint64)).all():
            return None
        host, channel = self.host[0], self.channel[0]
        if host is None or channel is None:
            return None
        return str(host), str(channel)

    def newest(self) -> int:
        """The position of the first record with the highest EventRecordID."""
        return int(self.record_id.argmax())

    def first_with_id(self, record_id: int) -> int | None:
        """The position of the first record numbered ``record_id``, if any."""
        if record_id < 0 or record_id >= 2**64:
            return None
        found = np.flatnonzero(self.has_record_id & (self.record_id == np.uint64(record_id)))
        return int(found[0]) if len(found) else None


def _distinct(texts: np.ndarray) -> int:
    """Distinct values present (None is absence), as ``Series.nunique`` counts them."""
    return len({text for text in texts.tolist() if text is not None})


def _piece(number: int, mark: Marks) -> dict[str, np.ndarray]:
    """The per-record columns of one mark's rows (part ``number``)."""
    columns = mark.columns
    at = np.arange(len(columns.frame), dtype=np.int64)[mark.rows]
    piece = {name: getattr(columns, name)[at] for name in _COLUMNS[2:]}
    return piece | {"part": np.full(len(at), number, dtype=np.int64), "at": at}


_NO_PIECE = {
    "part": np.zeros(0, dtype=np.int64),
    "at": np.zeros(0, dtype=np.int64),
    "host": np.zeros(0, dtype=object),
    "channel": np.zeros(0, dtype=object),
    "record_id": np.zeros(0, dtype=np.uint64),
    "has_record_id": np.zeros(0, dtype=bool),
    "record_number": np.zeros(0, dtype=np.int64),
    "recovered": np.zeros(0, dtype=bool),
}
