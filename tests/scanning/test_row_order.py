"""Rows' canonical order, sorted on numbers, is the order pandas gives sorting their texts,
times and numbers (missing values last, ties in row order), whatever the column types."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.scanning.scanner import canonical_order

NAMES = ["HOST-B", "host-a", "HOST-A", "Ω-host", "10", "9"]


def _by_pandas(rows: pd.DataFrame) -> pd.DataFrame:
    """The order as pandas sorts the columns (texts as ``astype(str)``)."""
    keys = pd.DataFrame(
        {
            "host": rows["host"].astype(str),
            "time": rows["time"],
            "channel": rows["channel"].astype(str),
            "id": rows["event_record_id"],
            "file": rows["source_file"].astype(str),
            "offset": rows["offset"],
        }
    )
    order = keys.sort_values(list(keys.columns), kind="stable", na_position="last").index
    return rows.loc[order].reset_index(drop=True)


def _texts(draw: st.DrawFn, n: int, pool: list[str]) -> list[str | None]:
    return draw(st.lists(st.sampled_from([*pool, None]), min_size=n, max_size=n))


@st.composite
def _rows(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    host = _texts(draw, n, NAMES)
    kind = draw(st.sampled_from(["category", "object", "str"]))
    times = draw(st.lists(st.sampled_from([None, 0, 1, 2, 10**9]), min_size=n, max_size=n))
    ids = draw(st.lists(st.sampled_from([None, 0, 5, 2**63 + 1]), min_size=n, max_size=n))
    offsets = draw(st.lists(st.sampled_from([None, 0, 4096, 70000]), min_size=n, max_size=n))
    channel = pd.Categorical(_texts(draw, n, ["System", "Application", "system"]))
    if draw(st.booleans()):  # categories the rows do not use, in no order
        channel = channel.add_categories(["Zeta", "Alpha"])
    return pd.DataFrame(
        {
            "host": pd.Series(host, dtype=kind),
            "time": pd.to_datetime(
                pd.Series([None if t is None else t * 10**6 for t in times], dtype="Int64"),
                unit="us",
                utc=True,
            ),
            "channel": channel,
            "event_record_id": pd.array(ids, dtype="UInt64"),
            "source_file": pd.Categorical(_texts(draw, n, ["b.evtx", "a.evtx"])),
            "offset": pd.array(offsets, dtype="Int64"),
            "row": np.arange(n),
        }
    )


@settings(max_examples=300, deadline=None)
@given(rows=_rows())
def test_the_order_is_the_one_pandas_gives(rows: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(canonical_order(rows), _by_pandas(rows))


def test_texts_sort_by_code_point_and_missing_ones_last() -> None:
    rows = next_rows(["b", None, "B", "a", "é"])
    assert canonical_order(rows)["host"].tolist()[:4] == ["B", "a", "b", "é"]
    assert pd.isna(canonical_order(rows)["host"].tolist()[4])


def next_rows(hosts: list[str | None]) -> pd.DataFrame:
    n = len(hosts)
    return pd.DataFrame(
        {
            "host": pd.Categorical(hosts),
            "time": pd.to_datetime([0] * n, utc=True),
            "channel": pd.Categorical(["System"] * n),
            "event_record_id": pd.array([1] * n, dtype="UInt64"),
            "source_file": pd.Categorical(["a"] * n),
            "offset": pd.array([0] * n, dtype="Int64"),
        }
    )
