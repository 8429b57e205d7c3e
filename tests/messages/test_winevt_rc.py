"""The external message database (plaso's winevt-rc.db layout), on tiny databases built here.

The providers and messages below are invented for the tests; only the schema follows plaso's.
"""

import logging
import pickle
import sqlite3
from pathlib import Path

import pytest

from evtxscan.messages import (
    ExternalDatabaseError,
    MessageRenderer,
    WinevtRcDatabase,
    load_catalog,
)
from evtxscan.messages.winevt_rc import pep3101_to_format_message

SCHEMA = """
CREATE TABLE metadata (name TEXT, value TEXT);
CREATE TABLE event_log_providers (
    event_log_provider_key INTEGER PRIMARY KEY, log_source TEXT, log_type TEXT,
    provider_guid TEXT);
CREATE TABLE message_files (message_file_key INTEGER PRIMARY KEY, path TEXT);
CREATE TABLE message_file_per_event_log_provider (
    message_file_key INTEGER, event_log_provider_key INTEGER, message_file_type TEXT);
"""
WIDGET_FAILED = (0xC000 << 16) | 100


def _table(con: sqlite3.Connection, file_key: int, lcid: int, rows: dict[int, str]) -> None:
    name = f"message_table_{file_key}_0x{lcid:08x}"
    con.execute(f"CREATE TABLE {name} (message_identifier TEXT, message_string TEXT)")
    con.executemany(
        f"INSERT INTO {name} VALUES (?, ?)", [(f"0x{k:08x}", v) for k, v in rows.items()]
    )


def build(path: Path, string_format: str = "wrc") -> Path:
    """A database with one invented provider: an event message file and a parameter file."""
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.executemany(
        "INSERT INTO metadata VALUES (?, ?)",
        [("version", "20150315"), ("string_format", string_format)],
    )
    con.executemany(
        "INSERT INTO event_log_providers VALUES (?, ?, ?, ?)",
        [
            (1, "Contoso Widget Service", "Application", None),
            (2, "Service Control Manager", "System", None),
        ],
    )
    con.executemany(
        "INSERT INTO message_files VALUES (?, ?)",
        [(1, "%SystemRoot%\\widget.dll"), (2, "%SystemRoot%\\widgetparams.dll"), (3, "scm.dll")],
    )
    con.executemany(
        "INSERT INTO message_file_per_event_log_provider VALUES (?, ?, ?)",
        [(1, 1, "event"), (2, 1, "parameter"), (3, 2, "event")],
    )
    if string_format == "wrc":
        widget = {WIDGET_FAILED: "The widget %1 could not be polished:%n%2\r\n", 7: "Ready.\r\n"}
    else:
        widget = {WIDGET_FAILED: "The widget {0:s} could not be polished at 100% {{ok}}: {1:s}"}
    _table(con, 1, 0x409, widget)
    _table(con, 1, 0x407, {WIDGET_FAILED: "Das Widget %1 ist stumpf."})
    _table(con, 2, 0x409, {4000: "Too shiny\r\n"})
    _table(con, 3, 0x409, {(0xC000 << 16) | 7023: "Not the built-in text %1"})
    con.commit()
    con.close()
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return build(tmp_path / "winevt-rc.db")


def test_renders_an_event_the_catalogs_do_not_know(database: Path) -> None:
    renderer = MessageRenderer(external=WinevtRcDatabase(database))
    text = renderer.render("Contoso Widget Service", None, 100, 0xC000, 2, ["W-1", "%%4000"])
    assert text == "The widget W-1 could not be polished:\nToo shiny"


def test_source_name_matches_case_insensitively_and_level_gives_severity(database: Path) -> None:
    renderer = MessageRenderer(load_catalog(database=database))
    assert renderer.external is not None
    text = renderer.render(None, "contoso widget SERVICE", 100, None, 2, ["W-2", "x"])
    assert text == "The widget W-2 could not be polished:\nx"
    # Only the 16-bit ID is stored for event 7: found without qualifiers too.
    assert renderer.render(None, "Contoso Widget Service", 7, None, 4, []) == "Ready."


def test_builtin_catalogs_win_over_the_database(database: Path) -> None:
    renderer = MessageRenderer(external=WinevtRcDatabase(database))
    text = renderer.render("Service Control Manager", None, 7023, 0xC000, 2, ["Server", "%%2"])
    assert text.startswith("The Server service terminated with the following error:")


def test_unknown_events_fall_back_as_before(database: Path) -> None:
    renderer = MessageRenderer(external=WinevtRcDatabase(database))
    assert renderer.render("Contoso Widget Service", None, 999, 0, 4, ["a"], logged="L") == "L"
    assert renderer.render("Nobody", None, 1, 0, 4, ["a"]) == "Nobody event 1: a"


def test_language_choice_falls_back_to_english(database: Path) -> None:
    german = WinevtRcDatabase(database, lcid=0x407)
    names = ("Contoso Widget Service", None)
    assert german.template(names, 100, 0xC000) == "Das Widget %1 ist stumpf."
    assert german.template(names, 7, 0x4000) == "Ready."


def test_pep3101_strings_are_turned_back_into_format_message(tmp_path: Path) -> None:
    assert pep3101_to_format_message("a {0:s} b {1} {{c}} 5%") == "a %1 b %2 {c} 5%%"
    renderer = MessageRenderer(external=WinevtRcDatabase(build(tmp_path / "p.db", "pep3101")))
    text = renderer.render("Contoso Widget Service", None, 100, 0xC000, 2, ["W", "dull"])
    assert text == "The widget W could not be polished at 100% {ok}: dull"


def test_database_survives_pickling(database: Path) -> None:
    copy = pickle.loads(pickle.dumps(WinevtRcDatabase(database)))
    assert copy.template(("Contoso Widget Service",), 7, None) == "Ready."
    with WinevtRcDatabase(database) as db:
        assert db.parameter(("Contoso Widget Service",), 4000) == "Too shiny"


def _empty(path: Path) -> Path:
    sqlite3.connect(path).close()
    return path


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: p / "absent.db", "no such message database"),
        (
            lambda p: (p / "t.db").write_text("not sqlite at all, " * 20) and p / "t.db",
            "not a SQLite",
        ),
        (lambda p: _empty(p / "e.db"), "missing table event_log_providers"),
    ],
)
def test_malformed_databases_give_clear_errors(tmp_path: Path, make: object, error: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ExternalDatabaseError, match=error):
        WinevtRcDatabase(path)
    with pytest.raises(ExternalDatabaseError, match=error):
        load_catalog(database=path)


def test_missing_column_and_newer_format_and_string_format(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "c.db")
    con.executescript(
        "CREATE TABLE event_log_providers (log_source TEXT);"
        "CREATE TABLE message_file_per_event_log_provider "
        "(message_file_key INTEGER, event_log_provider_key INTEGER);"
    )
    con.close()
    with pytest.raises(ExternalDatabaseError, match="lacks column event_log_provider_key"):
        WinevtRcDatabase(tmp_path / "c.db")
    con = sqlite3.connect(tmp_path / "n.db")
    con.execute("CREATE TABLE winevtrc_message_string (text TEXT)")
    con.close()
    with pytest.raises(ExternalDatabaseError, match="newer attribute-container format"):
        WinevtRcDatabase(tmp_path / "n.db")
    odd = build(tmp_path / "s.db")
    con = sqlite3.connect(odd)
    con.execute("UPDATE metadata SET value = 'utf-7' WHERE name = 'string_format'")
    con.commit()
    con.close()
    with pytest.raises(ExternalDatabaseError, match="unsupported string format 'utf-7'"):
        WinevtRcDatabase(odd)


def test_a_damaged_message_table_is_not_found_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = build(tmp_path / "d.db")
    con = sqlite3.connect(path)
    con.execute("DROP TABLE message_table_1_0x00000409")
    con.execute("CREATE TABLE message_table_1_0x00000409 (something_else TEXT)")
    con.commit()
    con.close()
    renderer = MessageRenderer(external=WinevtRcDatabase(path))
    with caplog.at_level(logging.WARNING):
        text = renderer.render("Contoso Widget Service", None, 100, 0xC000, 2, ["W"])
    assert text == "Contoso Widget Service event 100: W"
    assert "lookup failed" in caplog.text
