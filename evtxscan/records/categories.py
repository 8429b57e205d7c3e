"""Categorical columns over small sets of texts, their dtypes made once and shared.

A typed batch has a dozen categorical columns (host, channel, provider, ...) over a handful
of distinct texts each. Building each column's string Index anew costs more than the rest
of a small batch's column, so the dtype of each distinct set of names is kept (a bounded
cache: cleared when full) and the column is made from codes without re-validating them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Distinct sets of names kept; past that the cache starts over (memory stays bounded).
KEPT_DTYPES = 1024

_dtypes: dict[tuple[str, ...], pd.CategoricalDtype] = {}


def text_dtype(names: tuple[str, ...]) -> pd.CategoricalDtype:
    """The unordered categorical dtype whose categories are ``names`` (distinct texts, in
    the order given) as a string Index."""
    dtype = _dtypes.get(names)
    if dtype is None:
        if len(_dtypes) >= KEPT_DTYPES:
            _dtypes.clear()
        dtype = pd.CategoricalDtype(pd.Index(list(names), dtype="str"))
        _dtypes[names] = dtype
    return dtype


def from_codes(codes: np.ndarray, names: tuple[str, ...]) -> pd.Categorical:
    """A categorical of ``names`` from ``codes`` (each in ``-1..len(names) - 1``; -1 is
    missing). The caller vouches for the range: codes are not checked again."""
    return pd.Categorical.from_codes(codes, dtype=text_dtype(names), validate=False)
