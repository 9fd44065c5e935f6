"""The migration window: its end must not pass while Celery is still referenced.

Configured in ``[tool.saqmigrate]`` either as ``[tool.saqmigrate.window]`` ``start``/``days``
or as top-level ``window_start``/``window_days`` (the form ``saqmigrate route status``
reads); both at once must agree. Judged at ``--today`` (default: today).
"""

from __future__ import annotations

from saqmigrate.check.base import CheckError, CheckResult, Context, add
from saqmigrate.runtime.window import Window, WindowError

WARN_DAYS = 7


def load(ctx: Context) -> Window | None:
    cfg = ctx.config
    src = f"{ctx.config_rel} [tool.saqmigrate]"
    unknown = sorted(set(cfg.window) - {"start", "days", "settled_days"})  # settled_days: saqmigrate finalize
    if unknown:
        raise CheckError(
            f"{ctx.config_rel}: unknown key(s) in [tool.saqmigrate.window]: {', '.join(unknown)} "
            "(known: start, days, settled_days)"
        )
    try:
        table = (
            Window.from_config(
                {"window_start": cfg.window.get("start"), "window_days": cfg.window.get("days", 60)}, f"{src}.window"
            )
            if cfg.window
            else None
        )
        top = Window.from_config(
            {"window_start": cfg.window_start, "window_days": 60 if cfg.window_days is None else cfg.window_days}, src
        )
    except WindowError as exc:
        raise CheckError(str(exc).replace("window_start", "start" if cfg.window else "window_start")) from None
    if cfg.window and table is None:
        raise CheckError(f'{ctx.config_rel}: [tool.saqmigrate.window] needs start = "YYYY-MM-DD"')
    if table and top and table != top:
        raise CheckError(f"{ctx.config_rel}: [tool.saqmigrate.window] and window_start/window_days disagree; keep one")
    if cfg.window_days is not None and cfg.window_start is None:
        raise CheckError(f"{ctx.config_rel}: window_days without window_start")
    return table or top


def usage(ctx: Context) -> tuple[int, int, int, str | None]:
    tasks, scheds, calls = ctx.celery_tasks(), ctx.celery_schedules(), ctx.celery_calls()
    first = None
    items = (
        [(t.file, t.decorator_line or t.line) for t in tasks]
        + [(s.file, s.line) for s in scheds]
        + [(c.file, c.line) for c in calls]
    )
    if items:
        f, ln = min(items)
        first = f"{f}:{ln}"
    return len(tasks), len(scheds), len(calls), first


def run(ctx: Context) -> CheckResult:
    res = CheckResult("window")
    window = load(ctx)
    if window is None:
        res.status = "skipped"
        res.summary = 'no window configured ([tool.saqmigrate.window] start = "YYYY-MM-DD")'
        return res
    today = ctx.today
    left = window.days_left(today)
    line = ctx.config_line("start") if ctx.config.window else ctx.config_line("window_start")
    n_tasks, n_sched, n_calls, first = usage(ctx)
    referenced = n_tasks + n_sched + n_calls
    where = f"{n_tasks} task(s), {n_sched} beat entr{'y' if n_sched == 1 else 'ies'}, {n_calls} dispatch site(s)" + (
        f"; first at {first}" if first else ""
    )
    if window.expired(today) and referenced:
        add(
            res.findings,
            ctx.finding(
                "SM640",
                ctx.config_rel,
                line,
                f"the migration window ended on {window.end.isoformat()} ({-left} day(s) ago) and Celery is still "
                f"referenced ({where}): finish moving it to SAQ and remove the Celery code (the rollback window is over), or extend the window "
                "(days) with a reason in review",
                subject="window",
            ),
        )
    elif not window.expired(today) and left <= WARN_DAYS and referenced:
        add(
            res.findings,
            ctx.finding(
                "SM641",
                ctx.config_rel,
                line,
                f"the migration window ends on {window.end.isoformat()} ({left} day(s) left) and Celery is still "
                f"referenced ({where})",
                subject="window",
            ),
        )
    res.summary = f"day {window.day_number(today)} of {window.days}, ends {window.end.isoformat()}" + (
        " (expired)" if window.expired(today) else f", {left} day(s) left"
    )
    return res
