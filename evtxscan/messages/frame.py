"""Add ``message`` and ``binary_status`` columns to a record batch.

The template is resolved once per record shape (provider, source, event ID, severity, data
names); the records a template renders are rendered all together, whatever their shapes,
with Arrow string kernels (:mod:`evtxscan.messages.template_pieces`), and records without a
usable template get their logged text or a stand-in. Only values that need work (``%%N``
references, tabs and line breaks, printf-style formats) and records whose template leaves
values out (their rest is listed) go through Python, one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.messages.render import MessageRenderer, Resolution
from evtxscan.messages.template_pieces import TemplateGroup, render_groups

_NAME_SEPARATOR = "\x1f"
_NO_NAME = "\x1e"


def _none(value: Any) -> Any:
    return None if value is None or value is pd.NA or value != value else value


def _data_array(frame: pd.DataFrame) -> pa.ListArray:
    column = frame["data"]
    if isinstance(column.dtype, pd.ArrowDtype):
        chunks = pa.chunked_array(column.array._pa_array)
        return chunks.combine_chunks() if chunks.num_chunks != 1 else chunks.chunk(0)
    from evtxscan.records.schema import DATA_TYPE

    items = [None if _none(d) is None else list(d) for d in column]
    return pa.array(items, type=DATA_TYPE)


class _Batch:
    """The batch's values as flat Arrow arrays, with each record's offset into them."""

    def __init__(self, frame: pd.DataFrame) -> None:
        data = _data_array(frame)
        offsets = np.asarray(data.offsets, dtype=np.int64)
        # A sliced list array's offsets point into its parent's values; flatten() does not.
        self.offsets = offsets[:-1] - offsets[0] if len(data) else np.zeros(0, np.int64)
        self.counts = np.asarray(pc.list_value_length(data).fill_null(0))
        flat = pc.list_flatten(data)
        self.values = flat.field("value").fill_null("") if len(flat) else pa.array([], pa.string())
        names = flat.field("name").fill_null(_NO_NAME) if len(flat) else pa.array([], pa.string())
        listed = pa.ListArray.from_arrays(pa.array(np.append(self.offsets, len(flat))), names)
        # each record's value names as one text, dictionary-encoded (no Python text per row)
        joined = pc.binary_join(listed, _NAME_SEPARATOR).fill_null("").dictionary_encode()
        self.name_codes = np.asarray(joined.indices, dtype=np.int64)
        self.name_texts: list[str] = joined.dictionary.to_pylist()

    def shape_names(self, joined: str, count: int) -> tuple[str | None, ...]:
        if count == 0:
            return ()
        return tuple(None if n == _NO_NAME else n for n in joined.split(_NAME_SEPARATOR))

    def rows_values(self, rows: np.ndarray, count: int) -> list[list[str]]:
        """The values of records that all have ``count`` values, as Python lists."""
        if count == 0:
            return [[] for _ in rows]
        index = (self.offsets[rows][:, None] + np.arange(count)).ravel()
        flat = self.values.take(pa.array(index)).to_pylist()
        return [flat[i : i + count] for i in range(0, len(flat), count)]


def _stand_ins(
    batch: _Batch, shapes: list[tuple[np.ndarray, Resolution, str | None, Any]]
) -> pa.Array:
    """:func:`~evtxscan.messages.render.fallback_message` of records no template renders
    (``shapes``: rows, resolution, label, event ID), all shapes together with Arrow kernels
    (a timeline holds thousands of small ones): the values with ``%%N`` references resolved
    in Python by their shape's expander, the empty ones left out, the rest joined."""
    rows = np.concatenate([rows for rows, *_ in shapes])
    sizes = np.array([len(rows) for rows, *_ in shapes], dtype=np.int64)
    heads = [f"{label or 'Unknown provider'} event {'?' if event is None else event}"
             for _, _, label, event in shapes]  # fmt: skip
    shape_of_row = np.repeat(np.arange(len(shapes)), sizes)
    head = pa.array(heads, pa.string()).take(pa.array(shape_of_row))
    counts = batch.counts[rows].astype(np.int64)
    row_of_value = np.repeat(np.arange(len(rows)), counts)
    starts = np.cumsum(counts) - counts
    taken = batch.values.take(pa.array(batch.offsets[rows][row_of_value] + np.arange(
        int(counts.sum())) - starts[row_of_value]))  # fmt: skip
    work = np.flatnonzero(np.asarray(pc.match_substring(taken, "%%"), dtype=bool))
    if len(work):
        shape_of_value = shape_of_row[row_of_value[work]]
        texts = pc.take(taken, pa.array(work)).to_pylist()
        expanders = [resolution.expander for _, resolution, *_ in shapes]
        pairs = zip(shape_of_value.tolist(), texts, strict=True)
        mended = [expanders[shape].expand(value) for shape, value in pairs]
        mask = np.zeros(len(taken), dtype=bool)
        mask[work] = True
        taken = pc.replace_with_mask(taken, pa.array(mask), pa.array(mended, pa.string()))
    shown = np.asarray(pc.not_equal(pc.utf8_length(taken), 0), dtype=bool)
    per_row = np.bincount(row_of_value[shown], minlength=len(rows))
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pc.filter(taken, pa.array(shown)))
    text = pc.binary_join_element_wise(head, ": ", pc.binary_join(lists, "; "), "")
    return pc.if_else(pa.array(per_row > 0), text, head)


def _combine(keys: np.ndarray) -> np.ndarray:
    """One dense group code per row from several columns of small non-negative codes."""
    combined = np.zeros(len(keys), dtype=np.int64)
    for column in keys.T:
        span = int(column.max(initial=0)) + 2
        if int(combined.max(initial=0)) >= (2**62) // span:
            combined = np.unique(combined, return_inverse=True)[1].ravel().astype(np.int64)
        combined = combined * span + column + 1
    return np.unique(combined, return_inverse=True)[1].ravel()


def _values_at(values: pd.Series, index: np.ndarray) -> list[Any]:
    """Python values (None when missing) of a column at a few positions, without pandas'
    per-call overhead: category codes or plain numbers, looked up with numpy."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()[index]
        categories = values.cat.categories.to_numpy(dtype=object)
        return [None if code < 0 else categories[code] for code in codes]
    if pd.api.types.is_integer_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)[index]
        return [None if number != number else int(number) for number in numbers]
    return [_none(value) for value in values.to_numpy(dtype=object)[index]]


def _codes(values: pd.Series) -> np.ndarray:
    """Small integer codes of a column (missing values get their own code)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(dtype=np.int64)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=-1).astype(np.int64)
    return pd.factorize(values.astype(object), use_na_sentinel=False)[0].astype(np.int64)


class _Shapes:
    """A batch's records grouped by shape, each group with its resolution (cached)."""

    def __init__(self, frame: pd.DataFrame, renderer: MessageRenderer) -> None:
        n = len(frame)
        self.batch = batch = _Batch(frame)
        logged = frame["message_logged"] if "message_logged" in frame.columns else None
        self._logged = logged
        self.has_logged = (
            np.zeros(n, dtype=bool) if logged is None else logged.notna().to_numpy(dtype=bool)
        )
        names_codes = batch.name_codes
        keys = np.column_stack(
            [
                _codes(frame["provider"]),
                _codes(frame["event_source_name"]),
                _codes(frame["event_id"]),
                _codes(frame["qualifiers"]),
                _codes(frame["level"]),
                names_codes,
                batch.counts.astype(np.int64),
            ]
        )
        codes = _combine(keys)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        self.groups: list[tuple[np.ndarray, Resolution, str | None, int | None]] = []
        groups = np.split(order, bounds) if n else []
        firsts = np.array([int(rows[0]) for rows in groups], dtype=np.int64)
        # Only each group's first row is looked at: convert just those to Python values.
        shape_columns = [
            _values_at(frame[name], firsts)
            for name in ("provider", "event_source_name", "event_id", "qualifiers", "level")
        ]
        for rows, first, provider, source, event_id, qualifiers, level in zip(
            groups, firsts, *shape_columns, strict=True
        ):
            provider, source, event_id = _none(provider), _none(source), _none(event_id)
            joined = batch.name_texts[batch.name_codes[first]]
            names = batch.shape_names(joined, int(batch.counts[first]))
            resolution = renderer.resolve(
                provider, source, event_id, _none(qualifiers), _none(level), names
            )
            self.groups.append((rows, resolution, provider or source, event_id))

    def logged(self, row: int) -> str | None:
        """The text Windows logged for a record (XML exports), or None."""
        if self._logged is None or not self.has_logged[row]:
            return None
        return str(self._logged.iat[row])

    def template_rows(self, rows: np.ndarray, resolution: Resolution) -> np.ndarray:
        """The rows of a group its template renders (the rest: logged text or fallback)."""
        if resolution.compiled is None:
            return rows[:0]
        if resolution.partial or resolution.needs_more:
            return rows[~self.has_logged[rows]] if resolution.needs_more else rows[:0]
        return rows


#: The columns :func:`render_column` and :func:`status_column` read (a caller may pass only
#: these: a frame of context rows is most of a timeline).
MESSAGE_INPUTS = (
    "provider",
    "event_source_name",
    "event_id",
    "qualifiers",
    "level",
    "data",
    "binary",
    "message_logged",
)


def render_column(frame: pd.DataFrame, renderer: MessageRenderer) -> pa.Array:
    """The ``message`` of every record of ``frame`` (an Arrow string array, frame order)."""
    n = len(frame)
    if n == 0:
        return pa.array([], pa.string())
    shapes = _Shapes(frame, renderer)
    batch = shapes.batch
    parts: list[pa.Array] = []
    positions: list[np.ndarray] = []
    texts: list[str] = []  # records rendered one by one (small groups, logged, fallback)
    text_rows: list[np.ndarray] = []
    stand_ins: list[tuple[np.ndarray, Resolution, str | None, Any]] = []
    templated: list[TemplateGroup] = []  # rendered together, in one pass
    for rows, resolution, label, event_id in shapes.groups:
        fast = shapes.template_rows(rows, resolution)
        if len(fast):
            templated.append(TemplateGroup(fast, resolution, int(batch.counts[fast[0]])))
            rows = rows[:0] if len(fast) == len(rows) else np.setdiff1d(rows, fast, True)
        elif resolution.compiled is None:  # no template: stand-ins, all shapes' at once
            plain = rows[~shapes.has_logged[rows]]  # (those with logged text show it)
            if len(plain):
                stand_ins.append((plain, resolution, label, event_id))
                rows = rows[shapes.has_logged[rows]]
        if len(rows):
            count = int(batch.counts[rows[0]])
            texts += [
                renderer.finish(resolution, values, shapes.logged(int(row)), label, event_id)
                for row, values in zip(rows, batch.rows_values(rows, count), strict=True)
            ]
            text_rows.append(rows)
    if templated:
        parts.append(render_groups(batch.values, batch.offsets, templated))
        positions.append(np.concatenate([group.rows for group in templated]))
    if texts:
        parts.append(pa.array(texts, pa.string()))
        positions.append(np.concatenate(text_rows))
    if stand_ins:
        parts.append(_stand_ins(batch, stand_ins))
        positions.append(np.concatenate([rows for rows, *_ in stand_ins]))
    where = np.concatenate(positions)
    inverse = np.empty(n, dtype=np.int64)
    inverse[where] = np.arange(n)
    return pa.concat_arrays([p.cast(pa.string()) for p in parts]).take(pa.array(inverse))


def message_origins(frame: pd.DataFrame, renderer: MessageRenderer) -> pd.DataFrame:
    """Where each record's message comes from: ``origin`` (catalog, fields, templates,
    external, logged, fallback) and, when no template was chosen, the ``verdict`` saying why
    (for the benchmark and for finding what a catalog lacks)."""
    origin = np.full(len(frame), "fallback", dtype=object)
    verdict = np.full(len(frame), "", dtype=object)
    if len(frame):
        shapes = _Shapes(frame, renderer)
        for rows, resolution, _, _ in shapes.groups:
            origin[rows] = np.where(shapes.has_logged[rows], "logged", "fallback")
            origin[shapes.template_rows(rows, resolution)] = resolution.origin
            verdict[rows] = "" if resolution.verdict is None else str(resolution.verdict)
    return pd.DataFrame({"origin": origin, "verdict": verdict}, index=frame.index)


def _le_dwords(texts: pa.Array, start: int) -> np.ndarray:
    """Little-endian DWORDs at hex offset ``start`` of hex strings (-1 where a text is too
    short or not hex)."""
    out = np.full(len(texts), -1, dtype=np.int64)
    if not len(texts):
        return out
    sliced = pc.utf8_slice_codeunits(texts, start, start + 8)
    whole = np.asarray(pc.equal(pc.utf8_length(sliced), 8).fill_null(False), dtype=bool)
    if not whole.any():
        return out
    kept = pc.filter(sliced, pa.array(whole)).cast(pa.binary())
    bounds = np.frombuffer(kept.buffers()[1], np.int32)[kept.offset : kept.offset + len(kept) + 1]
    raw = np.frombuffer(kept.buffers()[2], np.uint8)[bounds[0] : bounds[-1]]
    chars = raw.reshape(-1, 8).astype(np.int64)
    nibbles = np.select(
        [
            (chars >= 48) & (chars <= 57),
            (chars >= 65) & (chars <= 70),
            (chars >= 97) & (chars <= 102),
        ],
        [chars - 48, chars - 55, chars - 87],
        -1,
    )
    valid = (nibbles >= 0).all(axis=1)
    pairs = nibbles[:, 0::2] * 16 + nibbles[:, 1::2]
    values = (pairs * (256 ** np.arange(4))).sum(axis=1)
    out[np.flatnonzero(whole)] = np.where(valid, values, -1)
    return out


def _arrow_texts(column: pd.Series) -> pa.Array:
    """A text column as one Arrow array (its own buffers when Arrow-backed: no Python
    object per row)."""
    held = pa.array(column.array) if isinstance(column.dtype, pd.StringDtype) else None
    if held is None:
        held = pa.array(column.to_numpy(dtype=object), pa.large_string(), from_pandas=True)
    return held.combine_chunks() if isinstance(held, pa.ChunkedArray) else held


def status_column(frame: pd.DataFrame, renderer: MessageRenderer) -> list[str | None]:
    """``binary_status`` of every record: the status a provider keeps in its binary data.

    Declared layouts (``binary:`` in a catalog: ``io_error_log_packet``, ``first_dword``)
    are read for every record of the provider; an undeclared IO_ERROR_LOG_PACKET is
    recognised by its ErrorCode repeating the full event ID.
    """
    out: list[str | None] = [None] * len(frame)
    present = np.flatnonzero(frame["binary"].notna().to_numpy())
    if not len(present):
        return out
    binary = _arrow_texts(frame["binary"]).take(pa.array(present)).cast(pa.string())
    pairs = (
        _codes(frame["provider"])[present] * (2**31) + _codes(frame["event_source_name"])[present]
    )
    _, firsts, codes = np.unique(pairs, return_index=True, return_inverse=True)
    providers = _values_at(frame["provider"], present[firsts])
    sources = _values_at(frame["event_source_name"], present[firsts])
    layouts = np.array(
        [renderer.binary_layout(p, s) for p, s in zip(providers, sources, strict=True)],
        dtype=object,
    )[codes.ravel()]
    event_ids = frame["event_id"].to_numpy(dtype="float64", na_value=np.nan)[present]
    qualifiers = frame["qualifiers"].to_numpy(dtype="float64", na_value=0)[present]
    full_ids = np.nan_to_num(qualifiers).astype(np.int64) * 65536 + np.nan_to_num(
        event_ids, nan=-1
    ).astype(np.int64)
    lengths = np.asarray(pc.utf8_length(binary).fill_null(0))
    packet = (lengths >= 48) & ~np.isnan(event_ids)
    error_codes = _le_dwords(binary, 24)
    io = packet & ((layouts == "io_error_log_packet") | (error_codes == full_ids))
    first = layouts == "first_dword"
    status = np.where(io, _le_dwords(binary, 40), np.where(first, _le_dwords(binary, 0), -1))
    for position in np.flatnonzero(status >= 0):
        out[int(present[position])] = f"0x{int(status[position]):08X}"
    return out


def add_messages(frame: pd.DataFrame, renderer: MessageRenderer | None = None) -> pd.DataFrame:
    """The frame with ``message`` (our English rendering) and ``binary_status`` columns."""
    renderer = renderer or MessageRenderer()
    out = frame.copy()
    messages = render_column(frame, renderer)
    out["message"] = pd.arrays.ArrowStringArray(messages)
    statuses = pa.array(status_column(frame, renderer), pa.string())
    out["binary_status"] = pd.arrays.ArrowStringArray(statuses)
    return out
