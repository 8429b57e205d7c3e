"""``evtxscan signatures list|lint|test|draft``: inspect, check, test and draft signatures."""

from __future__ import annotations

import json
from pathlib import Path

import click

from evtxscan.authoring.selftest import run_signature_tests
from evtxscan.results.exit_code import ExitCode
from evtxscan.signatures.drafts import load_drafts
from evtxscan.signatures.loader import load_signatures, parse_signature
from evtxscan.signatures.model import SignatureError


@click.group("signatures")
def signatures_group() -> None:
    """List, lint and test the diagnostic signatures (shipped and your own)."""


_DIRS = click.option(
    "--signatures",
    "directories",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Also load signatures from this directory or file (repeatable).",
)
_NO_BUILTIN = click.option("--no-builtin", is_flag=True, help="Leave out the shipped signatures.")


@signatures_group.command("list")
@_DIRS
@_NO_BUILTIN
@click.option(
    "--drafts", is_flag=True, help="The draft pack instead, noisy drafts included and marked."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_signatures(
    directories: tuple[Path, ...], no_builtin: bool, drafts: bool, as_json: bool
) -> None:
    """Show each signature's id, KB article, symptoms and title."""
    if drafts:
        found = load_drafts(include_noisy=True)
    else:
        found = load_signatures(*directories, builtin=not no_builtin)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "kb": s.kb,
                        "title": s.title,
                        "reference": s.reference,
                        "symptoms": [
                            {
                                "name": x.name,
                                "provider": list(x.providers),
                                "event_id": list(x.event_ids),
                                "role": x.role.value,
                            }
                            for x in s.symptoms
                        ],
                        "source": s.source,
                        "status": s.status.value,
                        "noisy": s.noisy,
                    }
                    for s in found
                ],
                indent=2,
            )
        )
        return
    for s in found:
        symptoms = ", ".join(
            f"{'/'.join(x.providers)} {'/'.join(map(str, x.event_ids))} ({x.role.value})"
            for x in s.symptoms
        )
        click.echo(f"{s.id}  [{s.kb or 'no KB'}]  {s.title}\n    {symptoms}")
        if s.noisy:
            click.echo(f"    noisy (left out by default): {s.noisy}")


@signatures_group.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def lint(paths: tuple[Path, ...]) -> None:
    """Check signature files (default: the shipped ones); report file:line: reason."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.glob("*.yaml")))]
    problems = 0
    if not files:
        try:
            count = len(load_signatures())
        except SignatureError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{count} shipped signatures are valid")
        return
    for file in files:
        try:
            parse_signature(file.read_text("utf-8"), str(file))
        except SignatureError as exc:
            problems += 1
            click.echo(str(exc), err=True)
    click.echo(f"{len(files) - problems} valid, {problems} with problems")
    if problems:
        raise SystemExit(ExitCode.FOUND)


@signatures_group.command("test")
@_DIRS
@_NO_BUILTIN
@click.option("--id", "only", multiple=True, help="Only this signature id (repeatable).")
def test(directories: tuple[Path, ...], no_builtin: bool, only: tuple[str, ...]) -> None:
    """Run every signature's embedded tests through the real engine (writer-made logs)."""
    chosen = [
        s for s in load_signatures(*directories, builtin=not no_builtin) if not only or s.id in only
    ]
    if not chosen:
        raise click.ClickException("no signature to test")
    outcomes = run_signature_tests(chosen)
    for outcome in outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        click.echo(f"{mark}  {outcome.signature} :: {outcome.test} -- {outcome.detail}")
    failed = sum(not o.passed for o in outcomes)
    click.echo(f"{len(outcomes) - failed} passed, {failed} failed")
    if failed:
        raise SystemExit(ExitCode.FOUND)


@signatures_group.command("draft")
@click.argument("articles", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the draft YAML files (created if missing).",
)
@click.option(
    "--events-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one row per cited event, in the columns of kb-events/EVENTS.csv.",
)
@click.option("--index", is_flag=True, help="Also write the pack index (index.json) for OUT.")
def draft(articles: tuple[Path, ...], out: Path, events_csv: Path | None, index: bool) -> None:
    """Draft one signature per KB article page (kbarchive README.md, or a directory of them).

    Each draft has status: draft and "possible" confidence at most; its symptoms are the
    events the article cites, its cause and resolution a summary in our words.
    """
    from evtxscan.authoring.writer import write_drafts
    from evtxscan.signatures.drafts import write_index

    run = write_drafts(articles, out, events_csv)
    for problem in run.unreadable:
        click.echo(f"skipped: {problem}", err=True)
    click.echo(
        f"{len(run.written)} drafts written to {out}; {len(run.no_events)} articles cite no "
        f"event{f'; {run.rows} event rows in {events_csv}' if events_csv else ''}"
    )
    if index:
        click.echo(f"index: {write_index(out)}")
