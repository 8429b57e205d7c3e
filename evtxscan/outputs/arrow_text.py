"""Tables as CSV text made a column at a time by Arrow, byte for byte what pandas' ``to_csv``
writes (through Python's ``csv`` writer, minimal quoting), and the bytes of Arrow text.

pandas formats a table cell by cell in Python: 13 us a record of 32 columns. Here each
column becomes its CSV fields once (numbers and flags as they are, a categorical's
categories quoted once each, only the texts holding a comma, quote or newline quoted), and
a line per row is joined by Arrow: the lines of a table can then be written whole, or cut
into each host's file by row. A table with a column of another kind (floats, times,
objects that are not text) gives None, and its writer uses ``to_csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def csv_text(frame: pd.DataFrame, header: bool) -> bytes | memoryview:
    """The CSV text of ``frame`` (with its header line if ``header``), UTF-8, as
    :func:`pandas_csv` writes it: built by Arrow (:func:`csv_lines`), or by pandas when that
    cannot be."""
    lines = csv_lines(frame)
    if lines is None:
        return pandas_csv(frame, header).encode("utf-8")
    body = text_bytes(lines)
    if not header:
        return body
    names = pa.array([str(name) for name in frame.columns], type=pa.string())
    head = ",".join(_csv_fields(names).to_pylist()) + "\n"
    return head.encode("utf-8") + bytes(body)


def pandas_csv(frame: pd.DataFrame, header: bool = True) -> str:
    """pandas' ``to_csv(index=False)`` with lines ending in LF, where a field holding a
    carriage return is quoted too (with LF as the line end Python's ``csv`` writer leaves
    it bare, and spreadsheets and parsers then start a new row there: a cell of a logged
    machine's text could begin a row with a formula). Written with CR LF line ends (so such
    fields are quoted), the line ends outside quotes are then made LF."""
    text = frame.to_csv(index=False, header=header, lineterminator="\r\n")
    parts = text.split("\r\n")
    out: list[str] = []
    quoted = False
    for part in parts[:-1]:
        quoted ^= part.count('"') % 2 == 1  # inside a quoted field after this part
        out += [part, "\r\n" if quoted else "\n"]
    out.append(parts[-1])
    return "".join(out)


def csv_lines(frame: pd.DataFrame) -> pa.Array | pa.ChunkedArray | None:
    """One CSV line per row, as :func:`pandas_csv` writes it (minimal quoting: a field
    holding a comma, a quote, a line feed or a carriage return is quoted, its quotes
    doubled; missing values empty); None when a column is of a kind not handled here, there
    are no rows or a single column (a lone empty field is quoted), or the text outgrows an
    Arrow array."""
    if len(frame.columns) < 2 or not len(frame):
        return None
    pieces: list[pa.Array | str] = []
    for number, name in enumerate(frame.columns):
        texts = column_texts(frame[name], CSV)
        if texts is None:
            return None
        pieces += [("" if number == 0 else ","), texts]
    return joined_lines(pieces, "\n")


def joined_lines(pieces: list[pa.Array | str], end: str) -> pa.Array | pa.ChunkedArray | None:
    """Each row's pieces joined, then ``end``; None when Arrow cannot (too much text for one
    array, a kind of array not foreseen) or a row came out missing (its text would be lost)."""
    try:
        lines = pc.binary_join_element_wise(*pieces, end, "")
    except (pa.ArrowInvalid, pa.ArrowCapacityError, pa.ArrowNotImplementedError):
        return None
    return lines if lines.null_count == 0 else None


def text_bytes(texts: pa.Array | pa.ChunkedArray) -> bytes | memoryview:
    """The bytes of string arrays without missing values, one text after the other (a
    chunked array's chunks joined; a single array's bytes as they are, not copied)."""
    if isinstance(texts, pa.ChunkedArray):
        chunks = texts.chunks
        if len(chunks) == 1:
            return text_bytes(chunks[0])
        return b"".join(bytes(text_bytes(chunk)) for chunk in chunks)
    width = 8 if pa.types.is_large_string(texts.type) else 4
    offsets = np.frombuffer(texts.buffers()[1], dtype=f"<i{width}")
    start, stop = int(offsets[texts.offset]), int(offsets[texts.offset + len(texts)])
    data = texts.buffers()[2]
    return memoryview(data)[start:stop] if data is not None else memoryview(b"")


def text_series(texts: pa.Array | pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """Arrow texts as a pandas column (no Python string per value), with ``like``'s index
    and name."""
    return pd.Series(pd.arrays.ArrowStringArray(texts), index=like.index, name=like.name)


def strings(column: pd.Series) -> pa.Array | None:
    """A column of texts (missing: null) as an Arrow string array; None when a value is
    not text, or not valid Unicode."""
    dtype = column.dtype
    if isinstance(dtype, (pd.ArrowDtype, pd.StringDtype)):
        try:
            array = pa.array(column.array)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            return None
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return array.cast(pa.string()) if pa.types.is_large_string(array.type) else array
        return None
    if dtype != np.dtype(object):
        return None
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return None
    try:
        return pa.array(values, type=pa.string(), mask=pd.isna(values))
    except (pa.ArrowInvalid, UnicodeEncodeError):  # e.g. a lone surrogate
        return None


@dataclass(frozen=True)
class TextStyle:
    """How a format writes values: a text's literal (``quote``, missing ones included),
    the two flags, and a missing number or flag."""

    quote: Callable[[pa.Array], pa.Array]
    true: str
    false: str
    missing: str


def column_texts(column: pd.Series, style: TextStyle) -> pa.Array | None:
    """Each value of ``column`` as ``style`` writes it; None: a kind not handled here.
    Numbers and flags are never quoted; a categorical's categories are quoted once each."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = strings(pd.Series(dtype.categories, dtype=object))
        if categories is None:
            return None
        codes = column.cat.codes.to_numpy()
        taken = style.quote(categories).take(pa.array(codes, mask=codes < 0))
        return pc.fill_null(taken, style.missing)
    if pd.api.types.is_bool_dtype(dtype):
        flags = pa.array(column.array) if not isinstance(dtype, np.dtype) else pa.array(column)
        return pc.fill_null(pc.if_else(flags, style.true, style.false), style.missing)
    if pd.api.types.is_integer_dtype(dtype):
        numbers = pa.array(column.array) if not isinstance(dtype, np.dtype) else pa.array(column)
        return pc.fill_null(pc.cast(numbers, pa.string()), style.missing)
    texts = strings(column)
    return None if texts is None else style.quote(texts)


def _csv_fields(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Texts as CSV fields: quoted (quotes doubled) where they hold a comma, a quote, a line
    feed or a carriage return; missing ones empty. Only the texts that need quotes are
    quoted."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    needs = pc.fill_null(pc.match_substring_regex(texts, '[,"\n\r]'), False)
    count = pc.sum(needs).as_py() or 0
    if count:
        some = texts if count == len(texts) else pc.filter(texts, needs)
        quote, nothing = pa.scalar('"', texts.type), pa.scalar("", texts.type)  # (large too)
        doubled = pc.replace_substring(some, '"', '""')
        some = pc.binary_join_element_wise(quote, doubled, quote, nothing)
        texts = some if count == len(texts) else pc.replace_with_mask(texts, needs, some)
    return pc.fill_null(texts, "")


#: What :func:`pandas_csv` writes through Python's ``csv`` writer.
CSV = TextStyle(_csv_fields, "True", "False", "")
