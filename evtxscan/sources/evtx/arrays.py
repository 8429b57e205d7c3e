"""Reading many little-endian fields and byte strings out of one buffer with numpy and Arrow.

The index and the decoder read the same few fields of every record at once: integers at
arbitrary (unaligned) byte positions, and short byte strings (names, SIDs, GUIDs) that repeat
a lot. :class:`Reader` gathers integers of every width from one uint8 buffer in one numpy
call each; :func:`distinct` dictionary-encodes byte ranges of the buffer with Arrow's hash
kernel over zero-copy binary views, so each distinct value is converted to text once.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Reader:
    """Little-endian integers at any byte positions of ``buf`` (positions: int64 arrays)."""

    def __init__(self, buf: np.ndarray) -> None:
        self.buf = buf
        n = len(buf)
        self._views = {
            width: np.ndarray(
                shape=(max(n - width + 1, 0),), dtype=f"<u{width}", buffer=buf, strides=(1,)
            )
            for width in (2, 4, 8)
        }
        self._rows: dict[int, np.ndarray] = {}

    def u8(self, at: np.ndarray) -> np.ndarray:
        return np.asarray(self.buf[at])

    def u16(self, at: np.ndarray) -> np.ndarray:
        return np.asarray(self._views[2][at])

    def u32(self, at: np.ndarray) -> np.ndarray:
        return np.asarray(self._views[4][at])

    def u64(self, at: np.ndarray) -> np.ndarray:
        return np.asarray(self._views[8][at])

    def rows(self, at: np.ndarray, width: int) -> np.ndarray:
        """The ``width`` bytes at each position, as an (n, width) uint8 array (positions must
        leave ``width`` bytes in the buffer)."""
        if width < 1:
            return np.zeros((len(at), max(width, 0)), dtype=np.uint8)
        return np.asarray(self._records(width)[at].view(np.uint8).reshape(len(at), width))

    def u32_rows(self, at: np.ndarray, width: int) -> np.ndarray:
        """``width`` consecutive u32 words from each position, as an (n, width) array."""
        if width < 1:
            return np.zeros((len(at), max(width, 0)), dtype=np.uint32)
        return np.asarray(self._records(4 * width)[at].view("<u4").reshape(len(at), width))

    def _records(self, width: int) -> np.ndarray:
        """The buffer as overlapping ``width``-byte records, one starting at every byte: one
        gather copies each record whole (a 2-D gather of byte columns took twice as long)."""
        view = self._rows.get(width)
        if view is None:
            count = max(len(self.buf) - width + 1, 0)
            view = np.ndarray(shape=(count,), dtype=f"V{width}", buffer=self.buf, strides=(1,))
            self._rows[width] = view
        return view

    def read(self, width: int, at: np.ndarray) -> np.ndarray:
        """Unsigned integers of ``width`` bytes (1, 2, 4 or 8)."""
        return self.u8(at) if width == 1 else np.asarray(self._views[width][at])

    def uint(self, at: np.ndarray, width: np.ndarray) -> np.ndarray:
        """Unsigned integers of mixed widths (1, 2, 4 or 8 bytes) as uint64."""
        out = np.zeros(len(at), dtype=np.uint64)
        for size, read in ((1, self.u8), (2, self.u16), (4, self.u32), (8, self.u64)):
            rows = np.flatnonzero(width == size)
            if len(rows):
                out[rows] = read(at[rows])
        return out


def unique_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)``, cheaper when equal keys come in runs (as
    the template offsets of a chunk's records do): only each run's key is sorted."""
    if not len(keys):
        return keys, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    uniques, run_inverse = np.unique(keys[starts], return_inverse=True)
    lengths = np.diff(np.append(starts, len(keys)))
    return uniques, np.repeat(run_inverse, lengths)


def distinct(buf: np.ndarray, at: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    """Dictionary-encode the byte strings ``buf[at:at+size]``: int32 codes and the distinct
    strings. Strings of each length are copied side by side and hashed by Arrow (fixed-size
    binary), so the cost is one copy and one hash per string."""
    codes = np.zeros(len(at), dtype=np.int32)
    values: list[bytes] = []
    if not len(at):
        return codes, values
    lengths = [int(size[0])] if size.min() == size.max() else np.unique(size).tolist()
    reader = Reader(buf)
    for length in lengths:
        rows = np.arange(len(at)) if len(lengths) == 1 else np.flatnonzero(size == length)
        if length == 0:
            codes[rows] = len(values)
            values.append(b"")
            continue
        strings = _copies(reader, at[rows], length)
        array = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(length), len(rows), [None, pa.py_buffer(strings)]
        )
        encoded = pc.dictionary_encode(array)
        codes[rows] = dictionary_codes(encoded) + len(values)
        values.extend(bytes(value) for value in encoded.dictionary.to_pylist())
    return codes, values


def dictionary_codes(encoded: pa.DictionaryArray) -> np.ndarray:
    """The codes of a dictionary-encoded array without nulls, as a numpy view of its buffer
    (pyarrow's ``to_numpy`` imports pandas: 0.2 to 0.4 s of a process that needs none, as
    the record index alone does not)."""
    indices = encoded.indices
    if indices.null_count:
        raise ValueError("dictionary codes with nulls")
    dtype = np.dtype(str(indices.type))
    if not len(indices):
        return np.zeros(0, dtype=dtype)
    count = indices.offset + len(indices)
    return np.frombuffer(indices.buffers()[1], dtype=dtype, count=count)[indices.offset :]


def _copies(reader: Reader, at: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` bytes at each position, side by side (positions near the buffer's end
    are copied one by one)."""
    room = len(reader.buf) - length
    out = reader.rows(np.clip(at, 0, max(room, 0)), length) if room >= 0 else None
    if out is None:
        out = np.zeros((len(at), length), dtype=np.uint8)
    for row in np.flatnonzero(at > room).tolist():
        tail = reader.buf[at[row] : at[row] + length]
        out[row] = 0
        out[row, : len(tail)] = tail
    return out


def contiguous(buf: np.ndarray, at: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte strings ``buf[at:at+size]`` copied side by side (Arrow copies them through
    binary views of the buffer), and the n + 1 offsets where each starts."""
    offsets = np.zeros(len(at) + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    if not offsets[-1]:
        return np.zeros(0, dtype=np.uint8), offsets
    copied, _offsets = binary_parts(binary_views(buf, at, size).cast(pa.large_binary()))
    return copied, offsets


def binary_parts(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A large_binary array's bytes side by side and the n + 1 offsets where each starts
    (from 0), as views of its buffers."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]


def binary_views(buf: np.ndarray, at: np.ndarray, size: np.ndarray) -> pa.Array:
    """The byte strings ``buf[at:at+size]`` as an Arrow binary view array over the buffer
    (nothing copied but the views; the array keeps the buffer's span alive)."""
    if not len(at):
        return pa.array([], pa.binary_view())
    low = int(at.min())
    data = buf[low : max(int((at + size).max()), low)]
    rel = (at - low).astype(np.int64)
    views = np.zeros((len(at), 4), dtype="<i4")
    views[:, 0] = size
    inline = size <= _INLINE
    head = _heads(Reader(data), rel[inline], size[inline])
    views.view(np.uint8)[inline, 4:16] = head
    long = ~inline
    views[long, 1] = Reader(data).u32(rel[long]).view("<i4")
    views[long, 3] = rel[long]
    return pa.Array.from_buffers(
        pa.binary_view(), len(at), [None, pa.py_buffer(views), pa.py_buffer(data)]
    )


_INLINE = 12  # bytes a binary view holds itself


def _heads(reader: Reader, at: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The first 12 bytes of each short string (zero past its size)."""
    room = len(reader.buf) - _INLINE
    head = reader.rows(np.clip(at, 0, max(room, 0)), _INLINE) if room >= 0 else None
    if head is None:
        head = np.zeros((len(at), _INLINE), dtype=np.uint8)
    for row in np.flatnonzero(at > room).tolist():
        tail = reader.buf[at[row] : at[row] + _INLINE]
        head[row] = 0
        head[row, : len(tail)] = tail
    return np.where(np.arange(_INLINE) < size[:, None], head, 0).astype(np.uint8)


def remap_texts(codes: np.ndarray, texts: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """Codes into ``texts`` (several codes may share a text; None: absent, code -1) turned
    into codes into distinct texts."""
    position: dict[str, int] = {}
    table = np.full(len(texts) + 1, -1, dtype=np.int32)  # the last slot maps code -1
    for code, text in enumerate(texts):
        if text is not None:
            table[code] = position.setdefault(text, len(position))
    return table[codes], list(position)
