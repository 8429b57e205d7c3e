"""Many templates rendered in one pass give each record what rendering it alone gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from evtxscan.messages.formatting import compile_template
from evtxscan.messages.render import MessageRenderer, ParameterExpander, Resolution
from evtxscan.messages.template_pieces import TemplateGroup, render_groups

EXPANDER = ParameterExpander({2: "The system cannot find the file specified."})
TEMPLATES = {
    "service": "The %1 service terminated with the following error: %n%2",
    "constant": "The Event log service was started.",
    "hex": "Status 0x%1!08X! at %2",
    "past": "%1 wrote %3 and %4",  # records of two values: %3 and %4 stay as written
    "empty": "",
    "leading": "%1%2",
}


def _resolution(name: str) -> Resolution:
    return Resolution(compile_template(TEMPLATES[name]), "test", EXPANDER)


def _batch(records: list[list[str]]) -> tuple[pa.Array, np.ndarray]:
    """The records' values flat, and where each record's first value is."""
    sizes = [len(values) for values in records]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return pa.array([v for values in records for v in values], pa.string()), offsets


def test_groups_render_as_each_record_alone() -> None:
    records = [
        ["Spooler", "%%2"],  # a reference the expander resolves
        ["BITS", "line one\r\nline two\tend"],  # layout the expander tidies
        [],
        ["255", "boot"],
        ["0x1f", "%%2"],
        ["host", "x"],
        ["a", "b"],
        ["W32Time", "%%1069"],  # unknown: stays as written
        ["only", "two"],
        [],
    ]
    values, offsets = _batch(records)
    groups = [
        TemplateGroup(np.array([7, 0, 1]), _resolution("service"), 2),
        TemplateGroup(np.array([2]), _resolution("constant"), 0),
        TemplateGroup(np.array([3, 4]), _resolution("hex"), 2),
        TemplateGroup(np.array([5, 8]), _resolution("past"), 2),
        TemplateGroup(np.array([9]), _resolution("empty"), 0),
        TemplateGroup(np.array([6]), _resolution("leading"), 2),
    ]
    renderer = MessageRenderer()
    expected = [
        renderer.finish(group.resolution, records[row], None, "P", 1)
        for group in groups
        for row in group.rows.tolist()
    ]
    assert render_groups(values, offsets, groups).to_pylist() == expected
    assert expected[1] == (
        "The Spooler service terminated with the following error: \n"
        "The system cannot find the file specified."
    )
    assert expected[4] == "Status 0x000000FF at boot"
    assert expected[6] == "host wrote %3 and %4"


def test_a_value_is_taken_from_its_own_record_whatever_the_order_of_rows() -> None:
    records = [[f"v{row}", f"w{row}"] for row in range(50)]
    values, offsets = _batch(records)
    rows = np.random.default_rng(7).permutation(50)
    group = TemplateGroup(rows, _resolution("leading"), 2)
    rendered = render_groups(values, offsets, [group]).to_pylist()
    assert rendered == [f"v{row}w{row}" for row in rows.tolist()]


def test_no_groups_render_nothing() -> None:
    values, offsets = _batch([["a"]])
    assert render_groups(values, offsets, []).to_pylist() == []
