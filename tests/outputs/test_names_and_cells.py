import pandas as pd
import pytest

from evtxscan.outputs.names import MAX_STEM, unique_file_names
from evtxscan.outputs.spreadsheet import (
    EXCEL_CELL_LIMIT,
    TRUNCATION_MARKER,
    fit_cell,
    neutralize,
    spreadsheet_safe,
)

HOSTILE = [
    "..\\..\\evil",
    "../../etc/passwd",
    "kiosk/lobby-01",
    "nul\x00byte",
    "tab\there",
    "CON",
    "nul",
    "COM1",
    "com1.local",
    "Exch01",
    "exch01",
    "EXCH01",
    "x" * 5000,
    "",
    ".",
    "..",
    "日本語ホスト",
    "a:b*c?d",
    " spaced ",
]


def test_hostile_host_names_map_to_safe_unique_files() -> None:
    names = unique_file_names(HOSTILE)
    files = list(names.values())
    assert len({f.casefold() for f in files}) == len(HOSTILE)  # unique, ignoring case
    for file in files:
        stem = file.removesuffix(".csv")
        assert file.endswith(".csv") and 0 < len(stem) <= MAX_STEM
        assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in stem)
        assert not stem.startswith(".") and "/" not in file and "\\" not in file
        assert stem.split(".")[0].casefold() not in {"con", "nul", "com1", "prn", "aux"}


def test_names_are_stable_and_plain_names_unchanged() -> None:
    assert unique_file_names(["srv01", "dc-2"]) == {"srv01": "srv01.csv", "dc-2": "dc-2.csv"}
    assert unique_file_names(HOSTILE) == unique_file_names(list(reversed(HOSTILE)))


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_cells_are_neutralized(text: str) -> None:
    assert neutralize(text) == "'" + text


def test_spreadsheet_safe_truncates_and_keeps_other_types() -> None:
    frame = pd.DataFrame({"a": ['=HYPERLINK("x")', "ok", "y" * 40_000], "n": [1, 2, 3]})
    safe = spreadsheet_safe(frame)
    assert safe.loc[0, "a"].startswith("'=") and safe.loc[1, "a"] == "ok"
    assert len(safe.loc[2, "a"]) == EXCEL_CELL_LIMIT and safe.loc[2, "a"].endswith(
        TRUNCATION_MARKER
    )
    assert safe["n"].tolist() == [1, 2, 3]
    assert spreadsheet_safe(frame, neutralize_formulas=False).loc[0, "a"].startswith("=")


def test_spreadsheet_safe_cleans_categories_and_mixed_cells() -> None:
    frame = pd.DataFrame(
        {
            "c": pd.Categorical(["=cmd", None, "fine", "=cmd"]),
            "m": ["-1", None, 7, "x"],
            "empty": pd.Categorical([None, None, None, None], categories=[]),
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["c"].tolist()[::2] == ["'=cmd", "fine"] and safe.loc[3, "c"] == "'=cmd"
    assert pd.isna(safe.loc[1, "c"]) and pd.isna(safe.loc[1, "m"])
    assert safe.loc[0, "m"] == "'-1" and safe.loc[2, "m"] == 7 and safe.loc[3, "m"] == "x"
    assert safe["empty"].isna().all()


def test_categories_that_clean_to_one_text_become_that_text() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["=x", "'=x", None, "ok"])})
    safe = spreadsheet_safe(frame)
    assert safe["c"].tolist()[:2] == ["'=x", "'=x"] and pd.isna(safe.loc[2, "c"])
    assert safe.loc[3, "c"] == "ok"
    kept = spreadsheet_safe(pd.DataFrame({"c": pd.Categorical(["=y", "ok"])}))
    assert isinstance(kept["c"].dtype, pd.CategoricalDtype)  # distinct still: categorical
    assert kept["c"].tolist() == ["'=y", "ok"]


@pytest.mark.parametrize("by_arrow", [True, False])
@pytest.mark.parametrize("dtype", [object, "string[pyarrow]", "string[python]"])
def test_text_columns_are_cleaned_by_arrow_as_by_python(
    dtype: object, by_arrow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evtxscan.outputs import spreadsheet

    monkeypatch.setattr(spreadsheet, "_ARROW_FROM", 0 if by_arrow else 1 << 30)
    long = EXCEL_CELL_LIMIT + 1
    texts = ["=1", "+2", "fine", None, "x" * long, "\tt", "a-b", "-" + "y" * long, "z" * (long - 1)]
    frame = pd.DataFrame({"t": pd.Series(texts, dtype=dtype)})
    for neutralize_formulas in (True, False):
        safe = spreadsheet_safe(frame, neutralize_formulas=neutralize_formulas)
        expected = [
            None
            if text is None
            else (neutralize(fit_cell(text)) if neutralize_formulas else fit_cell(text))
            for text in texts
        ]
        assert [None if pd.isna(v) else v for v in safe["t"]] == expected


def test_a_carriage_return_in_a_cell_starts_no_row(tmp_path: object) -> None:
    """A machine named ``PC1\\r+SUM(1)`` (and such data): with LF line ends, pandas leaves a
    lone CR unquoted, and spreadsheets and CSV readers start a row there, whose first cell
    is then a formula (found by fuzzing). Every CSV of the report quotes it: read back, the
    tables keep their rows and no cell starts a formula."""
    from datetime import UTC, datetime
    from pathlib import Path

    import evtxscan
    from evtxscan.outputs.report_dir import write_report
    from evtxscan.outputs.spreadsheet import FORMULA_START
    from evtxscan.synth import EventSpec, write_evtx

    assert isinstance(tmp_path, Path)
    event = EventSpec(
        "Service Control Manager", 7036, datetime(2024, 3, 5, tzinfo=UTC),
        computer="PC1\r+SUM(1)", data=(("param1", "x\r=cmd|calc"), ("param2", "stopped")),
    )  # fmt: skip
    result = evtxscan.scan(write_evtx(tmp_path / "System.evtx", [event] * 3), timeline="all")
    run = write_report(result, tmp_path / "out").run
    tables = {"hosts.csv": 1, "timeline.csv": 3}
    for name, rows in tables.items():
        frame = pd.read_csv(run / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert len(frame) == rows, name
        assert frame["host"].tolist() == ["pc1\r+sum(1)"] * rows, name
        cells = [c for column in frame.columns for c in frame[column]]
        assert not [c for c in cells if c.startswith(FORMULA_START)], name
    for path in (run / "timelines").glob("*.csv"):  # the host's timeline, and the index
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert len(frame) == (1 if path.name == "index.csv" else 3), path
