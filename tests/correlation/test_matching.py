"""Exact symptom tests selector by selector over a batch give what testing each row on its
own gives (:func:`selector_matches`), whatever the mix of providers, levels and values."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from evtxscan.correlation import matching
from evtxscan.correlation.selection import SignatureIndex, selector_matches
from evtxscan.records.schema import COLUMNS
from evtxscan.signatures.loader import load_signatures


def _batch() -> pd.DataFrame:
    services = ["Server", "Workstation", "Spooler", "Microsoft Exchange Directory", None]
    errors = ["%%2", "%%1053", "The system cannot find the file specified.", ""]
    rows = []
    for (event_id, level, service, error, channel) in itertools.product(
        (7000, 7023, 7026, 2508, 26), (1, 2, 4, None), services, errors, ("System", None)
    ):  # fmt: skip
        provider = "Server" if event_id == 2508 else "Service Control Manager"
        data = [{"name": None, "value": v} for v in (service, error) if v is not None]
        rows.append((provider, event_id, level, channel, data))
    return pd.DataFrame(
        {
            "provider": [r[0] for r in rows],
            "event_source_name": pd.array([None] * len(rows), dtype="str"),
            "event_id": pd.array([r[1] for r in rows], dtype="UInt16"),
            "level": pd.array([r[2] for r in rows], dtype="UInt8"),
            "channel": pd.Categorical([r[3] for r in rows]),
            "data": pd.array([r[4] for r in rows], dtype=COLUMNS["data"]),
        }
    )


def _one_by_one(index: SignatureIndex, rows: pd.DataFrame, canon: list[str]) -> list[list[str]]:
    out = []
    for row, provider in zip(rows.to_dict("records"), canon, strict=True):
        pairs = index.selectors.get((provider, int(row["event_id"])), [])
        names = {f"{s.id}:{sel.name}" for s, sel in pairs if selector_matches(sel, row)}
        out.append(sorted(names))
    return out


def test_a_batch_matches_as_rows_one_by_one() -> None:
    index = SignatureIndex(load_signatures())
    rows = _batch()
    canon = [index.names(p) for p in rows["provider"]]
    expected = _one_by_one(index, rows, canon)
    assert sum(map(len, expected)) > 0  # the batch holds symptoms, not only misses
    assert index.match(rows, canon) == expected
    assert index.match(rows, canon) == expected  # again, with results remembered


def test_remembered_results_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "KNOWN_RESULTS", 5)
    index = SignatureIndex(load_signatures())
    rows = _batch()
    canon = [index.names(p) for p in rows["provider"]]
    assert index.match(rows, canon) == _one_by_one(index, rows, canon)
    assert len(index.known) <= 5
    assert np.all([isinstance(k[1], tuple) for k in index.known])


def test_python_values_are_those_pandas_gives_made_by_arrow() -> None:
    """Arrow text and nested columns (chunked too) are converted by Arrow; a missing value
    is None where pandas gives NA, which every field reader takes alike. Others as pandas."""
    data = pd.array([[{"name": "a", "value": "1"}], None, []], dtype=COLUMNS["data"])
    texts = pd.array(["x", None, "é"], dtype=pd.ArrowDtype(pa.string()))
    chunked = pd.concat([pd.Series(texts[:1]), pd.Series(texts[1:])], ignore_index=True)
    assert chunked.array._pa_array.num_chunks == 2
    for column in (pd.Series(data), pd.Series(texts), chunked):
        expected = [None if value is pd.NA else value for value in column.tolist()]
        assert matching._python_values(column) == expected
    times = pd.Series(pd.to_datetime(["2024-01-01"], utc=True))
    assert matching._python_values(times) == times.tolist()
    plain = pd.Series(["a", None], dtype=object)
    assert matching._python_values(plain) == ["a", None]
