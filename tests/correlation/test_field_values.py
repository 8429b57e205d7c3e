"""A batch's field coded column-wise (``field_codes``) reads every row as ``field_values``
reads it on its own: plain columns with missing values, and the N-th ``data`` value of
rows with fewer values, missing values, no list at all."""

from __future__ import annotations

import pandas as pd
import pytest

from evtxscan.correlation.field_values import field_codes, field_values
from evtxscan.records.schema import COLUMNS


def _rows() -> pd.DataFrame:
    data = [
        [{"name": "param1", "value": "Server"}, {"name": "param2", "value": "%%2"}],
        [{"name": None, "value": "Spooler"}],
        [],
        None,
        [{"name": "a", "value": None}, {"name": "b", "value": ""}, {"name": "c", "value": "x"}],
        [{"name": "param1", "value": "Server"}, {"name": "param2", "value": "2"}],
        [{"name": None, "value": "Spooler"}, {"name": "PARAM1", "value": "x"}],
    ]
    n = len(data)
    return pd.DataFrame(
        {
            "provider": pd.Categorical(
                [
                    "Service Control Manager",
                    None,
                    "Server",
                    "Server",
                    "Tcpip",
                    "Service Control Manager",
                    None,
                ]
            ),
            "event_id": pd.array([7023, 7000, 2508, None, 4199, 7023, 7000], dtype="UInt16"),
            "level": pd.array([2, None, 2, 4, 3, 2, None], dtype="UInt8"),
            "message": pd.array(["a", None, "", "b", "a", "c", None], dtype="str"),
            "time": pd.to_datetime(["2024-01-01T00:00:00Z"] * (n - 1) + [None], utc=True),
            "data": pd.array(data, dtype=COLUMNS["data"]),
            "written_time": pd.Series(
                ["2024-01-01", None, "2024-01-02", None, None, None, None], dtype="datetime64[ns]"
            ),  # numpy-backed, with NaT
            "record_number": [1.0, 2.0, float("nan"), 4.0, 5.0, 6.0, 7.0],
        }
    )


FIELDS = [
    "data", "data.1", "data.2", "data.3", "data.4", "data.0", "data.param1", "data.PARAM2",
    "data.b", "data.C", "data.none", "provider", "event_id", "level", "message", "time",
    "written_time", "record_number",
]  # fmt: skip


@pytest.mark.parametrize("field", FIELDS)
def test_codes_read_each_row_as_field_values(field: str) -> None:
    rows = _rows()
    found = field_codes(rows, field)
    assert found is not None
    codes, distinct = found
    assert len(codes) == len(rows)
    for code, row in zip(codes.tolist(), rows.to_dict("records"), strict=True):
        assert distinct[code] == tuple(field_values(row, field)), (field, row)


def test_values_repeat_as_one_code() -> None:
    codes, distinct = field_codes(_rows(), "data.1") or (None, [])
    assert codes is not None
    assert codes[0] == codes[5] and codes[1] == codes[6]  # "Server", "Spooler" twice each
    assert distinct[codes[4]] == ("",)  # a missing value reads ""
    assert distinct[codes[2]] == distinct[codes[3]] == ()  # no value, no list


def test_columns_of_python_objects_are_left_to_rows() -> None:
    rows = _rows()
    rows["data"] = pd.Series([None] * len(rows), dtype=object)  # not Arrow lists
    assert field_codes(rows, "data.1") is None
    assert field_codes(rows, "data") is None
    rows["message"] = pd.Series(["a", None, float("nan"), pd.NaT, "b", "a", None], dtype=object)
    assert field_codes(rows, "message") is None  # missing values of several kinds


def test_every_value_keeps_its_order() -> None:
    pairs = [[("p", "x"), ("q", "y")], [("q", "y"), ("p", "x")], [("p", "x"), ("q", "y")]]
    data = [[{"name": n, "value": v} for n, v in row] for row in pairs]
    rows = pd.DataFrame({"data": pd.array(data, dtype=COLUMNS["data"])})
    codes, distinct = field_codes(rows, "data") or (None, [])
    assert codes is not None
    assert [distinct[c] for c in codes.tolist()] == [("x", "y"), ("y", "x"), ("x", "y")]
    assert codes[0] == codes[2] != codes[1]
