"""Decode a batch of legacy .evt record images column-wise.

Fields are read through each record's own offsets and sizes (strings via StringOffset and
NumStrings, binary data via DataOffset and DataLength, the SID via its offset), never by
assuming a layout: Windows pads the SID to a 4-byte boundary. Text is NUL-terminated
UTF-16LE; a string its limit cuts is kept up to the limit (an odd last byte left out).

The fixed part of every record is read as one numpy structured array. Strings are found
in one buffer of all the images (each starting at an even position): the NUL code units of
the whole batch are located once, and each record's source name, computer name and inserts
are the spans between them within the record's own bounds. What is left per record is
decoding each span, and the SIDs (which repeat: each distinct one is read once) and
binary data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from evtxscan.sources.evt.layout import RECORD_FIXED_SIZE

#: EVENTLOGRECORD up to the SourceName (56 bytes).
HEAD = np.dtype(
    [
        ("length", "<u4"),
        ("signature", "S4"),
        ("number", "<u4"),
        ("generated", "<u4"),
        ("written", "<u4"),
        ("event_id", "<u4"),
        ("event_type", "<u2"),
        ("count", "<u2"),
        ("category", "<u2"),
        ("flags", "<u2"),
        ("closing", "<u4"),
        ("string_offset", "<u4"),
        ("sid_length", "<u4"),
        ("sid_offset", "<u4"),
        ("data_length", "<u4"),
        ("data_offset", "<u4"),
    ]
)
assert HEAD.itemsize == RECORD_FIXED_SIZE


@dataclass(frozen=True)
class EvtColumns:
    """The fields of a batch of records, one entry per record (``strings`` flattened)."""

    head: np.ndarray  # HEAD records
    source_name: list[str]
    computer: list[str | None]
    user_sid: list[str | None]
    string_counts: np.ndarray  # int64: inserts per record
    strings: list[str]  # every record's inserts, in record order
    data: list[bytes]
    problems: list[tuple[str, ...]]

    def take(self, rows: np.ndarray) -> EvtColumns:
        """The records at ``rows`` (positions, in order)."""
        picked = rows.tolist()
        ends = np.cumsum(self.string_counts)
        starts = ends - self.string_counts
        counts = self.string_counts[rows]
        inserts = np.repeat(starts[rows] - np.cumsum(counts) + counts, counts) + np.arange(
            int(counts.sum())
        )
        return EvtColumns(
            head=self.head[rows],
            source_name=[self.source_name[i] for i in picked],
            computer=[self.computer[i] for i in picked],
            user_sid=[self.user_sid[i] for i in picked],
            string_counts=counts,
            strings=[self.strings[i] for i in inserts.tolist()],
            data=[self.data[i] for i in picked],
            problems=[self.problems[i] for i in picked],
        )


class _Batch:
    """The images side by side, each from an even position, and where their NUL units are."""

    def __init__(self, images: list[bytes]) -> None:
        n = len(images)
        lengths = np.fromiter(map(len, images), dtype=np.int64, count=n)
        self.start = np.zeros(n, dtype=np.int64)
        np.cumsum((lengths + (lengths & 1))[:-1], out=self.start[1:])
        self.buf = b"".join(image + b"\0" if len(image) & 1 else image for image in images)
        units = np.frombuffer(self.buf, dtype="<u2")
        self.zeros = np.flatnonzero(units == 0) * 2
        self.body = lengths - 4  # before the trailing size copy

    def texts(self, begin: np.ndarray, end: np.ndarray) -> list[str]:
        """The UTF-16 texts ``buf[begin:end]``, as slices decode them. When every span lies
        within the buffer at even bounds with no NUL unit in it (each ends where one was
        found: a batch without damaged records), they are decoded in one call: joined with
        a NUL unit after each, the text split there (a broken surrogate next to a NUL unit
        decodes as at the end of its own span); else one by one."""
        buf = self.buf
        if ((begin | end) % 2 == 0).all() and (begin <= end).all() and (end <= len(buf)).all():
            pieces = self._joined(begin, end)
            if len(pieces) == len(begin):  # (else a span held a NUL unit)
                return pieces
        return [
            buf[b:e].decode("utf-16-le", "replace")
            for b, e in zip(begin.tolist(), end.tolist(), strict=True)
        ]

    def _joined(self, begin: np.ndarray, end: np.ndarray) -> list[str]:
        if not len(begin):
            return []
        units = np.frombuffer(self.buf, dtype="<u2")
        first, lengths = begin // 2, (end - begin) // 2
        placed = np.zeros(len(first), dtype=np.int64)  # where each span goes
        placed[1:] = np.cumsum(lengths + 1)[:-1]
        total = int(lengths.sum()) + len(first)
        joined = np.zeros(total, dtype="<u2")
        taken = np.ones(total, dtype=bool)
        taken[placed + lengths] = False  # the NUL unit after each span
        joined[taken] = units[np.repeat(first - placed, lengths) + np.flatnonzero(taken)]
        return joined.tobytes().decode("utf-16-le", "replace").split("\0")[:-1]

    def terminated(self, at: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, ...]:
        """NUL-terminated UTF-16 text from ``at`` (absolute) before ``limit``: where it ends,
        the position after it, and whether its terminator was found (else it runs to the
        limit, an odd last byte left out)."""
        past_end = len(self.buf) + 2  # (where no NUL unit follows)
        zero = np.append(self.zeros, past_end)[np.searchsorted(self.zeros, at)]
        ok = zero + 2 <= limit
        end = np.where(ok, zero, at + (limit - at) // 2 * 2)
        return end, np.where(ok, zero + 2, limit), ok


def decode_images(images: list[bytes]) -> EvtColumns:
    """The fields of record images (each at least :data:`RECORD_FIXED_SIZE` bytes long).
    Bad offsets and sizes become ``problems``, never exceptions."""
    n = len(images)
    head = np.frombuffer(b"".join(image[:RECORD_FIXED_SIZE] for image in images), dtype=HEAD)
    batch = _Batch(images)
    start, body = batch.start, batch.body
    limit = start + body
    name_end, after, name_ok = batch.terminated(start + RECORD_FIXED_SIZE, limit)
    computer_end, _, computer_ok = batch.terminated(after, limit)
    both_ok = name_ok & computer_ok
    source_name = batch.texts(start + RECORD_FIXED_SIZE, name_end)
    computer: list[str | None] = list(batch.texts(after, computer_end))
    for row in np.flatnonzero(~name_ok).tolist():
        computer[row] = None
    problems: dict[int, list[str]] = {}  # by row: few records have any
    for row in np.flatnonzero(~both_ok).tolist():
        problems.setdefault(row, []).append("source or computer name not terminated")
    user_sid = _sids(images, head, body, problems)
    data, data_present = _data(images, head, body, problems)
    counts, strings = _inserts(batch, images, head, data_present, problems)
    listed: list[tuple[str, ...]] = [()] * n
    for row, found in problems.items():
        listed[row] = tuple(found)
    return EvtColumns(head, source_name, computer, user_sid, counts, strings, data, listed)


def _sids(
    images: list[bytes], head: np.ndarray, body: np.ndarray, problems: dict[int, list[str]]
) -> list[str | None]:
    user_sid: list[str | None] = [None] * len(images)
    length, offset = head["sid_length"].astype(np.int64), head["sid_offset"].astype(np.int64)
    inside = (offset >= RECORD_FIXED_SIZE) & (offset + length <= body)
    known: dict[bytes, str | None] = {}
    for row in np.flatnonzero(length > 0).tolist():
        text = None
        if inside[row]:
            raw = images[row][offset[row] : offset[row] + length[row]]
            if raw not in known:
                known[raw] = sid_text(raw)
            text = user_sid[row] = known[raw]
        if text is None:
            problems.setdefault(row, []).append(
                f"unreadable SID ({length[row]} bytes at {offset[row]})"
            )
    return user_sid


def _data(
    images: list[bytes], head: np.ndarray, body: np.ndarray, problems: dict[int, list[str]]
) -> tuple[list[bytes], np.ndarray]:
    data = [b""] * len(images)
    length, offset = head["data_length"].astype(np.int64), head["data_offset"].astype(np.int64)
    present = (length > 0) & (offset >= RECORD_FIXED_SIZE) & (offset + length <= body)
    for row in np.flatnonzero(present).tolist():
        data[row] = images[row][offset[row] : offset[row] + length[row]]
    for row in np.flatnonzero((length > 0) & ~present).tolist():
        problems.setdefault(row, []).append(
            f"data ({length[row]} bytes at {offset[row]}) outside the record"
        )
    return data, present


def _inserts(
    batch: _Batch,
    images: list[bytes],
    head: np.ndarray,
    data_present: np.ndarray,
    problems: dict[int, list[str]],
) -> tuple[np.ndarray, list[str]]:
    """Every record's inserts: up to ``count`` NUL-terminated strings from StringOffset
    before the data (or the record's end), the last one unterminated when that limit cuts
    it. Inserts at an odd offset (damage) are found in a copy of their records moved by a
    byte, so that their code units fall on even positions there too."""
    count = head["count"].astype(np.int64)
    first = head["string_offset"].astype(np.int64)
    data_at = head["data_offset"].astype(np.int64)
    limit = np.where(data_present & (data_at > first), data_at, batch.body)
    at = np.where((first >= RECORD_FIXED_SIZE) & (first <= limit), first, limit)
    wanted = (count > 0) & (at < limit)
    counts = np.zeros(len(count), dtype=np.int64)
    cut = np.zeros(len(count), dtype=bool)
    owners: list[np.ndarray] = []
    texts: list[str] = []
    for parity in (0, 1):
        rows = np.flatnonzero(wanted & (at % 2 == parity))
        if not len(rows):
            continue
        moved = batch if parity == 0 else _Batch([b"\0" + images[row] for row in rows])
        base = batch.start[rows] if parity == 0 else moved.start + 1
        owner, found, whole, unterminated = _spans(
            moved, base + at[rows], base + limit[rows], count[rows]
        )
        owners.append(rows[owner])
        texts += found
        counts[rows] = whole + unterminated
        cut[rows] = unterminated
    order = np.argsort(np.concatenate(owners), kind="stable") if owners else np.zeros(0, int)
    for row in np.flatnonzero((count > 0) & ((counts < count) | cut)).tolist():
        problems.setdefault(row, []).append(f"{counts[row]} of {count[row]} strings readable")
    return counts, [texts[i] for i in order]


def _spans(
    batch: _Batch, at: np.ndarray, limit: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Up to ``count`` strings from ``at`` before ``limit`` (absolute, ``at`` even) per
    row: their rows, their texts (row by row), how many ended with a NUL unit, and whether
    one more ran to the limit."""
    zeros = np.append(batch.zeros, 0)  # (the extra one is never chosen: for safe indexing)
    low = np.searchsorted(batch.zeros, at)
    high = np.searchsorted(batch.zeros, limit - 2, side="right")  # NUL units that fit
    whole = np.minimum(count, np.maximum(high - low, 0))
    owner = np.repeat(np.arange(len(at)), whole)
    nth = np.arange(len(owner)) - np.repeat(np.cumsum(whole) - whole, whole)
    ends = zeros[low[owner] + nth]
    begins = np.where(nth == 0, at[owner], zeros[np.maximum(low[owner] + nth - 1, 0)] + 2)
    resume = np.where(whole > 0, zeros[np.maximum(low + whole - 1, 0)] + 2, at)
    unterminated = (whole < count) & (resume < limit)
    rest = np.flatnonzero(unterminated)
    owner = np.concatenate([owner, rest])
    begins = np.concatenate([begins, resume[rest]])
    ends = np.concatenate([ends, resume[rest] + (limit[rest] - resume[rest]) // 2 * 2])
    order = np.argsort(owner, kind="stable")
    return owner[order], batch.texts(begins[order], ends[order]), whole, unterminated


def sid_text(raw: bytes) -> str | None:
    """A binary SID as ``S-1-5-...`` text (authority in hex when it exceeds 32 bits)."""
    if len(raw) < 8 or len(raw) < 8 + 4 * raw[1]:
        return None
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack_from(f"<{raw[1]}I", raw, 8)
    head = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    return "-".join(["S", str(raw[0]), head, *map(str, subs)])
