"""``saqmigrate scan PATH``: static inventory of Celery usage. Never imports the scanned code."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import click

from saqmigrate.cli.common import config_option, format_option, quiet_option, verbose_option

FORMATS = ("text", "json", "markdown", "sarif")


def project_of(file: Path) -> Path:
    """The folder a file is scanned in: above its outermost package (the folder Python imports it
    from, e.g. a Django project's root for app/tasks.py), so its imports, task names and app settings
    resolve as in a scan of that folder; ``[tool.saqmigrate]`` is found from there as usual."""
    folder = file.resolve().parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def narrow_to_file(index, root: Path, file: Path) -> None:
    """Keep only what is in ``file`` (the project was scanned for context); counts recomputed."""
    from collections import Counter

    from saqmigrate.classify import summarize

    rel = file.resolve().relative_to(root.resolve()).as_posix()
    for name in ("errors", "apps", "tasks", "schedules", "calls", "settings", "findings"):
        setattr(index, name, [item for item in getattr(index, name) if item.file == rel])
    timezone = index.summary.get("timezone")  # the project's, wherever it is set
    index.summary = summarize(index)
    index.summary["timezone"] = timezone
    index.files_scanned = 1
    index.files_parsed = int(any(rel == m["file"] for m in index.summary["modules"]) or bool(index.apps))
    if index.native.get("tasks"):
        rows = [r for r in index.native["tasks"] if r["file"] == rel]
        counts = Counter({k: 0 for k in index.native.get("summary", {})})
        counts.update(r["verdict"] for r in rows)
        index.native = {"summary": dict(counts), "tasks": rows}


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path), default=".", metavar="PATH")
@format_option(*FORMATS, help="Report format.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write the report to FILE (atomically); a .json, .md or .sarif suffix picks that format unless --format is given.",
)
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the per-file cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache folder (default PATH/.saqmigrate_cache).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), help="Worker processes (default: all cores).")
@config_option()
@verbose_option(
    help="Text report: list every module, blocker and file that could not be indexed (default: the "
    "first 15 of each; a report written with -o always lists all)."
)
@quiet_option(help="Text report: only its final line (the finding counts); no notes. Errors and exit codes unchanged.")
@click.option(
    "--fail-on",
    type=click.Choice(["never", "manual", "error"]),
    default="never",
    show_default=True,
    help="Exit 1 when any item is manual / any finding is an error.",
)
def command(
    path: Path,
    fmt: str,
    output: Path | None,
    no_cache: bool,
    cache_dir: Path | None,
    jobs: int | None,
    config_path: Path | None,
    verbose: bool,
    quiet: bool,
    fail_on: str,
) -> None:
    """Inventory all Celery apps, tasks, beat schedules, call sites and settings under PATH.

    PATH is a project folder, or one Python file: the folder above the file's outermost package is
    scanned for context (imports, task names, the app) and the report lists only that file."""

    from saqmigrate.cli.common import console as make_console
    from saqmigrate.cli.common import project_config
    from saqmigrate.emit import write_atomic
    from saqmigrate.emit import formats
    from saqmigrate.scan import run_scan

    from saqmigrate.cli.common import die

    err = make_console(stderr=True)
    fmt = _format_for_output(fmt, output)
    file = None
    if path.is_file():
        if path.suffix != ".py":
            die(f"{path}: not a Python file (give a .py file or the project folder)")
        file, path = path, project_of(path)
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
        index, stats = run_scan(
            path, config, use_cache=not no_cache, cache_dir=cache_dir, jobs=jobs, progress=progress_cb
        )
    finally:
        if bar is not None:
            bar.stop()
    if file is not None:
        rel = file.resolve().relative_to(path.resolve()).as_posix()
        if rel not in stats.indexed_files and not any(e.file == rel for e in index.errors):
            from saqmigrate.discover import discover

            if rel not in discover(path, exclude=config.exclude, include=config.include).files:
                die(
                    f"{file}: not scanned: excluded in {path} (by [tool.saqmigrate] exclude/include, .gitignore "
                    "or a build/virtualenv folder); scan the folder to see what is included"
                )
        narrow_to_file(index, path, file)
        stats.notes = [n for n in stats.notes if n.startswith(f"{rel}:")]
    elapsed = time.perf_counter() - started
    if fmt == "json":
        text = formats.to_json(index)
    elif fmt == "markdown":
        text = formats.to_markdown(index)
    elif fmt == "sarif":
        text = formats.to_sarif(index)
    else:
        text = None
    if text is None and output is None and quiet:
        from saqmigrate.cli.common import summary_line
        from saqmigrate.emit.terminal import render

        click.echo(summary_line(lambda c: render(index, c)))
    elif text is None and output is None:
        from saqmigrate.emit.terminal import render

        console = make_console()
        render(index, console, verbose=verbose)
        console.print(
            f"[dim]scanned in {elapsed:.2f}s ({stats.read} files read, {stats.from_cache} from cache, "
            f"{stats.workers} process(es))[/]"
        )
    else:
        if text is None:
            from io import StringIO

            from saqmigrate.emit.terminal import render

            buf = StringIO()
            render(index, make_console(file=buf, color_system=None), verbose=True)
            text = buf.getvalue()
        if output is not None:
            write_atomic(output, text)  # OutputError: one line, exit 2 (saqmigrate.errors)
        else:
            sys.stdout.write(text)
    for note in [] if quiet else stats.notes:
        err.print(f"[dim]note: {note}[/]", highlight=False)
    if fail_on == "manual" and any(
        i.migratability == "manual" for g in (index.tasks, index.schedules, index.calls) for i in g
    ):
        sys.exit(1)
    if fail_on == "error" and any(f.severity == "error" for f in index.findings):
        sys.exit(1)


_SUFFIX_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".sarif": "sarif"}


def _format_for_output(fmt: str, output: Path | None) -> str:
    """``-o report.json`` without ``--format`` writes JSON (the format the file's suffix names: .json,
    .md, .sarif); an explicit ``--format`` wins, and any other suffix keeps the text report."""
    import click

    ctx = click.get_current_context(silent=True)
    given = ctx is not None and ctx.get_parameter_source("fmt") not in (None, click.core.ParameterSource.DEFAULT)
    if output is None or given:
        return fmt
    return _SUFFIX_FORMATS.get(output.suffix.lower(), fmt)
