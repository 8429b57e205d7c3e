"""The scan pipeline, one for ``scan()`` and the nightly runner: read, keep, correlate, tabulate.

1. :meth:`ScanPipeline.read` streams the inputs and keeps, per batch, the symptom candidates
   and context rows plus per host and day counts of every record (:class:`Scanner`);
2. :meth:`ScanPipeline.rows` joins the kept rows (and, for nightly, the rows carried from the
   last run) into one de-duplicated frame in a canonical order;
3. :meth:`ScanPipeline.correlate` finds each host's incidents, renders diagnoses and timeline;
4. :meth:`ScanPipeline.result` gathers the tables into a :class:`ScanResult`.

A driver (``scan()``, nightly) adds only what is its own: nightly plans which chunks to read,
admits records above its watermarks and settles what changed since the last run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from evtxscan.correlation.engine import SeenRows, incidents_of
from evtxscan.correlation.incidents import Incident
from evtxscan.correlation.index_probe import IndexProbe
from evtxscan.correlation.notable import notable_counts
from evtxscan.correlation.renames import HostRenames, find_renames
from evtxscan.correlation.sessions import HostFacts, host_facts, needs_role
from evtxscan.memory import release_free_memory
from evtxscan.records.batch import concat_frames
from evtxscan.records.hosts import HostMap
from evtxscan.results import ScanResult
from evtxscan.results.stats import daily_counts
from evtxscan.results.tables import diagnoses_table, hosts_frame, label_kinds
from evtxscan.results.timeline import DEFAULT_WINDOW, TimelineMode, timeline_table
from evtxscan.scanning.day_counts import DAY_COLUMNS
from evtxscan.scanning.deferred import read_again, server_role_hosts
from evtxscan.scanning.engines import ScanEngine
from evtxscan.scanning.local_engine import LocalEngine
from evtxscan.scanning.located import LocatedHosts, LocatedTable, joined, located_table
from evtxscan.scanning.read_plans import (
    Chooser,
    DeferredRead,
    plan_deferred,
    plan_reads,
    role_evidence,
)
from evtxscan.scanning.scanner import Scanner, ScannerConfig, canonical_order, combine_rows
from evtxscan.scanning.units import plan_units
from evtxscan.signatures.model import Signature
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.chunk_plan import ChunkPlanner
from evtxscan.sources.evtx.backend_kind import Backend
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.evtx.selectors import IndexSelector, Windowed
from evtxscan.sources.inputs import PathLike, Source, expand_paths
from evtxscan.sources.stream import RecordStream
from evtxscan.sources.worker import ReadOptions

if TYPE_CHECKING:  # Sigma support is optional (pip install "evtxscan[sigma]")
    from evtxscan.signatures.sigma import SigmaRuleSet

#: Batches are gathered up to this many rows before selection (fewer per-batch fixed costs).
FEED_ROWS = 20_000
#: Per-day counts of records not decoded held as a dict before they join the day table.
SKIPPED_HELD = 2_000
#: Small logs batched up to this size by a stream read here (its index and rows: the peak;
#: a first nightly run over 2 GiB: 257 MiB; 16 MiB: 278, no faster; 32 MiB: -20%, 341 MiB).
STREAM_BATCH_BYTES = 10 << 20

HostMapOption = HostMap | Mapping[str, str] | str | Path | None


@dataclass(frozen=True)
class ScanSettings:
    """How a scan reads and what it keeps (the options of ``scan()`` and nightly runs)."""

    backend: str = "rust"
    host_map: HostMapOption = None
    workers: int = 1
    batch_size: int = 10_000
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    #: Which rows the timeline holds (every record is kept with ``TimelineMode.ALL``).
    timeline: TimelineMode = TimelineMode.NOTABLE
    window: timedelta = DEFAULT_WINDOW  # context shown around a symptom
    join_renamed: bool = True  # EventLog 6011 joins a renamed machine's names into one host
    include_recovered: bool = False  # recovered records may be symptoms
    read_recovered: bool = True  # recovered records are read (counted, context) at all
    select: bool = True  # decode only what correlation needs (nightly decodes all: watermarks)
    catalogs: tuple[str | Path, ...] = ()
    messages_db: str | Path | None = None  # a ts-evtx template database (--messages-db)
    input_tz: str = "UTC"
    feed_rows: int = FEED_ROWS
    time_budget: float | None = DEFAULT_TIME_BUDGET  # seconds per file (None: no limit)
    bundle_limits: BundleLimits = field(default_factory=BundleLimits)


@dataclass(frozen=True)
class Correlation:
    """One correlation over a set of kept rows: host facts, incidents and the rendered tables."""

    rows: pd.DataFrame
    facts: dict[str, HostFacts]
    incidents: list[Incident]
    diagnoses: pd.DataFrame
    timeline: pd.DataFrame


@dataclass
class ReadHooks:
    """What a driver adds to reading: chunk planning, files read before, record admission."""

    planner: ChunkPlanner | None = None
    remember: Mapping[str, str] = field(default_factory=dict)  # sha256 -> path read earlier
    known_stats: Mapping[str, tuple[int, int, str]] = field(default_factory=dict)  # no rehash
    admit: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # e.g. above the watermarks
    after_batch: Callable[[], None] | None = None  # e.g. a kill-point check


class ScanPipeline:
    """Read a collection, keep what correlation needs, correlate per host, build the tables
    (``config``: a scanner config to reuse, e.g. an engine worker's copy of the driver's)."""

    def __init__(
        self,
        signatures: list[Signature],
        settings: ScanSettings,
        sigma: SigmaRuleSet | None = None,
        config: ScannerConfig | None = None,
    ) -> None:
        self.signatures = signatures
        self.settings = settings
        self.sigma = sigma
        self.config = config or ScannerConfig(
            signatures=tuple(signatures),
            since=settings.since,
            until=settings.until,
            keep_all=settings.timeline is TimelineMode.ALL,
            include_recovered=settings.include_recovered,
            catalogs=settings.catalogs,
            messages_db=settings.messages_db,
            input_tz=settings.input_tz,
            feed_rows=settings.feed_rows,
            sigma=sigma,
        )
        self.scanner = Scanner(self.config)  # this process's: what every unit kept
        self.renderer = self.scanner.renderer
        self._own_rows: pd.DataFrame | None = None  # this run's kept rows, de-duplicated
        self.host_map = HostMap.from_option(settings.host_map)
        self.renames = HostRenames(joined=settings.join_renamed)
        #: Renames an engine that correlates hosts apart found over the whole collection.
        self.given_renames: HostRenames | None = None
        #: Context records located, not decoded (per source; joined: :meth:`located_table`).
        self.located: list[tuple[Source, LocatedRows]] = []
        self._located, self.located_hosts = located_table([]), LocatedHosts(self._host_of)

    def read_options(self) -> ReadOptions:
        """How units and streams read: backend, host map, recovered records, the selector."""
        settings, index = self.settings, self.scanner.index
        selector: IndexSelector | None = None
        if settings.timeline is not TimelineMode.ALL and settings.select:
            selector = IndexProbe.for_signatures(set(index.selectors), index.names)
            if self.scanner.sigma is not None:  # decode what a Sigma rule may match, too
                selector = self.scanner.sigma.selector(selector)
            selector = Windowed.between(selector, settings.since, settings.until)
        return ReadOptions(
            backend=Backend(settings.backend),
            batch_size=settings.batch_size,
            host_map=self.host_map,
            include_recovered=settings.read_recovered,
            selector=selector,
            time_budget=settings.time_budget,
            bundle_limits=settings.bundle_limits,
        )

    def scan(self, paths: PathLike | Iterable[PathLike], *, progress: object | None = None,
             engine: ScanEngine | None = None) -> ScanResult:  # fmt: skip
        """Read, keep, correlate and tabulate, planned into units of work that run on
        ``engine`` (default: this process and its ``workers`` worker processes)."""
        engine = engine or LocalEngine(self.settings.workers)
        readers = engine.readers() if isinstance(engine, LocalEngine) else 0
        return engine.scan(self, plan_units(expand_paths(paths), readers=readers), progress)

    def read(
        self, paths: PathLike | Iterable[PathLike], *, progress: object | None = None
    ) -> pd.DataFrame:
        """Read ``paths`` in units (in parallel with ``workers``) and keep what correlation
        needs; returns the integrity table, one row per input file."""
        engine = LocalEngine(self.settings.workers)
        units = plan_units(expand_paths(paths), readers=engine.readers())
        return engine.read(self, units, progress)

    def read_stream(
        self,
        paths: PathLike | Iterable[PathLike],
        *,
        progress: object | None = None,
        hooks: ReadHooks | None = None,
    ) -> RecordStream:
        """Stream ``paths`` through this process's scanner, with a driver's hooks (nightly:
        chunk planning, files read before, admission); the stream holds the integrity rows."""
        hooks = hooks or ReadHooks()
        settings, scanner, options = self.settings, self.scanner, self.read_options()
        stream = RecordStream(
            paths,
            backend=options.backend,
            batch_size=options.batch_size,
            host_map=options.host_map,
            include_recovered=options.include_recovered,
            workers=settings.workers,
            progress=progress,
            selector=options.selector,
            tz=settings.input_tz,
            catalog=self.renderer.catalog,
            time_budget=settings.time_budget,
            bundle_limits=settings.bundle_limits,
        )
        stream.planner = hooks.planner
        stream.batch_bytes = STREAM_BATCH_BYTES if options.selector is not None else None
        if hooks.remember:
            stream.remember(hooks.remember, hooks.known_stats)
        pending: list[pd.DataFrame] = []
        pending_rows = 0
        seen = SeenRows()  # kept rows seen before are dropped as they come (as units' are)
        for batch in stream:
            pending.append(batch)
            pending_rows += len(batch)
            if pending_rows >= settings.feed_rows:
                self._feed(pending, hooks, seen)
                pending, pending_rows = [], 0
            if len(stream.skipped) >= SKIPPED_HELD:  # counted as a frame: a dict grows
                scanner.add_skipped(stream.skipped, stream.options.host_map)
                stream.skipped.clear()
            if hooks.after_batch is not None:
                hooks.after_batch()
        if pending:
            self._feed(pending, hooks, seen)
        scanner.add_skipped(stream.skipped, stream.options.host_map)
        self.located = stream.deferred
        return stream

    def _feed(self, pending: list[pd.DataFrame], hooks: ReadHooks, seen: SeenRows) -> None:
        batch = concat_frames(pending) if len(pending) > 1 else pending[0]
        before = len(self.scanner.kept)
        self.scanner.feed(hooks.admit(batch) if hooks.admit is not None else batch)
        kept = self.scanner.kept
        kept[before:] = [seen.fresh(frame) for frame in kept[before:]]

    def rows(self, carried: pd.DataFrame | None = None) -> pd.DataFrame:
        """The kept rows (after ``carried`` ones), de-duplicated, in one canonical order, with
        renamed machines joined (``self.renames``, from the 6011 events among them)."""
        rows = combine_rows(carried, self.scanner.kept)
        known = set(self._raw_days()["host"]) | set(rows["host"].astype(str) if len(rows) else [])
        names, join = self.scanner.index.names, self.settings.join_renamed
        host_for = self.host_map.host_for
        self.renames = self.given_renames or find_renames(rows, host_for, known, names, join)
        self.located_hosts = LocatedHosts(self._host_of)  # host names follow the renames
        rows = self._joined(rows)
        if carried is None:
            self._own_rows = rows
        return rows

    def _joined(self, rows: pd.DataFrame) -> pd.DataFrame:
        if not self.renames.joins or rows.empty:
            return rows
        return canonical_order(rows.assign(host=self.renames.relabel(rows["host"])))

    def notable_counts(self) -> pd.DataFrame | None:
        """Per host, this run's notable events by kind (carried rows are not counted)."""
        own = self._own_rows
        if own is None:
            own = self._own_rows = self._joined(combine_rows(None, self.scanner.kept))
        if own.empty:
            return None
        keys = own["provider_key"]
        names = self.scanner.index.names
        return notable_counts(own["host"], keys, own["event_id"], own["level"], names)

    def facts(self, rows: pd.DataFrame) -> dict[str, HostFacts]:
        """Per host: boot sessions and the OS facts of the version banner; where the build
        alone cannot name the release, the host's located service changes are decoded to
        look for a server role."""
        facts = host_facts(rows, rows["provider_key"]) if not rows.empty else {}
        unsure = needs_role(facts)
        if unsure and self.has_located:
            names = self.scanner.index.names
            boots = {host: facts[host].boot_starts for host in unsure}
            reads = plan_reads(*self.located_table(), role_evidence(boots, names))
            options, relabel = self.read_options(), self.renames.relabel
            for host in server_role_hosts(reads, options, self.config, relabel):
                facts[host].server_role = True
        return facts

    def correlate(self, rows: pd.DataFrame, facts: dict[str, HostFacts] | None = None,
                  *, last_read: bool = False) -> Correlation:  # fmt: skip
        """Incidents, rendered diagnoses and the timeline over ``rows``. ``last_read``: no
        located record is read after the context (a scan): they are dropped before the
        timeline is made (200 distinct machines' took 28 MiB)."""
        facts = self.facts(rows) if facts is None else facts
        incidents = incidents_of(self.signatures, rows, facts)
        diagnoses = diagnoses_table(incidents, rows, facts)
        settings = self.settings
        shown = combine_rows(rows, [self.context_near_symptoms(rows)])
        if last_read:  # (and the hosts held for it)
            self.located, self._located = [], located_table([])
            self.located_hosts = LocatedHosts(self._host_of)
            release_free_memory()
        timeline = timeline_table(shown, settings.window, self.renderer, settings.timeline)
        return Correlation(rows, facts, incidents, diagnoses, timeline)

    def context_near_symptoms(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The located context records within the timeline window of a symptom in ``rows``,
        read again and decoded (empty when nothing was located or no symptom was found)."""
        if not self.has_located or rows.empty:
            return pd.DataFrame()
        symptoms = rows.loc[rows["signatures"].map(len).to_numpy() > 0, ["host", "time"]]
        return self._again(plan_deferred(*self.located_table(), symptoms, self.settings.window))

    @property
    def has_located(self) -> bool:
        """Whether located records are held (frames not yet joined, or the table)."""
        return bool(self.located) or len(self._located) > 0

    def read_located(self, choose: Chooser) -> pd.DataFrame:
        """The located records ``choose(hosts, frame)`` picks, read again and decoded."""
        return self._again(plan_reads(*self.located_table(), choose))

    def located_table(self) -> tuple[LocatedTable, pd.Categorical]:
        """The located records as one table (frames given since are joined in and let go),
        and their hosts (renames joined)."""
        if self.located:
            self._located = joined(self._located, located_table(self.located))
            self.located = []
            release_free_memory()  # the frames' pages, before choosers stack on them
        return self._located, self.located_hosts.of(self._located)

    def _again(self, reads: list[DeferredRead]) -> pd.DataFrame:
        if not reads:
            return pd.DataFrame()
        frames = list(read_again(reads, self.read_options(), self.config))
        return self._joined(combine_rows(None, frames))

    def _host_of(self, computer: str | None, source: str) -> str:
        """The host a located record belongs to, as the kept rows name it (renames joined)."""
        return self.renames.host(str(self.host_map.host_for(computer or None, source)))

    def result(
        self,
        found: Correlation,
        integrity: pd.DataFrame,
        diagnoses: pd.DataFrame | None = None,
    ) -> ScanResult:
        """The result tables (``diagnoses`` replaces the correlation's own, e.g. nightly's)."""
        table = label_kinds(found.diagnoses if diagnoses is None else diagnoses, self.signatures)
        if self.sigma is not None:
            from evtxscan.scanning.sigma_stage import sigma_diagnoses

            sigma_rows = sigma_diagnoses(self.sigma, self.scanner.sigma_hits)
            if len(sigma_rows):
                both = [table, sigma_rows] if len(table) else [sigma_rows]
                table = pd.concat(both, ignore_index=True)
        days = self.days()  # hosts_frame sums their records and spans per host
        totals = days[["host", "records", "first_time", "last_time"]]
        host_files = set(zip(days["host"], days["source_file"], strict=True))
        return ScanResult(
            timeline=found.timeline,
            diagnoses=table,
            hosts=hosts_frame(
                [totals] if len(days) else [],
                host_files,
                found.facts,
                table,
                self.notable_counts(),
                self.renames.notes,
            ),
            integrity=integrity,
            daily=daily_counts([days[["host", "day", "records", "errors"]]] if len(days) else []),
            signatures=tuple(self.signatures),
            sigma=self.sigma,
        )

    def days(self) -> pd.DataFrame:
        """Records, errors and time span per host, file and UTC day, of everything read
        (renamed machines joined)."""
        days = self._raw_days()
        if self.renames.joins and len(days):
            days["host"] = days["host"].map(self.renames.host)
        return days

    def _raw_days(self) -> pd.DataFrame:
        parts = [d for d in self.scanner.days if not d.empty]
        if not parts:
            return pd.DataFrame(columns=DAY_COLUMNS)
        days = pd.concat(parts, ignore_index=True)
        days["host"] = days["host"].astype(str)
        days["source_file"] = days["source_file"].astype(str)
        return days
