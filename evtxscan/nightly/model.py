"""What a nightly state holds between runs, as frozen records (see ``state.py`` for storage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from evtxscan.results.evidence import EvidenceKey

StreamKey = tuple[str, str]  # (host, channel)


class Status(StrEnum):
    """A diagnosis' standing in the nightly report."""

    OPEN = "open"
    RESOLVED = "resolved"


class Change(StrEnum):
    """What a run reports as changed (``history`` rows and the ``change`` columns)."""

    NEW = "new"  # first time reported
    REOPENED = "reopened"  # reported, resolved, and now seen again
    RESOLVED = "resolved"  # recovery event, or quiet for N runs with data
    WITHDRAWN = "withdrawn"  # no longer found (explained by a KB diagnosis, or cancelled)
    STALE = "stale"  # a host that sent data before sent none this run
    LOG_RESET = "log_reset"  # EventRecordID fell: a cleared or reinstalled log
    GAP = "gap"  # records between the watermark and the copy's oldest were overwritten
    CONFIG = "config"  # the signature set changed since the last run


@dataclass(frozen=True)
class Watermark:
    """The newest record read from one (host, channel) stream."""

    host: str
    channel: str
    record_id: int  # its EventRecordID
    record_time: pd.Timestamp | None  # its TimeCreated (None when torn)
    record_key: str  # time|event id|provider: tells the same record from a renumbered one


@dataclass(frozen=True)
class StoredIncident:
    """One incident reported by a run (members are record keys, see ``changes.row_keys``)."""

    incident_id: str
    host: str
    signature_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    confidence: float
    members: tuple[str, ...]
    evidence: tuple[EvidenceKey, ...]  # its symptom records, as in diagnoses.evidence
    services: tuple[str, ...]  # services its SCM failure events name (for recovery)
    found_at: pd.Timestamp


@dataclass(frozen=True)
class DiagnosisText:
    """The rendered, human part of a diagnosis, from the run that saw its latest incident."""

    title: str
    kb: str | None
    cause: str
    resolution: str
    reference: str | None


@dataclass(frozen=True)
class StoredDiagnosis:
    """A (host, signature) diagnosis' standing."""

    host: str
    signature_id: str
    status: Status
    text: DiagnosisText
    reported_at: pd.Timestamp  # when first reported, or last reopened
    quiet_runs: int = 0  # runs with data from the host and no new incident
    resolved_at: pd.Timestamp | None = None
    resolved_reason: str = ""


@dataclass(frozen=True)
class HostRecord:
    """When a host last sent data, and its system facts (merged over runs)."""

    host: str
    first_data_at: pd.Timestamp
    last_data_at: pd.Timestamp
    last_record_time: pd.Timestamp | None
    runs_without_data: int = 0
    os_version: str | None = None
    build: str | None = None
    service_pack: str | None = None
    processors: str = "unknown"


@dataclass(frozen=True)
class HistoryRow:
    """One reported change, kept for ``--retention-days``."""

    kind: Change
    host: str = ""
    signature_id: str = ""
    diagnosis_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class RunStats:
    """What a run read and skipped."""

    files: int = 0
    files_known: int = 0  # byte-identical to a file an earlier run read
    chunks_read: int = 0
    chunks_known: int = 0  # byte-identical to a chunk an earlier run read
    chunks_below_watermark: int = 0
    records_decoded: int = 0
    records_new: int = 0


@dataclass(frozen=True)
class PriorState:
    """Everything the previous committed run left."""

    watermarks: dict[StreamKey, Watermark] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # sha256 -> path
    #: path -> (size, mtime in ns, sha256) of files on disk read before (no hashing again)
    file_stats: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    incidents: dict[str, StoredIncident] = field(default_factory=dict)
    diagnoses: dict[tuple[str, str], StoredDiagnosis] = field(default_factory=dict)
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    carry: pd.DataFrame | None = None
    signature_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StateUpdate:
    """Everything one run commits, in one transaction, after its outputs are in place."""

    run_id: str
    at: pd.Timestamp
    report: str
    stats: RunStats
    watermarks: tuple[Watermark, ...]  # changed or new streams
    files: tuple[tuple[str, str, int], ...]  # (sha256, path, size) read or seen again
    chunks: tuple[bytes, ...]  # fingerprints of chunks read
    incidents: tuple[StoredIncident, ...]  # the complete set
    diagnoses: tuple[StoredDiagnosis, ...]  # the complete set
    hosts: tuple[HostRecord, ...]  # the complete set
    carry: pd.DataFrame
    history: tuple[HistoryRow, ...]
    signature_ids: tuple[str, ...]
    retention_days: int
    #: (path, size, mtime in ns, sha256) of those files on disk
    file_stats: tuple[tuple[str, int, int, str], ...] = ()
