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
    parts, refused, flags = render_parts(reader, kind, at, size)
    if not parts:
        return pa.array([], type=pa.string()), refused, flags
    if len(parts) == 1:
        return parts[0][1].cast(pa.string()), refused, flags
    order = np.concatenate([rows for rows, _ in parts])
    combined = pa.concat_arrays([texts.cast(pa.string()) for _, texts in parts])
    return combined.take(pa.array(np.argsort(order, kind="stable"))), refused, flags


def render_parts(
    reader: Reader, kind: np.ndarray, at: np.ndarray, size: np.ndarray
) -> tuple[list[tuple[np.ndarray, pa.Array]], np.ndarray, np.ndarray]:
    """As :func:`render`, the texts by value type: (positions, texts) per type."""
    n = len(kind)
    refused = np.zeros(n, dtype=bool)
    flags = np.zeros(n, dtype=np.uint8)
    parts: list[tuple[np.ndarray, pa.Array]] = []
    beyond = (at < 0) | (size < 0) | (at + size > len(reader.buf))  # damaged sizes/offsets
    if beyond.any():  # left to the renderer, as values of odd sizes are
        refused |= beyond
        at, size = np.where(beyond, 0, at), np.where(beyond, 0, size)
    types = [int(kind[0])] if n and kind.min() == kind.max() else np.unique(kind).tolist()
    for value_type in types if n else []:
        rows = np.arange(n) if len(types) == 1 else np.flatnonzero(kind == value_type)
        texts = _render_type(reader, value_type, at[rows], size[rows], refused, flags, rows)
        parts.append((rows, texts))
    return parts, refused, flags


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
        # a value of the wrong size was zeroed above: read the type's own width
        numbers = reader.read(natural or (int(size[0]) if len(size) else 4), at)
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
    """UTF-16LE strings up to their first NUL."""
    data, offsets = contiguous(reader.buf, at, size // 2 * 2)
    code = data.view("<u2") if len(data) else np.zeros(0, dtype=np.uint16)
    starts, ends = offsets[:-1] // 2, offsets[1:] // 2
    nul = np.flatnonzero(code == 0)
    if len(nul):  # a string ends at its first NUL
        after = np.searchsorted(nul, starts)
        first = nul[np.minimum(after, len(nul) - 1)]
        ends = np.where((after < len(nul)) & (first < ends), first, ends)
    texts, found = utf16_texts(code, starts, ends)
    flags[rows] = found
    return texts


def string_array_items(
    reader: Reader, at: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Items of string arrays (NUL-separated; a last NUL ends the array): per array its
    item count, then every item's text and flags, arrays one after the other."""
    data, offsets = contiguous(reader.buf, at, size // 2 * 2)
    code = data.view("<u2") if len(data) else np.zeros(0, dtype=np.uint16)
    starts, ends = offsets[:-1] // 2, offsets[1:] // 2
    if len(code):
        trailing = (ends > starts) & (code[np.maximum(ends - 1, 0)] == 0)
        ends = np.asarray(ends - trailing)  # a last NUL ends the array, it separates nothing
    nul = np.flatnonzero(code == 0)
    owner = np.searchsorted(starts, nul, side="right") - 1
    inside = (owner >= 0) & (nul < ends[np.maximum(owner, 0)])
    nul, owner = nul[inside], owner[inside]
    counts = 1 + np.bincount(owner, minlength=len(at))
    item_starts = np.sort(np.concatenate([starts, nul + 1]))
    item_ends = np.sort(np.concatenate([ends, nul]))
    texts, found = utf16_texts(code, item_starts, item_ends)
    return counts, texts, found


_WIDE = 16  # a unit outside ASCII (converted by Python)
_UNIT_BITS = np.zeros(129, dtype=np.uint8)
_UNIT_BITS[:0x20] = Flag.UNSAFE
_UNIT_BITS[[9, 10, 13]] = Flag.SPACE
_UNIT_BITS[13] |= Flag.CR
_UNIT_BITS[128] = _WIDE


def utf16_texts(
    code: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """Texts of the UTF-16 unit ranges ``[starts, ends)`` of ``code`` (ranges in order, not
    overlapping) and their flags: ASCII ones column-wise, others through Python's decoder
    (unpaired surrogates dropped)."""
    n = len(starts)
    gaps = _between(starts, ends, len(code))
    bits = _UNIT_BITS[np.minimum(code, 128)]
    bits[gaps] = 0
    found = np.zeros(n, dtype=np.uint8)
    nonempty = np.flatnonzero(ends > starts)
    if len(nonempty):
        found[nonempty] = np.bitwise_or.reduceat(bits, starts[nonempty])
    wide = (found & _WIDE) != 0
    lengths = ends - starts
    canonical = np.isin(lengths, _GUID_LENGTHS)
    canonical[nonempty] |= code[starts[nonempty]] == 0x0A
    found = np.asarray((found & (_WIDE - 1)) | np.where(canonical, Flag.CANONICAL, 0), np.uint8)
    chars = code.astype(np.uint8)
    keep = np.ones(len(code), dtype=bool)
    keep[gaps] = False
    wide_rows = np.flatnonzero(wide)
    if len(wide_rows):
        keep[_between(starts[wide_rows], ends[wide_rows], 0, inside=True)] = False
    text_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.where(wide, 0, lengths), out=text_offsets[1:])
    texts = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(text_offsets), pa.py_buffer(chars[keep])
    )
    if not len(wide_rows):
        return texts, found
    others = []
    for r in wide_rows.tolist():
        text = value_text(ValueType.STRING, code[starts[r] : ends[r]].tobytes())
        found[r] = text_flags(text)
        others.append(text)
    mask = np.zeros(n, dtype=bool)
    mask[wide_rows] = True
    replaced = pc.replace_with_mask(texts, pa.array(mask), pa.array(others, pa.large_string()))
    return replaced, found


def _between(starts: np.ndarray, ends: np.ndarray, total: int, inside: bool = False) -> np.ndarray:
    """Positions inside the ranges ``[starts, ends)`` (``inside``), or else the positions of
    ``[0, total)`` outside all of them (ranges in order, not overlapping)."""
    if inside:
        lows, highs = starts, ends
    else:
        lows = np.concatenate([[0], ends])
        highs = np.concatenate([starts, [total]])
    sizes = np.maximum(highs - lows, 0)
    count = int(sizes.sum())
    if not count:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(lows - (np.cumsum(sizes) - sizes), sizes)
    return shift + np.arange(count)
