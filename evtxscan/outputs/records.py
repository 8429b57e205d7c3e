"""Write normalized record batches as CSV, JSON Lines or Parquet, one batch at a time.

The ``data`` column (Arrow ``list<struct<name, value>>`` in frames and Parquet) becomes a
JSON array of ``{"name", "value"}`` objects in CSV and JSONL; times are ISO-8601 UTC.
Categorical columns are written as plain strings so every batch has the same schema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evtxscan.outputs.arrow_text import csv_text, text_series
from evtxscan.outputs.record_text import jsonl_text, plain_frame
from evtxscan.records.schema import COLUMNS, DATA_TYPE


class RecordFormat(StrEnum):
    """Output formats for records."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


def _arrow_type(dtype: object) -> pa.DataType:
    if dtype == "category":
        return pa.string()
    if isinstance(dtype, pd.ArrowDtype):
        return dtype.pyarrow_dtype
    if isinstance(dtype, pd.StringDtype):
        return pa.string()
    if str(dtype).startswith("datetime64"):
        return pa.timestamp("us", tz="UTC")
    if dtype == "bool":
        return pa.bool_()
    return pa.from_numpy_dtype(pd.api.types.pandas_dtype(str(dtype).lower()))


def arrow_schema(columns: dict[str, object] | None = None) -> pa.Schema:
    """The Arrow schema of the record columns (strings for categoricals)."""
    cols = columns or COLUMNS
    return pa.schema([(name, _arrow_type(dtype)) for name, dtype in cols.items()])


def record_columns(frame: pd.DataFrame) -> dict[str, object]:
    """The schema columns, then the frame's added ones (``message``, ``binary_status``)."""
    extra = {name: frame[name].dtype for name in frame.columns if name not in COLUMNS}
    return {**COLUMNS, **extra}


def to_arrow(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """A batch as an Arrow table with the fixed record schema and pandas dtype metadata.

    ``pd.read_parquet`` then restores the nullable integer, datetime and ``data`` dtypes.
    """
    schema = schema or arrow_schema({c: frame[c].dtype for c in frame.columns})
    nested = [f.name for f in schema if pa.types.is_list(f.type)]
    plain = frame.drop(columns=nested)
    for name in plain.columns:
        if isinstance(plain[name].dtype, pd.CategoricalDtype):
            plain[name] = _category_text(plain[name])
    flat_schema = pa.schema([f for f in schema if f.name not in nested])
    table = pa.Table.from_pandas(plain, schema=flat_schema, preserve_index=False)
    # Nested columns are added without pandas metadata: pandas cannot parse a nested
    # ArrowDtype name back, and read_parquet then gives lists of {name, value} dicts.
    for name in nested:
        position = schema.get_field_index(name)
        values = frame[name].array._pa_array  # the chunks as they are (no Python objects)
        if values.type != schema.field(name).type:
            values = values.cast(schema.field(name).type)
        table = table.add_column(position, schema.field(name), values)
    return table


def _category_text(column: pd.Series) -> pd.Series:
    """A categorical text column as Arrow-backed strings (``astype`` would build a Python
    object per row first): each row takes its category's text, missing stays missing."""
    codes = column.cat.codes.to_numpy()
    names = pa.array(column.cat.categories.to_numpy(dtype=object), type=pa.large_string())
    texts = pc.take(names, pa.array(codes, mask=codes < 0))
    return text_series(texts, column)


#: Rows of a Parquet row group: batches are gathered up to this many (a row group per
#: small batch would keep metadata for thousands of row groups in memory and on disk).
ROW_GROUP_ROWS = 16_384


class RecordWriter:
    """Append batches to one output file (or stream) in the chosen format."""

    def __init__(self, target: IO[bytes], fmt: RecordFormat | str) -> None:
        self.target = target
        self.format = RecordFormat(fmt)
        self._parquet: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._wrote_header = False
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        if self.format is RecordFormat.PARQUET:
            table = to_arrow(frame, arrow_schema(record_columns(frame)))
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.target, table.schema)
            self._pending.append(table)
            self._pending_rows += len(table)
            if self._pending_rows >= ROW_GROUP_ROWS:
                self._flush_row_group()
            return
        plain = plain_frame(frame)
        if self.format is RecordFormat.CSV:
            self.target.write(csv_text(plain, header=not self._wrote_header))
            self._wrote_header = True
        else:
            self.target.write(jsonl_text(plain))

    def _flush_row_group(self) -> None:
        if self._pending and self._parquet is not None:
            table = pa.concat_tables(self._pending)
            self._parquet.write_table(table, row_group_size=max(len(table), 1))
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        if self.format is RecordFormat.PARQUET:
            if self._parquet is None:  # no rows: still write a valid, empty file
                self._parquet = pq.ParquetWriter(self.target, arrow_schema())
            self._flush_row_group()
            self._parquet.close()
        elif self.format is RecordFormat.CSV and not self._wrote_header:
            self.target.write((",".join(COLUMNS) + "\n").encode("utf-8"))
        self.target.flush()


__all__ = [
    "DATA_TYPE",
    "RecordFormat",
    "RecordWriter",
    "arrow_schema",
    "record_columns",
    "to_arrow",
]
