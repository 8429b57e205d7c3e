"""Command-line options shared by ``dump``, ``scan`` and ``nightly``, defined once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from evtxscan.results.timeline import TimelineMode
from evtxscan.signatures.durations import parse_duration
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.evtx.backend_kind import Backend

FC = TypeVar("FC", bound=Callable[..., object])

SIGNATURES = click.option(
    "--signatures",
    "signature_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Also load signatures from this directory (repeatable).",
)
BACKEND = click.option(
    "--backend",
    type=click.Choice([b.value for b in Backend]),
    default="rust",
    show_default=True,
    help="rust = pyevtx-rs (fast); python = python-evtx (slow).",
)


def workers_option(default: int) -> Callable[[FC], FC]:
    """``--jobs``/``--workers``: reading processes (0 = one per core when the input has more
    than one unit of work); each command chooses its default."""
    return click.option(
        "--workers",
        "--jobs",
        "workers",
        type=click.IntRange(min=0),
        default=default,
        show_default=True,
        help="Reading processes (0 = one per core, used when there is more than one file "
        "or many chunks).",
    )


WORKERS = workers_option(1)
HOST_MAP = click.option(
    "--host-map",
    help="CSV of computer,host, or 'regex:<pattern with (?P<host>...)>' "
    "applied to each file's path.",
)
TABLE_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
NO_BOM = click.option("--no-bom", is_flag=True, help="CSV without the UTF-8 byte-order mark.")
NO_NEUTRALIZE = click.option(
    "--no-neutralize",
    is_flag=True,
    help="Keep CSV cells that start with = + - @ tab or CR as they are (by default "
    "they get a leading apostrophe so spreadsheets do not run them as formulas).",
)
MESSAGES_DB = click.option(
    "--messages-db",
    "messages_db",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Message-template database (SQLite, ts-evtx schema) asked before the built-in "
    "catalog, e.g. one covering more providers or releases.",
)
INPUT_TZ = click.option(
    "--input-tz",
    default="UTC",
    show_default=True,
    help="Zone of the local times in Event Viewer text/CSV exports (IANA name).",
)
REPORT_TZ = click.option(
    "--tz",
    default="UTC",
    show_default=True,
    help="Time zone for the HTML report (e.g. Europe/Berlin).",
)
TIME_BUDGET = click.option(
    "--time-budget",
    type=click.FloatRange(min=0),
    default=DEFAULT_TIME_BUDGET,
    show_default=True,
    help="Seconds one file may take to read; past it, its records so far are kept and "
    "the rest is skipped with an integrity error (0 = no limit).",
)
BUNDLE_LIMIT = click.option(
    "--bundle-limit",
    "bundle_limit",
    multiple=True,
    metavar="NAME=VALUE",
    help="Bound on .zip/.gz bundles (repeatable): "
    + ", ".join(f"{f.name} (default {f.default})" for f in fields(BundleLimits))
    + ". A bundle over a bound gets an integrity error naming it.",
)


def read_limits(time_budget: float, bundle_limit: tuple[str, ...]) -> dict[str, Any]:
    """``time_budget`` and ``bundle_limits`` keyword arguments from the two options."""
    known = {f.name: f for f in fields(BundleLimits)}
    values: dict[str, Any] = {}
    for item in bundle_limit:
        name, _, text = item.partition("=")
        field = known.get(name.strip())
        if field is None or not text:
            raise click.BadParameter(
                f"{item!r}: give NAME=VALUE with NAME one of {', '.join(known)}",
                param_hint="--bundle-limit",
            )
        try:
            values[field.name] = (float if field.type in (float, "float") else int)(text)
            BundleLimits(**values)
        except ValueError as exc:
            raise click.BadParameter(f"{item!r}: {exc}", param_hint="--bundle-limit") from None
    return {"time_budget": time_budget or None, "bundle_limits": BundleLimits(**values)}


TIMELINE = click.option(
    "--timeline",
    "timeline",
    default="notable",
    show_default=True,
    help="Timeline rows: 'notable' (every host's notable events plus the context around "
    "symptoms), 'symptoms' (only the context around symptoms), 'all' (every record); a "
    "duration such as 2h means 'notable' with that --window.",
)
WINDOW = click.option(
    "--window",
    "window",
    default="1h",
    show_default=True,
    help="Context shown around each symptom (a duration such as 30m, 1h, 2d).",
)
GROUP_REPEATS = click.option(
    "--group-repeats",
    is_flag=True,
    help="Timeline CSVs get one row per run of identical events, with a count and the "
    "last record's time and keys (by default every row is written).",
)
NO_JOIN_RENAMED = click.option(
    "--no-join-renamed",
    "no_join_renamed",
    is_flag=True,
    help="Keep a renamed machine's old and new names as two hosts (by default EventLog 6011 "
    "joins them into one, noted in hosts.csv).",
)


def timeline_choice(timeline: str, window: str) -> tuple[TimelineMode, timedelta]:
    """The timeline mode and context window of ``--timeline`` and ``--window``."""
    try:
        span = parse_duration(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    if timeline in {m.value for m in TimelineMode}:
        return TimelineMode(timeline), span
    try:
        return TimelineMode.NOTABLE, parse_duration(timeline)
    except ValueError:
        raise click.BadParameter(
            f"{timeline!r}: use notable, symptoms, all or a duration such as 30m, 1h, 2d",
            param_hint="--timeline",
        ) from None


SCHEDULER = click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on a Dask cluster: tcp://HOST:PORT of a running scheduler, or local:N to "
    "start N worker processes on this machine (needs 'pip install evtxscan[dask]').",
)
