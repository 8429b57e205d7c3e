"""The built-in template catalog (shipped, lazy, reproducible) and the --messages-db source."""

from __future__ import annotations

import gzip
import json
import pickle
import sqlite3
from pathlib import Path

import pytest

import evtxscan
from evtxscan.messages import ExternalDatabaseError, MessageRenderer, TemplateDatabase, load_catalog
from evtxscan.messages.build_catalog import build_document, write_document
from evtxscan.messages.templates import (
    BUILTIN_FILE,
    BuiltinTemplates,
    EventSet,
    builtin_templates,
)

DB = Path(__file__).resolve().parents[2].parent / "shared" / "messages"
DB_FILE = DB / "ts-evtx-merged-messages.db"
SHIPPED = Path(evtxscan.__file__).parent / "data" / "messages" / BUILTIN_FILE

# Providers the issue names as what administrators meet most: all must be shipped.
ADMIN_PROVIDERS = [
    "Microsoft-Windows-Security-Auditing",
    "Security",
    "Microsoft-Windows-Kernel-General",
    "Microsoft-Windows-Kernel-Power",
    "Microsoft-Windows-Kernel-Boot",
    "Service Control Manager",
    "EventLog",
    "Microsoft-Windows-WindowsUpdateClient",
    "Microsoft-Windows-GroupPolicy",
    "Microsoft-Windows-TerminalServices-LocalSessionManager",
    "Microsoft-Windows-DNS-Client",
    "Microsoft-Windows-Dhcp-Client",
    "Microsoft-Windows-DistributedCOM",
    "Microsoft-Windows-Winlogon",
    "Microsoft-Windows-User Profiles Service",
    "Microsoft-Windows-Time-Service",
    "Microsoft-Windows-Ntfs",
    "disk",
    "Microsoft-Windows-WHEA-Logger",
    "WinDefend",
    "Microsoft-Windows-TaskScheduler",
    "PowerShell",
    "Application Error",
    "Application Hang",
    "Windows Error Reporting",
    "MsiInstaller",
]


def _tiny_db(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE providers(id INTEGER PRIMARY KEY, name TEXT UNIQUE, guid TEXT);"
            "CREATE TABLE messages(id INTEGER PRIMARY KEY, provider_id INTEGER, event_id INTEGER,"
            " message TEXT, args_count INTEGER);"
            "INSERT INTO providers VALUES (1, 'Contoso-Backup', NULL), (2, 'Contoso-All', NULL);"
            "INSERT INTO messages VALUES (1, 1, 7, 'Backup of %1 finished in %2 s.', 2),"
            " (2, 2, 7, 'Backup of %1 finished in %2 s.', 2),"
            " (3, 2, 8, 'Backup of %1 failed: %2', 2);"
        )
    return path


def test_every_admin_provider_is_shipped() -> None:
    catalog = builtin_templates()
    missing = [name for name in ADMIN_PROVIDERS if not catalog.has_provider(name)]
    assert missing == []


def test_the_shipped_catalog_is_small_and_credited() -> None:
    assert SHIPPED.stat().st_size < 1_000_000
    meta = json.loads(gzip.decompress(SHIPPED.read_bytes()))["meta"]
    assert "MIT" in meta["source"] and len(meta["sha256"]) == 64
    notice = (SHIPPED.parent / "NOTICE.md").read_text("utf-8")
    assert "@ts-evtx/messages" in notice and "MIT" in notice
    assert "MIT License" in (SHIPPED.parent / "LICENSE").read_text("utf-8")


def test_loading_is_lazy() -> None:
    catalog = BuiltinTemplates()
    assert not catalog._loaded
    assert catalog.candidates("Service Control Manager", 7036)
    assert catalog._loaded


@pytest.mark.skipif(not DB_FILE.is_file(), reason=f"message database not found at {DB}")
def test_the_shipped_catalog_rebuilds_from_the_database(tmp_path: Path) -> None:
    rebuilt = tmp_path / "templates.json.gz"
    write_document(build_document(DB_FILE), rebuilt)
    assert rebuilt.read_bytes() == SHIPPED.read_bytes()


def test_packed_sets_give_the_candidates_of_the_sets_they_pack() -> None:
    """The file stores each set as arrays (``EventSet.packed``); read either way, every
    provider's candidates are the same."""
    entries = {"7": [3, 1], "100": [2], "65535": [0, 1, 2]}
    document = {
        "meta": {},
        "texts": ["a %1", "b", "c %2", "d"],
        "sets": [entries, {"7": [0]}],
        "providers": {"P": [0, 1]},
    }
    packed = {**document, "sets": [EventSet.of(s).packed() for s in document["sets"]]}
    plain, stored = BuiltinTemplates(document), BuiltinTemplates(packed)
    for event_id in (0, 7, 8, 100, 65535, 70000):
        assert stored.candidates("p", event_id) == plain.candidates("p", event_id)
    assert [c.text for c in stored.candidates("P", 7)] == ["d", "b", "a %1"]
    assert EventSet.of(entries).texts_of(65535) == [0, 1, 2]


def test_template_database_reads_the_ts_evtx_schema(tmp_path: Path) -> None:
    database = TemplateDatabase(_tiny_db(tmp_path / "t.db"))
    own = database.candidates("contoso-backup", 7)
    assert [c.text for c in own] == ["Backup of %1 finished in %2 s."] and own[0].own
    # Contoso-All's rows strictly contain Contoso-Backup's: its extra rows are siblings.
    sibling = database.candidates("Contoso-Backup", 8)
    assert [(c.text, c.own) for c in sibling] == [("Backup of %1 failed: %2", False)]
    assert database.candidates("Nobody", 7) == ()
    again = pickle.loads(pickle.dumps(database))
    assert again.candidates("Contoso-Backup", 7) == own


def test_messages_db_renders_providers_the_builtin_lacks(tmp_path: Path) -> None:
    path = _tiny_db(tmp_path / "t.db")
    plain = MessageRenderer()
    assert plain.render("Contoso-Backup", None, 7, None, 4, ["C:", "3"]).startswith(
        "Contoso-Backup event 7"
    )
    renderer = MessageRenderer(load_catalog(messages_db=path))
    names = ["Volume", "Seconds"]
    text = renderer.render("Contoso-Backup", None, 7, None, 4, ["C:", "3"], names=names)
    assert text == "Backup of C: finished in 3 s."


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a database at all, just text" * 100, "not a SQLite database"),
        (None, "missing table providers"),
    ],
)
def test_a_bad_messages_db_is_refused_with_the_reason(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "bad.db"
    if content is None:
        sqlite3.connect(path).execute("CREATE TABLE other(x)").connection.close()
    else:
        path.write_bytes(content)
    with pytest.raises(ExternalDatabaseError, match=reason):
        TemplateDatabase(path)
    with pytest.raises(ExternalDatabaseError, match="no such message database"):
        TemplateDatabase(tmp_path / "absent.db")


@pytest.mark.skipif(not DB_FILE.is_file(), reason=f"message database not found at {DB}")
def test_the_published_database_as_messages_db_agrees_with_the_builtin() -> None:
    renderer = MessageRenderer(load_catalog(messages_db=DB_FILE))
    names = ["MajorVersion", "MinorVersion", "BuildVersion", "QfeVersion"]
    names += ["ServiceVersion", "BootMode", "StartTime"]
    values = ["10", "0", "19041", "1", "0", "0", "2023-05-24T00:55:45.500000Z"]
    text = renderer.render(
        "Microsoft-Windows-Kernel-General", None, 12, None, 4, values, None, names
    )
    assert text == "The operating system started at system time 2023-05-24T00:55:45.500000Z."


def test_messages_db_through_the_python_api(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from evtxscan.synth import EventSpec, write_evtx

    log = write_evtx(
        tmp_path / "Application.evtx",
        [
            EventSpec(
                provider="Contoso-Backup",
                event_id=7,
                level=4,
                time=datetime(2024, 1, 2, tzinfo=UTC),
                computer="SRV1",
                data=(("Volume", "D:"), ("Seconds", "9")),
            )
        ],
    )
    db = _tiny_db(tmp_path / "t.db")
    frame = evtxscan.read_frame(log, messages=True, messages_db=db)
    assert frame["message"].tolist() == ["Backup of D: finished in 9 s."]
    copy = tmp_path / "copy" / "Application.evtx"  # two hosts' files: read by workers, each
    copy.parent.mkdir()  # opening the database itself
    copy.write_bytes(log.read_bytes().replace(b"S\x00R\x00V\x001", b"S\x00R\x00V\x002"))
    both = evtxscan.read_frame([log, copy], messages=True, messages_db=db, workers=2)
    assert both["message"].tolist() == ["Backup of D: finished in 9 s."] * 2
    result = evtxscan.scan(log, messages_db=db, timeline="all")
    assert result.timeline["message"].tolist() == ["Backup of D: finished in 9 s."]
