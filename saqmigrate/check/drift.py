"""Drift: the generated SAQ code is what ``saqmigrate rewrite`` would write now.

Same semantics as ``rewrite --check`` (any change = drift, renamed and deleted tasks
included), but reported by *cause*, at the line a person edited:

* the registry the router loads (``TASKS``/``SCHEDULES``) is compared entry by entry with
  the one ``rewrite`` renders now: a task or beat entry without a twin/CronJob (SM611,
  SM614), a twin/CronJob whose Celery side was renamed or deleted (SM612, SM615), one whose
  Celery side changed since generation (SM613, SM616: reported at the Celery task or beat
  entry, with the fields that differ);
* the ``CronJob(...)`` line of each beat entry in the queue settings modules, likewise;
* the routing hook in the Celery app module (SM617);
* anything else that differs (a hand edit of a generated file) is SM610 at its first
  differing line, reported only when no cause above explains the drift (one
  ``rewrite --write`` fixes all of it).

A task or beat entry that the ratchet already reports as new is not reported again here;
the ratchet's message includes the rewrite step.
"""

from __future__ import annotations

from saqmigrate.check.base import CheckResult, Context, add, is_generated_path
from saqmigrate.check.generated import cron_lines, first_difference, read, read_literals
from saqmigrate.emit.generate import MARKER, render
from saqmigrate.rewrite import NO_APP

REWRITE = "run `saqmigrate rewrite --write` and commit the result"


def _fields(old: dict, new: dict) -> str:
    parts = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            parts.append(f"{k} {old.get(k, '<none>')!r} → {new.get(k, '<none>')!r}")
    return "; ".join(parts) or "generated code differs"


def run(ctx: Context) -> CheckResult:
    res = CheckResult("drift")
    out = res.findings
    result = ctx.rewrite
    plan = result.plan
    expected = render(plan)
    reg_rel = f"{plan.package_rel}/registry.py"
    seen: set[str] = set()  # one finding per task / beat entry
    causes = 0

    def report(code: str, file: str, line: int, message: str, subject: str) -> None:
        nonlocal causes
        causes += 1
        if subject in ctx.absorbed or subject in seen:
            return
        seen.add(subject)
        add(out, ctx.finding(code, file, line, message, subject=subject))

    tasks_by_name = {t.name: t for t in ctx.celery_tasks() if t.name}
    entries = {c.entry: c for q in plan.queues for c in q.crons}
    committed_text = read(ctx.root / reg_rel)
    if reg_rel in expected and committed_text is None:
        app_file = next((a.file for a in ctx.index.apps if a.module == plan.app_module), reg_rel)
        add(out, ctx.finding("SM610", app_file, 1, f"no generated SAQ code yet ({reg_rel} is missing): {REWRITE}",
                             subject=f"file:{reg_rel}"))
        res.summary = "generated code missing"
        return res

    exp = read_literals(expected.get(reg_rel))
    cur = read_literals(committed_text)
    exp_tasks, cur_tasks = exp.values.get("TASKS", {}), cur.values.get("TASKS", {})
    cur_task_lines = cur.key_lines.get("TASKS", {})
    for name in sorted(set(exp_tasks) | set(cur_tasks)):
        t = tasks_by_name.get(name)
        where = (t.file, t.decorator_line or t.line) if t else (reg_rel, cur_task_lines.get(name, 1))
        subject = f"task:{name}"
        if name not in cur_tasks:
            report("SM611", *where, f"Celery task {name} has no SAQ twin in the generated code: {REWRITE}", subject)
        elif name not in exp_tasks:
            report("SM612", reg_rel, cur_task_lines.get(name, 1),
                   f"a SAQ twin is still generated for {name}, but no Celery task has that name any more (renamed "
                   f"or deleted): {REWRITE} to remove it", subject)
        elif exp_tasks[name] != cur_tasks[name]:
            report("SM613", *where, f"Celery task {name} changed after its SAQ twin was generated "
                   f"({_fields(cur_tasks[name], exp_tasks[name])}): {REWRITE}", subject)

    exp_s, cur_s = exp.values.get("SCHEDULES", {}), cur.values.get("SCHEDULES", {})
    cur_s_lines = cur.key_lines.get("SCHEDULES", {})

    def entry_where(entry: str) -> tuple[str, int]:
        ce = entries.get(entry)
        if ce is not None:
            return ce.schedule.file, ce.schedule.line
        return reg_rel, cur_s_lines.get(entry, 1)

    def sched_diff(entry: str, kind: str, detail: str = "", orphan_at: tuple[str, int] | None = None) -> None:
        subject = f"schedule:{entry}"
        if kind == "missing":
            report("SM614", *entry_where(entry), f"beat entry {entry!r} has no SAQ CronJob in the generated code: "
                   f"{REWRITE}", subject)
        elif kind == "orphaned":
            file, line = orphan_at or (reg_rel, cur_s_lines.get(entry, 1))
            report("SM615", file, line, f"a SAQ CronJob is still generated for beat entry {entry!r}, which no "
                   f"longer exists (renamed or deleted): {REWRITE} to remove it", subject)
        else:
            report("SM616", *entry_where(entry), f"beat entry {entry!r} was edited after its SAQ CronJob was "
                   f"generated ({detail}): {REWRITE}", subject)

    for entry in sorted(set(exp_s) | set(cur_s)):
        old, new = cur_s.get(entry), exp_s.get(entry)
        if old is None:
            sched_diff(entry, "missing")
        elif new is None:
            sched_diff(entry, "orphaned")
        elif old != new:
            sched_diff(entry, "outdated", _fields(old, new))
    for q in plan.queues:
        old_text = read(ctx.root / q.rel)
        if old_text is None:
            continue  # the whole module is missing: the registry comparison or SM610 reports it
        old_c, new_c = cron_lines(old_text), cron_lines(expected.get(q.rel))
        for entry in sorted(set(old_c) | set(new_c)):
            o, n = old_c.get(entry), new_c.get(entry)
            if o is not None and n is not None and o[1] != n[1]:
                sched_diff(entry, "outdated", f"generated: {o[1]} — now: {n[1]}")
            elif o is None:
                sched_diff(entry, "missing")
            elif n is None and entry not in entries:
                sched_diff(entry, "orphaned", orphan_at=(q.rel, o[0]))

    generated_changes = []
    for c in result.changes:
        if c.old is not None and MARKER not in c.old:
            line, was, now = first_difference(c.old, c.new)
            add(out, ctx.finding("SM617", c.rel, line, f"the Celery app in {c.rel} is not wired to the saqmigrate "
                                 f"router (expected `{now}`), so no dispatch can move to SAQ: {REWRITE}",
                                 subject=f"file:{c.rel}"))
        else:
            generated_changes.append(c)
    # an app rewrite cannot wire by itself (created in a factory function): fine once the user calls
    # the generated routing.install(app) by hand, a failure until then
    for msg in result.messages:
        if "no module-level" not in msg or ": " not in msg:
            continue
        rel = msg.split(": ", 1)[0]
        source = read(ctx.root / rel) or ""
        if ".saq_worker.routing" in source or "saq_worker import routing" in source:
            continue
        app = next((a for a in ctx.index.apps if a.file == rel), None)
        add(out, ctx.finding("SM617", rel, app.line if app else 1, f"the Celery app in {rel} is not wired to the "
                             f"saqmigrate router, so no dispatch can move to SAQ: {msg.split(': ', 1)[1]}",
                             subject=f"file:{rel}"))
    # no app rewrite could find at all (an app from current_app, an extension): fine once routing.install(app)
    # is called somewhere in the project, a failure until then
    if any(m.startswith(NO_APP) for m in result.messages):
        wired = any(".saq_worker.routing" in (read(ctx.root / rel) or "") or "saq_worker import routing"
                    in (read(ctx.root / rel) or "") for rel in getattr(ctx.index, "_indexed_files", ())
                    if not is_generated_path(rel))
        if not wired:
            add(out, ctx.finding("SM617", reg_rel, 1, "no Celery app in the project is wired to the saqmigrate router "
                                 f"(rewrite found none it could edit), so no dispatch can move to SAQ: add `from "
                                 f"{plan.package}.routing import install` and `install(app)` where the app is configured",
                                 subject="file:<app>"))
    if not causes:
        for c in generated_changes:
            line, was, now = first_difference(c.old, c.new)
            what = {"create": "is missing", "delete": "is generated for code that no longer exists"}.get(
                c.kind, f"differs from what `saqmigrate rewrite` generates now (line {line}: `{was}` — expected `{now}`)")
            add(out, ctx.finding("SM610", c.rel, line if c.kind == "update" else 1, f"{c.rel} {what}: {REWRITE}",
                                 subject=f"file:{c.rel}"))
    for err in result.errors:
        if err.endswith("(skipped)"):
            continue  # unreadable input files: the ratchet reports them (SM900)
        rel = err.split(":", 1)[0]
        add(out, ctx.finding("SM610", rel, 1, err, subject=f"file:{rel}"))
    n_files = len(result.changes)
    if not n_files:
        res.summary = f"{len(expected)} generated file(s) up to date"
    elif out:
        res.summary = f"{n_files} generated file(s) out of date"
    else:
        res.summary = f"{n_files} generated file(s) out of date, for the new usage the ratchet reports"
    return res
