"""Typing a batch of raw event strings into the record schema."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from evtxscan.records.batch import SYSTEM_ORDER, RecordBatch, categorical
from evtxscan.records.schema import RecordPosition


def _system(keywords: str) -> tuple[str | None, ...]:
    values = dict.fromkeys(SYSTEM_ORDER)
    values |= {
        "provider": "P",
        "event_id": "1",
        "keywords": keywords,
        "time_created": "2024-01-01T00:00:00.000000Z",
        "event_record_id": "1",
        "channel": "System",
        "computer": "H",
    }
    return tuple(values[name] for name in SYSTEM_ORDER)


def _keywords(*texts: str) -> list[object]:
    batch = RecordBatch()
    for number, keywords in enumerate(texts):
        batch.add_raw(_system(keywords), [], RecordPosition(number, 0, 0, 0))
    frame = batch.frame(source_file="f", source_format="evtx")
    return [None if value is pd.NA else value for value in frame.keywords.tolist()]


def test_keywords_keep_all_64_bits() -> None:
    """Keywords differing only in low bits stay apart (a float detour would merge them):
    numpy reads a list of ints on both sides of 2**63 as float64."""
    texts = ("8080000000000000", "8000000000000014", "8000")
    assert _keywords(*texts) == [0x8080000000000000, 0x8000000000000014, 0x8000]


def test_unreadable_keywords_are_missing() -> None:
    assert _keywords("zz", "8000000000000014", "1" + "0" * 16) == [None, 0x8000000000000014, None]


@pytest.mark.parametrize(
    "values",
    [
        [],
        [None, None],
        ["b", "a", "b", None],
        [float("nan"), "a", pd.NA, "z"],
        ["é", "e", "E", " a", "a "],
        ["1", "10", "2"],
        np.array(["q", None, "p"], dtype=object),
    ],
)
def test_categorical_is_pandas_categorical_of_the_texts(values: Any) -> None:
    """Made from factorized codes and a shared dtype, it equals what pandas makes itself:
    the same sorted string categories (also when every value is missing) and codes."""
    made = categorical(values)
    listed = list(values)
    expected = pd.Categorical(listed, categories=sorted({v for v in listed if isinstance(v, str)}))
    expected = expected.set_categories(pd.Index(expected.categories, dtype="str"))
    pd.testing.assert_extension_array_equal(made, expected)
    assert list(made.categories) == list(expected.categories)  # in pandas' order
    assert made.codes.tolist() == expected.codes.tolist()
    assert made.categories.dtype == expected.categories.dtype


def test_categorical_of_other_values_keeps_pandas_categories() -> None:
    made = categorical([3, 1, None])  # type: ignore[list-item]
    assert list(made.categories) == [1, 3] and list(made.codes) == [1, 0, -1]
