"""Substitution values as text, column-wise: the spelling pyevtx-rs writes into event XML.

:func:`render` turns many values (type, buffer position, size) into one Arrow string array:
strings are copied side by side and ASCII ones become UTF-8 by dropping their high bytes;
numbers go through Arrow's integer formatting; times through numpy's ISO formatting; binary
through a hex table; GUIDs, SIDs and hex numbers are formatted once per distinct value. Rare
types, and strings with non-ASCII characters, go value by value through the rules the python
backend renders with (:mod:`evtxscan.sources.evtx.value_text`). Values pyevtx-rs refuses (or that
the element holding them would repeat, arrays) come back ``refused``: their records belong
to the renderer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.sources.evtx.arrays import Reader, distinct
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, FIXED_SIZES, ValueType
from evtxscan.sources.evtx.value_text import REFUSED, value_text

_EPOCH_SHIFT_US = 11_644_473_600_000_000
_LATEST_TICKS = (253_402_207_200_999_999 + _EPOCH_SHIFT_US) * 10 + 9
_HEX = np.frombuffer(b"".join(f"{b:02X}".encode() for b in range(256)), dtype=np.uint8).reshape(
    256, 2
)
_DECIMAL: dict[int, str] = {
    ValueType.INT8: "<i1",
    ValueType.UINT8: "<u1",
    ValueType.INT16: "<i2",
    ValueType.UINT16: "<u2",
    ValueType.INT32: "<i4",
    ValueType.UINT32: "<u4",
    ValueType.INT64: "<i8",
    ValueType.UINT64: "<u8",
}
_HEX_NUMBERS: dict[int, int] = {ValueType.HEXINT32: 4, ValueType.HEXINT64: 8}
_ONCE_EACH = {ValueType.GUID, ValueType.SID, ValueType.BOOL}


def render(
    reader: Reader, kind: np.ndarray, at: np.ndarray, size: np.ndarray
) -> tuple[pa.StringArray, np.ndarray]:
    """Texts of values of type ``kind`` at ``at`` with ``size`` bytes, and which are refused."""
    n = len(kind)
    refused = np.zeros(n, dtype=bool)
    parts: list[tuple[np.ndarray, pa.Array]] = []
    for value_type in np.unique(kind).tolist() if n else []:
        rows = np.flatnonzero(kind == value_type)
        texts = _render_type(reader, value_type, at[rows], size[rows], refused, rows)
        parts.append((rows, texts))
    if not parts:
        return pa.array([], type=pa.string()), refused
    order = np.concatenate([rows for rows, _ in parts])
    combined = pa.concat_arrays([texts.cast(pa.string()) for _, texts in parts])
    return combined.take(pa.array(np.argsort(order, kind="stable"))), refused


def _render_type(
    reader: Reader,
    value_type: int,
    at: np.ndarray,
    size: np.ndarray,
    refused: np.ndarray,
    rows: np.ndarray,
) -> pa.Array:
    natural = FIXED_SIZES.get(value_type)
    if natural is not None:
        wrong = size != natural
        refused[rows[wrong]] = True  # never seen from Windows; left to the renderer
        at, size = np.where(wrong, 0, at), np.where(wrong, 0, size)
    if value_type == ValueType.NULL or value_type == ValueType.BINXML:
        refused[rows[size > 0]] = value_type == ValueType.BINXML  # a value we did not splice
        return pa.array(np.full(len(at), "", dtype=object), type=pa.string())
    if value_type & ARRAY_FLAG:
        refused[rows] = True  # the renderer repeats the element per item
        return pa.array(np.full(len(at), "", dtype=object), type=pa.string())
    if value_type == ValueType.STRING:
        return _strings(reader, at, size)
    if value_type in _DECIMAL:
        width = np.dtype(_DECIMAL[value_type]).itemsize
        numbers = reader.read(width, at).view(_DECIMAL[value_type])
        return pc.cast(pa.array(numbers), pa.string())
    if value_type in _HEX_NUMBERS or (value_type == ValueType.SIZE_T and _sized(size)):
        numbers = reader.read(int(size[0]) if len(size) else 4, at)
        distinct_numbers, inverse = np.unique(numbers, return_inverse=True)
        texts = pa.array([f"0x{v:x}" for v in distinct_numbers.tolist()], type=pa.string())
        return texts.take(pa.array(inverse))
    if value_type == ValueType.FILETIME:
        ticks = reader.u64(at)
        late = ticks > _LATEST_TICKS
        refused[rows[late]] = True
        micros = np.where(late, 0, ticks // 10).astype(np.int64) - _EPOCH_SHIFT_US
        texts = np.char.add(np.datetime_as_string(micros.astype("datetime64[us]"), unit="us"), "Z")
        return pa.array(texts, type=pa.string())
    if value_type == ValueType.BINARY:
        return _hex(reader, at, size)
    if value_type in _ONCE_EACH:
        return _once_each(reader, value_type, at, size, refused, rows)
    return _one_by_one(reader, value_type, at, size, refused, rows)


def _sized(size: np.ndarray) -> bool:
    """SIZE_T values all 4 or all 8 bytes wide (others go one by one)."""
    return bool(len(size)) and size.min() == size.max() and int(size[0]) in (4, 8)


def _once_each(
    reader: Reader,
    value_type: int,
    at: np.ndarray,
    size: np.ndarray,
    refused: np.ndarray,
    rows: np.ndarray,
) -> pa.Array:
    codes, raws = distinct(reader.buf, at, size)
    texts: list[str] = []
    for code, raw in enumerate(raws):
        try:
            texts.append(value_text(value_type, raw))
        except REFUSED:
            refused[rows[codes == code]] = True
            texts.append("")
    return pa.array(texts, type=pa.string()).take(pa.array(codes))


def _one_by_one(
    reader: Reader,
    value_type: int,
    at: np.ndarray,
    size: np.ndarray,
    refused: np.ndarray,
    rows: np.ndarray,
) -> pa.Array:
    texts: list[str] = []
    for row, start, length in zip(rows.tolist(), at.tolist(), size.tolist(), strict=True):
        try:
            texts.append(value_text(value_type, reader.buf[start : start + length].tobytes()))
        except REFUSED:
            refused[row] = True
            texts.append("")
    return pa.array(texts, type=pa.string())


def _gather(reader: Reader, at: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of every value side by side, and where each value starts (n + 1 offsets)."""
    offsets = np.zeros(len(at) + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    total = int(offsets[-1])
    if not total:
        return np.zeros(0, dtype=np.uint8), offsets
    index = np.repeat(at - offsets[:-1], size) + np.arange(total)
    return np.asarray(reader.buf[index]), offsets


def _hex(reader: Reader, at: np.ndarray, size: np.ndarray) -> pa.Array:
    """Upper-case hex of each value's bytes."""
    data, offsets = _gather(reader, at, size)
    text = _HEX[data].ravel()
    return pa.StringArray.from_buffers(
        len(at), pa.py_buffer((2 * offsets).astype(np.int32)), pa.py_buffer(text)
    )


def _strings(reader: Reader, at: np.ndarray, size: np.ndarray) -> pa.Array:
    """UTF-16LE strings up to their first NUL; ASCII ones converted column-wise."""
    units = size // 2
    data, offsets = _gather(reader, at, 2 * units)
    code = data.view("<u2") if len(data) else np.zeros(0, dtype=np.uint16)
    starts = offsets[:-1] // 2
    ends = offsets[1:] // 2
    zeros = np.flatnonzero(code == 0)
    if len(zeros):  # a string ends at its first NUL
        after = np.searchsorted(zeros, starts)
        first = zeros[np.minimum(after, len(zeros) - 1)]
        ends = np.where((after < len(zeros)) & (first < ends), first, ends)
    wide = np.concatenate([[0], np.cumsum(code >= 0x80)])
    ascii_ = wide[ends] == wide[starts]
    bound = len(code) + 1
    marks = np.bincount(starts[ascii_], minlength=bound) - np.bincount(
        ends[ascii_], minlength=bound
    )
    keep = np.cumsum(marks[:-1]) > 0
    lengths = np.where(ascii_, ends - starts, 0)
    text_offsets = np.zeros(len(at) + 1, dtype=np.int32)
    np.cumsum(lengths, out=text_offsets[1:])
    texts = pa.StringArray.from_buffers(
        len(at), pa.py_buffer(text_offsets), pa.py_buffer(code[keep].astype(np.uint8))
    )
    wide_rows = np.flatnonzero(~ascii_)
    if not len(wide_rows):
        return texts
    others = [
        value_text(ValueType.STRING, data[offsets[r] : offsets[r + 1]].tobytes())
        for r in wide_rows.tolist()
    ]
    mask = np.zeros(len(at), dtype=bool)
    mask[wide_rows] = True
    return pc.replace_with_mask(texts, pa.array(mask), pa.array(others, type=pa.string()))
