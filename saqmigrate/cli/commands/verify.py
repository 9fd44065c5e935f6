"""``saqmigrate verify PATH --app MODULE[:ATTR]``: compare the generated SAQ code with Celery's run-time truth.

Exit codes (docs/verify.md): 0 all equal, 1 differences, 2 the app could not be imported or the
generated code could not be read (one line why).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from saqmigrate.cli.common import config_option, format_option, quiet_option


@click.command("verify")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option(
    "--app",
    "-A",
    "app_spec",
    required=True,
    metavar="MODULE[:ATTR]",
    help="The Celery app, spelled as for `celery -A` (e.g. proj.celery or proj.celery:app).",
)
@click.option(
    "--python",
    "python",
    metavar="EXE",
    default=None,
    help="Interpreter that imports the app (default: this one); give the project's virtualenv python.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=120,
    show_default=True,
    help="Seconds the app's import may take before verify gives up (exit 2).",
)
@click.option(
    "--keep-broker",
    is_flag=True,
    help="Keep the app's broker and result backend settings (default: memory://, so nothing connects).",
)
@format_option("text", "json", "sarif")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to FILE (atomically); a one-line summary still goes to stderr.",
)
@click.option("--no-cache", is_flag=True, help="Ignore the scan cache.")
@config_option()
@quiet_option(
    help="Text report: only its final line (tasks and beat entries compared, the verdict). Errors and "
    "exit codes unchanged."
)
def command(
    path: Path,
    app_spec: str,
    python: str | None,
    timeout: float,
    keep_broker: bool,
    fmt: str,
    output: Path | None,
    no_cache: bool,
    config_path: Path | None,
    quiet: bool,
) -> None:
    """Prove the migration against Celery's run-time truth. IMPORTS YOUR APP (opt-in).

    Unlike scan and rewrite, which never run your code, verify imports the Celery app given by
    --app — and with it your settings and task modules — in a child process (with --timeout, the
    broker forced to memory://, your project folder on PYTHONPATH, and your environment), reads
    every registered task (queue, retry options, exception classes, base class hooks) and the beat
    schedule as Celery resolved them, and compares them with what `saqmigrate rewrite` generated:
    the registry, the twins' TaskOptions, the worker settings and their CronJobs (each schedule
    through the same year-long proof as `saqmigrate schedules`). It writes nothing to the project.

    Exit 0: all equal; 1: differences (each with the Celery value, the generated value, file and
    line); 2: the app could not be imported, or no generated code was found.
    """
    from saqmigrate.cli.common import die, project_config
    from saqmigrate.errors import SaqmigrateError
    from saqmigrate.verify import RENDERERS, run_verify

    config = project_config(path, config_path)
    try:
        report = run_verify(
            path, app_spec, config, python=python, timeout=timeout, keep_broker=keep_broker, use_cache=not no_cache
        )
    except SaqmigrateError:  # VerifyError and the like: one line, exit 2
        raise
    except Exception as exc:  # noqa: BLE001 - exit 2, never a traceback mistaken for differences
        die(f"internal error: {type(exc).__name__}: {exc} (please report it)")
    text = RENDERERS[fmt](report)
    if output is not None:
        from saqmigrate.emit import write_atomic

        try:
            write_atomic(output, text)
        except OSError as exc:
            die(str(exc))
        n = len(report.counted)
        click.echo(
            f"saqmigrate verify: {'all equal' if not n else f'{n} difference(s)'}; report written to {output}", err=True
        )
    elif quiet and fmt == "text":
        click.echo(text.rstrip("\n").splitlines()[-1])
    else:
        click.echo(text, nl=False)
    sys.exit(report.exit_code)
