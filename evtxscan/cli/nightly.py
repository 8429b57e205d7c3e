"""``evtxscan nightly`` (and ``evtxscan scan --state``): crash-safe incremental runs.

Exit status: 0 nothing new, 1 new diagnoses since the last run, 2 usage error, failure, or
another run holding the state.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from evtxscan.cli import options
from evtxscan.cli.cluster import cluster_engine
from evtxscan.cli.progress import Progress
from evtxscan.nightly import NightlyOptions, NightlyOutcome, StateLocked, run_nightly
from evtxscan.outputs.report_dir import ReportOptions
from evtxscan.results.exit_code import ExitCode
from evtxscan.results.timeline import TimelineMode
from evtxscan.signatures.drafts import with_draft_pack
from evtxscan.signatures.loader import load_signatures
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET
from evtxscan.sources.inputs import Source, expand_paths
from evtxscan.sources.integrity import FileStatus


def _timeline(timeline: str, window: str) -> tuple[TimelineMode, timedelta]:
    """--timeline and --window; every record (``all``) cannot be kept across nights."""
    mode, span = options.timeline_choice(timeline, window)
    if mode is TimelineMode.ALL:
        raise click.UsageError("--timeline all cannot be combined with incremental runs")
    return mode, span


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO-8601 time") from None


def run_and_report(paths: tuple[str, ...], options: NightlyOptions, quiet: bool) -> NightlyOutcome:
    """Run, print notes and the summary line (unless quiet); StateLocked becomes exit 2."""
    total = sum(1 for item in expand_paths(paths) if isinstance(item, Source))
    progress = Progress(total, enabled=None if not quiet else False)
    try:
        outcome = run_nightly(list(paths), options, progress=progress)
    except StateLocked as exc:
        click.echo(f"evtxscan: error: {exc}", err=True)
        sys.exit(ExitCode.FAILURE)
    finally:
        progress.close()
    for warning in outcome.written.warnings:
        click.echo(f"evtxscan: warning: {warning}", err=True)
    if not quiet:
        for note in outcome.notes:
            click.echo(f"evtxscan: note: {note}", err=True)
        s = outcome.stats
        skipped = s.chunks_known + s.chunks_below_watermark
        click.echo(
            f"evtxscan nightly: {len(outcome.new)} new, {len(outcome.resolved)} resolved, "
            f"{len(outcome.stale)} stale host(s); {s.records_new:,} new records "
            f"({s.records_decoded:,} decoded, {s.chunks_read:,} chunks read, {skipped:,} "
            f"skipped) from {s.files:,} files ({s.files_known:,} read before); "
            f"report in {options.out}",
            err=True,
        )
    return outcome


@click.command("nightly")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="SQLite state file (created by the first run; <state>.lock is kept beside it).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Report directory (runs/<id>/, 'current' and links to its tables).",
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="Days of history (runs, changes, file and chunk fingerprints) kept in the state.",
)
@click.option(
    "--resolve-after",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Resolve a diagnosis after this many runs with data from its host and no new occurrence.",
)
@options.SIGNATURES
@options.BACKEND
@options.WORKERS
@options.SCHEDULER
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True)
@options.HOST_MAP
@options.TIMELINE
@options.WINDOW
@options.GROUP_REPEATS
@options.NO_JOIN_RENAMED
@options.TABLE_FORMAT
@options.NO_BOM
@options.NO_NEUTRALIZE
@options.REPORT_TZ
@options.MESSAGES_DB
@options.TIME_BUDGET
@options.BUNDLE_LIMIT
@click.option("--now", hidden=True, help="The run's time (ISO-8601); for tests.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, notes or summary line.")
def nightly_command(
    paths: tuple[str, ...],
    state: Path,
    out: Path,
    retention_days: int,
    resolve_after: int,
    signature_dirs: tuple[Path, ...],
    backend: str,
    workers: int,
    scheduler: str | None,
    batch_size: int,
    host_map: str | None,
    timeline: str,
    window: str,
    group_repeats: bool,
    no_join_renamed: bool,
    fmt: str,
    no_bom: bool,
    no_neutralize: bool,
    tz: str,
    messages_db: Path | None,
    time_budget: float,
    bundle_limit: tuple[str, ...],
    now: str | None,
    quiet: bool,
) -> None:
    """Read only what is new in PATHS since the last run; report new, resolved and stale.

    \b
    Exit status: 0 nothing new, 1 new diagnoses, 2 error (or another run holds --state).
    Example (cron, 02:30 every night):
      30 2 * * *  evtxscan nightly /srv/collected --state /var/lib/evtxscan/state.db \\
                    --out /srv/reports -q
    """
    mode, span = _timeline(timeline, window)
    nightly = NightlyOptions(
        state=state,
        out=out,
        signatures=load_signatures(*signature_dirs) if signature_dirs else None,
        backend=backend,
        host_map=host_map,
        workers=workers,
        batch_size=batch_size,
        timeline=span,
        timeline_mode=mode,
        join_renamed=not no_join_renamed,
        retention_days=retention_days,
        resolve_after=resolve_after,
        report=ReportOptions(
            fmt=fmt,
            bom=not no_bom,
            neutralize=not no_neutralize,
            tz=tz,
            group_repeats=group_repeats,
        ),
        messages_db=messages_db,
        now=_now(now),
        **options.read_limits(time_budget, bundle_limit),
    )
    with cluster_engine(scheduler) as engine:
        outcome = run_and_report(paths, dataclasses.replace(nightly, runner=engine), quiet)
    sys.exit(outcome.exit_code)


def scan_with_state(state: Path, retention_days: int, kw: dict[str, Any]) -> None:
    """``evtxscan scan --state FILE``: run as ``evtxscan nightly`` with the scan's options."""
    for name in ("since", "until"):
        if kw.get(name):
            raise click.UsageError(f"--{name} cannot be combined with --state")
    mode, span = _timeline(kw.get("timeline", "notable"), kw.get("window", "1h"))
    directories = tuple(kw.get("signature_dirs") or ())
    signatures = load_signatures(*directories) if directories else None
    if kw.get("with_drafts"):
        signatures = with_draft_pack(signatures if signatures is not None else load_signatures())
    nightly = NightlyOptions(
        state=state,
        out=kw["out"],
        signatures=signatures,
        backend=kw.get("backend", "rust"),
        host_map=kw.get("host_map"),
        workers=kw.get("workers", 1),
        timeline=span,
        timeline_mode=mode,
        join_renamed=not kw.get("no_join_renamed", False),
        retention_days=retention_days,
        report=ReportOptions(
            fmt=kw.get("fmt", "csv"),
            bom=not kw.get("no_bom", False),
            neutralize=not kw.get("no_neutralize", False),
            tz=kw.get("tz", "UTC"),
            group_repeats=bool(kw.get("group_repeats")),
        ),
        messages_db=kw.get("messages_db"),
        **options.read_limits(
            kw.get("time_budget", DEFAULT_TIME_BUDGET), kw.get("bundle_limit", ())
        ),
    )
    with cluster_engine(kw.get("scheduler")) as engine:
        nightly = dataclasses.replace(nightly, runner=engine)
        outcome = run_and_report(tuple(kw["paths"]), nightly, bool(kw.get("quiet")))
    fail_on = kw.get("fail_on", "diagnosis")
    if fail_on == "never":
        sys.exit(ExitCode.OK)
    bad = bool(outcome.result.integrity["status"].isin(FileStatus.PROBLEMS).any())
    found = outcome.exit_code is ExitCode.FOUND or (fail_on == "integrity" and bad)
    sys.exit(ExitCode.FOUND if found else ExitCode.OK)
