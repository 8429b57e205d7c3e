"""Matched records as a small table: who matched what, and the fields correlations group by.

One row per (rule, record): the rule's key, the record's identity (the evidence keys a
diagnosis lists) and, for rules a correlation uses, the text of the fields it groups or
counts by (``field:<Name>``, the record's first value of that field, as the rule's field
mapping reads it). This is all the correlation stage needs; the batch itself can go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.signatures.sigma.fields import resolve
from evtxscan.signatures.sigma.model import CompiledRule
from evtxscan.signatures.sigma.view import BatchView

#: Record columns kept per hit (evidence and correlation).
HIT_COLUMNS = (
    "host",
    "time",
    "channel",
    "provider",
    "event_id",
    "event_record_id",
    "record_number",
    "source_file",
    "recovered",
)
FIELD_PREFIX = "field:"


def empty_hits() -> pd.DataFrame:
    """A hit table without rows."""
    return pd.DataFrame(
        {
            "rule": pd.Series(dtype=object),
            **{name: pd.Series(dtype=object) for name in HIT_COLUMNS},
            "time": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )[["rule", *HIT_COLUMNS]]


def field_text(frame: pd.DataFrame, rows: np.ndarray, name: str) -> np.ndarray:
    """Each row's first value of a Sigma field (object array, None when absent)."""
    view = BatchView(frame, rows)
    values = view.field(resolve(name))
    out = np.full(len(rows), None, dtype=object)
    if len(values.owners):
        owners, first = np.unique(values.owners, return_index=True)
        out[owners] = values.values.take(pa.array(first)).to_pylist()
    return out


def hits_of(
    frame: pd.DataFrame,
    matches: pd.DataFrame,
    rules: Sequence[CompiledRule],
    needs: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """The hit table of one batch (``matches`` from :meth:`SigmaMatcher.match`).

    ``needs`` maps a rule key to the field names its correlations read.
    """
    positions = matches["row"].to_numpy()
    out = frame[list(HIT_COLUMNS)].iloc[positions].reset_index(drop=True)  # only its columns
    for name in ("host", "channel", "provider", "source_file"):
        out[name] = out[name].astype(str)
    keys = np.array([r.info.key for r in rules], dtype=object)
    rule_index = matches["rule"].to_numpy()
    out.insert(0, "rule", keys[rule_index] if len(rule_index) else np.zeros(0, dtype=object))
    wanted = sorted({name for key in needs for name in needs[key]})
    for name in wanted:
        column = np.full(len(out), None, dtype=object)
        for index in np.unique(rule_index):
            names = needs.get(str(keys[index]), ())
            if name not in names:
                continue
            mine = np.flatnonzero(rule_index == index)
            column[mine] = field_text(frame, positions[mine], name)
        out[FIELD_PREFIX + name] = column
    return out
