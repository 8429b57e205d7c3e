"""``evtxscan signatures list|lint|test``: inspect, check and test diagnostic signatures."""

from __future__ import annotations

import json
from pathlib import Path

import click

from evtxscan.authoring.selftest import run_signature_tests
from evtxscan.results.exit_code import ExitCode
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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_signatures(directories: tuple[Path, ...], no_builtin: bool, as_json: bool) -> None:
    """Show each signature's id, KB article, symptoms and title."""
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
