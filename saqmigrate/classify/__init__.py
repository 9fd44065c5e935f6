"""Step 4: every task, schedule and call gets findings (stable rule codes) and a verdict.

``auto``: the rewrite handles it. ``assisted``: the rewrite handles it and a person must
review a stated difference. ``manual``: a person must port it. An item's verdict is the
worst ``fix`` among its findings (rule fix ``none`` -> manual, ``assisted`` -> assisted);
info findings with ``fix = "auto"`` never lower it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from saqmigrate import rules as rulebook
from saqmigrate.classify.registry import SAME_ITEM, detectors
from saqmigrate.classify.rules import short_name
from saqmigrate.config import Config
from saqmigrate.discover import is_test_path
from saqmigrate.index.model import Call, Finding, ProjectIndex, Schedule, Task, is_dynamic
from saqmigrate.translate.base import Note

RANK = {"auto": 0, "assisted": 1, "manual": 2}


class Classifier:
    """Runs the registered detectors (classify/rules.py, one per rule) over the index, stage by stage;
    each hit becomes a Finding whose message is the rule's TOML template filled with the hit's values."""

    def __init__(
        self,
        index: ProjectIndex,
        config: Config,
        suppress: dict[str, dict],
        recovered: dict[str, list],
        translations: tuple | None = None,
    ):
        self.translations = translations  # (FileCache, dict of keys used this run) or None
        self.index = index
        self.disabled = set(config.disable)
        self.suppress = suppress
        self.recovered = recovered
        self.findings: list[Finding] = []
        self.config = config
        tasks = index.tasks if index is not None else []
        self.qualname_count: Counter = Counter(short_name(t) for t in tasks)
        self.tasks_by_name: dict[str, Task] = {t.name: t for t in tasks if t.name}
        # where each Celery name is registered outside tests (SM124: more than one place)
        self.registrations: dict[str, list[Task]] = {}
        for t in tasks:
            if t.name and not is_test_path(t.file):
                self.registrations.setdefault(t.name, []).append(t)

    def add(self, item: Any, code: str, file: str, line: int, column: int, message: str, subject: str = "") -> None:
        if code in self.disabled:
            return
        sup = self.suppress.get(file, {})
        codes = sup.get(line) or sup.get(str(line))
        if codes and ("*" in codes or code in codes):
            return
        rule = rulebook.get(code)
        self.findings.append(
            Finding(
                rule=code, severity=rule.severity, file=file, line=line, column=column, message=message, subject=subject
            )
        )
        if item is not None:
            if code not in item.rules:
                item.rules.append(code)
            verdict = rule.verdict
            if RANK[verdict] > RANK[item.migratability]:
                item.migratability = verdict

    def notes(self, item: Any, notes: list[Note], file: str, line: int, subject: str) -> None:
        for n in notes:
            self.add(item, n.code, file, line, 0, n.message, subject)

    def detect(
        self, stage: str, obj: Any, file: str, line: int, column: int, subject: str, item: Any = SAME_ITEM
    ) -> bool:
        """Run ``stage``'s detectors on ``obj``; their findings are about ``item`` (default ``obj``: its
        verdict; None: no item). False when a detector registered with ``stop`` fired."""
        item = obj if item is SAME_ITEM else item
        for det in detectors(stage):
            hits = det.run(obj, self)
            for h in hits:
                subj = subject if h.subject is None else h.subject
                message = rulebook.get(det.code).render(h.variant, {"subject": subj, **h.values})
                self.add(
                    item if h.item is SAME_ITEM else h.item,
                    det.code,
                    file if h.file is None else h.file,
                    line if h.line is None else h.line,
                    column if h.column is None else h.column,
                    message,
                    subj,
                )
            if hits and det.stop:
                return False
        return True

    def task(self, t: Task) -> None:
        subject = t.name or t.function
        self.detect("task", t, t.file, t.line, 0, subject)
        self.notes(t, _options_notes(t), t.file, t.decorator_line or t.line, subject)

    def schedule(self, s: Schedule, tz: str | None) -> None:
        if self.detect("schedule", s, s.file, s.line, 0, s.entry or "<unnamed entry>"):
            task = self.tasks_by_name.get(s.task) if isinstance(s.task, str) else None
            _translate_schedule(self, s, task, tz)

    def call(self, c: Call) -> None:
        self.detect("call", c, c.file, c.line, c.column, c.task or c.target)

    def settings(self) -> None:
        for s in self.index.settings:
            self.detect("setting", s, s.file, s.line, 0, s.raw_name, item=None)

    def project(self) -> None:
        self.detect("project", self.index, self.index.root, 1, 0, "", item=None)


def options_plan(t: Task):
    """The task's translated options, computed once per task (classify, schedules and plan all need it)."""
    cached = t.__dict__.get("_options_plan")
    if cached is None:
        from saqmigrate.translate import options as opt

        cached = opt.translate_task_options(
            t.options, uses_self_retry=bool(t.features.get("self_retry")), defaults=t.inherited_options, module=t.module
        )
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


def _with_entry_queue(cl: Classifier, s: Schedule, task: Task | None, translation: Any) -> Any:
    """The translation with the queue the entry's job really goes to: the translator says "default" when the
    entry's options set none (then the task's own queue applies, as Celery's router decides it), which the
    scan must not show as if it were a queue. Unknown statically: None (the task's SM115 says why)."""
    options = s.options if isinstance(s.options, dict) else {}
    if not isinstance(translation, dict) or translation.get("queue") != "default" or options.get("queue") == "default":
        return translation
    queue = None
    if task is not None and cl.index is not None:
        from saqmigrate.plan import task_queue
        from saqmigrate.translate.routing import RouteUnknown

        try:
            queue = task_queue(task, cl.index)
        except RouteUnknown:
            queue = None
    return {**translation, "queue": queue}


def _translate_schedule(cl: Classifier, s: Schedule, task: Task | None, tz: str | None) -> None:
    """Translate and prove one entry; results are cached by their inputs (proofs are the slow part)."""
    job_options = task_job_options(task) if task else None
    key = json.dumps(
        [
            2,
            s.kind,
            s.celery,
            s.relative,
            s.args,
            s.kwargs,
            s.options,
            [(p.name, p.kind, p.has_default) for p in task.params] if task else None,
            tz,
            job_options,
            bool(task and task.bind),
            s.task,
        ],
        sort_keys=True,
        default=str,
    )
    cached = cl.translations[0].translation(key) if cl.translations else None
    if cached is None:
        from saqmigrate.translate import schedule as sched

        try:
            plan = sched.translate_schedule(
                s.kind,
                s.celery,
                relative=s.relative,
                args=s.args,
                kwargs=s.kwargs,
                options=s.options,
                task_params=task.params if task else None,
                timezone=tz,
                job_options=job_options,
                bind=bool(task and task.bind),
                task=s.task,
            )
        except Exception as exc:  # noqa: BLE001
            cl.add(
                s,
                "SM249",
                s.file,
                s.line,
                0,
                f"schedule could not be translated ({type(exc).__name__}: {exc}); report this",
                s.entry or "",
            )
            return
        cached = {
            "cron": plan.cron,
            "exact": plan.exact,
            "translation": plan.to_json(),
            "notes": [[n.code, n.message] for n in plan.notes],
            "migratability": getattr(plan, "migratability", "auto"),
        }
        if cl.translations:
            cl.translations[0].store_translation(key, cached)
    if cl.translations:
        cl.translations[1][key] = cached
    s.cron = cached["cron"]
    s.exact = cached["exact"]
    s.translation = _with_entry_queue(cl, s, task, cached["translation"])
    cl.notes(s, [Note(c, m) for c, m in cached["notes"]], s.file, s.line, s.entry or "")
    if RANK.get(cached["migratability"], 0) > RANK[s.migratability]:
        s.migratability = cached["migratability"]


def project_timezone(index: ProjectIndex) -> str | None:
    by = {s.name: s.value for s in index.settings if not is_dynamic(s.value)}
    tz = by.get("timezone") or by.get("django_time_zone")
    return tz if isinstance(tz, str) else None


def classify(
    index: ProjectIndex,
    config: Config,
    suppress: dict[str, dict] | None = None,
    recovered: dict[str, list] | None = None,
    translations: tuple | None = None,
) -> ProjectIndex:
    cl = Classifier(index, config, suppress or {}, recovered or {}, translations)
    for t in index.tasks:
        cl.task(t)
    tz = project_timezone(index)
    for s in index.schedules:
        cl.schedule(s, tz)
    for c in index.calls:
        cl.call(c)
    cl.settings()
    cl.project()
    index.findings = sorted(
        {f.key(): f for f in cl.findings}.values(), key=lambda f: (f.file, f.line, f.column, f.rule)
    )
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
        readiness.append(
            {
                "file": file,
                "total": total,
                "auto": c["auto"],
                "assisted": c["assisted"],
                "manual": c["manual"],
                "ready": round(100.0 * c["auto"] / total, 1) if total else 100.0,
            }
        )
    by_rule = Counter(f.rule for f in index.findings)
    by_sev = Counter(f.severity for f in index.findings)
    return {
        "tasks": counts(index.tasks),
        "schedules": counts(index.schedules),
        "calls": counts(index.calls),
        "apps": len(index.apps),
        "errors": len(index.errors),
        "findings": {
            "total": len(index.findings),
            "error": by_sev["error"],
            "warning": by_sev["warning"],
            "info": by_sev["info"],
            "by_rule": dict(sorted(by_rule.items())),
        },
        "modules": readiness,
        "timezone": project_timezone(index),
    }
