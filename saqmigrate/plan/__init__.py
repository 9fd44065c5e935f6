"""Step 5: decide, per task / schedule / queue, what the rewrite generates (pure data).

Layout (docs/rewrite.md):

* every Celery tasks module ``pkg/tasks.py`` gets a sibling ``pkg/tasks_saq.py`` holding its
  SAQ twins (bridge mode: each twin runs the unchanged Celery implementation in a thread);
* one package ``<app package>/saq_worker/`` holds ``registry.py`` (what the router needs),
  ``routing.py`` (``install(app)``), and one worker settings module per Celery queue
  (``queue_<name>.py``, start it with ``saq <app package>.saq_worker.queue_<name>.settings``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from saqmigrate.discover import is_test_path
from saqmigrate.emit.style import Style
from saqmigrate.index.model import App, ProjectIndex, Schedule, Task
from saqmigrate.translate import routing
from saqmigrate.translate.routing import RouteUnknown

# names a generated twin module binds at module level (emit/generate.py): no twin function may take them
TWIN_MODULE_NAMES = frozenset(
    {
        "saq_task",
        "TaskOptions",
        "celery_impl",
        "run_sync",
        "task_self",
        "UNSET",
        "given",
        "_celery",
        "asyncio",
        "annotations",
    }
)
# ... and the ones a twin's body uses, which a parameter of the same name would shadow
TWIN_BODY_NAMES = frozenset({"celery_impl", "run_sync", "task_self", "UNSET", "given", "given_positional", "_celery"})
WORKER_PACKAGE = "saq_worker"
_IDENT = re.compile(r"[^0-9A-Za-z_]")


@dataclass
class Twin:
    task: Task
    celery_name: str
    function: str  # twin function name in the twin module
    queue: str  # Celery queue == SAQ queue name
    options_source: str  # TaskOptions(...) expression
    job: dict  # saq.Job kwargs for the registry
    cron_job: dict  # CronJob kwargs
    unsupported: list[str]
    mode: str = "bridge"  # bridge | native
    skip: str | None = None  # why no twin is generated (the task stays Celery-only)
    native_code: str | None = None  # native mode: the ported ``async def __port__(...)``
    todos: list[tuple[str, str]] = field(default_factory=list)  # (rule code, message) a reviewer must act on
    pinned: list[str] = field(default_factory=list)  # options that could not be resolved: always Celery
    canvas: list[str] = field(default_factory=list)  # "file:line" where the task is used in a canvas
    # environment variables whose defaults in the code gave option values (SM116): the router pins the
    # task to Celery in a process that sets any of them (runtime/registry.py TaskEntry.env_set)
    assumes_unset: list[str] = field(default_factory=list)


@dataclass
class TwinModule:
    source_rel: str
    module: str
    rel: str  # generated file, relative to the root
    twin_module: str
    twins: list[Twin] = field(default_factory=list)


@dataclass
class CronEntry:
    schedule: Schedule
    entry: str
    function: str  # generated cron function name (also its __qualname__ suffix)
    task: str
    twin: Twin | None
    cron: str | None
    guard: dict | None
    kwargs: dict
    strategy: str
    cron_kwargs: dict  # timeout/retries/ttl for CronJob
    skip: str | None = None
    interval: float | None = None  # self_rescheduling: seconds between runs


@dataclass
class SkippedBeat:
    """A beat entry with no CronJob: it keeps firing on Celery beat (listed in the generated settings)."""

    entry: str
    file: str
    line: int
    queue: str | None  # its task's queue, when the task has a twin
    reason: str  # starts with the rule code(s)


@dataclass
class QueuePlan:
    name: str
    rel: str
    module: str
    twins: list[Twin] = field(default_factory=list)
    crons: list[CronEntry] = field(default_factory=list)


@dataclass
class RewritePlan:
    root: str
    package: str  # dotted module of the worker package
    package_rel: str
    app_module: str | None
    app_var: str | None
    timezone: str
    modules: list[TwinModule] = field(default_factory=list)
    queues: list[QueuePlan] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    skipped_beat: list[SkippedBeat] = field(default_factory=list)
    django: bool = False  # a Django project: workers must django.setup() before importing task modules
    django_settings: str | None = None  # DJANGO_SETTINGS_MODULE as the project sets it (os.environ.setdefault)
    style: Style = field(default_factory=Style)  # the project formatter's line length (emit/style.py)
    live: dict = field(default_factory=dict)  # run-time facts used by rewrite --live (index/live.py)
    # the module the SAQ workers import to create the Celery app (what `celery -A` names): the app's own
    # module, or for a factory-built app the module calling the factory at import (index/entry.py)
    celery_app_module: str | None = None


def _is_django(index: ProjectIndex) -> bool:
    """Any of Django's signals: DJANGO_SETTINGS_MODULE set in code, django imported, or the app configured
    from Django's settings (``config_from_object("django.conf:settings")`` or the settings object)."""
    if index.django.get("signals"):
        return True
    for a in index.apps:
        for c in a.config_from_object:
            obj = c.get("obj") if isinstance(c, dict) else c
            text = obj if isinstance(obj, str) else str(obj)
            if "django" in text or text.strip("?") in ("settings", "django.conf.settings"):
                return True
    return False


def primary_app(index: ProjectIndex):
    """The Celery app the migration wires: of the module-level instances, the one most tasks are bound
    to (``@app.task``), then one that is configured (config_from_object, conf.update, include=...); an
    app created inside a function (a throwaway ``Celery(name)`` for one send_task, a factory) comes
    last. Ties keep file order."""
    apps = [a for a in index.apps if a.kind == "instance"]
    if not apps:
        return None

    def bound(a) -> int:
        key = f"{a.module}.{a.name}" if a.module else a.name
        return sum(
            1
            for t in index.tasks
            if t.app and (t.app == key or t.app.endswith(f".{a.name}") and key.startswith(t.app.rsplit(".", 1)[0]))
        )

    def configured(a) -> bool:
        return bool(a.config_from_object) or any(k in a.options for k in ("include", "imports", "broker", "backend"))

    order = {id(a): i for i, a in enumerate(apps)}
    return sorted(apps, key=lambda a: (a.in_function, -bound(a), not configured(a), order[id(a)]))[0]


def twin_paths(module: str, file: str) -> tuple[str, str]:
    """(twin module, twin file) for a task module: ``pkg/tasks.py`` -> ``pkg/tasks_saq.py``; a package
    ``pkg/tasks/__init__.py`` -> ``pkg/tasks_saq.py`` too (beside the package, so ``pkg.tasks_saq``
    imports by its real path)."""
    base, _, leaf = module.rpartition(".")
    twin_module = f"{base}.{leaf}_saq" if base else f"{leaf}_saq"
    if file.endswith("/__init__.py") or file == "__init__.py":
        folder = file[: -len("__init__.py")].rstrip("/")
        return twin_module, f"{folder}_saq.py"
    return twin_module, file[:-3] + "_saq.py"


def _ident(text: str) -> str:
    out = _IDENT.sub("_", text).strip("_") or "entry"
    return ("_" + out) if out[0].isdigit() else out


def _setting(index: ProjectIndex, name: str) -> Any:
    """A setting's value; ``_Conflict`` when the project assigns it differently in several places."""
    values = [s.value for s in index.settings if s.name == name]
    if not values:
        return None
    if any(v != values[0] for v in values[1:]):
        return _Conflict(name, [f"{s.file}:{s.line}" for s in index.settings if s.name == name])
    return values[0]


@dataclass
class _Conflict:
    name: str
    places: list[str]


def task_queue(t: Task, index: ProjectIndex) -> str:
    """The queue Celery's router gives ``t`` (translate.routing), or RouteUnknown."""
    own = t.options.get("queue", t.inherited_options.get("queue"))
    routes, default = _setting(index, "task_routes"), _setting(index, "task_default_queue")
    for v in (routes, default):
        if isinstance(v, _Conflict):
            raise RouteUnknown(f"{v.name} is set differently in {', '.join(v.places)}")
    return routing.task_queue(t.name, own, routes, default)


def _src_of(t: Task, key: str) -> str:
    v = t.options.get(key, t.inherited_options.get(key))
    return v["dynamic"] if isinstance(v, dict) and "dynamic" in v else repr(v)


def _skip_reason(t: Task) -> str | None:
    if "__call__" in t.hooks and t.is_async:
        return (
            "SM119: an async def body under its Task class's overridden __call__ cannot run through that "
            "__call__ on SAQ (the runtime refuses it at worker start-up); it stays on Celery"
        )
    if is_test_path(t.file):
        return "SM117: defined in a test module (test helpers are not migrated; production workers never import them)"
    if t.name is None:
        return "SM103: the task name is not a literal"
    if t.nested:
        return "SM101: defined inside a function"
    if t.in_loop:
        return "SM102: created in a loop"
    if t.kind == "class":
        return "SM106: class-based task (write its SAQ twin by hand: instantiate the class and call run)"
    if not all(part.isidentifier() for part in t.module.split(".")):
        return f"SM114: its module {t.module!r} is not importable by that name"
    if t.kind == "registration" and t.file != (t.features.get("registered_at") or "").split(":")[0]:
        return None
    return None


def _todos(notes) -> list[tuple[str, str]]:
    """Option findings a reviewer must act on (not the auto/info ones), for TODO comments."""
    from saqmigrate import rules as rulebook

    out = []
    for n in notes:
        try:
            rule = rulebook.get(n.code)
        except rulebook.RuleError:
            continue
        if rule.verdict != "auto" and rule.severity != "info":
            out.append((n.code, n.message))
    return out


#: Call kinds that put a task into a canvas (a signature or a map/starmap/chunks canvas over it).
CANVAS_USES = frozenset({"s", "si", "signature", "map", "starmap", "chunks"})


def canvas_locations(index: ProjectIndex) -> dict[str, list[str]]:
    """Task name -> sorted ``file:line`` where it is used in a canvas (or asks for ``link=`` callbacks).

    Signatures given to ``add_periodic_task`` are beat entries, not canvases, and do not count.
    Those dispatches stay on Celery whatever the flags say (the router's ``canvas`` reason);
    ``route set`` warns with these locations.
    """
    out: dict[str, set[str]] = {}
    for c in index.calls:
        if not c.task or c.options.get("_in_schedule"):
            continue
        if c.kind in CANVAS_USES or (c.kind == "apply_async" and ("link" in c.options or "link_error" in c.options)):
            out.setdefault(c.task, set()).add(f"{c.file}:{c.line}")
    return {k: sorted(v, key=lambda loc: (loc.rsplit(":", 1)[0], int(loc.rsplit(":", 1)[1]))) for k, v in out.items()}


def build_plan(
    index: ProjectIndex, *, mode: str = "bridge", only: str | None = None, keep: set[str] | None = None
) -> RewritePlan:
    """``only``: a glob on task files or names; tasks outside it are still planned when their module
    is in ``keep`` (already migrated), so ``--only`` adds tasks without unregistering earlier ones."""
    from saqmigrate.classify import project_timezone

    pkg, pkg_rel, app, plan_note = _worker_package(index)
    package = f"{pkg}.{WORKER_PACKAGE}" if pkg else WORKER_PACKAGE
    package_rel = f"{pkg_rel}/{WORKER_PACKAGE}" if pkg_rel else WORKER_PACKAGE
    plan = RewritePlan(
        root=index.root,
        package=package,
        package_rel=package_rel,
        app_module=app.module if app else None,
        app_var=app.name if app else None,
        timezone=project_timezone(index) or "UTC",
        django=_is_django(index),
        django_settings=index.django.get("settings_module"),
    )
    plan.live = index.live
    if plan_note:
        plan.skipped.append(("routing hook", plan_note))
    twins_by_name = _plan_twins(index, plan, mode=mode, only=only, keep=keep or set())
    queues = _QueueFiles(package, package_rel)
    for m in plan.modules:
        for tw in m.twins:
            queues.get(tw.queue).twins.append(tw)
    _plan_crons(index, plan, twins_by_name, queues)
    plan.queues = sorted(queues.plans.values(), key=lambda q: q.name)
    return plan


def _worker_package(index: ProjectIndex) -> tuple[str, str, App | None, str | None]:
    """(package of the Celery app, its folder, the app, a note when it cannot be used): the worker
    package is generated next to the app."""
    app = primary_app(index)
    if app is not None:
        if app.file.endswith("__init__.py"):  # the app is created in the package itself (Flask factories)
            pkg = app.module
        else:
            pkg = app.module.rsplit(".", 1)[0] if "." in app.module else ""
        pkg_rel = app.file.rsplit("/", 1)[0] if "/" in app.file else ""
    else:
        pkg, pkg_rel = "", ""
    if pkg and not all(part.isidentifier() for part in pkg.split(".")):
        # not importable by that name (a folder like "my-app"): the worker package goes to the root,
        # and the app module is not wired (its routing import could not be written)
        return (
            "",
            "",
            None,
            (
                f"the Celery app's package {pkg!r} is not importable by that name (SM114): the worker "
                "package is generated at the project root and the routing hook is not added"
            ),
        )
    return pkg, pkg_rel, app, None


def _twin_blocker(t: Task, index: ProjectIndex) -> tuple[str | None, str | None, Any]:
    """(why task ``t`` gets no SAQ twin or None, its queue, its translated options)."""
    from saqmigrate.classify import options_plan

    skip = _skip_reason(t)
    if skip is None and t.name and not is_test_path(t.file):
        same = [o for o in index.tasks if o.name == t.name and not is_test_path(o.file)]
        if len(same) > 1:
            where = ", ".join(f"{o.file}:{o.line}" for o in same)
            skip = f"SM124: {len(same)} functions register under this name ({where}); it stays on Celery"
    clash = sorted({p.name for p in t.params} & TWIN_BODY_NAMES)
    if skip is None and clash:
        skip = (
            f"SM118: parameter {', '.join(clash)} has the name of a helper its SAQ twin calls; rename the "
            "parameter (the job's keyword) or write this twin by hand"
        )
    q = None
    if skip is None:
        try:
            q = task_queue(t, index)
        except RouteUnknown as exc:
            skip = f"SM115: its queue is not known statically ({exc}); it stays on Celery"
    jo = None
    if skip is None:
        try:
            jo = options_plan(t)
        except Exception as exc:  # noqa: BLE001
            skip = f"SM199: options could not be translated ({exc})"
    return skip, q, jo


def _plan_twins(
    index: ProjectIndex, plan: RewritePlan, *, mode: str, only: str | None, keep: set[str]
) -> dict[str, Twin]:
    """A twin per task that can have one (plan.modules, one TwinModule per task module); the others
    in plan.skipped. Returns the twins by Celery task name."""
    by_module: dict[str, TwinModule] = {}
    twins_by_name: dict[str, Twin] = {}
    canvas_uses = canvas_locations(index)
    used_names: dict[str, set[str]] = {}
    for t in index.tasks:
        if (
            only
            and not (fnmatch.fnmatch(t.file, only) or (t.name and fnmatch.fnmatchcase(t.name, only)))
            and t.module not in keep
        ):
            continue
        if t.file.endswith("_saq.py") or t.module.startswith(plan.package):
            continue  # never twin generated code
        skip, q, jo = _twin_blocker(t, index)
        if skip is not None:
            plan.skipped.append((t.name or f"{t.file}:{t.line}", skip))
            continue
        mod = by_module.get(t.module)
        if mod is None:
            twin_module, rel = twin_paths(t.module, t.file)
            mod = by_module[t.module] = TwinModule(t.file, t.module, rel, twin_module)
            used_names[t.module] = set()
        fname = _ident(t.function.split(".")[-1] if t.kind != "class" else t.function.split(".")[0])
        if fname in TWIN_MODULE_NAMES or keyword.iskeyword(fname):
            fname += "_task"  # a twin named `given` would replace the helper every twin of the module calls
        while fname in used_names[t.module]:
            fname += "_"
        used_names[t.module].add(fname)
        pinned = sorted(t.features.get("unresolved") or {})
        if t.features.get("self_replace") and t.bind:
            pinned.append("replace")  # SM121: Task.replace continues a Celery canvas
        if "Request" in t.options or "Request" in t.inherited_options:
            pinned.append("Request")  # SM164: a custom worker request's hooks run only in Celery's worker
        twin = Twin(
            task=t,
            celery_name=t.name,
            function=fname,
            queue=q,  # type: ignore[arg-type]
            options_source=jo.to_source(),
            job=jo.job_kwargs(),
            cron_job=jo.cron_kwargs(),
            unsupported=sorted({n.code for n in jo.notes}),
            mode=mode,
            todos=_todos(jo.notes)
            + [
                ("SM115", f"{k}={_src_of(t, k)} is not resolvable statically ({why}); the task stays on Celery")
                for k, why in sorted((t.features.get("unresolved") or {}).items())
            ],
            pinned=pinned,
            assumes_unset=sorted(
                {e for info in (t.features.get("resolved") or {}).values() for e in info.get("env") or ()}
            ),
        )
        twin.canvas = canvas_uses.get(t.name, [])  # type: ignore[arg-type]
        mod.twins.append(twin)
        twins_by_name[t.name] = twin  # type: ignore[index]
    plan.modules = sorted(by_module.values(), key=lambda m: m.rel)
    return twins_by_name


class _QueueFiles:
    """One generated queue module per SAQ queue, with file names that cannot collide."""

    def __init__(self, package: str, package_rel: str) -> None:
        self.package, self.package_rel = package, package_rel
        self.plans: dict[str, QueuePlan] = {}
        self.leaves: dict[str, str] = {}  # module leaf (lower case: case-insensitive file systems) -> queue name

    def get(self, name: str) -> QueuePlan:
        if name not in self.plans:
            leaf = f"queue_{_ident(name)}"
            if self.leaves.get(leaf.lower(), name) != name:  # "a-b" and "a_b", "Mail" and "mail": one file each
                leaf += "_" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
            self.leaves[leaf.lower()] = name
            self.plans[name] = QueuePlan(name, f"{self.package_rel}/{leaf}.py", f"{self.package}.{leaf}")
        return self.plans[name]


def _beat_blocker(s: Schedule, twin: Twin | None, tr: dict[str, Any]) -> str | None:
    """Why beat entry ``s`` (with a literal name and task) gets no SAQ CronJob, or None."""
    if s.in_loop:
        return "SM251: built in a loop"
    if twin is None:
        return "SM252: its task has no SAQ twin"
    if twin.pinned:  # the router keeps its task on Celery: a SAQ cron would run the twin anyway
        return f"its task is pinned to Celery ({', '.join(twin.pinned)} cannot be honoured on SAQ)"
    if tr.get("strategy") in (None, "manual") or not (tr.get("cron") or tr.get("interval")):
        codes = ", ".join(c for c in s.rules if c.startswith("SM2")) or "SM2xx"
        return f"{codes}: no exact cron for its schedule"
    if tr.get("kwargs") is None and (s.args or s.kwargs):
        return "SM208: beat args could not be mapped to named kwargs"
    return None


def beat_entry_name(s) -> str | None:
    """The name a beat entry goes by in the generated code (CronJob key ``beat:<name>``, registry SCHEDULES):
    its own, or for an unnamed ``add_periodic_task(3600, t.s())`` ``<task>@<file>:<line>``; None when its task
    is not literal either. Reports show the same name."""
    task = s.task if isinstance(s.task, str) else None
    return s.entry or (f"{task}@{s.file}:{s.line}" if task else None)


def _plan_crons(index: ProjectIndex, plan: RewritePlan, twins_by_name: dict[str, Twin], queues: _QueueFiles) -> None:
    """A CronJob per beat entry whose task has a twin and whose schedule translates exactly."""
    used_cron: set[str] = set()
    for s in index.schedules:
        if s.file.endswith("_saq.py"):
            continue
        task = s.task if isinstance(s.task, str) else None
        entry = beat_entry_name(s)
        tr = s.translation or {}
        if entry is None or task is None:
            plan.skipped.append((f"beat entry at {s.file}:{s.line}", "SM250/SM254: entry or task not literal"))
            plan.skipped_beat.append(
                SkippedBeat(s.entry or "<computed>", s.file, s.line, None, "SM250/SM254: entry or task not literal")
            )
            continue
        twin = twins_by_name.get(task)
        skip = _beat_blocker(s, twin, tr)
        if skip is not None:
            plan.skipped.append((f"beat entry {entry!r}", skip))
            plan.skipped_beat.append(SkippedBeat(entry, s.file, s.line, twin.queue if twin else None, skip))
            continue
        assert twin is not None  # _beat_blocker: no twin is a reason
        fname = "beat_" + _ident(entry)
        while fname in used_cron:
            fname += "_"
        used_cron.add(fname)
        queue = tr.get("queue") or twin.queue
        # the translation says "default" when the entry sets no queue (the task's own queue applies); a queue
        # literally named "default" in the entry's options is that queue
        options = s.options if isinstance(s.options, dict) else {}
        if queue in ("default", None) and options.get("queue") != "default":
            queue = twin.queue
        ce = CronEntry(
            schedule=s,
            entry=entry,
            function=fname,
            task=task,
            twin=twin,
            cron=tr.get("cron"),
            guard=tr.get("guard"),
            kwargs=dict(tr.get("kwargs") or {}),
            strategy=tr["strategy"],
            cron_kwargs={k: tr.get(k) for k in ("timeout", "retries", "ttl") if tr.get(k) is not None},
            interval=tr.get("interval") if not tr.get("cron") else None,
        )
        queues.get(queue).crons.append(ce)
