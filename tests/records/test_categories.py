"""Categorical columns from codes, their dtypes shared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evtxscan.records import categories
from evtxscan.records.categories import from_codes, text_dtype


def test_from_codes_equals_a_categorical_of_the_texts() -> None:
    made = from_codes(np.array([1, -1, 0, 1]), ("a", "b"))
    expected = pd.Categorical(["b", None, "a", "b"], categories=pd.Index(["a", "b"], dtype="str"))
    pd.testing.assert_extension_array_equal(made, expected)
    assert made.categories.dtype == expected.categories.dtype


def test_a_set_of_names_gets_one_dtype_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(categories, "KEPT_DTYPES", 3)
    monkeypatch.setattr(categories, "_dtypes", {})
    first = text_dtype(("x",))
    assert text_dtype(("x",)) is first
    for name in "abcdef":
        text_dtype((name,))
    assert len(categories._dtypes) <= 3
    assert text_dtype(("x",)) == first  # made again after a clear: equal, not lost
