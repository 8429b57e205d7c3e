"""A message-template database in the ts-evtx schema, as a template source (``--messages-db``).

Schema (the ``@ts-evtx/messages`` SQLite catalog; see ``../shared/messages/README.md``)::

    providers(id INTEGER PRIMARY KEY, name TEXT UNIQUE, guid TEXT)
    messages(id, provider_id, event_id, message, language, qualifiers, version, opcode,
             task, channel, message_id, args_count, build_min, build_max)

Only ``providers.name``, ``messages.provider_id``, ``event_id`` and ``message`` are needed:
the discriminating columns are empty in the published catalog, and ``args_count`` counts
``%%N`` references as inserts, so the inserts are read from the text instead. A provider's
candidates are its own rows, then those of a "sibling" provider whose rows strictly contain
its own (see :mod:`evtxscan.messages.templates`).

A file that is not such a database is refused when opened, with an
:class:`~evtxscan.messages.catalog.ExternalDatabaseError` that says why; a query that fails
later is logged once and treated as "not found".
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from evtxscan.messages.catalog import ExternalDatabaseError
from evtxscan.messages.templates import Candidate, dedupe

_LOG = logging.getLogger(__name__)
_REQUIRED = {
    "providers": {"id", "name"},
    "messages": {"provider_id", "event_id", "message"},
}
_SIBLINGS = (
    "SELECT m2.provider_id, COUNT(*) FROM messages m1 JOIN messages m2 "
    "ON m2.event_id = m1.event_id AND m2.message = m1.message "
    "AND m2.provider_id != m1.provider_id WHERE m1.provider_id = ? GROUP BY m2.provider_id"
)


class TemplateDatabase:
    """Candidate templates from a ts-evtx message database (opened read only)."""

    def __init__(self, path: str | Path) -> None:
        self._setup(Path(path))

    def _setup(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise ExternalDatabaseError(f"{path}: no such message database")
        try:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ExternalDatabaseError(f"{path}: cannot open: {exc}") from exc
        self._failed = False
        self._ids: dict[str, int | None] = {}
        self._sizes: dict[int, int] = {}
        self._siblings: dict[int, list[int]] = {}
        self._check()

    def _fail(self, why: str) -> ExternalDatabaseError:
        self._connection.close()
        return ExternalDatabaseError(f"{self.path}: {why}")

    def _check(self) -> None:
        try:
            tables = {
                str(name)
                for (name,) in self._connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise self._fail(f"not a SQLite database ({exc})") from exc
        for table, needed in _REQUIRED.items():
            if table not in tables:
                raise self._fail(f"not a ts-evtx message database (missing table {table})")
            rows = self._connection.execute(f'PRAGMA table_info("{table}")').fetchall()
            absent = sorted(needed - {str(row[1]) for row in rows})
            if absent:
                raise self._fail(f"table {table} lacks column {', '.join(absent)}")

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if not self._failed:
                _LOG.warning("%s: lookup failed, treated as not found: %s", self.path, exc)
                self._failed = True
            return []

    def _provider_id(self, name: str) -> int | None:
        folded = name.casefold()
        if folded not in self._ids:
            rows = self._query("SELECT id FROM providers WHERE name = ? COLLATE NOCASE", (name,))
            self._ids[folded] = int(rows[0][0]) if rows else None
        return self._ids[folded]

    def _size(self, provider_id: int) -> int:
        if provider_id not in self._sizes:
            rows = self._query(
                "SELECT COUNT(*) FROM messages WHERE provider_id = ?", (provider_id,)
            )
            self._sizes[provider_id] = int(rows[0][0]) if rows else 0
        return self._sizes[provider_id]

    def _sibling_ids(self, provider_id: int) -> list[int]:
        """Providers whose rows strictly contain this provider's (the largest one)."""
        if provider_id not in self._siblings:
            own = self._size(provider_id)
            found = [
                int(other)
                for other, shared in self._query(_SIBLINGS, (provider_id,))
                if int(shared) >= own and self._size(int(other)) > own
            ]
            found.sort(key=lambda other: (-self._size(other), other))
            self._siblings[provider_id] = found[:1]
        return self._siblings[provider_id]

    def has_provider(self, provider: str) -> bool:
        return self._provider_id(provider) is not None

    def candidates(self, provider: str, event_id: int) -> tuple[Candidate, ...]:
        provider_id = self._provider_id(provider)
        if provider_id is None:
            return ()
        found: list[Candidate] = []
        for position, source in enumerate([provider_id, *self._sibling_ids(provider_id)]):
            rows = self._query(
                "SELECT message FROM messages WHERE provider_id = ? AND event_id = ? ORDER BY id",
                (source, event_id),
            )
            for (message,) in rows:
                text = str(message).replace("\r\n", "\n").rstrip()
                found.append(Candidate(text, own=position == 0))
        return dedupe(found)

    def close(self) -> None:
        """Close the database."""
        self._connection.close()

    def __enter__(self) -> TemplateDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["path"])
