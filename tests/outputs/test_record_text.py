"""Record batches as JSON Lines and CSV text: built column-wise, the same as row by row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from evtxscan.outputs import arrow_text, record_text
from evtxscan.outputs.arrow_text import text_bytes
from evtxscan.outputs.json_cells import PAIRS
from evtxscan.outputs.record_text import (
    data_as_json,
    json_lines,
    jsonl_row_by_row,
    jsonl_text,
    plain_frame,
)

#: Texts with every character ``json.dumps`` escapes, and some it leaves as they are.
TEXTS = ["plain", 'a "quote"', "back\\slash", "new\nline\r\t", "\x00\x07\x1f\x7f", "é ☃ \u2028", ""]


def _frame() -> pd.DataFrame:
    n = 8
    texts = [TEXTS[i % len(TEXTS)] for i in range(n)]
    pairs = [
        [{"name": texts[i], "value": texts[-1 - i]}, {"name": None, "value": "x"}] for i in range(n)
    ]
    pairs[3] = None
    frame = pd.DataFrame(
        {
            "host": pd.Categorical([texts[i] if i != 2 else None for i in range(n)]),
            "time": pd.to_datetime(
                [1_700_000_000_123_456 + i for i in range(n)], unit="us", utc=True
            ),
            "event_id": pd.array([i if i != 5 else None for i in range(n)], dtype="UInt16"),
            "keywords": pd.array(
                [2**64 - 1 - i if i != 1 else None for i in range(n)], dtype="UInt64"
            ),
            "offset": pd.array(list(range(-4, 4)), dtype="Int64"),
            "recovered": np.array([i % 2 == 0 for i in range(n)]),
            "data": pd.Series(pd.arrays.ArrowExtensionArray(pa.array(pairs, type=PAIRS))),
            "message": pd.array([texts[i] if i != 4 else None for i in range(n)], dtype="string"),
        }
    )
    frame.loc[6, "time"] = pd.NaT
    return frame


def test_json_lines_are_what_json_dumps_writes_row_by_row() -> None:
    plain = plain_frame(_frame())
    assert json_lines(plain) is not None  # built by Arrow, not the fallback
    text = bytes(jsonl_text(plain))
    assert text == jsonl_row_by_row(plain)
    rows = [json.loads(line) for line in text.decode().split("\n")[:-1]]  # (U+2028 is raw)
    assert rows[2]["host"] is None and rows[5]["event_id"] is None and rows[6]["time"] is None
    assert rows[0]["keywords"] == "0xffffffffffffffff" and rows[1]["keywords"] is None
    assert rows[3]["data"] == [] and rows[0]["data"][1] == {"name": None, "value": "x"}
    assert [row["recovered"] for row in rows[:2]] == [True, False]


def test_a_batch_json_lines_cannot_build_is_written_row_by_row() -> None:
    plain = plain_frame(_frame()).assign(score=np.linspace(0, 1, 8))  # floats: not handled
    assert json_lines(plain) is None
    assert bytes(jsonl_text(plain)) == jsonl_row_by_row(plain)


def test_a_column_of_other_than_text_is_not_taken_for_text() -> None:
    plain = plain_frame(_frame()).assign(mixed=pd.Series([b"x", "y"] * 4, dtype=object))
    assert json_lines(plain) is None


def test_plain_frames_show_data_keywords_and_times_as_before() -> None:
    frame = _frame()
    plain = plain_frame(frame)
    assert list(plain["data"]) == data_as_json(frame["data"])
    expected = [None if pd.isna(k) else f"0x{int(k):016x}" for k in frame["keywords"]]
    assert [None if pd.isna(k) else k for k in plain["keywords"]] == expected
    times = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [None if pd.isna(t) else t for t in times] == [
        None if pd.isna(t) else t for t in plain["time"]
    ]


def test_keywords_of_a_signed_column_are_formatted_one_by_one() -> None:
    column = pd.Series(pd.array([1, None, 255], dtype="Int64"))
    assert list(record_text._hex_texts(column)) == [
        "0x0000000000000001",
        None,
        "0x00000000000000ff",
    ]


def test_columns_of_several_arrow_chunks_are_written_whole() -> None:
    """Frames joined from batches hold Arrow columns of several chunks (found by fuzzing:
    the joined lines were then a chunked array, whose bytes were not read)."""
    frame = pd.concat([_frame(), _frame().iloc[2:]], ignore_index=True)
    assert frame["data"].array._pa_array.num_chunks == 2
    plain = plain_frame(frame)
    assert plain["message"].array._pa_array.num_chunks == 2
    chunked = pa.chunked_array([pa.array(TEXTS[:3]), pa.array(TEXTS[3:])])
    assert bytes(text_bytes(chunked)) == "".join(TEXTS).encode()
    assert bytes(jsonl_text(plain)) == jsonl_row_by_row(plain)
    expected = arrow_text.pandas_csv(plain).encode()
    assert bytes(arrow_text.csv_text(plain, True)) == expected
