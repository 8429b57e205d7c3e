"""A report of many hosts is made in parts: host rows become Python rows a block at a time,
and the page is written as it is made, with the same result as made whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evtxscan.outputs import html_report
from evtxscan.outputs.html_report import render_report, report_parts
from evtxscan.outputs.report_dir import write_report
from evtxscan.results import ScanResult
from evtxscan.scanning import scan
from evtxscan.synth import EventSpec, write_evtx

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    """Twelve hosts with 0 to 11 distinct error events each (plus a boot)."""
    root = tmp_path_factory.mktemp("hosts")
    for number in range(12):
        host = f"HOST{number:02d}"
        events = [EventSpec("EventLog", 6005, T0, host, level=4)]
        events += [
            EventSpec(
                "Contoso",
                1000 + i,
                T0 + timedelta(minutes=1 + i),
                host,
                level=2,
                data=((None, f"fault {i} on {host}"),),
            )
            for i in range(number)
        ]
        write_evtx(root / host / "System.evtx", events)
    return scan([root], workers=1)


def test_a_page_made_a_block_of_hosts_at_a_time_is_the_page_made_whole(
    result: ScanResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = render_report(result)
    held: list[tuple[int, int, int]] = []  # (rows held, the host's rows, block)
    kept: list[object] = []
    shown_rows = html_report._HostParts.shown_rows

    def tracked(parts: html_report._HostParts, name: str) -> list[dict[object, object]]:
        rows = shown_rows(parts, name)
        held.append((len(parts.rows), len(rows), id(parts.rows)))
        kept.append(parts.rows)  # alive, so each block keeps its own id
        return rows

    monkeypatch.setattr(html_report._HostParts, "shown_rows", tracked)
    monkeypatch.setattr(html_report, "ROWS_AT_ONCE", 5)
    parts = list(report_parts(result))
    assert "".join(parts) == whole
    assert len(parts) == len(result.hosts) + 2  # the head, a section per host, the end
    assert len(held) == 12
    assert all(count <= max(5, own) for count, own, _ in held)  # a block, or one host's rows
    assert len({block for _, _, block in held}) < 12  # small hosts share a block
    for number in range(1, 12):
        assert f"fault {number - 1} on HOST{number:02d}" in whole


def test_the_report_file_is_the_page(result: ScanResult, tmp_path: Path) -> None:
    written = write_report(result, tmp_path / "out")
    page = (written.run / "report.html").read_text(encoding="utf-8")
    assert page == render_report(result, timeline_files=_files(written.run))


def _files(run: Path) -> dict[str, str]:
    index = (run / "timelines" / "index.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    return dict(line.split(",", 1) for line in index)


def test_cell_texts_are_the_escaped_texts_each_made_once() -> None:
    """The report's memo of cell texts gives what ``escaped`` gives, value by value (1 and
    1.0 apart, times in the zone), and forgets past its limit."""
    import math

    import pandas as pd

    from evtxscan.outputs.html_timeline import CellTexts
    from evtxscan.results.cards import escaped

    when = pd.Timestamp("2021-03-01 12:00", tz="UTC")
    values = [1, 1.0, True, "a<b & \x07", when, when.tz_convert("Europe/Berlin"), None, pd.NA,
              pd.NaT, math.nan, ["x"], "1", when.tz_localize(None)]  # fmt: skip
    for tz in ("UTC", "Europe/Berlin"):
        cells = CellTexts(tz, limit=4)
        for _ in range(2):
            assert [cells(v) for v in values] == [escaped(v, tz) for v in values]
        assert len(cells._texts) <= 4


def test_shown_rows_are_what_pandas_gives_as_records() -> None:
    """Rows made column by column hold the same values, of the same types, as
    ``to_dict("records")``: times, counts, categories (missing too), nullable numbers."""
    import numpy as np
    import pandas as pd

    from evtxscan.outputs.html_report import _row_dicts

    times = pd.to_datetime([1.7e15, None, 1.7e15 + 5], unit="us", utc=True)
    frame = pd.DataFrame(
        {
            "time": times,
            "count": np.array([1, 2, 3]),
            "provider": pd.Categorical(["a", None, "b"]),
            "event_id": pd.array([7036, None, 1], dtype="UInt16"),
            "message": pd.array(["x", None, "z"], dtype="string"),
            "text": pd.Series(["x", None, "z"], dtype="str"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "signatures": [["q"], [], None],
        }
    )
    expected = frame.to_dict("records")
    made = _row_dicts(frame)
    assert len(made) == len(expected)
    for row, want in zip(made, expected, strict=True):
        assert list(row) == list(want)
        for name, value in want.items():
            assert type(row[name]) is type(value), name
            assert (
                row[name] is value or row[name] == value or (pd.isna(value) and pd.isna(row[name]))
            )
