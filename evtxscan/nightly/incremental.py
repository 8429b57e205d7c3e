"""Read only what is new: skip EVTX chunks at or below a watermark, or read before.

Per input file (after the reader's SHA-256 check, which skips files an earlier run read):

1. Our own walk of the chunk headers (no parsing) gives each chunk's first and last record
   number. The newest chunk (highest record number) is read first. If its records are one
   (host, channel) stream numbered as logged (record number = EventRecordID), that stream's
   watermark applies to the whole file: the chunks from the one holding the watermark record
   on are read, that record is compared with the one stored, and every other chunk, its
   records all at or below the watermark, is skipped unread. A stream whose numbers fell
   below the watermark with newer records, or whose watermark record is another one now,
   was cleared or reinstalled: its watermark is reset for this file and the reset noted.
2. Of the chunks left, those whose bytes an earlier run read (SHA-256 fingerprint) are
   skipped: forwarded-event logs (many hosts, no one watermark) and any log whose old chunks
   stay byte-identical.
3. Whatever is read goes through :meth:`WatermarkBook.admit`, which keeps the records above
   their stream's watermark (every record of a reset stream, and records without an
   EventRecordID), and tracks the new watermarks committed at the end of the run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from evtxscan.nightly.admission import (
    AdmittedSummary,
    WatermarkAdmission,
    admitted_rows,
    record_key,
    stream_tops,
)
from evtxscan.nightly.model import Change, HistoryRow, StreamKey, Watermark
from evtxscan.nightly.seen_rows import SeenRows
from evtxscan.records.hosts import HostMap
from evtxscan.sources.chunk_plan import (
    ChunkPlan,
    MarkColumns,
    Marks,
    PlanSteps,
    RangeReader,
    run_plan,
)
from evtxscan.sources.evtx.layout import (
    CHUNK_HEADER,
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    chunk_header_crc,
)
from evtxscan.sources.evtx.reader import ChunkRange, RangeResult
from evtxscan.sources.evtx.zero_tail import zero_tail_start
from evtxscan.sources.inputs import Buffer, Source
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.worker import CHUNKS_PER_TASK

Decoded = tuple[list[pd.DataFrame], RangeResult]


@dataclass(frozen=True)
class ChunkHead:
    """What our walk reads from one chunk header, without parsing any record."""

    index: int
    offset: int
    first: int  # first and last record numbers, as the header says
    last: int
    usable: bool  # header CRC good and numbers sane: its numbers may decide a skip


def chunk_heads(content: Buffer, first_offset: int) -> list[ChunkHead]:
    """The slots that start with a chunk header (others are left to the reader)."""
    heads = []
    for index, offset in enumerate(range(first_offset, len(content), CHUNK_SIZE)):
        head = bytes(content[offset : offset + CHUNK_HEADER_SIZE])
        if head[:8] != CHUNK_MAGIC or len(head) < CHUNK_HEADER_SIZE:
            continue
        fields = CHUNK_HEADER.unpack_from(head)
        first, last, stored_crc = fields[1], fields[2], fields[-1]
        crc_ok = chunk_header_crc(head) == stored_crc
        heads.append(ChunkHead(index, offset, first, last, crc_ok and 0 < first <= last))
    return heads


class _Fingerprints:
    """SHA-256 (first 16 bytes) of chunk slots, computed once and only when needed."""

    def __init__(self, content: Buffer, heads: list[ChunkHead]) -> None:
        self.view = content
        self.offsets = {h.index: h.offset for h in heads}
        self.done: dict[int, bytes] = {}

    def __call__(self, index: int) -> bytes:
        found = self.done.get(index)
        if found is None:
            offset = self.offsets[index]
            found = hashlib.sha256(self.view[offset : offset + CHUNK_SIZE]).digest()[:16]
            self.done[index] = found
        return found


@dataclass
class WatermarkBook:
    """Watermarks in force for this run, the records admitted, and the watermarks to commit."""

    prior: dict[StreamKey, Watermark]
    reset: set[tuple[str, str, str]] = field(default_factory=set)  # (file, host, channel)
    tops: dict[tuple[str, str, str], Watermark] = field(default_factory=dict)
    notes: list[HistoryRow] = field(default_factory=list)
    admitted_hosts: dict[str, pd.Timestamp | None] = field(default_factory=dict)
    decoded: int = 0
    admitted: int = 0

    def limit(self, source: str, host: str, channel: str) -> int:
        """Records of this file and stream with a higher EventRecordID are new."""
        mark = self.prior.get((host, channel))
        if mark is None or (source, host, channel) in self.reset:
            return -1
        return mark.record_id

    def admit(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The records of ``batch`` not read by an earlier run."""
        self.decoded += len(batch)
        if batch.empty:
            return batch
        if self.prior:
            batch = batch[admitted_rows(batch, self.limit)].reset_index(drop=True)
        self._merge(stream_tops(batch))
        return batch

    def absorb(self, summary: AdmittedSummary) -> None:
        """Records a range took in without decoding them (see ``nightly.admission``)."""
        self.decoded += summary.passed
        self._merge(summary)

    def admission(self, source: str, host_map: HostMap) -> WatermarkAdmission:
        """The records of ``source`` to take in (above the watermarks in force for it)."""
        limits = {
            stream: mark.record_id
            for stream, mark in self.prior.items()
            if (source, *stream) not in self.reset
        }
        return WatermarkAdmission(source, host_map, limits)

    def _merge(self, found: AdmittedSummary) -> None:
        self.admitted += found.admitted
        for host, newest in found.newest.items():
            before = self.admitted_hosts.get(host)
            if before is not None and (newest is None or before > newest):
                newest = before
            self.admitted_hosts[host] = newest
        for key, mark in found.tops.items():
            old = self.tops.get(key)
            if old is None or mark.record_id > old.record_id:
                self.tops[key] = mark

    def committed(self) -> tuple[Watermark, ...]:
        """The new watermark of every stream that had new records (reset streams restart)."""
        best: dict[StreamKey, Watermark] = {}
        reset_streams = {(h, c) for _, h, c in self.reset}
        for (source, host, channel), mark in sorted(self.tops.items()):
            stream = (host, channel)
            if stream in reset_streams and (source, host, channel) not in self.reset:
                continue  # the old numbering's records: the reset file's numbering wins
            old = best.get(stream)
            if old is None or mark.record_id > old.record_id:
                best[stream] = mark
        return tuple(best[k] for k in sorted(best))


@dataclass
class IncrementalPlanner:
    """The reader's chunk planner (``RecordStream.planner``) for nightly runs."""

    book: WatermarkBook
    known_chunks: Callable[[list[bytes]], set[bytes]]
    host_map: HostMap = field(default_factory=HostMap)  # the reader's: hosts of records
    chunks_read: list[bytes] = field(default_factory=list)
    skipped_known: int = 0
    skipped_below: int = 0

    def plan(
        self,
        source: Source,
        content: Buffer,
        first_offset: int,
        report: FileReport,
        read: RangeReader,
    ) -> ChunkPlan:
        return run_plan(self.planning(source, content, first_offset, report), read)

    def planning(
        self, source: Source, content: Buffer, first_offset: int, report: FileReport
    ) -> PlanSteps:
        """:meth:`plan` as steps (see :data:`~evtxscan.sources.chunk_plan.PlanSteps`): what
        it decides is applied to the run (notes, resets, counts) only at its last step, so
        that plans driven together finish in input order as plans made one by one do."""
        heads = chunk_heads(content, first_offset)
        slots = max(0, -(-(len(content) - first_offset) // CHUNK_SIZE))
        prints = _Fingerprints(content, heads)
        effects: list[Callable[[], None]] = []
        try:
            reads = _Reads(first_offset)
            below = yield from self._below_watermark(source, heads, reads, prints, effects)
            seen = reads.done | reads.marked  # decoded here, or marks seen (read by the reader)
            rest = [h.index for h in heads if h.index not in below and h.index not in seen]
            known = self.known_chunks([prints(i) for i in rest])
            skip = {i for i in rest if prints(i) in known}
            passed = skip | below | reads.done
            todo = [i for i in range(slots) if i not in passed]
            if passed and any(i not in prints.offsets for i in todo):  # slots without a chunk:
                # the rest is read apart, without the pre-allocated zeros at the end
                unused = -(-(zero_tail_start(content) - first_offset) // CHUNK_SIZE)
                todo = [i for i in todo if i < unused]
            later = [i for i in todo if i not in reads.marked]
            read_prints = [prints(i) for i in (*seen, *later) if i in prints.offsets]
        finally:
            prints.view = b""  # drop the reference to the content
        yield ()  # decided: the driver finishes plans in input order
        for effect in effects:
            effect()
        self.chunks_read += read_prints
        self.skipped_known += len(skip)
        self.skipped_below += len(below)
        if skip or below:
            report.notes.append(
                f"nightly: {len(skip) + len(below)} of {len(heads)} chunks skipped "
                f"({len(skip)} read by an earlier run, {len(below)} at or below the watermark)"
            )
        admission = self.book.admission(source.display, self.host_map)
        return ChunkPlan(_spans(todo, first_offset), tuple(reads.decoded), admission)

    def reads_chunks(self) -> bool:
        return bool(self.book.prior)  # no watermark yet: nothing to compare, nothing read

    def admission(self, source: Source) -> WatermarkAdmission:
        return self.book.admission(source.display, self.host_map)

    def absorb(self, summary: object) -> None:
        assert isinstance(summary, AdmittedSummary)
        self.book.absorb(summary)

    def _below_watermark(
        self,
        source: Source,
        heads: list[ChunkHead],
        reads: _Reads,
        prints: _Fingerprints,
        effects: list[Callable[[], None]],
    ) -> Generator[tuple[ChunkRange, ...], list[Decoded] | list[Marks], set[int]]:
        """Chunks all at or below the file's stream watermark; looks at the newest chunk and
        the one holding the watermark record, with the newer ones when they are few (in as
        few steps as can be: decoded here, or seen as marks and then read by the reader,
        which counts them as it counts chunks decoded here); more new chunks are left to
        the reader, which takes in and decodes only what is new and needed."""
        usable = [h for h in heads if h.usable]
        if not usable or not self.book.prior:  # no watermark yet: nothing to compare
            return set()
        probe = max(usable, key=lambda h: (h.last, h.index))
        if self.known_chunks([prints(probe.index)]):
            return set()  # the newest chunk was read before: its fingerprint tells the rest
        rows = (yield from reads.rows([probe.index])).live()
        stream = rows.single_stream()
        mark = None if stream is None else self.book.prior.get(stream)
        if stream is None or mark is None:
            return set()
        newest = rows.newest()
        reason = None
        if int(rows.record_id[newest]) < mark.record_id:
            if mark.record_time is not None and rows.row(newest)["time"] > mark.record_time:
                reason = f"EventRecordID fell from {mark.record_id} to {rows.record_id[newest]}"
        else:
            anchor = [h.index for h in usable if h.first <= mark.record_id <= h.last]
            if anchor and self.known_chunks([prints(anchor[0])]):
                anchor = []  # the very chunk read before: its watermark record is the same
            newer = [h for h in usable if h.last > mark.record_id]
            later = [h.index for h in newer]
            fresh = sum(h.last - max(h.first, mark.record_id + 1) + 1 for h in newer)
            if fresh > FEW_NEW_RECORDS:  # many: left to index-first reading (decode what is needed)
                later = []
            extra = sorted({*anchor[:1], *later} - reads.done - reads.marked)
            there = rows.joined((yield from reads.rows(extra))) if extra else rows
            same = there.first_with_id(mark.record_id)
            if same is not None:
                row = there.row(same)
                if record_key(row["time"], row["event_id"], row["provider"]) != mark.record_key:
                    reason = f"record {mark.record_id} is not the one read before"
        host, channel = stream
        if reason is not None:
            detail = f"{channel}: {reason} in {source.display}: cleared or reinstalled log"
            effects.append(partial(self.book.reset.add, (source.display, host, channel)))
            effects.append(
                partial(self.book.notes.append, HistoryRow(Change.LOG_RESET, host, detail=detail))
            )
            return set()
        oldest = min(h.first for h in usable)
        if oldest > mark.record_id + 1:
            detail = (
                f"{channel}: records {mark.record_id + 1}..{oldest - 1} were overwritten "
                f"before {source.display} was copied"
            )
            effects.append(
                partial(self.book.notes.append, HistoryRow(Change.GAP, host, detail=detail))
            )
        return {h.index for h in usable if h.last <= mark.record_id} - reads.done - reads.marked


#: Up to this many new records (as chunk headers number them) the planner decodes the new
#: chunks itself, with the watermark record's: few cost less read in one go than planned
#: apart and read index-first (a second read then decodes the context a night carries).
FEW_NEW_RECORDS = 5_000


@dataclass
class _Reads:
    """Chunks the planner reads itself (runs of consecutive slots, asked for in one step):
    decoded (``done``: the reader is given their rows) or only their marks seen (``marked``:
    the reader reads them as any other chunk)."""

    first_offset: int
    decoded: list[Decoded] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    marked: set[int] = field(default_factory=set)

    def rows(
        self, indexes: list[int]
    ) -> Generator[tuple[ChunkRange, ...], list[Decoded] | list[Marks], SeenRows]:
        """The chunks' records, in the columns a watermark needs."""
        spans = _spans(indexes, self.first_offset)
        outputs = yield spans
        chunks = {i for span in spans for i in range(span.start, span.stop)}
        marks: list[Marks] = []
        for output in outputs:
            if isinstance(output, Marks):
                self.marked |= chunks
                marks.append(output)
            else:
                self.done |= chunks
                self.decoded.append(output)
                marks += [Marks(MarkColumns.of(frame), slice(None)) for frame in output[0]]
        return SeenRows.of(marks)


def _spans(indexes: list[int], first_offset: int) -> tuple[ChunkRange, ...]:
    """Runs of consecutive slots, at most ``CHUNKS_PER_TASK`` each."""
    spans: list[ChunkRange] = []
    for index in sorted(indexes):
        last = spans[-1] if spans else None
        if last is not None and last.stop == index and index - last.start < CHUNKS_PER_TASK:
            spans[-1] = ChunkRange(first_offset, last.start, index + 1)
        else:
            spans.append(ChunkRange(first_offset, index, index + 1))
    return tuple(spans)
