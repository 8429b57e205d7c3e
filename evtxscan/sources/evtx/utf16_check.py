"""Find string values with broken UTF-16 (unpaired surrogates) in a record's raw bytes.

Both parsers drop unpaired surrogates from a string value without a word, so the value we
report differs from what was logged. Each record's substitution arrays (the template
instance's values, and those of nested BinXml values) are walked here, and every UTF-16
string value is checked, so the integrity row can say which records were altered.
"""

from __future__ import annotations

import mmap
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.sources.fileview import FileView

Buffer = bytes | bytearray | memoryview | mmap.mmap | FileView

CHUNK_SIZE = 65536
_FRAGMENT = 0x0F
_TEMPLATE_INSTANCE = 0x0C
_WSTRING, _BXML, _WSTRING_ARRAY = 0x01, 0x21, 0x81
#: Fragments nested deeper than this are not followed (real records nest two levels).
_MAX_DEPTH = 8


def broken_utf16(record: bytes, offset_in_chunk: int) -> bool:
    """Whether a string value of ``record`` (its bytes, stored at ``offset_in_chunk`` of its
    chunk) holds unpaired surrogates (False when its BinXml is not understood)."""
    try:
        return _fragment(record, 24, len(record) - 4, 0, offset_in_chunk)
    except (struct.error, IndexError):
        return False


def _fragment(chunk: bytes, at: int, end: int, depth: int, shift: int) -> bool:
    if depth > _MAX_DEPTH or chunk[at] != _FRAGMENT or chunk[at + 4] != _TEMPLATE_INSTANCE:
        return False
    definition = struct.unpack_from("<I", chunk, at + 10)[0]
    at += 14
    if definition == at + shift:  # defined inline: skip the definition (24-byte head + data)
        at += 24 + struct.unpack_from("<I", chunk, at + 20)[0]
    count = struct.unpack_from("<I", chunk, at)[0]
    if count > 0xFFFF or at + 4 + 4 * count > end:
        return False
    values = at + 4 + 4 * count
    for size, kind, _ in struct.iter_unpack("<HBB", chunk[at + 4 : values]):
        if kind in (_WSTRING, _WSTRING_ARRAY) and _has_unpaired(chunk, values, size):
            return True
        if kind == _BXML and size and _fragment(chunk, values, values + size, depth + 1, shift):
            return True
        values += size
    return False


def _has_unpaired(chunk: bytes, start: int, size: int) -> bool:
    try:
        chunk[start : start + (size & ~1)].decode("utf-16-le")
    except UnicodeDecodeError:  # the strict codec refuses unpaired surrogates only
        return True
    return False


def non_ascii_records(frame: pd.DataFrame) -> np.ndarray:
    """Which records of ``frame`` read back with a non-ASCII string value (mask): the only
    ones :func:`altered_records` walks."""
    suspect = np.zeros(len(frame), dtype=bool)
    column = pa.array(frame["data"].array)
    if isinstance(column, pa.ChunkedArray):  # e.g. decoded rows joined with rendered ones
        column = column.combine_chunks()
    values = column.flatten().field("value")
    if len(values) == 0 or pc.all(pc.string_is_ascii(pc.fill_null(values, ""))).as_py():
        return suspect
    counts = pc.list_value_length(column).fill_null(0).to_numpy()
    record_of = np.repeat(np.arange(len(frame)), counts)
    odd = ~pc.fill_null(pc.string_is_ascii(values), True).to_numpy(zero_copy_only=False)
    suspect[record_of[odd]] = True
    return suspect


def altered_records(frame: pd.DataFrame, data: Buffer, first_offset: int) -> list[tuple[int, int]]:
    """(chunk, file offset) of the records of ``frame`` with broken UTF-16 in a string value.

    Only records whose values read back with non-ASCII text are walked (a vectorized test):
    a dropped surrogate almost always sits in garbled text. A record whose broken value
    reads back as plain ASCII is not found."""
    suspects = np.flatnonzero(non_ascii_records(frame))
    if not len(suspects):
        return []
    found = []
    offsets = frame["offset"].to_numpy(dtype=float, na_value=np.nan)
    chunks = frame["chunk"].to_numpy(dtype=float, na_value=np.nan)
    for row in suspects:
        if np.isnan(offsets[row]) or np.isnan(chunks[row]):
            continue
        offset = int(offsets[row])
        head = bytes(data[offset : offset + 24])
        if len(head) < 24 or head[:4] != b"**\x00\x00":
            continue
        size = min(struct.unpack_from("<I", head, 4)[0], CHUNK_SIZE)
        if broken_utf16(bytes(data[offset : offset + size]), (offset - first_offset) % CHUNK_SIZE):
            found.append((int(chunks[row]), offset))
    return found
