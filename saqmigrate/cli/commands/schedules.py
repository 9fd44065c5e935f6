"""``saqmigrate schedules PATH``: every beat entry, its SAQ cron, whether it is proven exact, in words."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from saqmigrate.cli.common import config_option, format_option, quiet_option


@click.command("schedules")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@format_option("text", "json")
@click.option("--no-cache", is_flag=True, help="Ignore the scan cache.")
@config_option()
@click.option("--fail-on-inexact", is_flag=True, help="Exit 1 unless every entry is proven exact.")
@quiet_option(help="Text report: only its final line (entries, how many proven exact); no table. Exit codes unchanged.")
def command(path: Path, fmt: str, no_cache: bool, config_path: Path | None, fail_on_inexact: bool, quiet: bool) -> None:
    """Show each Celery beat entry next to its SAQ CronJob and the equivalence proof."""
    from rich.table import Table

    from saqmigrate.cli.common import console as make_console
    from saqmigrate.cli.common import project_config
    from saqmigrate.scan import run_scan

    config = project_config(path, config_path)
    index, _ = run_scan(path, config, use_cache=not no_cache)
    rows = []
    for s in index.schedules:
        tr = s.translation or {}
        guard = tr.get("guard")
        rows.append(
            {
                "entry": s.entry,
                "task": s.task if isinstance(s.task, str) else (s.task or {}).get("dynamic"),
                "file": s.file,
                "line": s.line,
                "celery": tr.get("celery_expr") or (s.celery.get("expr") if isinstance(s.celery, dict) else None),
                "cron": s.cron,
                "guard": guard,
                "strategy": tr.get("strategy", "manual"),
                "exact": s.exact,
                "cron_tz": tr.get("cron_tz"),
                "description": tr.get("description", ""),
                "rules": s.rules,
                "migratability": s.migratability,
            }
        )
    if fmt == "json":
        sys.stdout.write(json.dumps({"schema": "saqmigrate.schedules/1", "schedules": rows}, indent=2) + "\n")
    else:
        console = make_console()  # piped / CI: as wide as the table (cli/common.py NON_TTY_WIDTH)
        table = Table(title=f"Beat schedules in {index.root}", show_lines=False)
        for col in ("entry", "Celery", "SAQ cron", "exact", "when it fires", "rules"):
            table.add_column(col, overflow="fold")
        for r in rows:
            cron = r["cron"] or ("self-rescheduling" if r["strategy"] == "self_rescheduling" else "—")
            if r["guard"]:
                cron += f"\n+ guard {r['guard']['field']} in {r['guard']['values']}"
            exact = {True: "[green]yes[/]", False: "[red]no[/]", None: "[yellow]n/a[/]"}[r["exact"]]
            table.add_row(
                r["entry"] or f"({r['file']}:{r['line']})",
                r["celery"] or "?",
                cron,
                exact,
                r["description"],
                " ".join(r["rules"]),
            )
        if not quiet:
            console.print(table)
        n_exact = sum(1 for r in rows if r["exact"] is True)
        console.print(
            f"{len(rows)} entries, {n_exact} proven exact; details: saqmigrate scan --format json "
            "(schedules[].translation) and docs/schedules.md"
        )
    if fail_on_inexact and any(r["exact"] is not True for r in rows):
        sys.exit(1)
