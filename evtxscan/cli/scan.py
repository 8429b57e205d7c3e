"""``evtxscan scan``: diagnose a collection and write the result tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evtxscan.cli import options
from evtxscan.cli.cluster import cluster_engine
from evtxscan.cli.progress import Progress
from evtxscan.outputs.report_dir import ReportOptions, write_report
from evtxscan.results.exit_code import ExitCode
from evtxscan.signatures.loader import load_signatures
from evtxscan.signatures.model import Signature
from evtxscan.sources.inputs import Source, expand_paths
from evtxscan.sources.integrity import FileStatus

if TYPE_CHECKING:  # optional: pip install "evtxscan[sigma]"
    from evtxscan.signatures.sigma import SigmaRuleSet


@click.command("scan")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for diagnoses, timeline, hosts and integrity tables.",
)
@options.SIGNATURES
@click.option(
    "--sigma",
    "sigma_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Sigma rules (file or directory, repeatable) to run as well: detection and "
    "correlation rules; matches are diagnoses of kind 'sigma'. Needs evtxscan[sigma].",
)
@click.option("--since", help="Only records at or after this time (ISO-8601; UTC if no zone).")
@click.option("--until", help="Only records before this time.")
@options.BACKEND
@options.workers_option(0)
@options.SCHEDULER
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
@options.INPUT_TZ
@click.option(
    "--fail-on",
    type=click.Choice(["never", "diagnosis", "integrity"]),
    default="diagnosis",
    show_default=True,
    help="When to exit 1: never, when a diagnosis is found, or also on bad files.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Incremental: read only records not read by earlier runs on this state file "
    "and also report new, resolved and stale (as 'evtxscan nightly'; exit 1 = new).",
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    help="With --state: days of history kept (default 90).",
)
@click.option(
    "--with-drafts",
    is_flag=True,
    help="Also run the draft pack (signatures drafted from 1,255 KB articles; "
    "'possible' confidence at most; noisy drafts left out).",
)
@options.TIME_BUDGET
@options.BUNDLE_LIMIT
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def scan_command(
    paths: tuple[str, ...],
    out: Path,
    signature_dirs: tuple[Path, ...],
    sigma_paths: tuple[Path, ...],
    since: str | None,
    until: str | None,
    backend: str,
    workers: int,
    scheduler: str | None,
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
    input_tz: str,
    fail_on: str,
    state: Path | None,
    retention_days: int | None,
    with_drafts: bool,
    time_budget: float,
    bundle_limit: tuple[str, ...],
    quiet: bool,
) -> None:
    """Diagnose the logs in PATHS and write the result tables to --out.

    \b
    Exit status: 0 no diagnosis, 1 diagnoses found (see --fail-on), 2 usage error or
    failure. Example:
      evtxscan scan collected/ --out report/
    """
    if state is not None and sigma_paths:
        raise click.UsageError("--sigma cannot be combined with --state (not yet incremental)")
    if state is not None:
        from evtxscan.cli.nightly import scan_with_state

        scan_options = {
            "paths": paths,
            "out": out,
            "signature_dirs": signature_dirs,
            "since": since,
            "until": until,
            "backend": backend,
            "workers": workers,
            "scheduler": scheduler,
            "host_map": host_map,
            "timeline": timeline,
            "window": window,
            "group_repeats": group_repeats,
            "no_join_renamed": no_join_renamed,
            "fmt": fmt,
            "no_bom": no_bom,
            "no_neutralize": no_neutralize,
            "tz": tz,
            "messages_db": messages_db,
            "fail_on": fail_on,
            "quiet": quiet,
            "with_drafts": with_drafts,
            "time_budget": time_budget,
            "bundle_limit": bundle_limit,
        }
        return scan_with_state(state, retention_days or 90, scan_options)
    if retention_days is not None:
        raise click.UsageError("--retention-days needs --state")
    from evtxscan.scanning import scan

    mode, span = options.timeline_choice(timeline, window)
    rule_set = _sigma_set(sigma_paths, quiet)
    total = sum(1 for item in expand_paths(paths) if isinstance(item, Source))
    progress = Progress(total, enabled=None if not quiet else False)
    try:
        with cluster_engine(scheduler) as engine:
            result = scan(
                list(paths),
                signatures=_signature_set(signature_dirs),
                since=since,
                until=until,
                backend=backend,
                host_map=host_map,
                timeline=mode,
                window=span,
                workers=workers,
                progress=progress,
                messages_db=messages_db,
                input_tz=input_tz,
                with_drafts=with_drafts,
                sigma=rule_set,
                join_renamed=not no_join_renamed,
                engine=engine,
                **options.read_limits(time_budget, bundle_limit),
            )
    finally:
        progress.close()
    report = ReportOptions(
        fmt=fmt, bom=not no_bom, neutralize=not no_neutralize, tz=tz, group_repeats=group_repeats
    )
    written = write_report(result, out, report)
    for warning in written.warnings:
        click.echo(f"evtxscan: warning: {warning}", err=True)
    bad_files = int(result.integrity["status"].isin(FileStatus.PROBLEMS).sum())
    if not quiet:
        click.echo(
            f"evtxscan: {len(result.diagnoses)} diagnoses on {len(result.hosts)} hosts "
            f"from {len(result.integrity)} files ({bad_files} with problems); "
            f"tables in {out}",
            err=True,
        )
    found = len(result.diagnoses) > 0
    if fail_on == "never":
        sys.exit(ExitCode.OK)
    if found or (fail_on == "integrity" and bad_files):
        sys.exit(ExitCode.FOUND)
    sys.exit(ExitCode.OK)


def _sigma_set(paths: tuple[Path, ...], quiet: bool) -> SigmaRuleSet | None:
    """The Sigma rules to run, loaded once; refusals reported on standard error."""
    if not paths:
        return None
    from evtxscan.scanning.api import SigmaUnavailableError, sigma_rule_set

    try:
        rule_set = sigma_rule_set(list(paths))
    except SigmaUnavailableError as exc:
        raise click.UsageError(str(exc)) from None
    assert rule_set is not None
    for refusal in rule_set.refused:
        click.echo(f"evtxscan: sigma: refused {refusal}", err=True)
    if not quiet:
        click.echo(
            f"evtxscan: sigma: {len(rule_set.detections)} detection and "
            f"{len(rule_set.correlations)} correlation rules loaded, "
            f"{len(rule_set.refused)} refused",
            err=True,
        )
    return rule_set


def _signature_set(directories: tuple[Path, ...]) -> list[Signature] | None:
    if not directories:
        return None
    return load_signatures(*directories)
