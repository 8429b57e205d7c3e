"""Nested cells as CSV shows them: exactly what ``json.dumps`` writes, however they are made."""

from __future__ import annotations

import json
import random

import pandas as pd
import pyarrow as pa
import pytest

from evtxscan.outputs.json_cells import PAIRS, json_cells, python_cells

#: Characters JSON escapes (short forms and \\u00XX), beside ones it leaves as they are.
CHARS = ["a", "é", '"', "\\", "\n", "\r", "\t", "\b", "\f", "\x7f", "\u2028", "😀", " ", "{"]


def _dumped(column: pd.Series) -> list[str]:
    return [
        v if isinstance(v, str) else json.dumps(v if v is not None else [], ensure_ascii=False)
        for v in python_cells(column)
    ]


def _pairs(seed: int, count: int, chars: list[str]) -> pa.Array:
    rnd = random.Random(seed)

    def text() -> str | None:
        return None if rnd.random() < 0.1 else "".join(rnd.choices(chars, k=rnd.randint(0, 6)))

    rows: list[list[dict[str, str | None] | None] | None] = []
    for _ in range(count):
        if rnd.random() < 0.05:
            rows.append(None)
            continue
        pairs = [None if rnd.random() < 0.05 else {"name": text(), "value": text()}
                 for _ in range(rnd.randint(0, 4))]  # fmt: skip
        rows.append(pairs)
    return pa.array(rows, PAIRS)


@pytest.mark.parametrize("seed", range(8))
def test_data_pairs_are_what_json_dumps_writes(seed: int) -> None:
    array = _pairs(seed, 500, CHARS)
    whole = pd.Series(pd.arrays.ArrowExtensionArray(array))
    assert list(json_cells(whole)) == _dumped(whole)
    pieces = pa.chunked_array([array.slice(7, 100), array.slice(150, 200)])  # sliced, chunked
    sliced = pd.Series(pd.arrays.ArrowExtensionArray(pieces))
    assert list(json_cells(sliced)) == _dumped(sliced)


def test_control_characters_json_writes_as_code_points() -> None:
    array = _pairs(99, 200, [*CHARS, "\x01", "\x1f"])
    column = pd.Series(pd.arrays.ArrowExtensionArray(array))
    assert list(json_cells(column)) == _dumped(column)
    assert any("\\u0001" in text for text in list(json_cells(column)))


def test_lists_of_names_and_other_values() -> None:
    column = pd.Series([["a", "b"], [], None, [1, 1.0, True], ["a", "b"], "as is"], dtype=object)
    assert list(json_cells(column)) == [
        '["a", "b"]',
        "[]",
        "[]",
        "[1, 1.0, true]",
        '["a", "b"]',
        "as is",
    ]
    assert list(json_cells(pd.Series(pd.arrays.ArrowExtensionArray(pa.array([], PAIRS))))) == []
