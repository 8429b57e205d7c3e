"""Record batches as Arrow tables and Parquet (``outputs/records.py``): the column-by-column
conversion gives the table pandas' ``Table.from_pandas`` gives, metadata included."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evtxscan import read_records
from evtxscan.outputs.records import (
    RecordWriter,
    _via_pandas,
    arrow_schema,
    record_columns,
    to_arrow,
)
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def batch(tmp_path: Path) -> pd.DataFrame:
    """A decoded batch with categorical, nullable integer, time, text and nested columns,
    missing values among them (no qualifiers, no user)."""
    events = [
        EventSpec(
            "Service Control Manager",
            7023,
            T0,
            "SRV1",
            level=2,
            qualifiers=0xC000,
            data=(("param1", "Server"), ("param2", "%%2")),
        ),
        EventSpec(
            "Tcpip", 4199, T0 + timedelta(seconds=1), "SRV1", level=3, data=((None, "10.0.0.1"),)
        ),
        EventSpec("EventLog", 6005, T0 + timedelta(seconds=2), "SRV1", data=()),
    ]
    path = write_evtx(tmp_path / "System.evtx", events)
    frames = list(read_records(path))
    assert len(frames) == 1 and len(frames[0]) == 3
    frame = frames[0]
    frame.attrs["note"] = {"kept": ["as", "is"]}  # batches carry attrs; they are not data
    return frame


def _both(frame: pd.DataFrame) -> tuple[pa.Table, pa.Table]:
    schema = arrow_schema(record_columns(frame))
    return to_arrow(frame, schema), _via_pandas(frame, schema)


def test_table_equals_pandas_conversion(batch: pd.DataFrame) -> None:
    fast, slow = _both(batch)
    assert fast.schema.equals(slow.schema, check_metadata=True)
    assert fast.equals(slow)
    assert fast.column("qualifiers").null_count == 2  # missing stays missing
    assert fast.column("provider").to_pylist() == ["Service Control Manager", "Tcpip", "EventLog"]


def test_missing_category_and_message_columns(batch: pd.DataFrame) -> None:
    batch["user_sid"] = pd.Categorical([None, "S-1-5-18", None])
    batch["message"] = pd.array(["a", None, "c"], dtype=pd.StringDtype("pyarrow"))
    fast, slow = _both(batch)
    assert fast.equals(slow) and fast.schema.equals(slow.schema, check_metadata=True)
    assert fast.column("user_sid").to_pylist() == [None, "S-1-5-18", None]


def test_python_objects_take_the_pandas_way(batch: pd.DataFrame) -> None:
    """A column of Python objects is left to pandas' own conversion (values and metadata as
    before this writer converted columns itself)."""
    batch["extra"] = pd.Series(["x", None, "z"], dtype=object)
    schema = arrow_schema(record_columns(batch.drop(columns=["extra"]))).append(
        pa.field("extra", pa.string())
    )
    table = to_arrow(batch, schema)
    assert table.column("extra").to_pylist() == ["x", None, "z"]
    assert table.schema.pandas_metadata is not None
    described = {c["name"]: c["pandas_type"] for c in table.schema.pandas_metadata["columns"]}
    assert described["extra"] == "unicode"


def test_parquet_round_trip_restores_types(batch: pd.DataFrame) -> None:
    target = io.BytesIO()
    writer = RecordWriter(target, "parquet")
    writer.write(batch)
    writer.write(batch.iloc[1:])  # a second batch of the same layout: the metadata reused
    writer.close()
    target.seek(0)
    back = pd.read_parquet(target)
    assert len(back) == 5
    assert str(back["event_id"].dtype) == "UInt16" and str(back["qualifiers"].dtype) == "UInt16"
    assert str(back["time"].dtype) == "datetime64[us, UTC]"
    assert back["qualifiers"].isna().tolist() == [False, True, True, True, True]
    target.seek(0)
    assert pq.read_metadata(target).num_row_groups == 1
