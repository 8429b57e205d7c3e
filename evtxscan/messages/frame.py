"""Add ``message`` and ``binary_status`` columns to a record batch, one template at a time.

The template is resolved once per record shape (provider, source, event ID, severity, data
names), and the records of a shape are rendered together with Arrow string kernels: each
``%N`` becomes a column of values, joined element-wise with the template's literal text. Only
values that need work (``%%N`` references, tabs and line breaks, printf-style formats) and
records without a template (logged text, fallback) go through Python, value by value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.messages.formatting import Insert, _printf
from evtxscan.messages.render import MessageRenderer, Resolution

_NAME_SEPARATOR = "\x1f"
_NO_NAME = "\x1e"
_NEEDS_WORK = r"%%|[\t\r\n]"


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
        self.offsets = np.asarray(data.offsets)[:-1] if len(data) else np.zeros(0, np.int64)
        self.counts = np.asarray(pc.list_value_length(data).fill_null(0))
        flat = pc.list_flatten(data)
        self.values = flat.field("value").fill_null("") if len(flat) else pa.array([], pa.string())
        names = flat.field("name").fill_null(_NO_NAME) if len(flat) else pa.array([], pa.string())
        listed = pa.ListArray.from_arrays(pa.array(np.append(self.offsets, len(flat))), names)
        self.names = np.asarray(pc.binary_join(listed, _NAME_SEPARATOR).fill_null(""), dtype=object)

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


def _insert_column(
    batch: _Batch, rows: np.ndarray, insert: Insert, resolution: Resolution
) -> pa.Array:
    column = batch.values.take(pa.array(batch.offsets[rows] + (insert.index - 1)))
    work = pc.match_substring_regex(column, _NEEDS_WORK)
    if insert.spec is None and not pc.any(work).as_py():
        return column
    clean = resolution.expander.clean
    spec = insert.spec
    texts = column.to_pylist()
    done = [clean(v) for v in texts]
    if spec:
        done = [_printf(v, spec) for v in done]
    return pa.array(done, pa.string())


def _render_shape(batch: _Batch, rows: np.ndarray, resolution: Resolution) -> pa.Array:
    """The messages of records sharing one compiled template (all with the same count)."""
    assert resolution.compiled is not None
    count = int(batch.counts[rows[0]])
    pieces: list[pa.Array | pa.Scalar] = []
    for part in resolution.compiled.parts:
        if isinstance(part, str):
            pieces.append(pa.scalar(part))
        elif part.index <= count:
            pieces.append(_insert_column(batch, rows, part, resolution))
        else:
            pieces.append(pa.scalar(f"%{part.index}"))
    if not any(isinstance(p, pa.Array) for p in pieces):
        text = "".join(str(p.as_py()) for p in pieces)
        return pa.array([text] * len(rows), pa.string())
    return pc.binary_join_element_wise(*pieces, "")


def render_column(frame: pd.DataFrame, renderer: MessageRenderer) -> pa.Array:
    """The ``message`` of every record of ``frame`` (an Arrow string array, frame order)."""
    n = len(frame)
    if n == 0:
        return pa.array([], pa.string())
    batch = _Batch(frame)
    columns = {
        "provider": frame["provider"].astype(object).to_numpy(),
        "source": frame["event_source_name"].astype(object).to_numpy(),
        "event_id": frame["event_id"].astype(object).to_numpy(),
        "qualifiers": frame["qualifiers"].astype(object).to_numpy(),
        "level": frame["level"].astype(object).to_numpy(),
        "names": batch.names,
        "count": batch.counts,
    }
    logged: np.ndarray = (
        frame["message_logged"].astype(object).to_numpy()
        if "message_logged" in frame.columns
        else np.full(n, None, dtype=object)
    )
    has_logged = np.asarray(pd.notna(logged), dtype=bool)
    codes = pd.DataFrame(columns).groupby(list(columns), dropna=False, sort=False).ngroup()
    order = np.argsort(codes.to_numpy(), kind="stable")
    bounds = np.flatnonzero(np.diff(codes.to_numpy()[order])) + 1
    parts: list[pa.Array] = []
    positions: list[np.ndarray] = []
    for rows in np.split(order, bounds):
        first = int(rows[0])
        provider, source = _none(columns["provider"][first]), _none(columns["source"][first])
        event_id, count = _none(columns["event_id"][first]), int(batch.counts[first])
        names = batch.shape_names(batch.names[first], count)
        qualifiers, level = _none(columns["qualifiers"][first]), _none(columns["level"][first])
        resolution = renderer.resolve(provider, source, event_id, qualifiers, level, names)
        plain = resolution.compiled is not None and not resolution.partial
        fast = rows[~has_logged[rows]] if resolution.needs_more else rows
        if plain and len(fast):
            parts.append(_render_shape(batch, fast, resolution))
            positions.append(fast)
            rows = np.setdiff1d(rows, fast, assume_unique=True)
        if len(rows):
            label = provider or source
            texts = [
                renderer.finish(resolution, values, _none(logged[row]), label, event_id)
                for row, values in zip(rows, batch.rows_values(rows, count), strict=True)
            ]
            parts.append(pa.array(texts, pa.string()))
            positions.append(rows)
    where = np.concatenate(positions)
    inverse = np.empty(n, dtype=np.int64)
    inverse[where] = np.arange(n)
    return pa.concat_arrays([p.cast(pa.string()) for p in parts]).take(pa.array(inverse))


def _le_dwords(texts: np.ndarray, start: int) -> np.ndarray:
    """Little-endian DWORDs at hex offset ``start`` of equal-length-or-longer hex strings
    (-1 where the text is too short or not hex)."""
    out = np.full(len(texts), -1, dtype=np.int64)
    if not len(texts):
        return out
    sliced = pc.utf8_slice_codeunits(pa.array(texts, pa.string()), start, start + 8)
    whole = np.asarray(pc.equal(pc.utf8_length(sliced), 8).fill_null(False), dtype=bool)
    if not whole.any():
        return out
    raw = np.frombuffer("".join(np.asarray(sliced)[whole]).encode("ascii", "replace"), np.uint8)
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
    binary = frame["binary"].astype(object).to_numpy()[present]
    providers = frame["provider"].astype(object).to_numpy()[present]
    sources = frame["event_source_name"].astype(object).to_numpy()[present]
    keys = [f"{p}\x1f{s}" for p, s in zip(providers, sources, strict=True)]
    codes, uniques = pd.factorize(np.array(keys, dtype=object))
    firsts = [int(np.argmax(codes == code)) for code in range(len(uniques))]
    layouts = np.array(
        [renderer.binary_layout(_none(providers[i]), _none(sources[i])) for i in firsts],
        dtype=object,
    )[codes]
    event_ids = frame["event_id"].to_numpy(dtype="float64", na_value=np.nan)[present]
    qualifiers = frame["qualifiers"].to_numpy(dtype="float64", na_value=0)[present]
    full_ids = np.nan_to_num(qualifiers).astype(np.int64) * 65536 + np.nan_to_num(
        event_ids, nan=-1
    ).astype(np.int64)
    lengths = np.asarray(pc.utf8_length(pa.array(binary, pa.string())))
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
