"""``saqmigrate rewrite PATH``: generate SAQ twins, worker settings and routing for a Celery project."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from saqmigrate.cli.common import config_option, die, quiet_option


@click.command("rewrite")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Print a unified diff of what would change (default); exit 1 when changes are pending, like "
    "ruff format --diff.",
)
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if a rewrite would change anything.")
@click.option(
    "--write",
    "write",
    is_flag=True,
    help="Write the changes: all of them or none (exit 2 and nothing written on any error).",
)
@click.option(
    "--mode",
    type=click.Choice(["bridge", "native"]),
    default=None,
    help="bridge: the SAQ twin runs the Celery implementation in a thread; native: an async port "
    "where the body is safe to convert (others stay bridged, with a finding). Default: the mode "
    "the existing generated code records, else bridge.",
)
@click.option("--only", metavar="GLOB", help="Only tasks whose file path or Celery name matches GLOB.")
@config_option()
@click.option("--no-wire", is_flag=True, help="Do not add the routing hook to the Celery app module.")
@click.option(
    "--skip-unparsable",
    is_flag=True,
    help="Go on when a file with Celery trigger words cannot be parsed (a syntax error, bytes not valid "
    "in its encoding): its tasks are left out. Without it --check, --diff and --write stop with exit 2, "
    "one error line per such file, and write nothing.",
)
@click.option(
    "--no-color",
    "no_color",
    is_flag=True,
    hidden=True,
    help="Old spelling of --color never (the diff is coloured like every report: --color auto|always|never).",
)
@quiet_option(
    help="Only errors and the final line (N file(s) would change / written): no diff, no file list, no "
    "notes. Exit codes unchanged."
)
@click.option(
    "--live",
    is_flag=True,
    help="IMPORTS YOUR APP (child process, memory broker, like `verify`): use Celery's run-time values "
    "where the static scan could only flag (queues from router functions, computed options, beat "
    "entries built in loops or from the environment); recorded in <worker package>/live_facts.py.",
)
@click.option("--app", "app_spec", metavar="MODULE[:ATTR]", help="With --live: the Celery app, as for `celery -A`.")
@click.option(
    "--python", "python_exe", metavar="EXE", help="With --live: the project's interpreter (default: this one)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=120,
    show_default=True,
    help="With --live: seconds the app may take to import.",
)
def command(
    path: Path,
    show_diff: bool,
    check_only: bool,
    write: bool,
    mode: str | None,
    only: str | None,
    config_path: Path | None,
    no_wire: bool,
    skip_unparsable: bool,
    no_color: bool,
    quiet: bool,
    live: bool,
    app_spec: str | None,
    python_exe: str | None,
    timeout: float,
) -> None:
    """Generate async SAQ tasks, CronJobs and worker settings beside the unchanged Celery code."""
    from saqmigrate.cli.common import project_config
    from saqmigrate.rewrite import apply_changes, compute_changes

    chosen = [name for name, on in (("--diff", show_diff), ("--check", check_only), ("--write", write)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other: give one")
    action = {"--check": "check", "--write": "write"}.get(chosen[0] if chosen else "--diff", "diff")
    config = project_config(path, config_path)
    facts = None
    if live or app_spec:
        if not (live and app_spec):
            die("--live needs --app MODULE[:ATTR] (and --app is only used with --live)")
        from saqmigrate.verify import run_probe

        facts = run_probe(path.resolve(), app_spec, {}, python=python_exe, timeout=timeout)  # VerifyError: exit 2
    result = compute_changes(path, config, mode=mode, only=only, wire=not no_wire, live=facts)
    used = result.plan.live
    if facts is not None and not quiet:
        n_tasks, n_beat = len(used.get("tasks") or {}), len(used.get("beat_schedule") or {})
        click.echo(
            f"saqmigrate: --live: run-time values used for {n_tasks} task(s) and {n_beat} beat entr"
            f"{'y' if n_beat == 1 else 'ies'} the static scan could not resolve",
            err=True,
        )
    from saqmigrate.emit.generate import inert

    if result.unparsed and not skip_unparsable:
        # like black's exit 123: a file that may hold tasks and cannot be read is not "up to date" (all or nothing)
        for bad in result.unparsed:
            click.echo(f"saqmigrate: error: {inert(bad)}; tasks in it would be missed", err=True)
        die(
            f"{'nothing written' if action == 'write' else 'cannot tell'}: {len(result.unparsed)} file(s) with "
            "Celery trigger words do not parse; fix or exclude them, or pass --skip-unparsable"
        )
    for err in result.errors:  # names in them are user text: one line each, whatever they contain
        click.echo(f"saqmigrate: {inert(err)}", err=True)
    for msg in [] if quiet else result.messages:
        click.echo(f"saqmigrate: {inert(msg)}", err=True)
    if action == "diff":
        from saqmigrate.cli.common import echo_diff

        if not quiet:
            echo_diff(result.changes, False if no_color else None)
        click.echo(f"{len(result.changes)} file(s) would change", err=True)
        if result.changes or result.blocking:
            sys.exit(1)
        return
    if action == "check":
        for c in [] if quiet else result.changes:
            click.echo(f"would {c.kind}: {c.rel}")
        if quiet and (result.changes or result.blocking):
            click.echo(f"{len(result.changes)} file(s) would change", err=True)
        if result.changes or result.blocking:
            sys.exit(1)
        click.echo("rewrite is up to date", err=True)
        return
    if result.blocking:
        die(f"nothing written: {len(result.blocking)} problem(s) above must be fixed first")
    done: list = []
    errors = apply_changes(path.resolve(), result.changes, done)
    for e in errors:
        click.echo(f"saqmigrate: error: {e}", err=True)
    if errors:
        die("nothing written")
    for c in [] if quiet else done:
        click.echo(f"{c.kind[:-1] if c.kind.endswith('e') else c.kind}ed: {c.rel}")
    if quiet:
        click.echo(f"rewrite: {len(done)} file(s) written", err=True)
