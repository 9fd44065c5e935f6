"""``saqmigrate scan PATH``: static inventory of Celery usage. Never imports the scanned code."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import click

from saqmigrate.cli.common import config_option, format_option

FORMATS = ("text", "json", "markdown", "sarif")


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@format_option(*FORMATS, help="Report format.")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the report to FILE (atomically).")
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the per-file cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache folder (default PATH/.saqmigrate_cache).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), help="Worker processes (default: all cores).")
@config_option()
@click.option("--verbose", "-v", is_flag=True, help="Text report: list every module, blocker and file that could "
              "not be indexed (default: the first 15 of each; a report written with -o always lists all).")
@click.option("--fail-on", type=click.Choice(["never", "manual", "error"]), default="never", show_default=True,
              help="Exit 1 when any item is manual / any finding is an error.")
def command(path: Path, fmt: str, output: Path | None, no_cache: bool, cache_dir: Path | None, jobs: int | None,
            config_path: Path | None, verbose: bool, fail_on: str) -> None:
    """Inventory all Celery apps, tasks, beat schedules, call sites and settings under PATH."""
    from rich.console import Console

    from saqmigrate.cli.common import console as make_console
    from saqmigrate.cli.common import project_config
    from saqmigrate.emit import write_atomic
    from saqmigrate.emit import formats
    from saqmigrate.scan import run_scan

    err = make_console(stderr=True)
    config = project_config(path, config_path)
    started = time.perf_counter()
    progress_cb: Callable[[int, int], None] | None = None
    bar = None
    if err.is_terminal and fmt == "text" or (err.is_terminal and output is not None):
        from rich.progress import Progress

        bar = Progress(transient=True, console=err)
        task_id = bar.add_task("indexing", total=None)
        bar.start()

        def _progress(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        progress_cb = _progress
    try:
        index, stats = run_scan(path, config, use_cache=not no_cache, cache_dir=cache_dir, jobs=jobs,
                                progress=progress_cb)
    finally:
        if bar is not None:
            bar.stop()
    elapsed = time.perf_counter() - started
    if fmt == "json":
        text = formats.to_json(index)
    elif fmt == "markdown":
        text = formats.to_markdown(index)
    elif fmt == "sarif":
        text = formats.to_sarif(index)
    else:
        text = None
    if text is None and output is None:
        from saqmigrate.emit.terminal import render

        console = make_console()
        render(index, console, verbose=verbose)
        console.print(f"[dim]scanned in {elapsed:.2f}s ({stats.read} files read, {stats.from_cache} from cache, "
                      f"{stats.workers} process(es))[/]")
    else:
        if text is None:
            from io import StringIO

            from saqmigrate.emit.terminal import render

            buf = StringIO()
            render(index, Console(file=buf, width=120, color_system=None), verbose=True)
            text = buf.getvalue()
        if output is not None:
            write_atomic(output, text)  # OutputError: one line, exit 2 (saqmigrate.errors)
        else:
            sys.stdout.write(text)
    for note in stats.notes:
        err.print(f"[dim]note: {note}[/]", highlight=False)
    if fail_on == "manual" and any(i.migratability == "manual" for g in (index.tasks, index.schedules, index.calls) for i in g):
        sys.exit(1)
    if fail_on == "error" and any(f.severity == "error" for f in index.findings):
        sys.exit(1)
