"""``run_nightly``: one crash-safe incremental run over a collection.

Order of a run: take the state lock; read only new records (see ``incremental``);
correlate them with the carried rows; settle new, resolved and stale; write the report
directory and switch ``current`` to it; only then commit the state, in one transaction.
A run killed at any point before the commit leaves the previous state, so the next run
reads the same records again and reaches the same result: nothing lost, nothing counted
twice. One killed after the switch but before the commit is simply redone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from evtxscan.memory import arrow_from_malloc, release_free_memory
from evtxscan.nightly.carried_windows import (
    carry_rows,
    carry_span,
    merge_facts,
    with_located,
)
from evtxscan.nightly.changes import Changes, merge
from evtxscan.nightly.cluster_read import read_on_cluster
from evtxscan.nightly.hosts import settle_hosts
from evtxscan.nightly.incremental import IncrementalPlanner, WatermarkBook
from evtxscan.nightly.killpoints import KillSwitch, Phase
from evtxscan.nightly.lock import StateLock
from evtxscan.nightly.model import Change, HistoryRow, PriorState, RunStats, StateUpdate, Status
from evtxscan.nightly.state import StateDB
from evtxscan.outputs.report_dir import ReportOptions, WrittenReport, write_report
from evtxscan.results import ScanResult
from evtxscan.results.exit_code import ExitCode
from evtxscan.results.timeline import DEFAULT_WINDOW, TimelineMode
from evtxscan.scanning.engines import TaskRunner
from evtxscan.scanning.pipeline import (
    HostMapOption,
    ReadHooks,
    ScanPipeline,
    ScanSettings,
)
from evtxscan.scanning.scanner import combine_rows
from evtxscan.signatures.loader import load_signatures
from evtxscan.signatures.model import Signature
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.evtx.decode import forget_templates
from evtxscan.sources.inputs import PathLike
from evtxscan.sources.integrity import FileReport, FileStatus, integrity_frame


@dataclass(frozen=True)
class NightlyOptions:
    """Where state and reports go, and how to read and correlate."""

    state: Path
    out: Path
    signatures: Sequence[Signature] | None = None  # default: the shipped signatures
    backend: str = "rust"
    host_map: HostMapOption = None
    workers: int = 1
    batch_size: int = 10_000
    timeline: timedelta = DEFAULT_WINDOW  # context shown around a symptom
    timeline_mode: TimelineMode = TimelineMode.NOTABLE  # which rows the timeline holds
    join_renamed: bool = True  # EventLog 6011 joins a renamed machine's names into one host
    retention_days: int = 90
    resolve_after: int = 3  # runs with data and no new occurrence before "resolved"
    report: ReportOptions = field(default_factory=ReportOptions)
    catalogs: tuple[str, ...] = ()
    messages_db: Path | None = None  # a ts-evtx template database (--messages-db)
    now: datetime | None = None  # the run's time (tests); default: the clock
    runner: TaskRunner | None = None  # read on a cluster (e.g. evtxscan.dask.DaskEngine)
    time_budget: float | None = DEFAULT_TIME_BUDGET  # seconds per file (None: no limit)
    bundle_limits: BundleLimits = field(default_factory=BundleLimits)


@dataclass(frozen=True)
class NightlyOutcome:
    """What a run found and wrote."""

    result: ScanResult
    new: pd.DataFrame
    resolved: pd.DataFrame
    stale: pd.DataFrame
    written: WrittenReport
    stats: RunStats
    notes: tuple[str, ...]

    @property
    def exit_code(self) -> ExitCode:
        """``OK`` nothing new, ``FOUND`` new diagnoses."""
        return ExitCode.FOUND if len(self.new) else ExitCode.OK


def run_nightly(
    paths: PathLike | Iterable[PathLike],
    options: NightlyOptions,
    progress: object | None = None,
) -> NightlyOutcome:
    """Read what is new in ``paths`` since the last run on ``options.state``; report it.

    Raises :class:`~evtxscan.nightly.lock.StateLocked` when another run holds the state.
    """
    if options.retention_days < 1 or options.resolve_after < 1:
        raise ValueError("retention_days and resolve_after must be at least 1")
    if options.timeline_mode is TimelineMode.ALL:
        raise ValueError("a nightly timeline cannot keep every record (timeline_mode 'all')")
    now = pd.Timestamp(options.now or datetime.now().astimezone())
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    kill = KillSwitch.from_env()
    with StateLock(options.state), arrow_from_malloc():
        db = StateDB(options.state)
        try:
            return _Run(paths, options, db, db.load(), kill, now, progress).run()
        finally:
            db.close()


@dataclass(frozen=True)
class _Run:
    paths: PathLike | Iterable[PathLike]
    options: NightlyOptions
    db: StateDB
    prior: PriorState
    kill: KillSwitch
    now: pd.Timestamp
    progress: object | None

    def run(self) -> NightlyOutcome:
        options = self.options
        chosen = list(options.signatures) if options.signatures is not None else load_signatures()
        pipeline = ScanPipeline(
            chosen,
            ScanSettings(
                backend=options.backend,
                host_map=options.host_map,
                workers=options.workers,
                batch_size=options.batch_size,
                timeline=options.timeline_mode,
                window=options.timeline,
                join_renamed=options.join_renamed,
                read_recovered=False,
                select=options.runner is None,  # a cluster's read tasks decode what is new
                catalogs=options.catalogs,
                messages_db=options.messages_db,
                feed_rows=options.batch_size,
                time_budget=options.time_budget,
                bundle_limits=options.bundle_limits,
            ),
        )
        book = WatermarkBook(dict(self.prior.watermarks))
        planner = IncrementalPlanner(book, self.db.known_chunks, pipeline.host_map)
        hooks = ReadHooks(
            planner=planner,
            remember=self.prior.files,
            known_stats=self.prior.file_stats,
            admit=book.admit,
            after_batch=lambda: self.kill.checkpoint(Phase.READING),
        )
        reports = self._read(pipeline, hooks, book, planner)
        forget_templates()  # as a scan does (see ``LocalEngine.scan``)
        release_free_memory()  # as a scan does: what reading freed, before correlating
        rows = pipeline.rows(carried=self.prior.carry)
        admitted = _joined(book.admitted_hosts, pipeline.renames.host)
        active = rows["host"].astype(str).isin(set(admitted)) if not rows.empty else None
        idle = rows[~active] if active is not None else rows
        if active is not None:  # hosts with nothing new keep their carried rows as they are
            rows = rows[active].reset_index(drop=True)
        facts = pipeline.facts(rows)
        merge_facts(facts, self.prior.hosts)
        tonight = pipeline.correlate(rows, facts)
        release_free_memory()
        self.kill.checkpoint(Phase.CORRELATING)
        retention = pd.Timedelta(days=options.retention_days)
        diagnosed = {i.host for i in tonight.incidents} | {
            host for (host, _), d in self.prior.diagnoses.items() if d.status is Status.OPEN
        }
        shown = with_located(pipeline, tonight.rows, diagnosed)  # rows' positions kept
        settled = dataclasses.replace(tonight, rows=shown)
        changes = merge(self.prior, settled, self.now, admitted, options.resolve_after, retention)
        hosts = settle_hosts(
            self.prior.hosts,
            admitted,
            tonight.facts,
            _open_counts(changes),
            self.now,
            retention,
        )
        history = (*book.notes, *self._config_notes(chosen), *changes.history, *hosts.history)
        earlier = set(self.prior.files.values())
        stats = RunStats(
            files=len(reports),
            files_known=sum(r.duplicate_of in earlier for r in reports),
            chunks_read=len(planner.chunks_read),
            chunks_known=planner.skipped_known,
            chunks_below_watermark=planner.skipped_below,
            records_decoded=book.decoded,
            records_new=book.admitted,
        )
        carry = carry_rows(shown, tonight.incidents, carry_span(chosen), options.timeline)
        carry = combine_rows(idle, [carry])
        if hosts.forgotten and not carry.empty:
            carry = carry[~carry["host"].astype(str).isin(hosts.forgotten)]
        update = StateUpdate(
            run_id="",
            at=self.now,
            report=str(options.out),
            stats=stats,
            watermarks=book.committed(),
            files=_files(reports, self.prior),
            file_stats=_file_stats(reports),
            chunks=tuple(planner.chunks_read),
            incidents=changes.incidents,
            diagnoses=changes.diagnoses,
            hosts=hosts.records,
            carry=carry.reset_index(drop=True),
            history=history,
            signature_ids=tuple(sorted(s.id for s in chosen)),
            retention_days=options.retention_days,
        )
        result = pipeline.result(tonight, _integrity(reports, self.prior), diagnoses=changes.table)
        # Outputs first (one atomic switch), the state only then: see the module docstring.
        written = write_report(
            result,
            options.out,
            options.report,
            extra_tables={"new": changes.new, "resolved": changes.resolved, "stale": hosts.stale},
            before_switch=lambda _: self.kill.checkpoint(Phase.WRITING),
        )
        self.kill.checkpoint(Phase.SWITCHED)
        update = dataclasses.replace(update, run_id=written.run.name)
        self.db.commit(update, lambda: self.kill.checkpoint(Phase.COMMITTING))
        self.kill.checkpoint(Phase.COMMITTED)
        notes = tuple(f"{n.kind}: {n.host}: {n.detail}" for n in history if _noted(n))
        return NightlyOutcome(
            result, changes.new, changes.resolved, hosts.stale, written, stats, notes
        )

    def _read(
        self,
        pipeline: ScanPipeline,
        hooks: ReadHooks,
        book: WatermarkBook,
        planner: IncrementalPlanner,
    ) -> list[FileReport]:
        """Read what is new: in this process (and its workers), or on the cluster of
        ``options.runner`` with the state kept here (see ``cluster_read``)."""
        runner = self.options.runner
        if runner is None:
            progress = _ReadingProgress(self.progress, self.kill)  # a kill point per file too
            return pipeline.read_stream(self.paths, progress=progress, hooks=hooks).reports
        return read_on_cluster(
            runner,
            pipeline,
            self.paths,
            book=book,
            planner=planner,
            remember=self.prior.files,
            progress=self.progress,
            after_input=hooks.after_batch,
        )

    def _config_notes(self, chosen: list[Signature]) -> list[HistoryRow]:
        before = self.prior.signature_ids
        now = {s.id for s in chosen}
        if before is None or set(before) == now:
            return []
        added, removed = sorted(now - set(before)), sorted(set(before) - now)
        detail = (
            f"signatures changed (added: {', '.join(added) or '-'}; removed: "
            f"{', '.join(removed) or '-'}); records read by earlier runs are not scanned "
            "again: start a new state file to rescan everything"
        )
        return [HistoryRow(Change.CONFIG, detail=detail)]


@dataclass(frozen=True)
class _ReadingProgress:
    """The caller's progress hooks, with a reading kill point after each file."""

    inner: object | None
    kill: KillSwitch

    def file_done(self, report: object) -> None:
        update = getattr(self.inner, "file_done", None)
        if callable(update):
            update(report)
        self.kill.checkpoint(Phase.READING)

    def records_done(self, count: int) -> None:
        update = getattr(self.inner, "records_done", None)
        if callable(update):
            update(count)


def _joined(
    admitted: dict[str, pd.Timestamp | None], host: Callable[[str], str]
) -> dict[str, pd.Timestamp | None]:
    """Hosts that sent new records, with renamed machines joined (newest record of each)."""
    out: dict[str, pd.Timestamp | None] = {}
    for name, newest in admitted.items():
        joined, before = host(name), out.get(host(name))
        out[joined] = (
            newest if before is None else before if newest is None else max(before, newest)
        )
    return out


def _noted(row: HistoryRow) -> bool:
    return row.kind in (Change.LOG_RESET, Change.GAP, Change.CONFIG)


def _open_counts(changes: Changes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for diagnosis in changes.diagnoses:
        if diagnosis.status is Status.OPEN:
            counts[diagnosis.host] = counts.get(diagnosis.host, 0) + 1
    return counts


def _integrity(reports: list[FileReport], prior: PriorState) -> pd.DataFrame:
    """The reader's integrity rows; files an earlier run read say so."""
    frame = integrity_frame(reports)
    earlier = set(prior.files.values())
    known = frame["duplicate_of"].isin(earlier) & (frame["status"] == FileStatus.DUPLICATE)
    note = "read by an earlier nightly run"
    frame.loc[known, "notes"] = [f"{n}; {note}" if n else note for n in frame.loc[known, "notes"]]
    return frame


def _file_stats(reports: list[FileReport]) -> tuple[tuple[str, int, int, str], ...]:
    """(path, size, mtime, sha256) of files on disk read or seen again, so the next run
    need not hash them while they stay unchanged."""
    kept = (FileStatus.OK, FileStatus.DIRTY, FileStatus.DAMAGED, FileStatus.DUPLICATE)
    return tuple(
        (r.path, r.size, r.mtime_ns, r.sha256)
        for r in reports
        if r.mtime_ns is not None and r.sha256 and r.status in kept
    )


def _files(reports: list[FileReport], prior: PriorState) -> tuple[tuple[str, str, int], ...]:
    """Files read completely (and known files seen again), for the SHA-256 skip."""
    readable = (FileStatus.OK, FileStatus.DIRTY, FileStatus.DAMAGED)
    found: dict[str, tuple[str, str, int]] = {}
    for report in reports:
        if not report.sha256:
            continue
        if report.status in readable:
            found.setdefault(report.sha256, (report.sha256, report.path, report.size))
        elif report.sha256 in prior.files:
            found.setdefault(
                report.sha256, (report.sha256, prior.files[report.sha256], report.size)
            )
    return tuple(found[k] for k in sorted(found))


__all__ = [
    "NightlyOptions",
    "NightlyOutcome",
    "run_nightly",
]
