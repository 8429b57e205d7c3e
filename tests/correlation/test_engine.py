"""De-duplication of kept rows: one batch at a time (SeenRows) gives what one pass over all
rows (dedupe) gives, first occurrences first."""

from __future__ import annotations

import pandas as pd

from evtxscan.correlation.engine import SeenRows, dedupe
from evtxscan.records.schema import COLUMNS


def _rows(keys: list[tuple[str, int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "host": [k[0] for k in keys],
            "channel": ["System"] * len(keys),
            "event_record_id": pd.array([k[1] for k in keys], dtype="UInt64"),
            "provider_key": ["service control manager"] * len(keys),
            "event_id": pd.array([7036] * len(keys), dtype="UInt16"),
            "time": pd.to_datetime(["2024-01-01"] * len(keys), utc=True),
            "data": pd.array(
                [[{"name": "param1", "value": k[2]}] for k in keys], dtype=COLUMNS["data"]
            ),
            "message_logged": pd.array([None] * len(keys), dtype="string[pyarrow]"),
            "order": range(len(keys)),
        }
    )
    return frame


def test_batches_give_the_same_rows_as_one_pass() -> None:
    batches = [
        _rows([("a", 1, "x"), ("a", 2, "x"), ("a", 1, "x")]),  # a repeat inside the batch
        _rows([("a", 1, "x"), ("b", 1, "x"), ("a", 1, "y")]),  # seen before; other host; value
        _rows([("b", 1, "x"), ("c", 3, "z")]),
    ]
    for number, batch in enumerate(batches):
        batch["order"] = [f"{number}.{i}" for i in range(len(batch))]
    seen = SeenRows()
    incremental = pd.concat([seen.fresh(b) for b in batches], ignore_index=True)
    whole = dedupe(pd.concat(batches, ignore_index=True))
    assert incremental["order"].tolist() == whole["order"].tolist()
    assert incremental["order"].tolist() == ["0.0", "0.1", "1.1", "1.2", "2.1"]
    assert seen.fresh(_rows([])).empty
