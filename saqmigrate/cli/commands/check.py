"""``saqmigrate check PATH``: the CI gate (ratchet, drift, schedules, routing, window).

Exit codes (stable, docs/ci.md): 0 every check passed, 1 a check failed, 2 usage or
internal error.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

import click

from saqmigrate.check import CHECKS
from saqmigrate.cli.common import config_option, die, format_option, quiet_option, verbose_option


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-12-01, got {value!r}") from None


@click.command("check")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@format_option(
    "text",
    "json",
    "sarif",
    "junit",
    "github",
    aliases=("human",),
    help="Report format (github = workflow annotations with file and line).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write the report to FILE (atomically); a one-line summary still goes to stderr.",
)
@click.option("--only", multiple=True, type=click.Choice(list(CHECKS)), help="Run only this check (repeatable).")
@click.option("--skip", multiple=True, type=click.Choice(list(CHECKS)), help="Skip this check (repeatable).")
@click.option("--strict", is_flag=True, help="Warnings fail the gate too (e.g. a baseline that should shrink).")
@click.option(
    "--redis-url",
    default=None,
    help="Flag store for the routing checks (default: the environment "
    "variable named by flag_store_env, SAQMIGRATE_REDIS_URL).",
)
@click.option(
    "--namespace",
    envvar="SAQMIGRATE_NAMESPACE",
    default="saqmigrate",
    show_default=True,
    help="Flag-store key prefix (env SAQMIGRATE_NAMESPACE, as for route and the router).",
)
@click.option(
    "--bootstrap",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Check a flag snapshot file instead of (or when there is no) live flag store.",
)
@click.option(
    "--today",
    callback=_date,
    metavar="YYYY-MM-DD",
    help="Judge the window and rule expiry at this "
    "date (default: today), e.g. to see whether the gate still passes next week.",
)
@click.option(
    "--mode",
    type=click.Choice(["bridge", "native"]),
    default=None,
    help="The `rewrite --mode` the generated code was written with (default: the mode it records).",
)
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the per-file scan cache.")
@config_option()
@verbose_option(help="Text report: also list info findings.")
@quiet_option(
    help="Text report: only its final line (passed / failed with the counts). Errors and exit codes unchanged."
)
@click.option(
    "--live",
    is_flag=True,
    help="Also run `saqmigrate verify`: IMPORTS the app given by --app (in a child "
    "process, broker forced to memory://) and compares its run-time truth with the generated code.",
)
@click.option(
    "--app", "-A", "live_app", metavar="MODULE[:ATTR]", help="The Celery app for --live (as for `celery -A`)."
)
@click.option("--python", "live_python", metavar="EXE", help="Interpreter that imports the app for --live.")
@click.option(
    "--live-timeout",
    type=click.FloatRange(min=1),
    default=120,
    show_default=True,
    help="Seconds the app's import may take for --live.",
)
def command(
    path: Path,
    fmt: str,
    output: Path | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    strict: bool,
    redis_url: str | None,
    namespace: str,
    bootstrap: Path | None,
    today: _dt.date | None,
    mode: str,
    no_cache: bool,
    config_path: Path | None,
    verbose: bool,
    quiet: bool,
    live: bool,
    live_app: str | None,
    live_python: str | None,
    live_timeout: float,
) -> None:
    """Fail CI when the migration goes off track: new Celery usage, drifted generated code,
    unproven schedules, inconsistent routing flags, or an expired window. With --live --app,
    also verify the generated code against the imported app's run-time truth (imports the app)."""

    from saqmigrate.check import Options, run_checks
    from saqmigrate.cli.common import console as make_console
    from saqmigrate.cli.common import project_config
    from saqmigrate.emit import write_atomic
    from saqmigrate.errors import SaqmigrateError
    from saqmigrate.emit import ci_formats

    if live and not live_app:
        die("check --live needs --app MODULE[:ATTR] (the Celery app to import, as for `celery -A`)")
    if live_app and not live:
        die("--app is only used with --live (which imports the app); add --live")
    config = project_config(path, config_path)
    try:
        options = Options(
            today=today,
            use_cache=not no_cache,
            mode=mode,
            redis_url=redis_url,
            namespace=namespace,
            bootstrap=bootstrap,
            strict=strict,
            live_app=live_app if live else None,
            live_python=live_python,
            live_timeout=live_timeout,
        )
        report = run_checks(path, config, options, only=list(only), skip=list(skip))
    except SaqmigrateError:
        raise
    except Exception as exc:  # noqa: BLE001 - exit 2, never a traceback mistaken for a failed check
        die(
            f"internal error: {type(exc).__name__}: {exc} (please report it; rerun with --no-cache to rule out "
            "the cache)"
        )
    if fmt == "text":
        if output is not None:
            from io import StringIO

            buf = StringIO()
            ci_formats.render_human(report, make_console(file=buf, color_system=None), verbose=verbose)
            text = buf.getvalue()
        elif quiet:
            from saqmigrate.cli.common import summary_line

            click.echo(summary_line(lambda c: ci_formats.render_human(report, c)))
            text = None
        else:
            console = make_console()
            ci_formats.render_human(report, console, verbose=verbose)
            text = None
    else:
        text = ci_formats.render(report, fmt)
    if text is not None:
        if output is not None:
            try:
                write_atomic(output, text)
            except OSError as exc:
                die(str(exc))
            c = report.counts()
            click.echo(
                f"saqmigrate check {'passed' if report.passed else 'failed'}: {c['error']} error(s), "
                f"{c['warning']} warning(s); report written to {output}",
                err=True,
            )
        else:
            click.echo(text, nl=False)
    sys.exit(report.exit_code)
