"""What ``saqmigrate finalize`` changes: the end state of the migration, as data (no I/O).

From the scan and the rewrite plan (the twins, queues and CronJobs the window ran on):

* every Celery task becomes a :class:`JobDecl` — its decorator is replaced by
  ``@saq_job(name, TaskOptions(...), queue=...)`` (saqmigrate.runtime.jobs), the body is kept;
* every dispatch becomes a :class:`CallEdit` — ``.delay``/``.apply_async``/``send_task`` turn into
  ``.enqueue``/``.enqueue_with``/``send_job`` with the same meaning;
* what has no SAQ equivalent is a :class:`Blocker` with a rule code (SM8xx): finalize refuses to
  write while any is left, unless ``--force`` (then that code is left as it is, and reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from saqmigrate.index.model import Call, ProjectIndex, Task
from saqmigrate.plan import RewritePlan, Twin

#: Call options ``SaqJob.enqueue_with`` takes as they are.
MAPPED_OPTIONS = ("countdown", "eta", "task_id", "time_limit")
#: Call options that change nothing a SAQ job does (Celery transport details): dropped.
DROPPED_OPTIONS = frozenset(
    {
        "retry",
        "retry_policy",
        "exchange",
        "routing_key",
        "compression",
        "producer",
        "connection",
        "publisher",
        "add_to_parent",
        "serializer",
        "ignore_result",
        "delivery_mode",
        "immediate",
        "mandatory",
        "reply_to",
    }
)
CANVAS_KINDS = frozenset({"s", "si", "signature", "chain", "group", "chord", "pipe", "map", "starmap", "chunks"})
#: Packages finalize removes from the requirements (``flower`` and the Django integrations: only Celery uses them).
CELERY_PACKAGES = (
    "celery",
    "django-celery-beat",
    "django-celery-results",
    "flower",
    "django_celery_beat",
    "django_celery_results",
    "celery-redbeat",
    "pytest-celery",
)


@dataclass
class JobDecl:
    task: Task
    twin: Twin
    name: str  # the name registered with SAQ (the Celery name, or with --rename module.function)
    queue: str
    options_source: str
    bind: bool
    aliases: tuple[str, ...] = ()  # --rename: the Celery name, still run for jobs queued under it
    native_code: str | None = None  # rewrite --mode native's port (``async def __port__(ctx, *, ...)``): the body


@dataclass
class CallEdit:
    call: Call
    job: JobDecl | None  # None: send_task of a name with no task in the project
    kind: str  # enqueue | enqueue_with | send_job
    queue: str | None = None  # send_job: the queue to enqueue on


@dataclass
class Blocker:
    code: str
    file: str
    line: int
    message: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.code} {self.message}"


@dataclass
class FinalizePlan:
    rewrite: RewritePlan
    jobs: dict[str, JobDecl] = field(default_factory=dict)  # Celery name -> declaration
    calls: list[CallEdit] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # behaviour differences the window already ran with
    app_module: str | None = None
    app_file: str | None = None
    app_var: str | None = None
    config_namespace: str | None = None  # config_from_object(..., namespace="CELERY"): settings prefix
    settings_files: list[str] = field(default_factory=list)  # files whose CELERY_* settings go
    other_apps: list[tuple[str, str, str]] = field(default_factory=list)  # (module, file, var) of every other app
    # file -> {signature target text -> task}: the tasks a canvas in that file names (`t.s()` / `t.si()`),
    # for the chain/group conversion to runtime.jobs (transform/finalize.py)
    canvas_members: dict[str, dict[str, JobDecl]] = field(default_factory=dict)

    def renames(self) -> dict[str, str]:
        """Celery name -> the name registered with SAQ, where ``--rename`` changed it."""
        return {celery: j.name for celery, j in self.jobs.items() if j.name != celery}

    def by_file(self) -> dict[str, tuple[list[JobDecl], list[CallEdit]]]:
        out: dict[str, tuple[list[JobDecl], list[CallEdit]]] = {}
        for j in self.jobs.values():
            out.setdefault(j.task.file, ([], []))[0].append(j)
        for c in self.calls:
            out.setdefault(c.call.file, ([], []))[1].append(c)
        return out


def _unsupported_task(t: Task, tw: Twin | None) -> tuple[str, str] | None:
    if tw is None or tw.skip:
        return (
            "SM804",
            f"task {t.name or t.function} has no SAQ twin ({tw.skip if tw else 'not planned'}): it cannot leave Celery",
        )
    if tw.pinned:
        return "SM804", f"task {t.name} is pinned to Celery (options not resolved: {', '.join(tw.pinned)})"
    if tw.assumes_unset:
        names = ", ".join(f"${n}" for n in tw.assumes_unset)
        return "SM804", (
            f"task {t.name} takes options from the default in the code of {names} (SM116): the converted job "
            "would hard-code that default where a deployment sets the variable; make the option a literal "
            "or a module constant, then finalize"
        )
    if "SM156" in tw.unsupported:
        return "SM804", (
            f"task {t.name} uses a non-JSON serializer (SM156): a SAQ job carries JSON, so callers passing "
            "objects (model instances, sets) would fail at enqueue; pass ids, then finalize"
        )
    if t.hooks or (t.base and t.kind != "class"):
        what = ", ".join(t.hooks) if t.hooks else f"base={t.base}"
        return "SM803", (
            f"task {t.name} runs through a custom Celery Task class ({what}): move that behaviour "
            "into the body or a SAQ before/after_process hook"
        )
    if t.kind not in ("shared_task", "app_task", "alias", "periodic_task"):
        return "SM803", f"task {t.name} is declared as a {t.kind} (only decorated functions are converted)"
    return None


def build_finalize_plan(index: ProjectIndex, rewrite: RewritePlan, *, rename: bool = False) -> FinalizePlan:
    """``rename``: register each task as ``module.function`` (its Celery name kept as an alias)."""
    from saqmigrate.plan import primary_app  # noqa: PLC0415

    fp = FinalizePlan(rewrite)
    twins = {tw.task.name: tw for m in rewrite.modules for tw in m.twins}
    for t in index.tasks:
        tw = twins.get(t.name)
        problem = _unsupported_task(t, tw)
        if problem:
            fp.blockers.append(Blocker(problem[0], t.file, t.decorator_line or t.line, problem[1]))
            continue
        assert tw is not None
        native = (
            tw.native_code if tw.native_code and not _port_uses_ctx(tw.native_code) and "." not in t.function else None
        )
        plain = f"{t.module}.{t.function}"
        if rename and plain != t.name:
            fp.jobs[t.name] = JobDecl(
                t,
                tw,
                plain,
                tw.queue,
                tw.options_source,
                t.bind,
                (t.name,),  # type: ignore[arg-type]
                native,
            )
        else:
            fp.jobs[t.name] = JobDecl(
                t,
                tw,
                t.name,
                tw.queue,
                tw.options_source,
                t.bind,  # type: ignore[arg-type]
                native_code=native,
            )
        for code, message in dict.fromkeys(tw.todos):  # accepted through the window: said again, not blocking
            fp.notes.append(f"{t.file}:{t.decorator_line or t.line}: {code} {t.name}: {message}")
    for c in index.calls:
        if c.kind in ("s", "si") and c.task in fp.jobs and not c.options.get("_in_schedule"):
            fp.canvas_members.setdefault(c.file, {})[c.target] = fp.jobs[c.task]
    for c in index.calls:
        edit = _call_edit(c, fp)
        if isinstance(edit, Blocker):
            fp.blockers.append(edit)
        elif edit is not None:
            fp.calls.append(edit)
    for b in rewrite.skipped_beat:
        fp.blockers.append(
            Blocker(
                "SM806",
                b.file,
                b.line,
                f"beat entry {b.entry!r} has no CronJob ({b.reason}): after finalize nothing would run it",
            )
        )
    app = primary_app(index)
    if app is not None and app.task_cls and not _src(app.task_cls).startswith("saqmigrate."):  # not our RoutedTask
        fp.blockers.append(
            Blocker(
                "SM803",
                app.file,
                app.line,
                f"the app's Task class ({_src(app.task_cls)}) runs every task "
                "(its __call__ and hooks, e.g. Flask's app context): finalize cannot carry it; move "
                "it into the bodies or a SAQ before_process/after_process hook",
            )
        )
    if app is not None and app.in_function:
        fp.blockers.append(
            Blocker(
                "SM803",
                app.file,
                app.line,
                "the Celery app is built in a function (a factory): "
                "finalize does not remove it; delete the factory and its callers by hand",
            )
        )
    elif app is not None:
        fp.app_module, fp.app_file, fp.app_var = app.module, app.file, app.name
        for c in app.config_from_object:
            ns = c.get("namespace") if isinstance(c, dict) else None
            if isinstance(ns, str) and ns:
                fp.config_namespace = ns
    for a in index.apps:  # every module-level app goes, not only the one the window wired
        if a.kind == "instance" and not a.in_function and a is not app:
            fp.other_apps.append((a.module, a.file, a.name))
            for c in a.config_from_object:
                ns = c.get("namespace") if isinstance(c, dict) else None
                if isinstance(ns, str) and ns and not fp.config_namespace:
                    fp.config_namespace = ns
    prefix = (fp.config_namespace or "CELERY") + "_"
    fp.settings_files = sorted({s.file for s in index.settings if s.raw_name.startswith(prefix)})
    for st in index.settings:  # beat entries kept outside code (attack 17 #5): deleting the setting stops them
        if st.name == "beat_scheduler" and not (
            isinstance(st.value, str)
            and st.value.replace(":", ".") in ("celery.beat.PersistentScheduler", "celery.beat.Scheduler")
        ):
            value = repr(st.value) if isinstance(st.value, str) else "a value finalize cannot read"
            where = (
                "database rows (django-celery-beat's PeriodicTask)"
                if "DatabaseScheduler" in str(st.value)
                else "the scheduler's own store"
            )
            fp.blockers.append(
                Blocker(
                    "SM806",
                    st.file,
                    st.line,
                    f"{st.raw_name} = {value}: the periodic tasks in "
                    f"{where} run only on Celery beat, and no static scan sees them; export the "
                    "enabled ones into CronJobs of the worker settings (or a literal "
                    "beat_schedule, then rewrite), remove this setting, and finalize again",
                )
            )
    fp.blockers.sort(key=lambda b: (b.file, b.line, b.code))
    return fp


def _call_edit(c: Call, fp: FinalizePlan) -> CallEdit | Blocker | None:
    if c.options.get("_in_schedule"):
        return None  # a beat entry's signature: the beat configuration goes, the CronJob stays
    if c.kind in CANVAS_KINDS:
        return Blocker(
            "SM801",
            c.file,
            c.line,
            f"{c.kind}() canvas over {c.task or c.target}: no runtime.jobs "
            "chain/group can express it; rewrite it with enqueues (docs/finalize.md)",
        )
    if c.kind in ("retry",):
        return None  # self.retry(...) inside a bound task: the runtime's self handles it
    if c.kind == "async_result":
        return Blocker(
            "SM803",
            c.file,
            c.line,
            f"result looked up through Celery ({c.target}): use the SaqResult "
            "the enqueue returns, or saqmigrate.runtime.jobs to look a job up",
        )
    if c.kind == "apply":
        if c.task and c.task in fp.jobs:
            return None  # SaqJob.apply: inline, with the task's retries, an eager result (as Celery's apply)
        return Blocker(
            "SM803",
            c.file,
            c.line,
            f"{c.target}.apply() runs the task through Celery's tracer: call the task function directly instead",
        )
    if c.kind == "send_task":
        if c.dynamic_name or not c.task:
            return Blocker(
                "SM803",
                c.file,
                c.line,
                "send_task with a name finalize cannot read: replace it with send_job(name, kwargs, queue=...)",
            )
        job = fp.jobs.get(c.task)
        if job is None:
            return Blocker("SM803", c.file, c.line, f"send_task({c.task!r}): no convertible task of that name")
        bad = _bad_options(c, job)
        if bad:
            return bad
        return CallEdit(c, job, "send_job", job.queue)
    if c.kind not in ("delay", "apply_async"):
        return None
    if not c.task:
        return Blocker("SM803", c.file, c.line, f"{_callee(c)}(): finalize cannot tell which task this is")
    job = fp.jobs.get(c.task)
    if job is None:
        return Blocker("SM804", c.file, c.line, f"{_callee(c)}() dispatches {c.task}, which stays on Celery")
    if c.kind == "delay":
        return CallEdit(c, job, "enqueue")
    bad = _bad_options(c, job)
    if bad:
        return bad
    return CallEdit(c, job, "enqueue_with")


def _bad_options(c: Call, job: JobDecl) -> Blocker | None:
    problems = []
    for k, v in c.options.items():
        if k.startswith("_") or k in ("args", "kwargs") or k in MAPPED_OPTIONS or k in DROPPED_OPTIONS:
            continue
        if k == "queue":
            if v != job.queue:
                problems.append(f"queue={v!r} (the task's SAQ queue is {job.queue!r})")
            continue
        if k == "**":
            problems.append("**options")
            continue
        problems.append(f"{k}=")
    if problems:
        return Blocker(
            "SM802",
            c.file,
            c.line,
            f"{_callee(c)}(): {', '.join(problems)} has no SAQ equivalent; remove it or enqueue differently",
        )
    return None


def _src(value: object) -> str:
    return str(value["dynamic"]) if isinstance(value, dict) and "dynamic" in value else str(value)


_SETTINGS: list[frozenset] = []


def is_celery_setting(name: str, prefix: str = "CELERY_") -> bool:
    """``name`` configures Celery: ``<PREFIX><KEY>`` for a key of Celery's settings (``CELERY_BROKER_URL``),
    or an old-style name Celery still reads (``CELERYBEAT_SCHEDULE``, ``BROKER_URL``). A project's own
    ``CELERY_ENABLED`` is not, and stays. Celery's own table is the truth (``celery.app.defaults``)."""
    if not _SETTINGS:
        from celery.app.defaults import _TO_NEW_KEY, NAMESPACES, flatten  # noqa: PLC0415 - the cli extra has Celery

        _SETTINGS.append(frozenset(k for k, _ in flatten(NAMESPACES)))
        _SETTINGS.append(frozenset(_TO_NEW_KEY))
    keys, old = _SETTINGS
    if name.startswith(prefix) and name[len(prefix) :].lower() in keys:
        return True
    return name in old


def _callee(c: Call) -> str:
    """``t.delay`` / ``app.send_task`` as written (the target of a send_task already ends with it)."""
    return c.target if c.target.rsplit(".", 1)[-1] == c.kind else f"{c.target}.{c.kind}"


def _port_uses_ctx(code: str) -> bool:
    """The port reaches SAQ's ``ctx`` (``task_self(ctx)`` ...): it cannot become the plain task function."""
    import ast

    try:
        func = ast.parse(code).body[0]
    except SyntaxError:
        return True
    body = func.body if isinstance(func, ast.AsyncFunctionDef) else []
    return any(isinstance(n, ast.Name) and n.id == "ctx" for stmt in body for n in ast.walk(stmt))
