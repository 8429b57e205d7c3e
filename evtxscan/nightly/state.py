"""The nightly state: one SQLite file (standard ``sqlite3``), written in one transaction.

Tables: ``watermarks`` (newest EventRecordID and time per host and channel), ``files``
(SHA-256 of files read), ``chunks`` (fingerprints of EVTX chunks read), ``carry`` (the
recent symptom and context rows per host, as Parquet, fed back into correlation),
``incidents`` and ``diagnoses`` (what was reported and its standing), ``hosts`` (last data,
system facts), ``history`` (every reported change) and ``runs``. A run reads it at its start
and commits once, after its outputs are in place; history older than the retention period
is deleted in the same transaction.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evtxscan.nightly.model import (
    DiagnosisText,
    HostRecord,
    PriorState,
    StateUpdate,
    Status,
    StoredDiagnosis,
    StoredIncident,
    Watermark,
)
from evtxscan.results.evidence import evidence_from_json, evidence_json

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, at TEXT NOT NULL, report TEXT NOT NULL, stats TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watermarks (
    host TEXT NOT NULL, channel TEXT NOT NULL, record_id INTEGER NOT NULL,
    record_time TEXT, record_key TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (host, channel));
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_stats (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    fingerprint BLOB PRIMARY KEY, seen_at TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hosts (
    host TEXT PRIMARY KEY, first_data_at TEXT NOT NULL, last_data_at TEXT NOT NULL,
    last_record_time TEXT, runs_without_data INTEGER NOT NULL, os_version TEXT, build TEXT,
    service_pack TEXT, processors TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY, host TEXT NOT NULL, signature_id TEXT NOT NULL,
    start TEXT NOT NULL, "end" TEXT NOT NULL, confidence REAL NOT NULL, members TEXT NOT NULL,
    evidence TEXT NOT NULL, services TEXT NOT NULL, found_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS diagnoses (
    host TEXT NOT NULL, signature_id TEXT NOT NULL, status TEXT NOT NULL, text TEXT NOT NULL,
    reported_at TEXT NOT NULL, quiet_runs INTEGER NOT NULL, resolved_at TEXT,
    resolved_reason TEXT NOT NULL, PRIMARY KEY (host, signature_id));
CREATE TABLE IF NOT EXISTS history (
    run_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, host TEXT NOT NULL,
    signature_id TEXT NOT NULL, diagnosis_id TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_at ON history (at);
CREATE TABLE IF NOT EXISTS carry (id INTEGER PRIMARY KEY CHECK (id = 1), rows BLOB NOT NULL);
"""
_IN_BATCH = 500  # host parameters per IN (...) query


def stamp(value: pd.Timestamp | None) -> str | None:
    """A UTC time as sortable ISO-8601 text (microseconds)."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unstamp(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text).tz_convert("UTC")


def _time(text: str) -> pd.Timestamp:
    value = unstamp(text)
    assert value is not None
    return value


class StateDB:
    """An open state file. ``load`` what the last run left; ``commit`` a run's update."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        found = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif found[0] != SCHEMA_VERSION:
            raise ValueError(
                f"{path}: state schema {found[0]}; this version reads {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self.db.close()

    def _rows(self, query: str) -> list[tuple[Any, ...]]:
        return self.db.execute(query).fetchall()

    def load(self) -> PriorState:
        """The state the last committed run left (empty for a new file)."""
        marks = {
            (h, c): Watermark(h, c, _unsigned(int(i)), unstamp(t), k)
            for h, c, i, t, k in self._rows(
                "SELECT host, channel, record_id, record_time, record_key FROM watermarks"
            )
        }
        files = dict(self._rows("SELECT sha256, path FROM files"))
        stats = {
            path: (int(size), int(mtime), sha)
            for path, size, mtime, sha in self._rows(
                "SELECT path, size, mtime_ns, sha256 FROM file_stats"
                " WHERE sha256 IN (SELECT sha256 FROM files)"
            )
        }
        incidents = {
            row[0]: _incident(row)
            for row in self._rows('SELECT * FROM incidents ORDER BY start, "end", incident_id')
        }
        diagnoses = {(r[0], r[1]): _diagnosis(r) for r in self._rows("SELECT * FROM diagnoses")}
        hosts = {row[0]: _host(row) for row in self._rows("SELECT * FROM hosts")}
        blob = self.db.execute("SELECT rows FROM carry WHERE id = 1").fetchone()
        ids = self.db.execute("SELECT value FROM meta WHERE key = 'signatures'").fetchone()
        return PriorState(
            watermarks=marks,
            files=files,
            file_stats=stats,
            incidents=incidents,
            diagnoses=diagnoses,
            hosts=hosts,
            carry=rows_from_blob(blob[0]) if blob else None,
            signature_ids=tuple(json.loads(ids[0])) if ids else None,
        )

    def known_chunks(self, fingerprints: list[bytes]) -> set[bytes]:
        """Which of these chunk fingerprints an earlier run read."""
        found: set[bytes] = set()
        for start in range(0, len(fingerprints), _IN_BATCH):
            part = fingerprints[start : start + _IN_BATCH]
            marks = ",".join("?" * len(part))
            query = f"SELECT fingerprint FROM chunks WHERE fingerprint IN ({marks})"
            found.update(bytes(row[0]) for row in self.db.execute(query, part))
        return found

    def commit(self, update: StateUpdate, checkpoint: Callable[[], None]) -> None:
        """Write ``update`` in one transaction (``checkpoint`` runs between the steps)."""
        at = stamp(update.at)
        steps: list[tuple[str, Iterable[tuple[Any, ...]]]] = [
            ("INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?, ?, ?)", _marks(update, at)),
            ("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", _files(update, at)),
            ("INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?)", update.file_stats),
            ("INSERT OR IGNORE INTO chunks VALUES (?, ?)", ((c, at) for c in update.chunks)),
            ("DELETE FROM incidents", [()]),
            ("INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _incidents(update)),
            ("DELETE FROM diagnoses", [()]),
            ("INSERT INTO diagnoses VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _diagnoses(update)),
            ("DELETE FROM hosts", [()]),
            ("INSERT INTO hosts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _hosts(update)),
            ("INSERT OR REPLACE INTO carry VALUES (1, ?)", [(rows_to_blob(update.carry),)]),
            ("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", _history(update, at)),
            ("INSERT INTO runs VALUES (?, ?, ?, ?)", [_run(update, at)]),
            (
                "INSERT OR REPLACE INTO meta VALUES ('signatures', ?)",
                [(json.dumps(list(update.signature_ids)),)],
            ),
        ]
        cutoff = stamp(update.at - pd.Timedelta(days=update.retention_days))
        for table, column in (("runs", "at"), ("history", "at"), ("files", "seen_at")):
            steps.append((f"DELETE FROM {table} WHERE {column} < ?", [(cutoff,)]))
        steps.append(("DELETE FROM chunks WHERE seen_at < ?", [(cutoff,)]))
        forgotten = "DELETE FROM file_stats WHERE sha256 NOT IN (SELECT sha256 FROM files)"
        steps.append((forgotten, [()]))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for statement, rows in steps:
                self.db.executemany(statement, rows)
                checkpoint()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise


def _incident(row: tuple[Any, ...]) -> StoredIncident:
    return StoredIncident(
        incident_id=row[0],
        host=row[1],
        signature_id=row[2],
        start=_time(row[3]),
        end=_time(row[4]),
        confidence=float(row[5]),
        members=tuple(json.loads(row[6])),
        evidence=tuple(evidence_from_json(row[7])),
        services=tuple(json.loads(row[8])),
        found_at=_time(row[9]),
    )


def _diagnosis(row: tuple[Any, ...]) -> StoredDiagnosis:
    return StoredDiagnosis(
        host=row[0],
        signature_id=row[1],
        status=Status(row[2]),
        text=DiagnosisText(**json.loads(row[3])),
        reported_at=_time(row[4]),
        quiet_runs=int(row[5]),
        resolved_at=unstamp(row[6]),
        resolved_reason=row[7],
    )


def _host(row: tuple[Any, ...]) -> HostRecord:
    return HostRecord(
        host=row[0],
        first_data_at=_time(row[1]),
        last_data_at=_time(row[2]),
        last_record_time=unstamp(row[3]),
        runs_without_data=int(row[4]),
        os_version=row[5],
        build=row[6],
        service_pack=row[7],
        processors=row[8],
    )


def _marks(update: StateUpdate, at: str | None) -> Iterable[tuple[Any, ...]]:
    for m in update.watermarks:
        yield (m.host, m.channel, _signed(m.record_id), stamp(m.record_time), m.record_key, at)


def _signed(record_id: int) -> int:
    """An EventRecordID (unsigned 64-bit) as SQLite stores integers (signed 64-bit): ids of
    2**63 and more, which only damaged or forged records carry, wrap to negative numbers."""
    return record_id - (1 << 64) if record_id >= 1 << 63 else record_id


def _unsigned(stored: int) -> int:
    """The EventRecordID :func:`_signed` stored."""
    return stored + (1 << 64) if stored < 0 else stored


def _files(update: StateUpdate, at: str | None) -> Iterable[tuple[Any, ...]]:
    for sha, path, size in update.files:
        yield (sha, path, size, at)


def _incidents(update: StateUpdate) -> Iterable[tuple[Any, ...]]:
    for i in update.incidents:
        yield (
            i.incident_id,
            i.host,
            i.signature_id,
            stamp(i.start),
            stamp(i.end),
            i.confidence,
            json.dumps(list(i.members)),
            evidence_json(i.evidence),
            json.dumps(list(i.services)),
            stamp(i.found_at),
        )


def _diagnoses(update: StateUpdate) -> Iterable[tuple[Any, ...]]:
    for d in update.diagnoses:
        text = json.dumps(d.text.__dict__, ensure_ascii=False, sort_keys=True)
        yield (
            d.host,
            d.signature_id,
            str(d.status),
            text,
            stamp(d.reported_at),
            d.quiet_runs,
            stamp(d.resolved_at),
            d.resolved_reason,
        )


def _hosts(update: StateUpdate) -> Iterable[tuple[Any, ...]]:
    for h in update.hosts:
        yield (
            h.host,
            stamp(h.first_data_at),
            stamp(h.last_data_at),
            stamp(h.last_record_time),
            h.runs_without_data,
            h.os_version,
            h.build,
            h.service_pack,
            h.processors,
        )


def _history(update: StateUpdate, at: str | None) -> Iterable[tuple[Any, ...]]:
    for row in update.history:
        yield (
            update.run_id,
            at,
            str(row.kind),
            row.host,
            row.signature_id,
            row.diagnosis_id,
            row.detail,
        )


def _run(update: StateUpdate, at: str | None) -> tuple[Any, ...]:
    return (update.run_id, at, update.report, json.dumps(update.stats.__dict__))


# -- carried rows as Parquet ---------------------------------------------------------------


def _arrow_lists(kind: pa.DataType) -> pd.ArrowDtype | None:
    """Keep list-of-struct columns (``data``) as Arrow-backed, as the record schema has them."""
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        return pd.ArrowDtype(kind)
    return None


def rows_to_blob(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def rows_from_blob(blob: bytes) -> pd.DataFrame:
    """Carried rows as kept by a scan (``KEPT_ROWS``); state files written before the
    canonical provider column was declared name it ``_canon``."""
    frame: pd.DataFrame = pq.read_table(io.BytesIO(blob)).to_pandas(types_mapper=_arrow_lists)
    frame = frame.rename(columns={"_canon": "provider_key"})
    if "signatures" in frame.columns:
        frame["signatures"] = [list(v) if v is not None else [] for v in frame["signatures"]]
    return frame
