"""The ``evtxscan`` command line.

Exit status: 0 success; 2 usage error or an unexpected failure (never 1, which later
commands reserve for "diagnoses found"). Bad input files never fail a run: they are
reported in the integrity table and the summary line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from evtxscan import __version__
from evtxscan import cli_options as options
from evtxscan.outputs.records import RecordFormat, RecordWriter
from evtxscan.progress import Progress
from evtxscan.sources.inputs import Source, expand_paths
from evtxscan.sources.stream import RecordStream

EXIT_OK = 0
EXIT_FAILURE = 2


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evtxscan")
def cli() -> None:
    """Read Windows event logs (.evtx) into one normalized schema and diagnose them.

    Inputs may be files, directories (searched recursively), glob patterns, or .zip/.gz
    bundles; formats are recognised from content, never from file names.
    """


@cli.command()
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
@options.WORKERS
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
@click.option(
    "--input-tz",
    default="UTC",
    show_default=True,
    help="Zone of the local times in Event Viewer text/CSV exports (IANA name).",
)
@click.option("--no-recovered", is_flag=True, help="Leave out records recovered from chunk slack.")
@click.option(
    "--integrity",
    "integrity_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-file integrity table (CSV) here.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def dump(
    paths: tuple[str, ...],
    fmt: str,
    output: Path | None,
    backend: str,
    host_map: str | None,
    workers: int,
    batch_size: int,
    messages: bool,
    catalogs: tuple[str, ...],
    input_tz: str,
    no_recovered: bool,
    integrity_path: Path | None,
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
    stream = RecordStream(
        paths,
        backend=backend,
        batch_size=batch_size,
        host_map=host_map,
        include_recovered=not no_recovered,
        workers=workers,
        messages=messages,
        catalogs=catalogs,
        progress=progress,
        tz=input_tz,
    )
    target: IO[bytes] = output.open("wb") if output else sys.stdout.buffer
    writer = RecordWriter(target, fmt)
    try:
        for frame in stream:
            writer.write(frame)
        writer.close()
    finally:
        progress.close()
        if output:
            target.close()
    if integrity_path is not None:
        stream.integrity.to_csv(integrity_path, index=False)
    if not quiet:
        click.echo(summary_line(stream, writer.rows), err=True)


from evtxscan.cli_scan import scan_command  # noqa: E402
from evtxscan.cli_signatures import signatures_group  # noqa: E402

cli.add_command(signatures_group)
cli.add_command(scan_command)

# Nightly incremental runs: `evtxscan nightly`, and `evtxscan scan --state FILE`.
from evtxscan.cli_nightly import add_state_option, nightly_command  # noqa: E402

add_state_option(scan_command)
cli.add_command(nightly_command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; maps every outcome onto the documented exit codes."""
    try:
        cli.main(args=argv, prog_name="evtxscan", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except SystemExit as done:
        return int(done.code or 0) if isinstance(done.code, int) else EXIT_FAILURE
    except click.ClickException as exc:
        exc.show()
        return EXIT_FAILURE
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an unexpected failure is exit 2, never 1
        click.echo(f"evtxscan: error: {type(exc).__name__}: {exc}", err=True)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
