"""``saqmigrate finalize PATH``: day 60 — the project without Celery (docs/finalize.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from saqmigrate.cli.common import config_option, die, quiet_option


@click.command("finalize")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Print a unified diff of the end state (default; works on any day of the window); exit 1 when "
    "changes are pending.",
)
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if finalize would change anything.")
@click.option(
    "--write",
    "write",
    is_flag=True,
    help="Write the changes, all of them or none; refused (exit 2) until it is safe (see --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write although the safety checks fail or code is left that only Celery runs (each is "
    "listed as it is skipped).",
)
@click.option(
    "--rename",
    is_flag=True,
    help="Register each task as module.function (e.g. a task Celery knew as 'send-receipt'); the Celery "
    "name stays registered as an alias so jobs queued before keep running (drop it a release later).",
)
@config_option()
@click.option(
    "--registry",
    metavar="MODULE",
    help="The generated registry (default: found in PATH) for the safety checks against the flag store.",
)
@click.option(
    "--no-color",
    "no_color",
    is_flag=True,
    hidden=True,
    help="Old spelling of --color never (the diff is coloured like every report: --color auto|always|never).",
)
@quiet_option(
    help="Only errors (with --write: its refusals, or what --force skips) and the final line: no diff, no "
    "file list, no notes or places left to you (the final line counts them). Exit codes unchanged."
)
def command(
    path: Path,
    show_diff: bool,
    check_only: bool,
    write: bool,
    force: bool,
    rename: bool,
    config_path: Path | None,
    registry: str | None,
    no_color: bool,
    quiet: bool,
) -> None:
    """Remove Celery: tasks become @saq_job functions, dispatches SAQ enqueues, the window's code goes."""
    from saqmigrate.cli.common import project_config
    from saqmigrate.emit.generate import inert
    from saqmigrate.finalize import compute_finalize, gate
    from saqmigrate.rewrite import apply_changes

    chosen = [name for name, on in (("--diff", show_diff), ("--check", check_only), ("--write", write)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other: give one")
    action = {"--check": "check", "--write": "write"}.get(chosen[0] if chosen else "--diff", "diff")
    if not path.is_dir():
        die(f"{path}: not a folder (finalize works on a project)")
    config = project_config(path, config_path)
    result = compute_finalize(path, config, rename=rename)
    for err in result.errors:
        click.echo(f"saqmigrate: error: {inert(err)}", err=True)
    for msg in [] if quiet else result.messages:
        click.echo(f"saqmigrate: {inert(msg)}", err=True)
    for b in [] if quiet and action != "write" else result.blockers:  # --write: the reasons it is refused
        click.echo(f"saqmigrate: {inert(b.text())}", err=True)
    if action in ("diff", "check"):
        if action == "diff" and not quiet:
            from saqmigrate.cli.common import echo_diff

            echo_diff(result.changes, False if no_color else None)
        elif not quiet:
            for c in result.changes:
                click.echo(f"would {c.kind}: {c.rel}")
        n = len(result.changes)
        click.echo(f"{n} file(s) would change; {len(result.blockers)} place(s) finalize leaves to you", err=True)
        sys.exit(1 if n or result.errors else 0)
    if result.errors:
        die("nothing written: the problems above must be fixed first")
    if not result.changes:
        click.echo("finalize: nothing to change", err=True)
        return
    refusals = gate(path.resolve(), result, config, registry=registry)
    if result.blockers:
        refusals.append(
            f"{len(result.blockers)} place(s) above still need Celery (SM80x): fix them, or --force to "
            "leave them as they are"
        )
    if refusals:
        click.echo(
            f"saqmigrate: SM800: finalize --write is not safe yet ({len(refusals)} reason(s)"
            f"{'; writing anyway, --force' if force else ''}; `saqmigrate rule SM800` explains)",
            err=True,
        )
        for r in refusals:
            click.echo(f"saqmigrate: {'skipped (--force)' if force else 'refused'}: {inert(r)}", err=True)
        if not force:
            sys.exit(2)
    done: list = []
    errors = apply_changes(path.resolve(), result.changes, done)
    for e in errors:
        click.echo(f"saqmigrate: error: {e}", err=True)
    if errors:
        die("nothing written")
    for c in [] if quiet else done:
        click.echo(f"{c.kind[:-1] if c.kind.endswith('e') else c.kind}ed: {c.rel}")
    written = f" ({len(done)} file(s) written)" if quiet else ""
    click.echo(
        f"finalize: done{written}. Run the project's tests; `saqmigrate route purge --after-finalize` removes "
        "the flag store's keys once no Celery-era process runs.",
        err=True,
    )
