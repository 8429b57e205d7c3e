"""Which records of an indexed range a reader decodes, locates or takes in at all.

A caller hands the index-first reader (:mod:`evtxscan.sources.evtx.selective`) an
:class:`IndexSelector` (a scan: :class:`evtxscan.correlation.index_probe.IndexProbe`); an
incremental reader wraps it in :class:`Admitted` with an :class:`Admission` that takes in
only the records not read before. Decisions are array operations on index columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import numpy as np

from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.index_counts import clipped_time


class IndexSelector(Protocol):
    """Chooses, from index columns, the records to decode now and those to leave for later
    (picklable: sent to workers)."""

    def decode_mask(self, index: RecordIndex) -> np.ndarray: ...

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        """Records not decoded now but located (``RangeResult.deferred``), so a caller can
        decode them later if it needs them (a scan: context near a symptom)."""
        ...


class Admission(Protocol):
    """Which records of one file a reader takes in at all, from index columns (nightly: those
    above their stream's watermark). The others are only observed for the integrity report:
    never decoded, located or counted per day (picklable)."""

    def admit_mask(self, index: RecordIndex) -> np.ndarray: ...

    def summary(self, index: RecordIndex, passed: int) -> object:
        """What the caller needs to know of ``index``: records admitted but not decoded (the
        decoded ones reach it as rows); ``passed``: records read and not decoded, admitted or
        not. Goes back in ``RangeResult.admitted``."""
        ...


@runtime_checkable
class TextNeeds(IndexSelector, Protocol):
    """A selector some of whose records are worth decoding only if a value holds a text."""

    def text_needs(self, index: RecordIndex) -> tuple[np.ndarray, list[frozenset[str]]]:
        """Per record, the number of its need (-1: decode it whatever its values hold); per
        need, literals (lower-case ASCII) one of which a value must hold."""
        ...


#: Whether each of some records (positions in an index) may hold one of the literals of its
#: need: ``holds(rows, need_of_each, literals_of_needs)``.
HoldsText = Callable[[np.ndarray, np.ndarray, list[frozenset[str]]], np.ndarray]


@dataclass(frozen=True)
class Admitted:
    """A selector (None: decode every record) over the records admissions take in: one
    admission per file of a batch (``RecordIndex.source`` numbers them)."""

    selector: IndexSelector | None
    admissions: tuple[Admission, ...]

    def admit_mask(self, index: RecordIndex) -> np.ndarray:
        if len(self.admissions) == 1:
            return np.asarray(self.admissions[0].admit_mask(index), dtype=bool)
        admitted = np.zeros(len(index), dtype=bool)
        for number, admission in enumerate(self.admissions):
            rows = np.flatnonzero(index.source == number)
            if len(rows):
                admitted[rows] = admission.admit_mask(index.take(rows))
        return admitted

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        return choose(self, index).decode

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        later = choose(self, index).later
        return np.zeros(len(index), dtype=bool) if later is None else later


@dataclass(frozen=True)
class Windowed:
    """A selector over the records timed within ``[since, until)`` (UTC, microseconds;
    None: unbounded): the others are not taken in at all (never decoded, located or counted
    per day, as a scan's time window asks), though the integrity report sees them all."""

    selector: IndexSelector
    since: np.datetime64 | None = None
    until: np.datetime64 | None = None

    @classmethod
    def between(
        cls, selector: IndexSelector, since: datetime | None, until: datetime | None
    ) -> IndexSelector:
        """``selector`` within ``[since, until)`` (naive times: UTC); itself when neither."""
        if since is None and until is None:
            return selector
        return cls(selector, _utc_us(since), _utc_us(until))

    def within(self, index: RecordIndex) -> np.ndarray:
        """Records whose time (as the record schema types it: none outside 1970-2100) lies
        in the window."""
        time, bad = clipped_time(index)
        inside: np.ndarray = ~bad
        if self.since is not None:
            inside &= time >= self.since
        if self.until is not None:
            inside &= time < self.until
        return inside

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        return choose(self, index).decode

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        later = choose(self, index).later
        return np.zeros(len(index), dtype=bool) if later is None else later


def _utc_us(when: datetime | None) -> np.datetime64 | None:
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(when, "us")


@dataclass(frozen=True)
class OffsetSelector:
    """Decodes the records at given file offsets (a second, targeted read)."""

    offsets: tuple[int, ...]

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        return np.isin(index.offset, np.array(self.offsets, dtype=np.int64))

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        return np.zeros(len(index), dtype=bool)


@dataclass(frozen=True)
class Choice:
    """Per record of an index: decode now, locate for later, taken in at all."""

    decode: np.ndarray
    later: np.ndarray | None
    admitted: np.ndarray | None  # None: every record


def choose(selector: IndexSelector | None, index: RecordIndex) -> Choice:
    """What ``selector`` asks for (records the index cannot read are always decoded)."""
    admitted = None
    if isinstance(selector, Admitted):
        admitted = selector.admit_mask(index)
        selector = selector.selector
        if selector is None:
            return Choice(admitted | index.fallback, None, admitted)
    if isinstance(selector, Windowed):
        window = selector.within(index)
        admitted = window if admitted is None else admitted & window
        selector = selector.selector
    if selector is None:
        return Choice(np.ones(len(index), dtype=bool), None, None)
    decode = selector.decode_mask(index)
    later = selector.defer_mask(index) & ~decode
    if admitted is not None:
        decode, later = decode & admitted, later & admitted
    return Choice(decode | index.fallback, later & ~index.fallback, admitted)


def narrowed(
    choice: Choice, selector: IndexSelector | None, index: RecordIndex, holds: HoldsText
) -> Choice:
    """``choice`` without the records ``selector`` decodes only for texts they cannot hold
    (:class:`TextNeeds`); those it would locate for later are located instead."""
    inner = selector.selector if isinstance(selector, Admitted) else selector
    inner = inner.selector if isinstance(inner, Windowed) else inner
    if not isinstance(inner, TextNeeds):
        return choice
    needs, texts = inner.text_needs(index)
    candidates = choice.decode & (needs >= 0) & ~index.fallback
    if not candidates.any():
        return choice
    rows = np.flatnonzero(candidates)
    decode = choice.decode.copy()
    decode[rows[~holds(rows, needs[rows], texts)]] = False
    dropped = choice.decode & ~decode
    later = choice.later
    if later is not None and dropped.any():
        later = later | (inner.defer_mask(index) & dropped)
    return Choice(decode, later, choice.admitted)


__all__ = [
    "Admission",
    "Admitted",
    "Choice",
    "HoldsText",
    "IndexSelector",
    "OffsetSelector",
    "TextNeeds",
    "Windowed",
    "choose",
    "narrowed",
]
