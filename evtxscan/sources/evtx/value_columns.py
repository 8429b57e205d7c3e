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

import re
from enum import IntFlag

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.sources.evtx.arrays import Reader, contiguous, distinct
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


class Flag(IntFlag):
    """What a value's text holds that later rules care about."""

    UNSAFE = 1  # characters XML 1.0 cannot carry
    CR = 2  # a carriage return (element text turns CR LF and CR into LF)
    SPACE = 4  # a tab, LF or CR (attribute values have them normalized)
    CANONICAL = 8  # may be changed by the canonical value rules (GUID-shaped, blank)


_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_GUID_LENGTHS = (36, 37, 38)


def text_flags(text: str) -> int:
    """The :class:`Flag` bits of one text."""
    flags = Flag.UNSAFE if _UNSAFE_TEXT.search(text) else 0
    flags |= Flag.CR if "\r" in text else 0
    flags |= Flag.SPACE if ("\t" in text or "\n" in text or "\r" in text) else 0
    flags |= Flag.CANONICAL if len(text) in _GUID_LENGTHS or text.startswith("\n") else 0
    return int(flags)


def render(
    reader: Reader, kind: np.ndarray, at: np.ndarray, size: np.ndarray
) -> tuple[pa.StringArray, np.ndarray, np.ndarray]:
    """Texts of values of type ``kind`` at ``at`` with ``size`` bytes; which are refused; and
    each text's :class:`Flag` bits. GUIDs come out braced (their canonical form)."""
    n = len(kind)
    refused = np.zeros(n, dtype=bool)
    flags = np.zeros(n, dtype=np.uint8)
    parts: list[tuple[np.ndarray, pa.Array]] = []
    types = [int(kind[0])] if n and kind.min() == kind.max() else np.unique(kind).tolist()
    for value_type in types if n else []:
        rows = np.arange(n) if len(types) == 1 else np.flatnonzero(kind == value_type)
        texts = _render_type(reader, value_type, at[rows], size[rows], refused, flags, rows)
        parts.append((rows, texts))
    if not parts:
        return pa.array([], type=pa.string()), refused, flags
    if len(parts) == 1:
        return parts[0][1].cast(pa.string()), refused, flags
    order = np.concatenate([rows for rows, _ in parts])
    combined = pa.concat_arrays([texts.cast(pa.string()) for _, texts in parts])
    return combined.take(pa.array(np.argsort(order, kind="stable"))), refused, flags


def _render_type(
    reader: Reader,
    value_type: int,
    at: np.ndarray,
    size: np.ndarray,
    refused: np.ndarray,
    flags: np.ndarray,
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
        return _strings(reader, at, size, flags, rows)
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
    return _one_by_one(reader, value_type, at, size, refused, flags, rows)


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
    """GUIDs, SIDs and booleans: each distinct value formatted once (GUIDs braced)."""
    codes, raws = distinct(reader.buf, at, size)
    texts: list[str] = []
    for code, raw in enumerate(raws):
        try:
            text = value_text(value_type, raw)
        except REFUSED:
            refused[rows[codes == code]] = True
            text = ""
        texts.append("{" + text + "}" if value_type == ValueType.GUID and text else text)
    return pa.array(texts, type=pa.string()).take(pa.array(codes))


def _one_by_one(
    reader: Reader,
    value_type: int,
    at: np.ndarray,
    size: np.ndarray,
    refused: np.ndarray,
    flags: np.ndarray,
    rows: np.ndarray,
) -> pa.Array:
    texts: list[str] = []
    for row, start, length in zip(rows.tolist(), at.tolist(), size.tolist(), strict=True):
        try:
            text = value_text(value_type, reader.buf[start : start + length].tobytes())
        except REFUSED:
            refused[row] = True
            text = ""
        flags[row] = text_flags(text)
        texts.append(text)
    return pa.array(texts, type=pa.string())


def _hex(reader: Reader, at: np.ndarray, size: np.ndarray) -> pa.Array:
    """Upper-case hex of each value's bytes."""
    data, offsets = contiguous(reader.buf, at, size)
    text = _HEX[data].ravel()
    return pa.StringArray.from_buffers(
        len(at), pa.py_buffer((2 * offsets).astype(np.int32)), pa.py_buffer(text)
    )


def _strings(
    reader: Reader, at: np.ndarray, size: np.ndarray, flags: np.ndarray, rows: np.ndarray
) -> pa.Array:
    """UTF-16LE strings up to their first NUL; ASCII ones converted column-wise."""
    data, offsets = contiguous(reader.buf, at, size // 2 * 2)
    code = data.view("<u2") if len(data) else np.zeros(0, dtype=np.uint16)
    starts, ends = offsets[:-1] // 2, offsets[1:] // 2
    zeros = np.flatnonzero(code == 0)
    cut = False
    if len(zeros):  # a string ends at its first NUL
        after = np.searchsorted(zeros, starts)
        first = zeros[np.minimum(after, len(zeros) - 1)]
        inside = (after < len(zeros)) & (first < ends)
        ends = np.where(inside, first, ends)
        cut = bool(inside.any())
    bits = _unit_bits(code)
    if cut:
        bound = len(code) + 1
        marks = np.bincount(starts, minlength=bound) - np.bincount(ends, minlength=bound)
        keep = np.cumsum(marks[:-1]) > 0
        bits = np.where(keep, bits, 0).astype(np.uint8)
    value_bits = np.zeros(len(at), dtype=np.uint8)
    nonempty = np.flatnonzero(ends > starts)
    if len(nonempty):
        value_bits[nonempty] = np.bitwise_or.reduceat(bits, starts[nonempty])
    wide = (value_bits & _WIDE) != 0
    lengths = ends - starts
    canonical = np.isin(lengths, _GUID_LENGTHS)
    canonical[nonempty] |= code[starts[nonempty]] == 0x0A
    flags[rows] = (value_bits & (_WIDE - 1)) | np.where(canonical, Flag.CANONICAL, 0).astype(
        np.uint8
    )
    if cut or wide.any():
        ascii_kept = np.where(wide, 0, lengths)
        bound = len(code) + 1
        marks = np.bincount(starts[~wide], minlength=bound) - np.bincount(
            ends[~wide], minlength=bound
        )
        chars = code[np.cumsum(marks[:-1]) > 0].astype(np.uint8)
    else:
        ascii_kept, chars = lengths, code.astype(np.uint8)
    text_offsets = np.zeros(len(at) + 1, dtype=np.int32)
    np.cumsum(ascii_kept, out=text_offsets[1:])
    texts = pa.StringArray.from_buffers(len(at), pa.py_buffer(text_offsets), pa.py_buffer(chars))
    wide_rows = np.flatnonzero(wide)
    if not len(wide_rows):
        return texts
    others = []
    for r in wide_rows.tolist():
        text = value_text(ValueType.STRING, data[offsets[r] : offsets[r + 1]].tobytes())
        flags[rows[r]] = text_flags(text)
        others.append(text)
    mask = np.zeros(len(at), dtype=bool)
    mask[wide_rows] = True
    return pc.replace_with_mask(texts, pa.array(mask), pa.array(others, type=pa.string()))


_WIDE = 16  # a unit outside ASCII (converted by Python)


def _unit_bits(code: np.ndarray) -> np.ndarray:
    """Per UTF-16 unit: :class:`Flag` bits for ASCII controls, and ``_WIDE`` past ASCII."""
    control = code < 0x20
    tab_or_line = (code == 9) | (code == 10) | (code == 13)
    bits = np.where(control & ~tab_or_line, Flag.UNSAFE, 0).astype(np.uint8)
    bits |= np.where(code == 13, Flag.CR, 0).astype(np.uint8)
    bits |= np.where(tab_or_line, Flag.SPACE, 0).astype(np.uint8)
    bits |= np.where(code >= 0x80, _WIDE, 0).astype(np.uint8)
    return bits
