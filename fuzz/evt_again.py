"""Check the second read of fuzzed .evt logs: the records at chosen offsets, read again.

A scan locates the context records of an .evt log by file offset and decodes them again
near a symptom (:func:`evtxscan.sources.evt.read_evt_at`: the walk made again, only the
wanted records decoded). Whatever the bytes, the rows read again must be the rows the first
read gave at those offsets, in the same order.
"""

from __future__ import annotations

import traceback

import pandas as pd

from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, sniff
from evtxscan.sources.evt import read_evt, read_evt_at
from evtxscan.sources.integrity import FileReport


def check_evt_again(inputs: list[tuple[str, bytes]]) -> str | None:
    """A problem's description (or None): an exception, or rows read again that differ."""
    for name, data in inputs:
        if sniff(data[:SNIFF_BYTES]) is not LogFormat.EVT:
            continue
        try:
            problem = _compare(name, data)
        except Exception:
            return f"{name}: {traceback.format_exc()}"
        if problem:
            return f"{name}: {problem}"
    return None


def _compare(name: str, data: bytes) -> str | None:
    frames = list(read_evt(data, source=name, report=FileReport(path=name), batch_size=500))
    if not frames:
        return None
    every = pd.concat(frames, ignore_index=True)
    chosen = every["offset"].iloc[::2].tolist()  # every other record: batches cut anywhere
    again = list(read_evt_at(data, chosen, source=name, batch_size=97))
    expected = every[every["offset"].isin(chosen)].reset_index(drop=True).astype(object)
    found = pd.concat(again, ignore_index=True).astype(object) if again else expected.iloc[:0]
    try:
        pd.testing.assert_frame_equal(found, expected)
    except AssertionError as exc:
        return f"the records read again differ from the first read's: {exc}"
    return None
