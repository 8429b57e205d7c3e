"""Per host and day statistics: records and errors per UTC day (for the daily plot)."""

from __future__ import annotations

import pandas as pd


def daily_counts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Records and errors per host and UTC day."""
    if not parts:
        return pd.DataFrame(columns=["host", "day", "records", "errors"])
    combined = pd.concat(parts, ignore_index=True)
    return combined.groupby(["host", "day"], as_index=False)[["records", "errors"]].sum()
