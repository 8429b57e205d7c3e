"""The records a nightly planner looks at, as numpy columns (``nightly/seen_rows.py``): the
stream test, the newest record and the watermark record's lookup must read as the pandas
frames they come from would."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evtxscan.nightly.seen_rows import SeenRows
from evtxscan.sources.chunk_plan import MarkColumns, Marks


def frame(
    ids: list[int | None],
    hosts: list[str | None] | None = None,
    numbers: list[int] | None = None,
    recovered: list[bool] | None = None,
    channel: str = "System",
) -> pd.DataFrame:
    n = len(ids)
    hosts = hosts if hosts is not None else ["PC1"] * n
    return pd.DataFrame(
        {
            "host": pd.Categorical(hosts),
            "channel": pd.Categorical([channel] * n),
            "event_record_id": pd.array(ids, dtype="UInt64"),
            "record_number": pd.array(
                numbers if numbers is not None else [i or 0 for i in ids], dtype="Int64"
            ),
            "time": pd.to_datetime([1_600_000_000 + i for i in range(n)], unit="s", utc=True),
            "event_id": pd.array([7000 + i for i in range(n)], dtype="UInt16"),
            "provider": pd.Categorical(["Service Control Manager"] * n),
            "recovered": recovered if recovered is not None else [False] * n,
        }
    )


def seen(*frames: pd.DataFrame) -> SeenRows:
    return SeenRows.of([Marks(MarkColumns.of(f), slice(None)) for f in frames])


def test_one_stream_numbered_as_logged() -> None:
    assert seen(frame([5, 6, 7])).single_stream() == ("PC1", "System")


def test_mixed_hosts_missing_or_renumbered_ids_are_no_stream() -> None:
    assert seen(frame([5, 6], hosts=["PC1", "PC2"])).single_stream() is None
    assert seen(frame([5, None])).single_stream() is None
    assert seen(frame([5, 6], numbers=[5, 9])).single_stream() is None
    assert seen(frame([0, 1], numbers=[0, 1])).single_stream() is None
    assert seen(frame([2**63, 2**63 + 1], numbers=[-1, -1])).single_stream() is None
    assert seen(frame([])).single_stream() is None


def test_a_missing_host_counts_as_absent_but_not_first() -> None:
    """As ``nunique`` counts (absent values left out), then the first record's host."""
    assert seen(frame([5, 6], hosts=["PC1", None])).single_stream() == ("PC1", "System")
    assert seen(frame([5, 6], hosts=[None, "PC1"])).single_stream() is None


def test_recovered_rows_are_left_out() -> None:
    rows = seen(frame([5, 99, 6], numbers=[5, 1, 6], recovered=[False, True, False]))
    assert rows.single_stream() is None
    live = rows.live()
    assert live.single_stream() == ("PC1", "System")
    assert live.record_id.tolist() == [5, 6]
    assert int(live.row(1)["event_record_id"]) == 6


def test_newest_and_the_watermark_record_across_parts() -> None:
    first, second = frame([8, 9, 9]), frame([3, 4, 5])
    rows = seen(first).joined(seen(second))
    newest = rows.newest()
    assert newest == 1  # the first of the highest
    assert rows.row(newest)["event_id"] == first.iloc[1]["event_id"]
    at = rows.first_with_id(4)
    assert at == 4
    row = rows.row(at)  # read from the second frame
    assert int(row["event_record_id"]) == 4 and row["time"] == second.iloc[1]["time"]
    assert rows.first_with_id(77) is None and rows.first_with_id(-1) is None


def test_marks_of_a_batch_pick_each_files_rows() -> None:
    batch = MarkColumns.of(frame([1, 2, 3, 4]))
    rows = SeenRows.of([Marks(batch, slice(2, 4)), Marks(batch, np.array([0]))])
    assert rows.record_id.tolist() == [3, 4, 1]
    assert rows.at.tolist() == [2, 3, 0] and rows.part.tolist() == [0, 0, 1]
    empty = SeenRows.of([])
    assert len(empty) == 0 and empty.single_stream() is None
