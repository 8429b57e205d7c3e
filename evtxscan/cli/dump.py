"""``evtxscan dump``: the normalized records of a collection as JSON Lines, CSV or Parquet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from evtxscan.cli import options
from evtxscan.cli.progress import Progress
from evtxscan.outputs.arrow_text import csv_text
from evtxscan.outputs.records import RecordFormat, RecordWriter
from evtxscan.outputs.spreadsheet import spreadsheet_safe
from evtxscan.outputs.tables import csv_cells
from evtxscan.scanning.api import read_records
from evtxscan.sources.inputs import Source, expand_paths
from evtxscan.sources.stream import RecordStream


def summary_line(stream: RecordStream, records: int) -> str:
    """One line for the end of a run: records, files, and files with problems."""
    integrity = stream.integrity
    counts = integrity["status"].value_counts()
    problems = {s: int(counts.get(s, 0)) for s in ("unreadable", "damaged")}
    duplicates = int(counts.get("duplicate", 0))
    text = f"evtxscan: {records:,} records from {len(integrity):,} files"
    bad = sum(problems.values())
    if bad:
        detail = ", ".join(f"{n} {s}" for s, n in problems.items() if n)
        text += f"; {bad} with problems ({detail})"
    if duplicates:
        text += f"; {duplicates} duplicate(s) skipped"
    return text


@click.command("dump")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in RecordFormat]),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
@options.BACKEND
@options.HOST_MAP
@options.workers_option(0)
@click.option(
    "--batch-size", type=int, default=10_000, show_default=True, help="Records per batch."
)
@click.option(
    "--messages/--no-messages",
    default=True,
    show_default=True,
    help="Add the offline English 'message' column (and 'binary_status').",
)
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Extra message-catalog directory (YAML); may be repeated.",
)
@options.MESSAGES_DB
@options.INPUT_TZ
@click.option("--no-recovered", is_flag=True, help="Leave out records recovered from chunk slack.")
@click.option(
    "--integrity",
    "integrity_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-file integrity table (CSV) here.",
)
@options.TIME_BUDGET
@options.BUNDLE_LIMIT
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def dump_command(
    paths: tuple[str, ...],
    fmt: str,
    output: Path | None,
    backend: str,
    host_map: str | None,
    workers: int,
    batch_size: int,
    messages: bool,
    catalogs: tuple[str, ...],
    messages_db: Path | None,
    input_tz: str,
    no_recovered: bool,
    integrity_path: Path | None,
    time_budget: float,
    bundle_limit: tuple[str, ...],
    quiet: bool,
) -> None:
    """Write the normalized records of PATHS as JSON Lines, CSV or Parquet.

    \b
    Examples:
      evtxscan dump logs/ --format csv -o records.csv
      evtxscan dump 'collected/**/System*' --integrity integrity.csv > records.jsonl
    """
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise click.UsageError("Parquet is binary: give -o FILE or redirect standard output.")
    total = sum(1 for item in expand_paths(paths) if isinstance(item, Source))
    progress = Progress(total, enabled=None if not quiet else False)
    stream = read_records(
        paths,
        backend=backend,
        batch_size=batch_size,
        host_map=host_map,
        include_recovered=not no_recovered,
        workers=workers,
        messages=messages,
        catalogs=catalogs,
        messages_db=messages_db,
        progress=progress,
        tz=input_tz,
        **options.read_limits(time_budget, bundle_limit),
    )
    target: IO[bytes] = output.open("wb") if output else sys.stdout.buffer
    writer = RecordWriter(target, fmt)
    try:
        for frame in stream:
            writer.write(frame)
        writer.close()
    finally:  # (stopped early, e.g. ``| head``: the workers end now, not at exit)
        stream.close()
        progress.close()
        if output:
            target.close()
    if integrity_path is not None:  # as scan's integrity.csv (without its byte-order mark)
        cells = spreadsheet_safe(csv_cells(stream.integrity))
        integrity_path.write_bytes(bytes(csv_text(cells, header=True)))
    if not quiet:
        click.echo(summary_line(stream, writer.rows), err=True)
