"""The fast pyevtx-rs text path must agree with the lxml reference normalizer everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from evtx import PyEvtxParser

from evtxscan.records.batch import RecordBatch
from evtxscan.records.event_xml import fields_from_xml
from evtxscan.records.schema import RecordPosition
from evtxscan.sources.evtx.fast_xml import fast_row

# lxml's recovering parser drops C0 control characters that the fast path keeps as logged;
# records holding them are left out of the comparison.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_records(path: Path) -> list[str]:
    out = []
    records = PyEvtxParser(str(path), number_of_threads=1).records()
    while True:
        try:
            out.append(next(records)["data"])
        except StopIteration:
            return out
        except RuntimeError:
            continue


def _frames(xmls: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    fast, reference = RecordBatch(), RecordBatch()
    for number, xml in enumerate(xmls):
        row = fast_row(xml)
        if row is None or _CONTROL.search(xml):
            continue
        position = RecordPosition(number, None, None, None)
        fast.add_raw(row[0], row[1], position)
        reference.add_fields(fields_from_xml(xml), position)
    options = {"source_file": "x", "source_format": "evtx"}
    return fast.frame(**options), reference.frame(**options), len(fast)


def test_fast_path_equals_reference_on_every_sample(samples: Path) -> None:
    files = sorted(p for p in samples.rglob("*.evtx") if p.stat().st_size > 0)
    compared = 0
    for path in files:
        try:
            xmls = _xml_records(path)
        except (OSError, RuntimeError):
            continue
        fast, reference, count = _frames(xmls)
        try:
            pd.testing.assert_frame_equal(fast, reference, obj=str(path))
        except AssertionError as exc:
            raise AssertionError(str(exc)[:2000]) from None
        compared += count
    assert compared > 100_000


@pytest.mark.parametrize(
    "xml",
    [
        "<Event><System><EventID>1</EventID></System></Event>",
        '<?xml version="1.0"?>\n<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">'
        '\n  <System>\n    <Provider Name="X">\n    </Provider>\n  </System>\n</Event>',
    ],
)
def test_unrecognised_layouts_go_to_the_reference_path(xml: str) -> None:
    assert fast_row(xml) is None
    assert fields_from_xml(xml).event_id in (1, None)
