"""Plaso's ``winevt-rc.db``: Windows message tables in SQLite, an optional extra message source.

The database (plaso ships one in its package data; it is not a dependency of evtxscan) maps
Event Log sources to the message files they name, and holds each message file's message
table per language. Its layout (plaso's format version 20150315):

- ``event_log_providers``: ``event_log_provider_key``, ``log_source`` (the source name),
  ``provider_guid``, ...
- ``message_files``: ``message_file_key``, the file's path or name, ...
- ``message_file_per_event_log_provider``: ``message_file_key``, ``event_log_provider_key``
  and, in later versions, ``message_file_type`` (``event``, ``category``, ``parameter``).
- ``message_table_<message_file_key>_0x<lcid, 8 hex digits>``: ``message_identifier`` (the
  full 32-bit ID as ``0x%08x`` text) and ``message_string``.
- ``metadata``: ``name``, ``value``; ``string_format`` is ``wrc`` (FormatMessage syntax, the
  default) or ``pep3101`` (``{0:s}`` placeholders, converted back here).

A malformed database is refused when it is opened, with a :class:`ExternalDatabaseError`
that says why. A query that fails later (a damaged table) is logged once and treated as
"not found", so one bad table does not stop a scan.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evtxscan.messages.catalog import ExternalDatabaseError

_LOG = logging.getLogger(__name__)
_REQUIRED = {
    "event_log_providers": {"event_log_provider_key", "log_source"},
    "message_file_per_event_log_provider": {"message_file_key", "event_log_provider_key"},
}
_NEWER_FORMAT_TABLE = "winevtrc_message_string"
_PEP3101 = re.compile(r"\{\{|\}\}|\{(\d+)(?::[^}]*)?\}")
_SEVERITIES = (0x0000, 0x4000, 0x8000, 0xC000)
ENGLISH_US = 0x0409

__all__ = ["ENGLISH_US", "ExternalDatabaseError", "WinevtRcDatabase"]


def pep3101_to_format_message(text: str) -> str:
    """Turn a ``{0:s}``-style message string back into FormatMessage syntax (``%1``)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return f"%{int(match.group(1)) + 1}"

    return _PEP3101.sub(replace, text.replace("%", "%%"))


class WinevtRcDatabase:
    """Message templates and parameter strings from a winevt-rc.db, by source name.

    ``lcid`` picks the language of the message tables (US English by default); a message
    missing in that language is looked up in US English.
    """

    def __init__(self, path: str | Path, lcid: int = ENGLISH_US) -> None:
        self._setup(Path(path), lcid)

    def _setup(self, path: Path, lcid: int) -> None:
        self.path = path
        self.lcid = lcid
        self._connection = self._open()
        self._string_format = "wrc"
        self._tables: set[str] = set()
        self._typed = False
        self._failed = False
        self._providers: dict[str, list[int]] = {}
        self._files: dict[tuple[int, str], list[int]] = {}
        self._messages: dict[tuple[Any, ...], str | None] = {}
        self._check()

    # -- opening and validation -------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise ExternalDatabaseError(f"{self.path}: no such message database")
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            return sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ExternalDatabaseError(f"{self.path}: cannot open: {exc}") from exc

    def _fail(self, why: str) -> ExternalDatabaseError:
        self._connection.close()
        return ExternalDatabaseError(f"{self.path}: {why}")

    def _check(self) -> None:
        try:
            rows = self._connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._fail(f"not a SQLite database ({exc})") from exc
        self._tables = {str(name) for (name,) in rows}
        missing = sorted(set(_REQUIRED) - self._tables)
        if missing and _NEWER_FORMAT_TABLE in self._tables:
            raise self._fail(
                "plaso's newer attribute-container format is not supported; "
                "use a winevt-rc.db of format version 20150315"
            )
        if missing:
            raise self._fail(f"not a winevt-rc database (missing table {', '.join(missing)})")
        for table, needed in _REQUIRED.items():
            columns = self._columns(table)
            absent = sorted(needed - columns)
            if absent:
                raise self._fail(f"table {table} lacks column {', '.join(absent)}")
        self._typed = "message_file_type" in self._columns("message_file_per_event_log_provider")
        if "metadata" in self._tables:
            self._string_format = self._metadata("string_format") or "wrc"
        if self._string_format not in ("wrc", "pep3101"):
            raise self._fail(f"unsupported string format {self._string_format!r}")

    def _columns(self, table: str) -> set[str]:
        rows = self._connection.execute(f'PRAGMA table_info("{table}")').fetchall()
        return {str(row[1]) for row in rows}

    def _metadata(self, name: str) -> str | None:
        columns = self._columns("metadata")
        key = "name" if "name" in columns else "key"
        if key not in columns or "value" not in columns:
            return None
        row = self._connection.execute(
            f"SELECT value FROM metadata WHERE {key} = ?", (name,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    # -- lookups ----------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if not self._failed:
                _LOG.warning("%s: lookup failed, treated as not found: %s", self.path, exc)
                self._failed = True
            return []

    def _provider_keys(self, name: str) -> list[int]:
        folded = name.casefold()
        if folded not in self._providers:
            rows = self._query(
                "SELECT event_log_provider_key FROM event_log_providers "
                "WHERE log_source = ? COLLATE NOCASE",
                (name,),
            )
            self._providers[folded] = [int(key) for (key,) in rows if key is not None]
        return self._providers[folded]

    def _file_keys(self, provider_key: int, kind: str) -> list[int]:
        cached = self._files.get((provider_key, kind))
        if cached is None:
            sql = (
                "SELECT message_file_key FROM message_file_per_event_log_provider "
                "WHERE event_log_provider_key = ?"
            )
            params: tuple[Any, ...] = (provider_key,)
            if self._typed:
                sql += " AND (message_file_type = ? OR message_file_type IS NULL)"
                params += (kind,)
            cached = [int(key) for (key,) in self._query(sql, params) if key is not None]
            self._files[(provider_key, kind)] = cached
        return cached

    def _string(self, file_key: int, message_id: int) -> str | None:
        for lcid in dict.fromkeys((self.lcid, ENGLISH_US)):
            table = f"message_table_{file_key}_0x{lcid:08x}"
            if table not in self._tables:
                continue
            rows = self._query(
                f'SELECT message_string FROM "{table}" '
                "WHERE message_identifier IN (?, ?, ?) LIMIT 1",
                (f"0x{message_id:08x}", f"0x{message_id:08X}", message_id),
            )
            if rows and rows[0][0] is not None:
                return self._normalise(str(rows[0][0]))
        return None

    def _normalise(self, text: str) -> str:
        if self._string_format == "pep3101":
            text = pep3101_to_format_message(text)
        return text.replace("\r\n", "\n").rstrip()

    def _files_for(self, names: tuple[str | None, ...], kind: str) -> Iterator[int]:
        for name in dict.fromkeys(n for n in names if n):
            for provider_key in self._provider_keys(name):
                files = self._file_keys(provider_key, kind)
                if not files and kind == "parameter":
                    files = self._file_keys(provider_key, "event")
                yield from files

    def _lookup(self, names: tuple[str | None, ...], ids: tuple[int, ...], kind: str) -> str | None:
        key = (tuple(n.casefold() for n in names if n), ids, kind)
        if key not in self._messages:
            strings = (self._string(f, i) for f in self._files_for(names, kind) for i in ids)
            self._messages[key] = next((text for text in strings if text is not None), None)
        return self._messages[key]

    def template(
        self, names: tuple[str | None, ...], event_id: int, qualifiers: int | None
    ) -> str | None:
        """The message template of an event (full 32-bit ID first, then the 16-bit ID)."""
        severity = qualifiers or 0
        ids = [(severity << 16) | event_id, event_id]
        ids += [(other << 16) | event_id for other in _SEVERITIES]
        return self._lookup(names, tuple(dict.fromkeys(ids)), "event")

    def parameter(self, names: tuple[str | None, ...], number: int) -> str | None:
        """The text of parameter ``%%number`` from the provider's parameter message files."""
        return self._lookup(names, (number,), "parameter")

    # -- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the database."""
        self._connection.close()

    def __enter__(self) -> WinevtRcDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "lcid": self.lcid}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["path"], state["lcid"])
