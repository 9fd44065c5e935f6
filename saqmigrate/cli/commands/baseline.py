"""``saqmigrate baseline PATH``: record the remaining Celery usage for the ratchet in ``check``.

Exit codes: 0 written (or already up to date), 2 usage error (e.g. the file exists and
--update was not given).
"""

from __future__ import annotations

from pathlib import Path

import click

from saqmigrate.cli.common import config_option, die, quiet_option, warn


@click.command("baseline")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option(
    "--update",
    is_flag=True,
    help="Rewrite an existing baseline from the code as it is now "
    "(shrinks it when usage went away; lists every added and removed entry).",
)
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the per-file scan cache.")
@config_option()
@quiet_option(
    help="Only errors and the final line (written / updated with the counts, or up to date): no added "
    "and removed entries, no warnings."
)
def command(path: Path, update: bool, no_cache: bool, config_path: Path | None, quiet: bool) -> None:
    """Write the committed baseline of remaining Celery tasks, beat entries and dispatch sites."""
    from saqmigrate.check import ratchet
    from saqmigrate.check.base import CheckError, Context, Options
    from saqmigrate.config import load_config
    from saqmigrate.emit import write_atomic

    if not path.is_dir():
        die(f"{path}: {'not a directory' if path.exists() else 'no such directory'}")
    config = load_config(path, config_path)  # ConfigError, CheckError: SaqmigrateError, one line and exit 2
    ctx = Context(path, config, Options(use_cache=not no_cache))
    target = ratchet.baseline_path(ctx)
    try:
        old = ratchet.load(target)
    except CheckError as exc:
        if not update:
            die(str(exc))
        if not quiet:
            warn(f"{exc}; --update writes a new one from the code")
        old = None
    if old is not None and not update:
        die(f"{ctx.rel(target)} exists; `saqmigrate baseline --update` rewrites it from the code")
    doc = ratchet.build(ctx)
    for err in [] if quiet else ctx.index.errors:
        warn(f"{err.file}: {err.message} (not in the baseline)")
    added, removed = ratchet.diff(old or {}, doc)
    if old is not None and not added and not removed:
        if ratchet.dumps(old) != ratchet.dumps(doc):
            write_atomic(target, ratchet.dumps(doc))
        click.echo(f"{ctx.rel(target)} is up to date", err=True)
        return
    try:
        write_atomic(target, ratchet.dumps(doc))
    except OSError as exc:
        die(str(exc))
    for line in [] if quiet else removed:
        click.echo(f"- {line}")
    for line in [] if quiet else added:
        click.echo(f"+ {line}")
    n = len(doc["tasks"]), len(doc["schedules"]), sum(sum(c.values()) for c in doc["calls"].values())
    verb = "updated" if old is not None else "wrote"
    click.echo(
        f"{verb} {ctx.rel(target)}: {n[0]} task(s), {n[1]} beat entr{'y' if n[1] == 1 else 'ies'}, "
        f"{n[2]} dispatch site(s)" + (f" ({len(added)} added, {len(removed)} removed)" if old is not None else ""),
        err=True,
    )
