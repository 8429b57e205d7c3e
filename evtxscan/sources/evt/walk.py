"""Walking an .evt log's circular buffer: the live records from the oldest to the EOF
record, resynchronising after damage, then the records recovered outside the live range
(whole records that still parse, from before a wrap or past the EOF record).

The structures walked (header, records, EOF record, the ring) are
:mod:`evtxscan.sources.evt.layout`'s.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from evtxscan.sources.evt.layout import (
    EOF_SIGNATURE,
    HEADER_SIZE,
    RECORD_FIXED_SIZE,
    SIGNATURE,
    U32,
    EofRecord,
    FileHeader,
    RawRecord,
    Ring,
    eof_at,
    record_at,
)


@dataclass
class Walk:
    """What walking the buffer found besides records: problems (with offsets) and notes."""

    errors: list[tuple[str, int | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # live bytes, file offsets
    torn: list[RawRecord] = field(default_factory=list)  # deleted, size copy disagrees

    def claim(self, ring: Ring, offset: int, length: int) -> None:
        first = min(length, ring.end - offset)
        self.spans.append((offset, offset + first))
        if first < length:
            self.spans.append((HEADER_SIZE, HEADER_SIZE + length - first))


def _overlaps(spans: list[tuple[int, int]], start: int, stop: int) -> bool:
    """Whether ``[start, stop)`` overlaps one of the sorted, disjoint ``spans``."""
    index = bisect_right(spans, (start, 2**63))
    if index and spans[index - 1][1] > start:
        return True
    return index < len(spans) and spans[index][0] < stop


def locate(ring: Ring, header: FileHeader | None, walk: Walk) -> tuple[int | None, int | None]:
    """Where the live records start and where the EOF record is (None: none found).

    The EOF record at the header's end offset is taken when the header is clean; otherwise
    (dirty, stale, or damaged header) the newest intact EOF record found by scanning.
    """
    found_eofs = (eof_at(ring, ring.back(hit, 4)) for hit in ring.find_all(EOF_SIGNATURE))
    eofs = [eof for eof in found_eofs if eof is not None]
    eof = next((e for e in eofs if header and e.offset == header.end_offset), None)
    if eof is None or (header is not None and header.dirty):
        ranked = sorted(eofs, key=lambda e: (e.end_record == e.offset, e.current_record_number))
        eof = ranked[-1] if ranked else None
    if header is not None and ring.available < ring.end:
        walk.notes.append(
            f"the file ({ring.available} bytes) is shorter than the log's size ({ring.end})"
        )
    if eof is None:
        walk.errors.append(("no end-of-file record: records followed from the oldest", None))
        return _oldest_without_eof(ring, header), None
    if header is not None and eof.offset != header.end_offset:
        stale = f"the header's end-of-file offset {header.end_offset} is stale"
        if header.dirty:
            walk.notes.append(f"end-of-file record found at {eof.offset} by scanning ({stale})")
        else:
            walk.errors.append((f"{stale}; end-of-file record found by scanning", eof.offset))
    if eof.oldest_record_number == 0 or eof.begin_record == eof.offset:
        return eof.offset, eof.offset  # an empty log
    found = record_at(ring, eof.begin_record)
    if isinstance(found, RawRecord) and found.number == eof.oldest_record_number:
        return eof.begin_record, eof.offset
    why = found if isinstance(found, str) else f"record {found.number} is there"
    start = _walk_back(ring, eof)
    message = f"oldest record {eof.oldest_record_number} unreadable ({why}); live records "
    walk.errors.append((message + f"from {start}, found from the end", eof.begin_record))
    return start, eof.offset


def _walk_back(ring: Ring, eof: EofRecord) -> int:
    """The oldest record reachable backwards from the EOF record through the size copies."""
    offset, start, number, travelled = eof.offset, eof.offset, None, 0
    while travelled < ring.size:
        copy = ring.read(ring.back(offset, 4), 4)
        if len(copy) < 4:
            break
        length = U32.unpack(copy)[0]
        if not RECORD_FIXED_SIZE <= length <= ring.size - travelled:
            break
        found = record_at(ring, ring.back(offset, length), strict=True)
        if not isinstance(found, RawRecord) or (number is not None and found.number >= number):
            break
        offset = start = found.offset
        number, travelled = found.number, travelled + length
        if number == eof.oldest_record_number:
            break
    return start


def _oldest_without_eof(ring: Ring, header: FileHeader | None) -> int | None:
    """The header's oldest record when it is there, else the lowest-numbered whole record."""
    if header is not None:
        found = record_at(ring, header.start_offset)
        if isinstance(found, RawRecord):
            return header.start_offset
    best: RawRecord | None = None
    for hit in ring.find_all(SIGNATURE):
        found = record_at(ring, ring.back(hit, 4), strict=True)
        if isinstance(found, RawRecord) and (best is None or found.number < best.number):
            best = found
    return None if best is None else best.offset


def _nearest(ring: Ring, offset: int, limit: int, after: int | None) -> RawRecord | None:
    """The first whole record less than ``limit`` bytes after ``offset`` (to resynchronise
    after damage); with ``after``, only one numbered higher."""
    for hit in ring.find_all(SIGNATURE, ring.advance(offset, 1)):
        start = ring.back(hit, 4)
        gap = ring.distance(offset, start)
        if gap >= limit:
            return None
        found = record_at(ring, start, strict=True)
        if gap and isinstance(found, RawRecord) and (after is None or found.number > after):
            return found
    return None


def walk_live(ring: Ring, start: int, stop: int | None, walk: Walk) -> Iterator[RawRecord]:
    """The records from ``start`` to the EOF record at ``stop``; with no EOF record, along
    the chain while record numbers increase. Damage is skipped by resynchronising."""
    offset, last, travelled = start, None, 0
    while travelled < ring.size and offset != stop:
        found = record_at(ring, offset)
        chained = stop is not None or last is None
        if isinstance(found, RawRecord) and (chained or found.number > (last or 0)):
            if stop is not None and 0 < ring.distance(offset, stop) < found.length:
                walk.errors.append(("a record overlaps the end-of-file record", offset))
                return
            if not found.size_copy_ok:
                walk.errors.append((f"record {found.number}: size copy mismatch", offset))
            walk.claim(ring, offset, found.length)
            yield found
            last = found.number
            offset = ring.advance(offset, found.length)
            travelled += found.length
            continue
        reason = found if isinstance(found, str) else "record numbers stop increasing"
        limit = ring.distance(offset, stop) if stop is not None else ring.size - travelled
        nxt = _nearest(ring, offset, limit, None if stop is not None else last)
        cut = reason == "the file ends inside the record" or offset >= ring.available
        if nxt is not None or stop is not None or cut:
            _report_gap(ring, offset, nxt, reason if not cut else "", walk)
        if nxt is None:
            return
        travelled += ring.distance(offset, nxt.offset)
        offset = nxt.offset


def _report_gap(ring: Ring, offset: int, nxt: RawRecord | None, reason: str, walk: Walk) -> None:
    """Record why live data was skipped (``reason`` empty: the file was cut there)."""
    if not reason:
        missing = f"the file ends {ring.end - ring.available} bytes short of the log's size"
        walk.errors.append((f"truncated: {missing}; records there are lost", offset))
        return
    resumed = nxt.offset if nxt is not None else None
    if resumed == HEADER_SIZE and offset > HEADER_SIZE:
        if ring.data[offset : ring.end].strip(b"\x00'"):  # filler before the wrap is normal
            walk.notes.append(f"{ring.end - offset} bytes of non-record data before the wrap")
        return
    where = f"up to offset {resumed}" if resumed is not None else "up to the end-of-file record"
    walk.errors.append((f"unreadable live data ({reason}) skipped {where}", offset))


def walk_recovered(ring: Ring, walk: Walk) -> Iterator[RawRecord]:
    """Whole records (size copy intact) outside the live ones: left from before a wrap or
    past the EOF record. Overlapping candidates keep the first."""
    spans = sorted(walk.spans)
    cursor = HEADER_SIZE
    for hit in ring.find_all(SIGNATURE):
        offset = ring.back(hit, 4)
        if offset < cursor or _overlaps(spans, offset, offset + 1):
            continue
        found = record_at(ring, offset)
        if not isinstance(found, RawRecord):
            continue
        stop = min(offset + found.length, ring.end)
        rest = found.length - (stop - offset)
        if _overlaps(spans, offset, stop) or (
            rest and _overlaps(spans, HEADER_SIZE, HEADER_SIZE + rest)
        ):
            continue
        if not found.size_copy_ok:
            walk.torn.append(found)
            continue
        cursor = stop
        yield found
