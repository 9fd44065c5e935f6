"""``saqmigrate rewrite PATH``: generate SAQ twins, worker settings and routing for a Celery project."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("rewrite")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--diff", "action", flag_value="diff", help="Print a unified diff of what would change (default).")
@click.option("--check", "action", flag_value="check", help="Exit 1 if a rewrite would change anything.")
@click.option("--write", "action", flag_value="write", help="Write the changes: all of them or none (exit 2 and nothing written on any error).")
@click.option("--mode", type=click.Choice(["bridge", "native"]), default=None,
              help="bridge: the SAQ twin runs the Celery implementation in a thread; native: an async port "
                   "where the body is safe to convert (others stay bridged, with a finding). Default: the mode "
                   "the existing generated code records, else bridge.")
@click.option("--only", metavar="GLOB", help="Only tasks whose file path or Celery name matches GLOB.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="pyproject.toml to read [tool.saqmigrate] from (default: PATH's).")
@click.option("--no-wire", is_flag=True, help="Do not add the routing hook to the Celery app module.")
@click.option("--color/--no-color", default=None, help="Colour the diff (default: when stdout is a terminal).")
def command(path: Path, action: str | None, mode: str | None, only: str | None, config_path: Path | None, no_wire: bool,
            color: bool | None) -> None:
    """Generate async SAQ tasks, CronJobs and worker settings beside the unchanged Celery code."""
    from saqmigrate.cli.common import project_config
    from saqmigrate.rewrite import apply_changes, compute_changes

    action = action or "diff"
    config = project_config(path, config_path)
    result = compute_changes(path, config, mode=mode, only=only, wire=not no_wire)
    for err in result.errors:
        click.echo(f"saqmigrate: {err}", err=True)
    for msg in result.messages:
        click.echo(f"saqmigrate: {msg}", err=True)
    if action == "diff":
        use_color = sys.stdout.isatty() if color is None else color
        for c in result.changes:
            for line in c.diff().splitlines():
                if use_color and line.startswith("+") and not line.startswith("+++"):
                    line = click.style(line, fg="green")
                elif use_color and line.startswith("-") and not line.startswith("---"):
                    line = click.style(line, fg="red")
                elif use_color and line.startswith("@@"):
                    line = click.style(line, fg="cyan")
                click.echo(line, color=use_color)
        click.echo(f"{len(result.changes)} file(s) would change", err=True)
        return
    if action == "check":
        for c in result.changes:
            click.echo(f"would {c.kind}: {c.rel}")
        if result.changes or result.blocking:
            sys.exit(1)
        click.echo("rewrite is up to date", err=True)
        return
    if result.blocking:
        click.echo(f"saqmigrate: error: nothing written: {len(result.blocking)} problem(s) above must be fixed first",
                   err=True)
        sys.exit(2)
    done: list = []
    errors = apply_changes(path.resolve(), result.changes, done)
    for e in errors:
        click.echo(f"saqmigrate: error: {e}", err=True)
    if errors:
        click.echo("saqmigrate: error: nothing written", err=True)
        sys.exit(2)
    for c in done:
        click.echo(f"{c.kind[:-1] if c.kind.endswith('e') else c.kind}ed: {c.rel}")
