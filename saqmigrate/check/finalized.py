"""After ``saqmigrate finalize``: Celery is gone, and new Celery usage is a finding (SM805).

Skipped until the worker package carries finalize's marker. Then every Celery task, Celery-style
dispatch of one and beat entry the scan finds is reported, except in files where finalize itself left
code on Celery (those carry its SM80x findings already)."""

from __future__ import annotations

from saqmigrate.check.base import CheckResult, Context, add


def run(ctx: Context) -> CheckResult:
    from saqmigrate.finalize import is_finalized, runtime_beat_hook_spans

    if not is_finalized(ctx.root):
        return CheckResult("finalized", "skipped", "the project is not finalized (saqmigrate finalize)")
    findings: list = []
    for t in ctx.celery_tasks():
        add(
            findings,
            ctx.finding(
                "SM805",
                t.file,
                t.decorator_line or t.line,
                f"Celery task {t.name or t.function} after finalize: declare it with @saq_job",
                subject=t.name or t.function,
            ),
        )
    for c in ctx.celery_calls():
        if (
            c.kind in ("delay", "apply_async", "send_task")
            and c.task
            and c.task in {t.name for t in ctx.celery_tasks()}
        ):
            add(
                findings,
                ctx.finding(
                    "SM805",
                    c.file,
                    c.line,
                    f"{c.target}.{c.kind}() dispatches a Celery task after finalize",
                    subject=c.task,
                ),
            )
    hooks: dict[str, list[tuple[int, int]]] = {}
    for s in ctx.celery_schedules():
        if s.source == "add_periodic_task":  # in a @beat_hook function finalize wrote: a CronJob of the worker
            if s.file not in hooks:
                try:
                    hooks[s.file] = runtime_beat_hook_spans((ctx.root / s.file).read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    hooks[s.file] = []
            if any(a <= s.line <= z for a, z in hooks[s.file]):
                continue
        add(
            findings,
            ctx.finding(
                "SM805",
                s.file,
                s.line,
                f"beat entry {s.entry!r} after finalize: add a CronJob to the worker settings",
                subject=str(s.entry),
            ),
        )
    n = len(findings)
    return CheckResult("finalized", "pass", f"finalized project: {n} Celery use(s) found", findings)
