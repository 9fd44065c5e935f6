"""Step 4: every task, schedule and call gets findings (stable rule codes) and a verdict.

``auto``: the rewrite handles it. ``assisted``: the rewrite handles it and a person must
review a stated difference. ``manual``: a person must port it. An item's verdict is the
worst ``fix`` among its findings (rule fix ``none`` -> manual, ``assisted`` -> assisted);
info findings with ``fix = "auto"`` never lower it.
"""

from __future__ import annotations

import re

import json
from collections import Counter, defaultdict
from typing import Any

from saqmigrate import rules as rulebook
from saqmigrate.config import Config
from saqmigrate.index.model import Call, Finding, ProjectIndex, Schedule, Task, is_dynamic
from saqmigrate.translate.base import Note

RANK = {"auto": 0, "assisted": 1, "manual": 2}

REQUEST_EQUIVALENTS = {"id", "retries", "kwargs", "args", "eta", "hostname", "delivery_info", "task"}
UNSUPPORTED_CALL_OPTIONS = {"link", "link_error", "expires", "headers", "shadow", "exchange", "routing_key",
                            "priority", "soft_time_limit", "serializer", "compression", "producer",
                            "connection", "add_to_parent", "chord", "group_id", "parent_id", "root_id"}
CANVAS_KINDS = {"chain", "group", "chord", "pipe"}


class Classifier:
    def __init__(self, index: ProjectIndex, config: Config, suppress: dict[str, dict], recovered: dict[str, list],
                 translations: tuple | None = None):
        self.translations = translations  # (FileCache, dict of keys used this run) or None
        self.index = index
        self.disabled = set(config.disable)
        self.suppress = suppress
        self.recovered = recovered
        self.findings: list[Finding] = []
        self.config = config

    def add(self, item: Any, code: str, file: str, line: int, column: int, message: str, subject: str = "") -> None:
        if code in self.disabled:
            return
        sup = self.suppress.get(file, {})
        codes = sup.get(line) or sup.get(str(line))
        if codes and ("*" in codes or code in codes):
            return
        rule = rulebook.get(code)
        self.findings.append(Finding(rule=code, severity=rule.severity, file=file, line=line, column=column,
                                     message=message, subject=subject))
        if item is not None:
            if code not in item.rules:
                item.rules.append(code)
            verdict = rule.verdict
            if RANK[verdict] > RANK[item.migratability]:
                item.migratability = verdict

    def notes(self, item: Any, notes: list[Note], file: str, line: int, subject: str) -> None:
        for n in notes:
            self.add(item, n.code, file, line, 0, n.message, subject)

    # --- tasks -------------------------------------------------------------------------
    def task(self, t: Task, qualname_count: Counter) -> None:
        subj = t.name or t.function
        f, ln = t.file, t.line
        if t.nested:
            self.add(t, "SM101", f, ln, 0, f"task {subj} is defined inside a function; the rewrite cannot "
                     "generate a module-level SAQ function for it — move it to module level", subj)
        if t.in_loop:
            self.add(t, "SM102", f, ln, 0, f"task {subj} is created in a loop; its names and count are only "
                     "known at run time — register the SAQ functions explicitly", subj)
        if t.name is None:
            self.add(t, "SM103", f, ln, 0, f"task name is not a literal ({_src(t.options.get('name'))}); "
                     "SAQ registers functions by a fixed name — use a literal name=", subj)
        if not all(part.isidentifier() for part in t.module.split(".")):
            self.add(t, "SM114", f, ln, 0, f"task {subj} lives in {t.file}, which no import statement can name "
                     f"(module {t.module!r}); a SAQ worker cannot import it — rename the file or folder", subj)
        from saqmigrate.discover import is_test_path

        from saqmigrate.plan import TWIN_BODY_NAMES

        clash = sorted({p.name for p in t.params} & TWIN_BODY_NAMES)
        if clash:
            self.add(t, "SM118", f, ln, 0, f"task {subj} has a parameter named {', '.join(clash)}, the name of a helper "
                     "its SAQ twin calls: no twin is generated (it stays on Celery) — rename the parameter", subj)
        if "__call__" in t.hooks and t.is_async:
            self.add(t, "SM119", f, ln, 0, f"async def task {subj} runs under a Task class that overrides __call__ "
                     "(an app context, a tenant wrapper): SAQ cannot run it through that __call__, so no twin is "
                     "generated and it stays on Celery — make the body sync, or move the wrapper into it", subj)
        if is_test_path(t.file):
            self.add(t, "SM117", f, ln, 0, f"task {subj} is defined in a test module: no SAQ twin is generated "
                     "(production workers would have to import the test module and its test-only imports)", subj)
        if t.is_async:
            self.add(t, "SM105", f, ln, 0, f"async def task {subj}: Celery does not await it (the task returns a "
                     "coroutine object); under SAQ it runs natively — check what Celery actually did with it", subj)
        if t.kind == "class":
            self.add(t, "SM106", f, ln, 0, f"class-based task {subj}: the rewrite bridges run(); instance state "
                     "and overridden Task methods need review", subj)
        if t.hooks:
            self.add(t, "SM107", f, ln, 0, f"task {subj} relies on {', '.join(t.hooks)} from its Task class; the SAQ "
                     "runtime calls them as Celery does (bridge mode; a native port keeps this task bridged)", subj)
        if t.kind in ("legacy_task", "periodic_task"):
            self.add(t, "SM112", f, ln, 0, f"legacy celery.task API ({t.decorator}) was removed in Celery 5; "
                     "the task is migrated as a shared_task", subj)
        unsupported = [a for a in t.features.get("request_attrs", []) if a not in REQUEST_EQUIVALENTS]
        if unsupported:
            self.add(t, "SM100", f, ln, 0, f"task {subj} reads self.request.{', self.request.'.join(unsupported)}, "
                     "which SAQ jobs do not have", subj)
        if t.features.get("self_replace") and t.bind:
            self.add(t, "SM121", f, ln, 0, f"task {subj} calls self.replace(...): the replacement continues a Celery "
                     "canvas under this task's id, which SAQ cannot do; the task stays on Celery (route set refuses "
                     "to flip it)", subj)
        if t.features.get("update_state"):
            self.add(t, "SM108", f, ln, 0, f"task {subj} calls self.update_state: under SAQ the meta goes to "
                     "job.meta and custom states are lost", subj)
        blocking = t.features.get("blocking") or {}
        if blocking:
            calls = ", ".join(f"{k} (line {v})" for k, v in sorted(blocking.items(), key=lambda kv: kv[1]))
            self.add(t, "SM104", f, ln, 0, f"task {subj} makes blocking calls: {calls}; bridge mode runs it in a "
                     "worker thread, a native async port must replace them", subj)
        if t.stacked:
            self.add(t, "SM109", f, ln, 0, f"task {subj} has other decorators ({', '.join(t.stacked)}); the SAQ "
                     "bridge calls the decorated Celery function, so they still apply", subj)
        short = _short_name(t)
        if qualname_count[short] > 1:
            self.add(t, "SM110", f, ln, 0, f"function name {short!r} is used by {qualname_count[short]} tasks; "
                     "SAQ's default registration by __qualname__ would collide, so saqmigrate registers by "
                     "Celery name", subj)
        if any(p.kind in ("var_positional", "positional_only") for p in t.params):
            self.add(t, "SM111", f, ln, 0, f"task {subj} takes *args or positional-only parameters; SAQ jobs "
                     "carry keyword arguments only", subj)
        self._resolution(t, subj, f, t.decorator_line or ln)
        self.notes(t, _options_notes(t), f, t.decorator_line or ln, subj)

    def _resolution(self, t: Task, subj: str, f: str, ln: int) -> None:
        """SM115: an option (or the routing that decides the queue) that cannot be resolved statically:
        the task stays on Celery. SM116: a value taken from an environment variable's default."""
        from saqmigrate.translate.routing import RouteUnknown

        for key, why in sorted((t.features.get("unresolved") or {}).items()):
            v = t.options.get(key, t.inherited_options.get(key))
            self.add(t, "SM115", f, ln, 0, f"task {subj}: {key}={_src(v)} cannot be resolved statically ({why}); "
                     "the task stays on Celery (pinned in the registry) until it is a literal or a module constant "
                     "— `saqmigrate verify` reads the run-time value", subj)
        if t.name is not None and "queue" not in (t.features.get("unresolved") or {}) and self.index is not None:
            from saqmigrate.plan import task_queue

            try:
                task_queue(t, self.index)
            except RouteUnknown as exc:
                self.add(t, "SM115", f, ln, 0, f"task {subj}: its queue cannot be decided statically ({exc}); the "
                         "task stays on Celery (no SAQ twin) — `saqmigrate verify` reads the run-time route", subj)
        for key, info in sorted((t.features.get("resolved") or {}).items()):
            if info.get("env"):
                value = t.options.get(key, t.inherited_options.get(key))
                self.add(t, "SM116", f, ln, 0, f"task {subj}: {key}={info['src']} is {value!r} only while "
                         f"${', $'.join(info['env'])} is unset (its default in the code); the generated code uses "
                         "that default — regenerate, or check with `saqmigrate verify`, in each environment that "
                         "sets it", subj)

    # --- schedules ---------------------------------------------------------------------
    def schedule(self, s: Schedule, tasks_by_name: dict[str, Task], tz: str | None) -> None:
        subj = s.entry or "<unnamed entry>"
        f, ln = s.file, s.line
        if s.kind == "dynamic" and s.entry is None and s.task is None:
            self.add(s, "SM250", f, ln, 0, f"beat schedule {s.container or ''} is built from "
                     f"{_src(s.celery.get('expr'))}; its entries are only known at run time", subj)
            return
        if s.in_loop:
            self.add(s, "SM251", f, ln, 0, f"beat entry {subj} is built in a loop; each generated entry needs a "
                     "CronJob — list them explicitly", subj)
        extra = s.celery.get("_extra_keys") if isinstance(s.celery, dict) else None
        if extra:
            self.add(s, "SM253", f, ln, 0, f"beat entry {subj} has key(s) {', '.join(extra)} that Celery rejects "
                     "(TypeError at beat start); put queue/priority/expires under 'options'", subj)
        task = s.task
        if is_dynamic(task) or task is None:
            self.add(s, "SM254", f, ln, 0, f"beat entry {subj} targets {_src(task)}, not a literal task name", subj)
        elif isinstance(task, str) and task not in tasks_by_name and not task.startswith("celery."):
            self.add(s, "SM252", f, ln, 0, f"beat entry {subj} names task {task!r}, which no scanned module "
                     "defines; check the name (a typo here fails silently in Celery too)", subj)
        _translate_schedule(self, s, tasks_by_name.get(task) if isinstance(task, str) else None, tz)

    # --- calls -------------------------------------------------------------------------
    def call(self, c: Call) -> None:
        subj = c.task or c.target
        f, ln, col = c.file, c.line, c.column
        if c.kind in CANVAS_KINDS:
            self.add(c, "SM300", f, ln, col, f"{c.kind} canvas: SAQ cannot pass results between jobs; the "
                     "dispatch stays on Celery until ported (enqueue the next job from the task)", subj)
            return
        if c.kind == "async_result":
            self.add(c, "SM304", f, ln, col, "AsyncResult(id): during the window the routing hook answers it for SAQ "
                     "jobs too (until the job's ttl); without Celery, port it to queue.job(key)", subj)
            return
        if c.kind == "send_task" and c.dynamic_name:
            self.add(c, "SM301", f, ln, col, f"send_task with a computed name ({c.dynamic_name}); the router "
                     "resolves it at run time, but static checks cannot see which task it is", subj)
        if c.kind in ("delay", "apply_async", "s", "si", "signature", "map", "starmap", "chunks", "apply") and c.task is None:
            self.add(c, "SM302", f, ln, col, f"cannot tell statically which task {c.target}.{c.kind}() "
                     "dispatches; the router still routes it by name at run time", subj)
        opts = {k: v for k, v in c.options.items() if not k.startswith("_")}
        bad = sorted(k for k in opts if k in UNSUPPORTED_CALL_OPTIONS)
        if bad:
            self.add(c, "SM303", f, ln, col, f"dispatch option(s) {', '.join(bad)} have no SAQ equivalent; the "
                     "router keeps this dispatch on Celery", subj)
        if "task_id" in opts:
            self.add(c, "SM305", f, ln, col, "task_id= becomes the SAQ job key, and SAQ drops a second enqueue "
                     "with the same key while the first is incomplete (Celery does not dedup)", subj)
        if "retry" in opts or "retry_policy" in opts:
            self.add(c, "SM306", f, ln, col, "retry=/retry_policy= control broker publish retries, not task "
                     "retries; they are dropped (never mapped to Job.retries)", subj)
        if c.kind == "apply":
            self.add(c, "SM307", f, ln, col, ".apply() runs the task eagerly in-process; SAQ has no eager mode — "
                     "call the function directly or run a burst worker in tests", subj)
        if c.kind in ("map", "starmap", "chunks"):
            self.add(c, "SM308", f, ln, col, f".{c.kind}() builds a Celery canvas over many arguments; port it to "
                     "queue.map() or one enqueue per item", subj)
        if c.kind in ("s", "si", "signature"):
            self.add(c, "SM309", f, ln, col, f"signature .{c.kind}(): SAQ has no signatures; represent it as "
                     "(task name, kwargs)", subj)

    # --- settings and apps -------------------------------------------------------------
    def settings(self) -> None:
        idx = self.index
        namespaces = {c.get("namespace") for a in idx.apps for c in a.config_from_object
                      if isinstance(c, dict)}
        for s in idx.settings:
            v = s.value
            if s.name in ("task_serializer", "result_serializer") and isinstance(v, str) and v != "json":
                self.add(None, "SM400", s.file, s.line, 0, f"{s.raw_name} = {v!r}: SAQ queues serialise jobs as "
                         "JSON; use saqmigrate.runtime.serializer (Celery-compatible JSON) and make task "
                         "arguments JSON-safe", s.raw_name)
            if s.name == "accept_content" and isinstance(v, list) and any(x not in ("json", "application/json") for x in v):
                self.add(None, "SM400", s.file, s.line, 0, f"{s.raw_name} accepts {v!r}: only JSON payloads carry "
                         "over to SAQ", s.raw_name)
            if s.name == "task_always_eager" and v is True:
                self.add(None, "SM401", s.file, s.line, 0, f"{s.raw_name} = True: SAQ has no eager mode; tests that "
                         "rely on it need a burst worker or direct calls", s.raw_name)
            if s.name == "beat_scheduler" and isinstance(v, str) and "DatabaseScheduler" in v or (
                    s.name == "beat_scheduler" and is_dynamic(v)):
                self.add(None, "SM402", s.file, s.line, 0, f"{s.raw_name} = {_src(v)}: schedules live in the "
                         "database (django-celery-beat) and are invisible to a static scan; export them and "
                         "declare CronJobs", s.raw_name)
            if s.name == "task_routes":
                self.add(None, "SM403", s.file, s.line, 0, f"{s.raw_name}: each Celery queue becomes its own SAQ "
                         "queue and worker settings module", s.raw_name)
            if s.name == "enable_utc" and v is False and not project_timezone(idx):
                self.add(None, "SM404", s.file, s.line, 0, f"{s.raw_name} = False: Celery uses the host's local "
                         "time for crontabs; saqmigrate needs an explicit timezone for cron_tz", s.raw_name)
        if "CELERY" in namespaces:
            for sch in idx.schedules:
                if sch.container == "CELERYBEAT_SCHEDULE" or sch.source == "CELERYBEAT_SCHEDULE":
                    self.add(sch, "SM406", sch.file, sch.line, 0, "CELERYBEAT_SCHEDULE is an old setting name, "
                             "which Celery ignores under config_from_object(namespace='CELERY'): this schedule "
                             "never ran; rename it CELERY_BEAT_SCHEDULE if it should", sch.entry or "")
        from saqmigrate.index.resolve import UNREADABLE_MARK

        for s in idx.settings:  # the settings a config source that resolve.py could not read may set
            if is_dynamic(s.value) and UNREADABLE_MARK in s.raw_name:
                src, _, why = s.raw_name.partition(f" {UNREADABLE_MARK} ")
                self.add(None, "SM122", s.file, s.line, 0, f"the Celery app reads its settings from {src}, which "
                         f"cannot be read statically ({why.rstrip(')')}); tasks that take the time limit, result, rate "
                         "limit, serializer or queue settings from the app stay on Celery (SM115) — make it a literal "
                         "or module constant, or use `rewrite --live`", src)
        for a in idx.apps:
            # saqmigrate's own wiring (RoutedTask, set by the routing hook) is not the project's task class
            if a.task_cls is not None and not _src(a.task_cls).lstrip("?").startswith("saqmigrate."):
                self.add(None, "SM405", a.file, a.line, 0, f"app {a.name} uses a custom task class "
                         f"({_src(a.task_cls).lstrip('?')}); its options are applied to every task, and the router's base "
                         "class must subclass it", a.name)

    def files(self) -> None:
        for e in self.index.errors:
            at = re.search(r"\bline (\d+)", e.message)  # the line the parser stopped at, where the message says
            self.add(None, "SM900", e.file, int(at.group(1)) if at else 1, 0, e.message, e.file)
        for rel, notes in self.recovered.items():
            for n in notes:
                self.add(None, "SM901", rel, 1, 0, f"{n}: indexed by rewriting that syntax for Python "
                         "3.11; the rewrite tool will skip this file unless run on a newer Python", rel)


def _short_name(t: Task) -> str:
    """The name SAQ would register by default: the function's (the class's, for class tasks)."""
    parts = t.function.split(".")
    return parts[-2] if t.kind == "class" and len(parts) > 1 else parts[-1]


def _src(value: Any) -> str:
    if isinstance(value, dict) and "dynamic" in value:
        return value["dynamic"]
    return repr(value)


def options_plan(t: Task):
    """The task's translated options, computed once per task (classify, schedules and plan all need it)."""
    cached = t.__dict__.get("_options_plan")
    if cached is None:
        from saqmigrate.translate import options as opt

        cached = opt.translate_task_options(t.options, uses_self_retry=bool(t.features.get("self_retry")),
                                            defaults=t.inherited_options, module=t.module)
        t.__dict__["_options_plan"] = cached
    return cached


def _options_notes(t: Task) -> list[Note]:
    try:
        plan = options_plan(t)
    except Exception as exc:  # noqa: BLE001 - a translation bug must not kill the scan
        return [Note("SM199", f"options could not be translated ({type(exc).__name__}: {exc}); report this")]
    return list(plan.notes)


def task_job_options(t: Task) -> dict | None:
    try:
        return options_plan(t).cron_kwargs()
    except Exception:  # noqa: BLE001 - reported by the task's own SM199
        return None


def _translate_schedule(cl: Classifier, s: Schedule, task: Task | None, tz: str | None) -> None:
    """Translate and prove one entry; results are cached by their inputs (proofs are the slow part)."""
    job_options = task_job_options(task) if task else None
    key = json.dumps([2, s.kind, s.celery, s.relative, s.args, s.kwargs, s.options,
                      [(p.name, p.kind, p.has_default) for p in task.params] if task else None,
                      tz, job_options, bool(task and task.bind), s.task], sort_keys=True, default=str)
    cached = cl.translations[0].translation(key) if cl.translations else None
    if cached is None:
        from saqmigrate.translate import schedule as sched

        try:
            plan = sched.translate_schedule(
                s.kind, s.celery, relative=s.relative, args=s.args, kwargs=s.kwargs, options=s.options,
                task_params=task.params if task else None, timezone=tz, job_options=job_options,
                bind=bool(task and task.bind), task=s.task)
        except Exception as exc:  # noqa: BLE001
            cl.add(s, "SM249", s.file, s.line, 0, f"schedule could not be translated ({type(exc).__name__}: "
                   f"{exc}); report this", s.entry or "")
            return
        cached = {"cron": plan.cron, "exact": plan.exact, "translation": plan.to_json(),
                  "notes": [[n.code, n.message] for n in plan.notes],
                  "migratability": getattr(plan, "migratability", "auto")}
        if cl.translations:
            cl.translations[0].store_translation(key, cached)
    if cl.translations:
        cl.translations[1][key] = cached
    s.cron = cached["cron"]
    s.exact = cached["exact"]
    s.translation = cached["translation"]
    cl.notes(s, [Note(c, m) for c, m in cached["notes"]], s.file, s.line, s.entry or "")
    if RANK.get(cached["migratability"], 0) > RANK[s.migratability]:
        s.migratability = cached["migratability"]


def project_timezone(index: ProjectIndex) -> str | None:
    by = {s.name: s.value for s in index.settings if not is_dynamic(s.value)}
    tz = by.get("timezone") or by.get("django_time_zone")
    return tz if isinstance(tz, str) else None


def classify(index: ProjectIndex, config: Config, suppress: dict[str, dict] | None = None,
             recovered: dict[str, list] | None = None, translations: tuple | None = None) -> ProjectIndex:
    cl = Classifier(index, config, suppress or {}, recovered or {}, translations)
    counts = Counter(_short_name(t) for t in index.tasks)
    for t in index.tasks:
        cl.task(t, counts)
    by_name = {t.name: t for t in index.tasks if t.name}
    tz = project_timezone(index)
    for s in index.schedules:
        cl.schedule(s, by_name, tz)
    for c in index.calls:
        cl.call(c)
    cl.settings()
    cl.files()
    index.findings = sorted({f.key(): f for f in cl.findings}.values(), key=lambda f: (f.file, f.line, f.column, f.rule))
    index.summary = summarize(index)
    return index


def summarize(index: ProjectIndex) -> dict:
    def counts(items: list) -> dict:
        c = Counter(i.migratability for i in items)
        return {"total": len(items), "auto": c["auto"], "assisted": c["assisted"], "manual": c["manual"]}

    per_module: dict[str, Counter] = defaultdict(Counter)
    for group in (index.tasks, index.schedules, index.calls):
        for item in group:
            per_module[item.file][item.migratability] += 1
    readiness = []
    for file, c in sorted(per_module.items()):
        total = sum(c.values())
        readiness.append({"file": file, "total": total, "auto": c["auto"], "assisted": c["assisted"],
                          "manual": c["manual"], "ready": round(100.0 * c["auto"] / total, 1) if total else 100.0})
    by_rule = Counter(f.rule for f in index.findings)
    by_sev = Counter(f.severity for f in index.findings)
    return {
        "tasks": counts(index.tasks), "schedules": counts(index.schedules), "calls": counts(index.calls),
        "apps": len(index.apps), "errors": len(index.errors),
        "findings": {"total": len(index.findings), "error": by_sev["error"], "warning": by_sev["warning"],
                     "info": by_sev["info"], "by_rule": dict(sorted(by_rule.items()))},
        "modules": readiness,
        "timezone": project_timezone(index),
    }
