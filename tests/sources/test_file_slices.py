"""A small-file batch split per file: runs as slices, counts per file as if read alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evtxscan.sources.evtx.file_slices import (
    among,
    pair_keys,
    positions,
    rows_at,
    rows_by_number,
    used_categories,
)


def test_rows_by_number_gives_runs_as_slices_and_scattered_rows_as_positions() -> None:
    runs = rows_by_number(np.array([0, 0, 2, 2, 2]), 4)
    assert runs == [slice(0, 2), slice(2, 2), slice(2, 5), slice(5, 5)]
    scattered = rows_by_number(np.array([1, 0, 1, -1]), 3)
    assert [positions(r).tolist() for r in scattered] == [[1], [0, 2], []]
    assert rows_by_number(np.zeros(0, dtype=np.int64), 2) == [slice(0, 0), slice(0, 0)]


def test_rows_at_numbers_rows_from_zero_and_keeps_values() -> None:
    frame = pd.DataFrame({"a": range(6), "b": list("uvwxyz")})
    piece = rows_at(frame, slice(2, 5))
    assert piece.index.tolist() == [0, 1, 2]
    assert piece["b"].tolist() == ["w", "x", "y"]
    assert rows_at(frame, np.array([5, 0]))["a"].tolist() == [5, 0]


def test_pair_keys_tell_files_apart() -> None:
    keys = pair_keys(np.array([0, 1, 0, -1]), np.array([4096, 4096, 8192, 4096]))
    assert len(set(keys.tolist())) == 4


def test_used_categories_drops_only_unused_ones() -> None:
    frame = pd.DataFrame(
        {
            "some": pd.Categorical(["x", None, "y"], categories=["x", "y", "z"]),
            "all": pd.Categorical(["p", "p", "q"], categories=["p", "q"]),
            "none": pd.Categorical([None, None, None], categories=["k"]),
            "plain": [1, 2, 3],
        }
    )
    out = used_categories(frame.copy())
    assert out["some"].cat.categories.tolist() == ["x", "y"]
    assert out["some"].isna().tolist() == [False, True, False]
    assert out["all"].cat.categories.tolist() == ["p", "q"]
    assert out["none"].cat.categories.tolist() == []
    assert out["plain"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("ordered", [True, False])
def test_among_is_isin(ordered: bool) -> None:
    """Membership by binary search (keys found strictly increasing) or by ``np.isin``: the
    same answer, keys below, between, equal to and past the ones found included."""
    rng = np.random.default_rng(7)
    found = np.unique(rng.integers(0, 1 << 42, 500))
    if not ordered:
        found = rng.permutation(found)
    keys = np.concatenate([found[::3], rng.integers(-5, (1 << 42) + 5, 2000), [-1, 1 << 43]])
    assert among(keys, found).tolist() == np.isin(keys, found).tolist()
    assert among(keys, found[:1]).tolist() == np.isin(keys, found[:1]).tolist()
    assert not among(keys, found[:0]).any()
    assert among(found[:0], found).shape == (0,)
