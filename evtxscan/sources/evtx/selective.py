"""Read an EVTX chunk range index-first: count every record, decode only what is asked for.

The record index (:mod:`evtxscan.sources.evtx.index`) gives every record's System fields
without rendering. A caller's :class:`IndexSelector` picks from those columns the records it
needs decoded (a scan: symptom candidates, context events, errors and warnings); records the
index cannot read itself are decoded too. Everything else is only counted: per computer and
day for the hosts and daily tables (``RangeResult.skipped``), and in the file's integrity
report (``RangeResult.observed``), so integrity counts every record, whatever was decoded.

With the default backend the range is indexed once and the chosen records are decoded from
that same index (:func:`~evtxscan.sources.evtx.decode.decode_indexed`: values from the
binary, pyevtx-rs only for what the decoder cannot read). With python-evtx, decoding goes
through its chunk parser for the chunks holding a wanted record; rows of the other records
of those chunks are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import numpy as np
import pandas as pd

from evtxscan.records.batch import VALUES_LOST
from evtxscan.records.hosts import HostMap
from evtxscan.sources.evtx.backends import rust_events
from evtxscan.sources.evtx.decode import (
    Buffer,
    DecodeOptions,
    IndexedRange,
    decode_indexed,
    index_ranges,
)
from evtxscan.sources.evtx.file_slices import (
    among,
    batches,
    file_numbers,
    pair_keys,
    positions,
    rows_at,
    rows_by_number,
    used_categories,
)
from evtxscan.sources.evtx.frames import values_lost
from evtxscan.sources.evtx.index import RecordIndex, index_chunks
from evtxscan.sources.evtx.index_counts import (
    count_skipped,
    count_skipped_files,
    located_frame,
    observe_index,
    observed_columns,
)
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.packed import PackedFiles
from evtxscan.sources.evtx.reader import (
    ALTERED,
    ChunkParser,
    ChunkRange,
    RangeResult,
    intact_chunks,
    read_chunk_range,
)
from evtxscan.sources.evtx.selectors import (
    Admitted,
    Choice,
    IndexSelector,
    choose,
    narrowed,
)
from evtxscan.sources.evtx.text_gate import may_hold
from evtxscan.sources.evtx.utf16_check import altered_records, non_ascii_records
from evtxscan.sources.integrity import FileReport, ReadError


def read_range_selected(
    data: bytes,
    span: ChunkRange,
    parser: ChunkParser,
    selector: IndexSelector | None,
    *,
    source: str,
    host_map: HostMap | None,
    batch_size: int,
    include_recovered: bool,
    result: RangeResult,
) -> list[pd.DataFrame]:
    """Decoded batches of the range's selected records (``selector`` None: every record).

    Every record is observed in ``result.observed`` (from the index, or from its decoded row
    where the index could not read it), and every record not decoded is counted in
    ``result.skipped``."""
    # The decoder reads values from the binary and renders only what it cannot read with
    # pyevtx-rs, from one index of the range; a python-evtx backend keeps python-evtx's
    # rendering of every record.
    if parser is rust_events:
        return _decoded_range(
            data, span, selector, source, DecodeOptions(host_map, include_recovered, parser),
            batch_size, result,
        )  # fmt: skip
    if selector is None:
        frames = list(
            _parsed_range(
                data,
                span,
                source=source,
                host_map=host_map,
                batch_size=batch_size,
                include_recovered=include_recovered,
                result=result,
                parser=parser,
            )
        )
        index = _indexed(data, span, {c.index for c in intact_chunks(data, span, RangeResult())},
                         include_recovered)  # fmt: skip
        result.observed = _observation(source, index, frames)
        return frames
    intact = {chunk.index for chunk in intact_chunks(data, span, result)}
    index = _indexed(data, span, intact, include_recovered)
    choice = choose(selector, index)
    if choice.later is not None:
        _defer(index, choice.later, result)
    frames = list(_decode(data, span, parser, index, choice.decode, source, host_map,
                          batch_size, include_recovered, result))  # fmt: skip
    undecoded = _count_undecoded(result, index, choice, frames)
    if isinstance(selector, Admitted):
        taken = index.take(undecoded[choice.admitted[undecoded]])  # type: ignore[index]
        passed = int(np.count_nonzero(undecoded))
        result.admitted = selector.admissions[0].summary(taken, passed)
    result.observed = _observation(source, index, frames)
    result.observed.add_lost(values_lost(index.take(undecoded)))
    return frames


def _decoded_range(
    data: bytes,
    span: ChunkRange,
    selector: IndexSelector | None,
    source: str,
    options: DecodeOptions,
    batch_size: int,
    result: RangeResult,
) -> list[pd.DataFrame]:
    """The range indexed once; the selected records decoded from that index."""
    decoded = read_ranges_decoded([(source, data, [span], result)], selector, options, batch_size)
    assert decoded is not None  # one file: never given back for file-by-file reading
    return decoded[0]


def read_ranges_decoded(
    items: Sequence[tuple[str, Buffer, Sequence[ChunkRange], RangeResult]],
    selector: IndexSelector | None,
    options: DecodeOptions,
    batch_size: int,
    *,
    joined: bool = False,
    packed: PackedFiles | None = None,
) -> list[list[pd.DataFrame]] | None:
    """Several files' ranges (``(name, content, spans, result)`` each) indexed and decoded as
    one batch, so many small logs share the fixed costs; per item, its decoded batches, and
    its counts, skipped and located records in its result (as :func:`read_range_selected`).
    None when the files must be read one by one instead: values read as missing are counted
    per batch, and each file's integrity note must count its own.

    ``joined``: the batch's rows are given as the first item's batches (every file's, in
    input order) and the other items get none; for a caller that streams rows and needs no
    frame per file (it saves a frame per file). ``packed``: the buffer the contents were
    read into, if they were (its slots viewed in place, not copied)."""
    if not items:
        return []
    found = index_ranges(items, options.include_recovered, packed=packed)
    index = found.index
    choice = narrowed(choose(selector, index), selector, index, partial(_may_hold, found))
    decode = choice.decode
    chosen = decode_indexed(found, np.flatnonzero(decode), options)
    if len(items) > 1 and chosen.attrs.get(VALUES_LOST):
        return None  # counted for the batch, not per file: read its files one by one
    if len(items) > 1:
        chosen = used_categories(chosen)
    # Per file, views into the batch's arrays and frames: a file costs slices, not copies;
    # what the files' reports and counts need is worked out for the whole batch at once.
    own = rows_by_number(index.source, len(items))
    decoded_file = file_numbers(chosen, items)
    decoded_of = rows_by_number(decoded_file, len(items))
    later = choice.later
    located = None
    if later is not None and later.any():
        located = located_frame(index.take(np.flatnonzero(later)))
        located_of = rows_by_number(index.source[later], len(items))
    index_keys = pair_keys(index.source, index.offset)
    decoded_keys = pair_keys(decoded_file, chosen["offset"].to_numpy(dtype=np.int64, na_value=-1))
    # records not decoded, or wanted but not given: counted from the index (if it read them
    # and they were taken in)
    undecoded = (~decode | ~among(index_keys, decoded_keys)) & ~index.fallback
    counted = undecoded if choice.admitted is None else undecoded & choice.admitted
    count_skipped_files([item[3] for item in items], index, np.where(counted, index.source, -1))
    lost = bool(values_lost(index.take(undecoded)))
    readable = ~index.fallback
    names = [name for name, *_ in items]
    observed = FileReport.of_rows(
        names, np.where(readable, index.source, -1), observed_columns(index)
    )
    unseen = ~among(decoded_keys, index_keys[readable])  # decoded rows the index missed
    suspects = non_ascii_records(chosen) if len(chosen) else np.zeros(0, dtype=bool)
    out: list[list[pd.DataFrame]] = []
    for number, (_, content, spans, result) in enumerate(items):
        rows = positions(own[number])
        mine = decoded_of[number]
        altered = bool(spans) and bool(suspects[mine].any())
        frames = []  # this file's own batches: given, or needed below
        if not joined or altered or unseen[mine].any():
            frames = batches(rows_at(chosen, mine), batch_size)
        if altered:
            _note_altered(content, spans[0], frames, result)
        if located is not None and len(deferred := LocatedRows(located, located_of[number])):
            result.deferred = deferred
        result.observed = observed[number]
        if unseen[mine].any():
            _observe_unseen(result.observed, index.offset[rows[readable[rows]]], frames)
        if lost:  # decoded ones: counted in their frames
            result.observed.add_lost(values_lost(index.take(rows[undecoded[rows]])))
        if isinstance(selector, Admitted):
            passed = rows[undecoded[rows]]
            taken = passed[choice.admitted[passed]]  # type: ignore[index]
            admission = selector.admissions[number]
            result.admitted = admission.summary(index.take(taken), len(passed))
        out.append([] if joined else frames)
    if joined:
        out[0] = batches(chosen, batch_size)
    return out


def _may_hold(
    found: IndexedRange, rows: np.ndarray, need: np.ndarray, literals: list[frozenset[str]]
) -> np.ndarray:
    """Whether records ``rows`` of ``found.index`` may hold one of their need's literals."""
    return may_hold(found.indexed, found.cache, found.rows[rows], need, literals)


def _observe_unseen(report: FileReport, known: np.ndarray, frames: list[pd.DataFrame]) -> None:
    """Fold decoded rows whose offsets the index did not read (``known``) into the report,
    frame by frame (a frame's count of values read as missing comes with its rows)."""
    for frame in frames:
        unseen = ~np.isin(frame["offset"].to_numpy(dtype=np.int64, na_value=-1), known)
        if unseen.any():
            report.observe(frame[unseen])


def _defer(index: RecordIndex, later: np.ndarray, result: RangeResult) -> None:
    """Locate the records the selector leaves for later (``result.deferred``)."""
    if later.any():
        result.deferred = LocatedRows.whole(located_frame(index.take(np.flatnonzero(later))))


def _count_undecoded(
    result: RangeResult, index: RecordIndex, choice: Choice, frames: list[pd.DataFrame]
) -> np.ndarray:
    """Count, from the index, records taken in and not decoded, and wanted ones the parser
    could not give; the positions of every such record the index read (taken in or not)."""
    offsets = [f["offset"].to_numpy(dtype=np.int64) for f in frames]
    decoded = np.concatenate(offsets) if offsets else np.zeros(0, dtype=np.int64)
    undecoded = (~choice.decode | ~np.isin(index.offset, decoded)) & ~index.fallback
    counted = undecoded if choice.admitted is None else undecoded & choice.admitted
    count_skipped(result, index.take(np.flatnonzero(counted)))
    return np.flatnonzero(undecoded)


def _note_altered(
    data: Buffer, span: ChunkRange, frames: list[pd.DataFrame], result: RangeResult
) -> None:
    """Decoded records whose string values lost broken UTF-16 (as the renderer's do) are
    errors at their offsets (the chunk reader notes its own)."""
    for frame in frames:
        for chunk, offset in altered_records(frame, data, span.first_offset):
            result.errors.append(ReadError(ALTERED, chunk, offset))


def _parsed_range(
    data: bytes,
    span: ChunkRange,
    *,
    source: str,
    host_map: HostMap | None,
    batch_size: int,
    include_recovered: bool,
    result: RangeResult,
    parser: ChunkParser,
) -> Iterator[pd.DataFrame]:
    """Every record of the range through the chunk parser (python-evtx backend)."""
    return read_chunk_range(
        data,
        span,
        parser,
        source=source,
        host_map=host_map,
        batch_size=batch_size,
        include_recovered=include_recovered,
        result=result,
    )


def _indexed(
    data: bytes, span: ChunkRange, intact: set[int], include_recovered: bool
) -> RecordIndex:
    """The index of the range's records in chunks the reader's walk accepts."""
    index = index_chunks(data, [span])
    rows = np.isin(index.chunk, np.fromiter(intact, dtype=np.int32, count=len(intact)))
    if not include_recovered:
        rows &= ~index.recovered
    return index.take(np.flatnonzero(rows))


def _observation(source: str, index: RecordIndex, frames: list[pd.DataFrame]) -> FileReport:
    """Every record of the range folded into a report: those the index read, from the index;
    the others (the index's fallbacks, or any it did not see), from their decoded rows."""
    observed = FileReport(path=source)
    readable = ~index.fallback
    observe_index(observed, index.take(np.flatnonzero(readable)))
    _observe_unseen(observed, index.offset[readable], frames)
    return observed


def _decode(
    data: bytes,
    span: ChunkRange,
    parser: ChunkParser,
    index: RecordIndex,
    decode: np.ndarray,
    source: str,
    host_map: HostMap | None,
    batch_size: int,
    include_recovered: bool,
    result: RangeResult,
) -> Iterator[pd.DataFrame]:
    """Rows of the ``decode`` records, parsed chunk run by chunk run."""
    wanted_offsets = index.offset[decode]
    if not len(wanted_offsets):
        return
    chunks = np.unique(index.chunk[decode])
    known = set(result.errors)
    for start, stop in _runs(chunks):
        sub = RangeResult()
        for frame in read_chunk_range(
            data,
            ChunkRange(span.first_offset, int(start), int(stop)),
            parser,
            source=source,
            host_map=host_map,
            batch_size=batch_size,
            include_recovered=include_recovered,
            result=sub,
        ):
            chosen = frame[frame["offset"].isin(wanted_offsets).to_numpy()]
            if not chosen.empty:
                yield chosen.reset_index(drop=True)
        result.errors += [e for e in sub.errors if e not in known]  # record-level problems


def _runs(chunks: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive chunk indexes as (start, stop) runs."""
    if not len(chunks):
        return []
    breaks = np.flatnonzero(np.diff(chunks) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(chunks, breaks)]
