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

import ast

from saqmigrate.check.base import CheckResult, Context, add, is_generated_path
from saqmigrate.check.generated import cron_lines, first_difference, read, read_literals
from saqmigrate.emit.generate import MARKER, render
from saqmigrate.rewrite import NO_APP


def imports_routing(source: str, package: str, rel: str) -> bool:
    """True when ``source`` (the file at ``rel``, relative to the project root) imports the generated
    ``<package>.routing`` module in any of Python's spellings: ``from <package>.routing import install``,
    ``from <package> import routing``, ``import <package>.routing``, or a relative import that resolves to
    the same module from ``rel``'s package. ``package`` is the worker package's dotted name (``saq_worker``
    or ``proj.saq_worker``), relative to a source root, which may lie below the project root (``src/``)."""
    if "routing" not in source:
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    target = f"{package}.routing"
    here = rel.removesuffix(".py").split("/")[:-1]  # the file's package (an __init__.py's too)

    def is_target(module: str) -> bool:
        return module == target or module.endswith("." + target)

    def absolute(module: str, level: int) -> str:
        if not level:
            return module
        base = here[: len(here) - (level - 1)] if level - 1 <= len(here) else []
        return ".".join([*base, module] if module else base)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(is_target(a.name) for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom):
            module = absolute(node.module or "", node.level)
            if is_target(module) or any(is_target(f"{module}.{a.name}") for a in node.names):
                return True
    return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    target = f"{package}.routing"

    def names(module: str, level: int) -> bool:
        # absolute: exactly the module; relative: the module's trailing dotted parts (the dots name its package)
        return module == target or (level > 0 and bool(module) and target.endswith("." + module))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == target for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom):
            module, level = node.module or "", node.level
            if names(module, level):
                return True
            if any(a.name == "routing" for a in node.names) and (
                names(f"{module}.routing" if module else "routing", level)
            ):
                return True
    return False


REWRITE = "run `saqmigrate rewrite --write` and commit the result"


def _fields(old: dict, new: dict) -> str:
    parts = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            parts.append(f"{k} {old.get(k, '<none>')!r} → {new.get(k, '<none>')!r}")
    return "; ".join(parts) or "generated code differs"


def run(ctx: Context) -> CheckResult:
    res = CheckResult("drift")
    d = _Drift(ctx, res.findings)
    if d.reg_rel in d.expected and d.committed_text is None:
        app_file = next((a.file for a in ctx.index.apps if a.module == d.plan.app_module), d.reg_rel)
        add(
            res.findings,
            ctx.finding(
                "SM610",
                app_file,
                1,
                f"no generated SAQ code yet ({d.reg_rel} is missing): {REWRITE}",
                subject=f"file:{d.reg_rel}",
            ),
        )
        res.summary = "generated code missing"
        return res
    d.registry_tasks()
    d.registry_schedules()
    d.cron_jobs()
    generated_changes = d.app_wiring()
    if not d.causes:
        d.hand_edits(generated_changes)
    d.unreadable()
    n_files = len(ctx.rewrite.changes)
    if not n_files:
        res.summary = f"{len(d.expected)} generated file(s) up to date"
    elif res.findings:
        res.summary = f"{n_files} generated file(s) out of date"
    else:
        res.summary = f"{n_files} generated file(s) out of date, for the new usage the ratchet reports"
    return res


class _Drift:
    """The committed generated code against what ``rewrite`` renders now, reported by cause (one
    finding per task / beat entry); ``causes`` counts the drift explained by a cause."""

    def __init__(self, ctx: Context, out: list) -> None:
        self.ctx, self.out = ctx, out
        self.result = ctx.rewrite
        self.plan = plan = self.result.plan
        self.expected = render(plan)
        self.reg_rel = f"{plan.package_rel}/registry.py"
        self.seen: set[str] = set()  # one finding per task / beat entry
        self.causes = 0
        self.tasks_by_name = {t.name: t for t in ctx.celery_tasks() if t.name}
        self.entries = {c.entry: c for q in plan.queues for c in q.crons}
        self.committed_text = read(ctx.root / self.reg_rel)
        self.exp = read_literals(self.expected.get(self.reg_rel))
        self.cur = read_literals(self.committed_text)
        self.cur_s_lines = self.cur.key_lines.get("SCHEDULES", {})

    def report(self, code: str, file: str, line: int, message: str, subject: str) -> None:
        self.causes += 1
        if subject in self.ctx.absorbed or subject in self.seen:
            return
        self.seen.add(subject)
        add(self.out, self.ctx.finding(code, file, line, message, subject=subject))

    def registry_tasks(self) -> None:
        """TASKS of the registry: a task without a twin (SM611), a twin without a task (SM612), an outdated one (SM613)."""
        reg_rel, report = self.reg_rel, self.report
        exp_tasks, cur_tasks = self.exp.values.get("TASKS", {}), self.cur.values.get("TASKS", {})
        cur_task_lines = self.cur.key_lines.get("TASKS", {})
        for name in sorted(set(exp_tasks) | set(cur_tasks)):
            t = self.tasks_by_name.get(name)
            where = (t.file, t.decorator_line or t.line) if t else (reg_rel, cur_task_lines.get(name, 1))
            subject = f"task:{name}"
            if name not in cur_tasks:
                report("SM611", *where, f"Celery task {name} has no SAQ twin in the generated code: {REWRITE}", subject)
            elif name not in exp_tasks:
                report(
                    "SM612",
                    reg_rel,
                    cur_task_lines.get(name, 1),
                    f"a SAQ twin is still generated for {name}, but no Celery task has that name any more (renamed "
                    f"or deleted): {REWRITE} to remove it",
                    subject,
                )
            elif exp_tasks[name] != cur_tasks[name]:
                report(
                    "SM613",
                    *where,
                    f"Celery task {name} changed after its SAQ twin was generated "
                    f"({_fields(cur_tasks[name], exp_tasks[name])}): {REWRITE}",
                    subject,
                )

    def entry_where(self, entry: str) -> tuple[str, int]:
        ce = self.entries.get(entry)
        if ce is not None:
            return ce.schedule.file, ce.schedule.line
        return self.reg_rel, self.cur_s_lines.get(entry, 1)

    def sched_diff(self, entry: str, kind: str, detail: str = "", orphan_at: tuple[str, int] | None = None) -> None:
        subject = f"schedule:{entry}"
        if kind == "missing":
            self.report(
                "SM614",
                *self.entry_where(entry),
                f"beat entry {entry!r} has no SAQ CronJob in the generated code: {REWRITE}",
                subject,
            )
        elif kind == "orphaned":
            file, line = orphan_at or (self.reg_rel, self.cur_s_lines.get(entry, 1))
            self.report(
                "SM615",
                file,
                line,
                f"a SAQ CronJob is still generated for beat entry {entry!r}, which no "
                f"longer exists (renamed or deleted): {REWRITE} to remove it",
                subject,
            )
        else:
            self.report(
                "SM616",
                *self.entry_where(entry),
                f"beat entry {entry!r} was edited after its SAQ CronJob was generated ({detail}): {REWRITE}",
                subject,
            )

    def registry_schedules(self) -> None:
        """SCHEDULES of the registry, entry by entry."""
        exp_s, cur_s = self.exp.values.get("SCHEDULES", {}), self.cur.values.get("SCHEDULES", {})
        for entry in sorted(set(exp_s) | set(cur_s)):
            old, new = cur_s.get(entry), exp_s.get(entry)
            if old is None:
                self.sched_diff(entry, "missing")
            elif new is None:
                self.sched_diff(entry, "orphaned")
            elif old != new:
                self.sched_diff(entry, "outdated", _fields(old, new))

    def cron_jobs(self) -> None:
        """The CronJob(...) line of each beat entry in the queue settings modules."""
        for q in self.plan.queues:
            old_text = read(self.ctx.root / q.rel)
            if old_text is None:
                continue  # the whole module is missing: the registry comparison or SM610 reports it
            old_c, new_c = cron_lines(old_text), cron_lines(self.expected.get(q.rel))
            for entry in sorted(set(old_c) | set(new_c)):
                o, n = old_c.get(entry), new_c.get(entry)
                if o is not None and n is not None and o[1] != n[1]:
                    self.sched_diff(entry, "outdated", f"generated: {o[1]} — now: {n[1]}")
                elif o is None:
                    self.sched_diff(entry, "missing")
                elif n is None and entry not in self.entries:
                    self.sched_diff(entry, "orphaned", orphan_at=(q.rel, o[0]))

    def app_wiring(self) -> list:
        """The routing hook in the Celery app module (SM617); returns the changes to generated files."""
        ctx, out, result, plan = self.ctx, self.out, self.result, self.plan
        generated_changes = []
        for c in result.changes:
            if c.old is not None and MARKER not in c.old:
                line, was, now = first_difference(c.old, c.new)
                add(
                    out,
                    ctx.finding(
                        "SM617",
                        c.rel,
                        line,
                        f"the Celery app in {c.rel} is not wired to the saqmigrate "
                        f"router (expected `{now}`), so no dispatch can move to SAQ: {REWRITE}",
                        subject=f"file:{c.rel}",
                    ),
                )
            else:
                generated_changes.append(c)
        # an app rewrite cannot wire by itself (created in a factory function): fine once the user calls
        # the generated routing.install(app) by hand, a failure until then
        for msg in result.messages:
            if "no module-level" not in msg or ": " not in msg:
                continue
            rel = msg.split(": ", 1)[0]
            if imports_routing(read(ctx.root / rel) or "", plan.package, rel):
                continue
            app = next((a for a in ctx.index.apps if a.file == rel), None)
            add(
                out,
                ctx.finding(
                    "SM617",
                    rel,
                    app.line if app else 1,
                    f"the Celery app in {rel} is not wired to the "
                    f"saqmigrate router, so no dispatch can move to SAQ: {msg.split(': ', 1)[1]}",
                    subject=f"file:{rel}",
                ),
            )
        # no app rewrite could find at all (an app from current_app, an extension): fine once routing.install(app)
        # is called somewhere in the project, a failure until then
        if any(m.startswith(NO_APP) for m in result.messages):
            wired = any(
                imports_routing(read(ctx.root / rel) or "", plan.package, rel)
                for rel in ctx.scan[1].indexed_files
                if not is_generated_path(rel)
            )
            if not wired:
                add(
                    out,
                    ctx.finding(
                        "SM617",
                        self.reg_rel,
                        1,
                        "no Celery app in the project is wired to the saqmigrate "
                        "router (rewrite found none it could edit), so no dispatch can move to SAQ: add "
                        f"`from {plan.package}.routing import install` and `install(app)` where the app "
                        "is configured",
                        subject="file:<app>",
                    ),
                )
        return generated_changes

    def hand_edits(self, generated_changes: list) -> None:
        """SM610 at the first differing line of each generated file (only when no cause explains the drift)."""
        for c in generated_changes:
            line, was, now = first_difference(c.old, c.new)
            what = {"create": "is missing", "delete": "is generated for code that no longer exists"}.get(
                c.kind,
                f"differs from what `saqmigrate rewrite` generates now (line {line}: `{was}` — expected `{now}`)",
            )
            add(
                self.out,
                self.ctx.finding(
                    "SM610",
                    c.rel,
                    line if c.kind == "update" else 1,
                    f"{c.rel} {what}: {REWRITE}",
                    subject=f"file:{c.rel}",
                ),
            )

    def unreadable(self) -> None:
        for err in self.result.errors:
            if err.endswith("(skipped)"):
                continue  # unreadable input files: the ratchet reports them (SM900)
            rel = err.split(":", 1)[0]
            add(self.out, self.ctx.finding("SM610", rel, 1, err, subject=f"file:{rel}"))
