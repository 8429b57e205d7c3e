"""Per (host, file, day) counts of a batch: equal to the plain pandas grouping they replace
(records without a time in a group of their own, with no day)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evtxscan.scanning.day_counts import DAY_COLUMNS, day_counts


def _grouped(batch: pd.DataFrame) -> pd.DataFrame:
    """The reference: text keys, a groupby in order of appearance (missing days kept,
    missing hosts dropped)."""
    batch = batch[batch["host"].notna()]
    times = batch["time"]
    table = pd.DataFrame(
        {
            "host": batch["host"].astype(str).to_numpy(),
            "source_file": batch["source_file"].astype(str).to_numpy(),
            "day": times.dt.floor("D").to_numpy(),
            "errors": batch["level"].isin([1, 2]).fillna(False).to_numpy(dtype=np.int64),
            "time": times.to_numpy(),
        }
    )
    out = table.groupby(["host", "source_file", "day"], sort=False, dropna=False).agg(
        records=("errors", "size"),
        errors=("errors", "sum"),
        first_time=("time", "min"),
        last_time=("time", "max"),
    )
    return out.reset_index()[DAY_COLUMNS]


def _batch(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-03-30T20:00:00", "us").astype(np.int64)
    ticks = start + rng.integers(0, 3 * 86_400_000_000, rows)
    times = pd.Series(ticks.astype("datetime64[us]")).dt.tz_localize("UTC")
    times[rng.random(rows) < 0.05] = pd.NaT
    hosts = rng.choice(np.array(["SRV1", "nan", "ws-2", None], dtype=object), rows)
    return pd.DataFrame(
        {
            "host": pd.Categorical(hosts),
            "source_file": pd.Categorical(rng.choice(["b.evtx", "a.evtx"], rows)),
            "time": times,
            "level": pd.array(rng.choice([0, 1, 2, 3, 4, None], rows), dtype="UInt8"),
        }
    )


def test_counts_equal_the_pandas_grouping() -> None:
    for seed in range(5):
        batch = _batch(2_000, seed)
        pd.testing.assert_frame_equal(day_counts(batch), _grouped(batch))


def test_records_without_a_host_are_not_counted_but_a_host_named_nan_is() -> None:
    batch = _batch(500, 9)
    counts = day_counts(batch)
    assert "nan" in set(counts["host"]) and counts["host"].notna().all()
    named = batch["host"].notna()
    assert counts["records"].sum() == named.sum() < len(batch)


def test_records_without_a_time_are_counted_without_a_day() -> None:
    """Torn records count for their host (as records a scan does not decode do), in a group
    whose day and times are missing: the daily table cannot place them."""
    batch = _batch(300, 3)
    batch["time"] = pd.Series(pd.NaT, index=batch.index, dtype="datetime64[us, UTC]")
    counts = day_counts(batch)
    assert list(counts.columns) == DAY_COLUMNS
    assert counts["records"].sum() == batch["host"].notna().sum()
    assert counts[["day", "first_time", "last_time"]].isna().all().all()
    assert len(counts) == len(counts[["host", "source_file"]].drop_duplicates())
