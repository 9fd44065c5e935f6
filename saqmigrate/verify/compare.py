"""Compare Celery's run-time truth (the probe's document) with what ``rewrite`` generated. Pure.

The options are compared the reliable way: Celery's run-time values go through the same
translation ``rewrite`` uses (``saqmigrate.translate.options.translate_task_options``), and the
resulting SAQ job kwargs / ``TaskOptions`` are compared with the generated ones. Schedules go
through the same year-long proof as ``saqmigrate schedules`` (``saqmigrate.translate.proof``),
with Celery's run-time crontab fields or interval on one side and the generated cron on the other.

One :class:`Difference` per differing fact; rule codes SM700-SM713 (saqmigrate/data/rules/).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from saqmigrate.verify.generated import GenCron, Generated, GenTask, GenTwin

# Rule codes (saqmigrate/data/rules/SM7xx.toml)
TASK_MISSING = "SM700"
TASK_UNKNOWN = "SM701"
QUEUE = "SM702"
REGISTRATION = "SM703"
OPTION = "SM704"
EXCEPTION = "SM705"
HOOKS = "SM706"
ENTRY_MISSING = "SM707"
ENTRY_UNKNOWN = "SM708"
ENTRY_TASK = "SM709"
SCHEDULE = "SM710"
ENTRY_ARGS = "SM711"
TIMEZONE = "SM712"
UNREADABLE = "SM713"

SEVERITY = {
    TASK_MISSING: "error",
    TASK_UNKNOWN: "warning",
    QUEUE: "error",
    REGISTRATION: "error",
    OPTION: "error",
    EXCEPTION: "error",
    HOOKS: "warning",
    ENTRY_MISSING: "error",
    ENTRY_UNKNOWN: "warning",
    ENTRY_TASK: "error",
    SCHEDULE: "error",
    ENTRY_ARGS: "error",
    TIMEZONE: "error",
    UNREADABLE: "warning",
}

# TaskOptions fields compared as options (exception classes have their own code; ``module`` only
# says where names are resolved, which SM705 judges by resolving them).
OPTION_FIELDS = (
    "retries",
    "retry_delay",
    "retry_backoff",
    "timeout",
    "heartbeat",
    "ttl",
    "max_retries",
    "default_retry_delay",
    "retry_kwargs",
    "retry_jitter",
    "expires",
)
UNSUPPORTED_OPTIONS = ("soft_time_limit", "priority", "expires")
BUILTIN_TASK_PREFIX = "celery."
SCHEDULE_CODES = {ENTRY_MISSING, SCHEDULE}


@dataclass
class Difference:
    code: str
    kind: str  # task | entry | app
    subject: str  # Celery task name, beat entry name, or the app
    field: str
    celery: Any
    generated: Any
    file: str  # the Celery definition (from the scan)
    line: int
    message: str
    generated_file: str | None = None
    generated_line: int | None = None
    accepted: str | None = None  # [tool.saqmigrate.accept] reason (schedules): reported, not counted

    @property
    def severity(self) -> str:
        return SEVERITY[self.code]

    def to_json(self) -> dict:
        data = asdict(self)
        data["severity"] = self.severity
        return data


@dataclass
class Locations:
    """Where things are defined in the Celery code, from the static scan (file, line)."""

    tasks: dict = field(default_factory=dict)  # Celery name -> (file, line)
    self_retry: dict = field(default_factory=dict)  # Celery name -> bool (the body calls self.retry)
    modules: dict = field(default_factory=dict)  # module -> (file, line of an unnamed registration or 1)
    entries: dict = field(default_factory=dict)  # entry -> (file, line)
    entry_tasks: dict = field(default_factory=dict)  # task name -> (file, line) of an unnamed/looped entry
    beat_file: tuple | None = None  # where the beat schedule is written
    app: tuple = ("", 1)  # the Celery app

    def task(self, name: str, module: str | None) -> tuple:
        if name in self.tasks:
            return self.tasks[name]
        if module and module in self.modules:
            return self.modules[module]
        return self.app

    def entry(self, entry: str, task: Any) -> tuple:
        if entry in self.entries:
            return self.entries[entry]
        if isinstance(task, str) and task in self.entry_tasks:
            return self.entry_tasks[task]
        return self.beat_file or self.app


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (type(a) is type(b) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _dynamic(value: Any) -> Any:
    """The probe's ``{"repr": ...}`` (a value JSON cannot carry) is a non-literal to the translator."""
    if isinstance(value, dict) and set(value) == {"repr"}:
        return {"dynamic": value["repr"]}
    if isinstance(value, list):
        return [_dynamic(v) for v in value]
    return value


def expected_options(rt_task: dict, *, self_retry: bool, result_expires: Any):
    """Celery's run-time values through rewrite's own translation: a ``JobOptions``."""
    from saqmigrate.translate.options import translate_task_options

    opts = {k: _dynamic(v) for k, v in (rt_task.get("options") or {}).items()}
    for key in ("autoretry_for", "dont_autoretry_for"):
        names = opts.get(key) or []
        opts[key] = [n for n in names if isinstance(n, str)]
    defaults = {"result_expires": _dynamic(result_expires)} if result_expires is not None else None
    return translate_task_options(opts, uses_self_retry=self_retry, defaults=defaults, module=rt_task.get("module"))


def _generated_task_options(twin) -> dict:
    from dataclasses import fields

    from saqmigrate.runtime.task_options import TaskOptions

    base = {f.name: getattr(TaskOptions(), f.name) for f in fields(TaskOptions)}
    base.update(twin.options)
    return base


def _resolved(resolved: list, module: str | None) -> dict:
    for r in resolved or []:
        if r.get("module") == module:
            return r.get("resolved") or {}
    return {}


def resolve_requests(gen: Generated) -> list[dict]:
    """What the probe must resolve: every exception name in the twins, with the module it is resolved in."""
    by_module: dict = {}
    for twin in gen.twins.values():
        module = twin.options.get("module")
        module = module if isinstance(module, str) else None
        for key in ("autoretry_for", "dont_autoretry_for"):
            names = twin.options.get(key) or ()
            if isinstance(names, (list, tuple)):
                by_module.setdefault(module, set()).update(n for n in names if isinstance(n, str))
    return [{"module": m, "names": sorted(n)} for m, n in sorted(by_module.items(), key=lambda kv: kv[0] or "")]


class _Out:
    def __init__(self) -> None:
        self.items: list[Difference] = []

    def add(self, code, kind, subject, fld, celery, generated, where, message, gen_file=None, gen_line=None):
        self.items.append(
            Difference(
                code=code,
                kind=kind,
                subject=subject,
                field=fld,
                celery=celery,
                generated=generated,
                file=where[0],
                line=int(where[1] or 1),
                message=message,
                generated_file=gen_file,
                generated_line=gen_line,
            )
        )


def compare(runtime: dict, gen: Generated, loc: Locations, *, accept: dict | None = None) -> list[Difference]:
    out = _Out()
    rt_tasks = {n: t for n, t in (runtime.get("tasks") or {}).items() if not n.startswith(BUILTIN_TASK_PREFIX)}
    for name in sorted(rt_tasks):
        _compare_task(out, name, rt_tasks[name], gen, loc, runtime)
    for name in sorted(set(gen.tasks) - set(rt_tasks)):
        g = gen.tasks[name]
        out.add(
            TASK_UNKNOWN,
            "task",
            name,
            "task",
            None,
            name,
            loc.task(name, None),
            f"the generated registry has task {name!r}, which the running Celery app does not register "
            "(renamed, deleted, or its module is not imported by the app)",
            gen.registry_file,
            g.line,
        )
    for name in sorted(set(gen.twins) - set(rt_tasks) - set(gen.tasks)):
        tw = gen.twins[name]
        out.add(
            TASK_UNKNOWN,
            "task",
            name,
            "task",
            None,
            name,
            loc.task(name, None),
            f"twin {tw.function} is registered as {name!r}, which the running Celery app does not register",
            tw.file,
            tw.line,
        )
    tz = _compare_timezone(out, runtime, gen, loc)
    beat = {
        e: b
        for e, b in (runtime.get("beat_schedule") or {}).items()
        if not (isinstance(b.get("task"), str) and b["task"].startswith(BUILTIN_TASK_PREFIX))
    }
    for entry in sorted(beat):
        _compare_entry(out, entry, beat[entry], gen, loc, rt_tasks, tz)
    for entry in sorted((set(gen.schedules) | set(gen.crons)) - set(beat)):
        c = gen.crons.get(entry)
        s = gen.schedules.get(entry) or {}
        out.add(
            ENTRY_UNKNOWN,
            "entry",
            entry,
            "entry",
            None,
            entry,
            loc.entry(entry, s.get("task")),
            f"the generated code schedules beat entry {entry!r}, which the running app's beat_schedule does not have",
            c.file if c else gen.registry_file,
            c.line if c else s.get("line"),
        )
    for d in out.items:
        if (
            d.code in SCHEDULE_CODES
            and accept
            and d.kind == "entry"
            and isinstance(accept.get(d.subject), str)
            and accept[d.subject].strip()
        ):
            d.accepted = accept[d.subject].strip()
    return out.items


# ------------------------------------------------------------------ tasks


def _compare_task(out: _Out, name: str, rt: dict, gen: Generated, loc: Locations, runtime: dict) -> None:
    """One Celery task against what rewrite generated for it: its registry entry and twin, queue,
    registration, options and Task-class hooks, in that order."""
    where = loc.task(name, rt.get("module"))
    if "error" in rt:
        out.add(
            UNREADABLE,
            "task",
            name,
            "task",
            rt["error"],
            None,
            where,
            f"task {name!r}: the running app's task could not be read ({rt['error']})",
        )
        return
    g = gen.tasks.get(name)
    twin = gen.twins.get(name)
    if g is None and twin is None:
        out.add(
            TASK_MISSING,
            "task",
            name,
            "task",
            name,
            None,
            where,
            f"Celery registers task {name!r} ({rt.get('module')}.{rt.get('function')}, base {rt.get('base')}, "
            f"dispatched to queue {(rt.get('route') or {}).get('queue')!r}), but rewrite generated no SAQ twin and "
            "no registry entry for it: its dispatches cannot move to SAQ",
            gen.registry_file,
            None,
        )
        return
    _compare_task_halves(out, name, gen, g, twin, where)
    _compare_task_queue(out, name, rt, gen, g, where)
    if g is not None:
        _compare_task_registration(out, name, rt, gen, g, where)
    _compare_task_options(out, name, rt, gen, g, twin, where, loc, runtime)
    if g is not None:
        _compare_unsupported_options(out, name, rt, gen, g, where)
    if twin is not None:
        _compare_task_hooks(out, name, rt, twin, where)


def _compare_task_halves(
    out: _Out, name: str, gen: Generated, g: GenTask | None, twin: GenTwin | None, where: tuple
) -> None:
    """A task needs both a registry entry (for the router) and a twin (for the worker); one may be missing."""
    if g is None and twin is not None:
        out.add(
            TASK_MISSING,
            "task",
            name,
            "registry",
            name,
            None,
            where,
            f"task {name!r} has a twin ({twin.file}) but no entry in the generated registry: the router cannot "
            "send it to SAQ",
            gen.registry_file,
            None,
        )
    if twin is None:
        out.add(
            REGISTRATION,
            "task",
            name,
            "twin",
            name,
            None,
            where,
            f"the registry lists task {name!r} but no twin module defines @saq_task({name!r}, ...)",
            gen.registry_file,
            g.line if g else None,
        )


def _celery_queue(rt: dict) -> Any:
    """The queue Celery's router sends a task or beat entry to, or what the router raised."""
    route = rt.get("route") or {}
    return route.get("queue") if not route.get("error") else f"<router raises {route['error']}>"


def _compare_task_queue(out: _Out, name: str, rt: dict, gen: Generated, g: GenTask | None, where: tuple) -> None:
    """The registry routes the task to Celery's queue, and a worker serving that queue registers it."""
    rt_queue = (rt.get("route") or {}).get("queue")
    celery_q = _celery_queue(rt)
    serving = gen.queues_serving(name)
    if g is not None and not _same(celery_q, g.queue):
        out.add(
            QUEUE,
            "task",
            name,
            "queue",
            celery_q,
            g.queue,
            where,
            f"task {name!r}: Celery dispatches it to queue {celery_q!r}, the generated registry routes it to "
            f"{g.queue!r}"
            + (" and registers it in that queue's worker" if g.queue in {q.name for q in serving} else ""),
            gen.registry_file,
            g.line,
        )
    registry_says_it = g is not None and not _same(celery_q, g.queue) and g.queue in {q.name for q in serving}
    if (
        isinstance(rt_queue, str) and serving and rt_queue not in {q.name for q in serving} and not registry_says_it
    ):  # one finding when the registry and its worker agree with each other
        q = serving[0]
        out.add(
            QUEUE,
            "task",
            name,
            "worker queue",
            rt_queue,
            sorted(str(s.name) for s in serving),
            where,
            f"task {name!r}: Celery dispatches it to queue {rt_queue!r}, but the generated SAQ worker that "
            f"registers it serves {', '.join(repr(s.name) for s in serving)}",
            q.file,
            None,
        )
    elif not serving:
        out.add(
            REGISTRATION,
            "task",
            name,
            "worker functions",
            name,
            None,
            where,
            f"task {name!r}: no generated worker settings module registers it in FUNCTIONS, so no SAQ "
            "worker can run it",
            gen.registry_file,
            g.line if g else None,
        )


def _compare_task_registration(out: _Out, name: str, rt: dict, gen: Generated, g: GenTask, where: tuple) -> None:
    """The registry's SAQ function name is one a worker registers, and its parameter order is Celery's."""
    if (
        g.saq_function is not None
        and g.saq_function != name
        and g.saq_function not in {n for q in gen.queues for n in q.functions}
    ):
        out.add(
            REGISTRATION,
            "task",
            name,
            "saq_function",
            name,
            g.saq_function,
            where,
            f"task {name!r}: the registry sends it to SAQ function {g.saq_function!r}, which no worker registers",
            gen.registry_file,
            g.line,
        )
    rt_params = [
        p["name"] for p in rt.get("params") or [] if p.get("kind") in ("positional", "positional_only", "keyword_only")
    ]
    if rt.get("params") is not None and rt_params != list(g.params):
        out.add(
            REGISTRATION,
            "task",
            name,
            "params",
            rt_params,
            list(g.params),
            where,
            f"task {name!r}: the Celery signature takes {rt_params}, the registry maps positional arguments "
            f"to {list(g.params)}",
            gen.registry_file,
            g.line,
        )


def _compare_task_options(
    out: _Out,
    name: str,
    rt: dict,
    gen: Generated,
    g: GenTask | None,
    twin: GenTwin | None,
    where: tuple,
    loc: Locations,
    runtime: dict,
) -> None:
    """Celery's run-time options through rewrite's translation, against the registry's job kwargs and the
    twin's TaskOptions (its exception classes as resolved at run time included)."""
    expected = _translated_options(out, name, rt, where, loc, runtime)
    if expected is None:
        return
    if g is not None:
        _compare_job_options(out, name, expected.job_kwargs(), gen, g, where)
    if twin is not None:
        _compare_twin_options(out, name, expected.task, twin, where)
        _compare_exceptions(out, name, rt, twin, where, runtime)


def _translated_options(out: _Out, name: str, rt: dict, where: tuple, loc: Locations, runtime: dict) -> Any:
    """The task's run-time options translated as rewrite does (a ``JobOptions``), or None (SM713) when the
    translator rejects them."""
    try:
        return expected_options(
            rt, self_retry=bool(loc.self_retry.get(name)), result_expires=runtime.get("result_expires")
        )
    except Exception as exc:  # noqa: BLE001 - a value the translator rejects is itself a finding
        out.add(
            UNREADABLE,
            "task",
            name,
            "options",
            rt.get("options"),
            None,
            where,
            f"task {name!r}: its run-time options could not be translated ({type(exc).__name__}: {exc})",
        )
        return None


def _compare_job_options(out: _Out, name: str, job: dict, gen: Generated, g: GenTask, where: tuple) -> None:
    """Every SAQ job option: the translation's against the registry's."""
    for key in sorted(set(job) | set(g.job)):
        if not _same(job.get(key), g.job.get(key)):
            out.add(
                OPTION,
                "task",
                name,
                f"job.{key}",
                job.get(key),
                g.job.get(key),
                where,
                f"task {name!r}: SAQ job option {key} should be {_show(job.get(key))} (the translation "
                f"of Celery's run-time options), the registry has {_show(g.job.get(key))}",
                gen.registry_file,
                g.line,
            )


def _compare_twin_options(out: _Out, name: str, exp: Any, twin: GenTwin, where: tuple) -> None:
    """Every compared TaskOptions field (OPTION_FIELDS): the translation's against the twin's."""
    given = _generated_task_options(twin)
    for key in OPTION_FIELDS:
        want = getattr(exp, key)
        if not _same(want, given.get(key)):
            out.add(
                OPTION,
                "task",
                name,
                f"TaskOptions.{key}",
                want,
                given.get(key),
                where,
                f"task {name!r}: TaskOptions({key}=...) should be {_show(want)} (the translation of "
                f"Celery's run-time options), the twin has {_show(given.get(key))}",
                twin.file,
                twin.line,
            )


def _compare_unsupported_options(out: _Out, name: str, rt: dict, gen: Generated, g: GenTask, where: tuple) -> None:
    """Options SAQ cannot honour that Celery runs the task with are listed as unsupported in the registry."""
    rt_opts = rt.get("options") or {}
    lost = [k for k in UNSUPPORTED_OPTIONS if rt_opts.get(k) not in (None, 0, "", False) and k not in g.unsupported]
    if lost:
        out.add(
            OPTION,
            "task",
            name,
            "unsupported",
            {k: rt_opts[k] for k in lost},
            list(g.unsupported),
            where,
            f"task {name!r}: Celery runs it with {', '.join(f'{k}={rt_opts[k]!r}' for k in lost)}, which SAQ "
            "cannot honour, and the generated registry does not list it as unsupported (no warning was given)",
            gen.registry_file,
            g.line,
        )


def _compare_task_hooks(out: _Out, name: str, rt: dict, twin: GenTwin, where: tuple) -> None:
    """The hooks the task's Task class overrides are ones the twin is marked as handling."""
    hooks = rt.get("hooks") or {}
    missing = sorted(h for h in hooks if h not in twin.hooks_handled)
    if missing:
        out.add(
            HOOKS,
            "task",
            name,
            "hooks",
            {h: hooks[h] for h in missing},
            sorted(twin.hooks_handled),
            where,
            f"task {name!r}: its Task class {rt.get('base')} overrides {', '.join(missing)}, which the SAQ twin "
            "does not run (port them to worker before_process/after_process hooks, then mark the twin "
            f"'# saqmigrate: hooks-handled[{', '.join(missing)}]')",
            twin.file,
            twin.line,
        )


def _compare_exceptions(out: _Out, name: str, rt: dict, twin, where: tuple, runtime: dict) -> None:
    module = twin.options.get("module")
    module = module if isinstance(module, str) else None
    resolved = _resolved(runtime.get("resolved"), module)
    for key in ("autoretry_for", "dont_autoretry_for"):
        celery = [n for n in (rt.get("options") or {}).get(key) or [] if isinstance(n, str)]
        names = twin.options.get(key) or ()
        if not isinstance(names, (list, tuple)):
            out.add(
                EXCEPTION,
                "task",
                name,
                key,
                celery,
                names,
                where,
                f"task {name!r}: TaskOptions({key}=...) is not a literal tuple of names",
                twin.file,
                twin.line,
            )
            continue
        got, shown = [], []
        for n in names:
            r = resolved.get(n)
            if isinstance(r, str):
                got.append(r)
                shown.append(n if r == n else f"{n} -> {r}")
            else:
                err = r.get("error") if isinstance(r, dict) else "not resolved"
                got.append(f"<unresolved {n}>")
                shown.append(f"{n} -> {err}")
        if sorted(set(celery)) != sorted(set(got)):
            out.add(
                EXCEPTION,
                "task",
                name,
                key,
                sorted(set(celery)),
                shown,
                where,
                f"task {name!r}: Celery's {key} is ({', '.join(sorted(set(celery))) or 'none'}); the twin's names "
                f"resolve to ({', '.join(shown) or 'none'}) as saqmigrate's runtime resolves them, so "
                "different exceptions would be retried",
                twin.file,
                twin.line,
            )


# ------------------------------------------------------------------ beat


def _compare_timezone(out: _Out, runtime: dict, gen: Generated, loc: Locations) -> str:
    tzinfo = runtime.get("timezone") or {}
    rt_tz = tzinfo.get("effective") or "UTC"
    gen_tzs = sorted(
        {q.cron_tz for q in gen.queues if q.cron_tz}
        | {c.cron_tz for c in gen.crons.values() if isinstance(c.cron_tz, str)}
    )
    if gen.crons or any(q.cron_tz for q in gen.queues):
        wrong = [t for t in gen_tzs if t != rt_tz]
        if wrong:
            files = sorted({q.file for q in gen.queues if q.cron_tz in wrong})
            out.add(
                TIMEZONE,
                "app",
                "timezone",
                "timezone",
                rt_tz,
                wrong[0] if len(wrong) == 1 else wrong,
                loc.beat_file or loc.app,
                f"Celery evaluates crontabs in {rt_tz} (timezone={tzinfo.get('timezone')!r}, "
                f"enable_utc={tzinfo.get('enable_utc')}), the generated workers use cron_tz "
                f"{', '.join(wrong)}: every cron fires at other instants (the schedule proofs below use {rt_tz})",
                files[0] if files else None,
                None,
            )
    return rt_tz


def _task_run_by(gen: Generated, c) -> str | None:
    if c.target is None:
        return None
    return gen.twin_functions.get(tuple(c.target))


def _compare_entry(out: _Out, entry: str, rt: dict, gen: Generated, loc: Locations, rt_tasks: dict, tz: str) -> None:
    """One Celery beat entry against its CronJob and registry schedule: the task it runs, its queue, its
    arguments and its schedule, in that order."""
    where = loc.entry(entry, rt.get("task"))
    if "error" in rt:
        out.add(
            UNREADABLE,
            "entry",
            entry,
            "entry",
            rt["error"],
            None,
            where,
            f"beat entry {entry!r} could not be read ({rt['error']})",
        )
        return
    s = gen.schedules.get(entry)
    c = gen.crons.get(entry)
    sched = rt.get("schedule") or {}
    if s is None and c is None:
        out.add(
            ENTRY_MISSING,
            "entry",
            entry,
            "entry",
            _schedule_text(sched),
            None,
            where,
            f"Celery beat runs entry {entry!r} ({rt.get('task')}, {_schedule_text(sched)}), but rewrite generated "
            "no CronJob and no registry schedule for it: it would stop running under SAQ",
            gen.registry_file,
            None,
        )
        return
    if c is None:
        out.add(
            ENTRY_MISSING,
            "entry",
            entry,
            "CronJob",
            _schedule_text(sched),
            None,
            where,
            f"beat entry {entry!r} is in the generated registry but no worker settings module has its CronJob",
            gen.registry_file,
            s.get("line"),
        )
    generated_at = (c.file, c.line) if c else (gen.registry_file, s.get("line"))
    _compare_entry_task(out, entry, rt, gen, s, c, where, generated_at)
    _compare_entry_queue(out, entry, rt, gen, s, c, where)
    if c is not None:
        _compare_entry_arguments(out, entry, rt, rt_tasks, c, where)
    _compare_entry_schedule(out, entry, sched, s, c, tz, where, generated_at)


def _compare_entry_task(
    out: _Out,
    entry: str,
    rt: dict,
    gen: Generated,
    s: dict | None,
    c: GenCron | None,
    where: tuple,
    generated_at: tuple,
) -> None:
    """The registry schedule and the CronJob run the task Celery beat sends, and the running app registers it."""
    rt_task = rt.get("task")
    if s is not None and s.get("task") != rt_task:
        out.add(
            ENTRY_TASK,
            "entry",
            entry,
            "task",
            rt_task,
            s.get("task"),
            where,
            f"beat entry {entry!r}: Celery runs task {rt_task!r}, the generated registry says {s.get('task')!r}",
            gen.registry_file,
            s.get("line"),
        )
    if c is not None:
        runs = _task_run_by(gen, c)
        if runs is not None and runs != rt_task:
            out.add(
                ENTRY_TASK,
                "entry",
                entry,
                "CronJob function",
                rt_task,
                runs,
                where,
                f"beat entry {entry!r}: Celery runs task {rt_task!r}, the generated CronJob runs the twin of {runs!r}",
                c.file,
                c.line,
            )
    if not rt.get("registered"):
        out.add(
            ENTRY_TASK,
            "entry",
            entry,
            "task",
            rt_task,
            None,
            where,
            f"beat entry {entry!r} names task {rt_task!r}, which the running app does not register: Celery beat "
            "sends it, and no worker runs it",
            *generated_at,
        )


def _compare_entry_queue(
    out: _Out, entry: str, rt: dict, gen: Generated, s: dict | None, c: GenCron | None, where: tuple
) -> None:
    """The registry schedule names the queue Celery sends the entry to, and its CronJob is in that queue's
    worker (one finding when the two agree with each other)."""
    celery_q = _celery_queue(rt)
    if s is not None and "queue" in s and not _same(celery_q, s.get("queue")):
        out.add(
            QUEUE,
            "entry",
            entry,
            "queue",
            celery_q,
            s.get("queue"),
            where,
            f"beat entry {entry!r}: Celery sends it to queue {celery_q!r}, the generated registry says "
            f"{s.get('queue')!r}"
            + (
                " and puts its CronJob in that queue's worker"
                if c is not None and _same(s.get("queue"), c.queue)
                else ""
            ),
            gen.registry_file,
            s.get("line"),
        )
    if c is not None and not _same(celery_q, c.queue) and not (s is not None and _same(s.get("queue"), c.queue)):
        out.add(
            QUEUE,
            "entry",
            entry,
            "worker queue",
            celery_q,
            c.queue,
            where,
            f"beat entry {entry!r}: Celery sends it to queue {celery_q!r}, its CronJob is in the worker for queue "
            f"{c.queue!r}",
            c.file,
            c.line,
        )


def _compare_entry_arguments(out: _Out, entry: str, rt: dict, rt_tasks: dict, c: GenCron, where: tuple) -> None:
    """The CronJob passes the keyword arguments Celery beat calls the task with (positional ones named)."""
    rt_task = rt.get("task")
    task = rt_tasks.get(rt_task) if isinstance(rt_task, str) else None
    want, problem = _entry_kwargs(rt, task)
    if problem:
        out.add(
            ENTRY_ARGS,
            "entry",
            entry,
            "kwargs",
            {"args": rt.get("args"), "kwargs": rt.get("kwargs")},
            c.kwargs,
            where,
            f"beat entry {entry!r}: {problem}",
            c.file,
            c.line,
        )
    elif not _same(want, c.kwargs or {}):
        out.add(
            ENTRY_ARGS,
            "entry",
            entry,
            "kwargs",
            want,
            c.kwargs or {},
            where,
            f"beat entry {entry!r}: Celery calls the task with {want!r}, the CronJob passes {c.kwargs or {}!r}",
            c.file,
            c.line,
        )


def _compare_entry_schedule(
    out: _Out,
    entry: str,
    sched: dict,
    s: dict | None,
    c: GenCron | None,
    tz: str,
    where: tuple,
    generated_at: tuple,
) -> None:
    """The generated cron or interval fires when Celery's schedule does over the proof year (``_prove``)."""
    cron = c.cron if c is not None else (s or {}).get("cron")
    interval = c.interval if c is not None else (s or {}).get("interval")
    guard = c.guard if c is not None else None
    verdict = _prove(sched, cron, interval, guard, tz)
    if verdict is not None:
        out.add(
            SCHEDULE,
            "entry",
            entry,
            "schedule",
            _schedule_text(sched),
            cron if cron else (f"every {interval:g} s" if isinstance(interval, (int, float)) else None),
            where,
            f"beat entry {entry!r}: {verdict}",
            *generated_at,
        )


def _entry_kwargs(rt: dict, task: dict | None) -> tuple[dict, str | None]:
    args, kwargs = rt.get("args") or [], rt.get("kwargs") or {}
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return {}, f"its args/kwargs are not plain data ({args!r}, {kwargs!r}); compare them by hand"
    out: dict = {}
    if args:
        if task is None:
            return {}, "its positional args cannot be named: the task is not registered"
        positional = [p["name"] for p in task.get("params") or [] if p.get("kind") in ("positional", "positional_only")]
        if len(args) > len(positional):
            return {}, f"Celery passes {len(args)} positional args to a task taking {len(positional)}"
        out.update(zip(positional, args))
    out.update(kwargs)
    return out, None


def _schedule_text(sched: dict) -> str:
    kind = sched.get("kind")
    if kind == "crontab":
        f = sched.get("fields") or {}
        return (
            "crontab("
            + ", ".join(
                f"{k}={f[k]!r}"
                for k in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
                if f.get(k) not in (None, "*")
            )
            + ")"
        )
    if kind == "interval":
        return f"every {sched.get('seconds'):g} s" + (" (relative)" if sched.get("relative") else "")
    if kind == "solar":
        return f"solar({sched.get('event')!r}, {sched.get('lat')}, {sched.get('lon')})"
    return sched.get("repr") or str(kind)


def _prove(sched: dict, cron: Any, interval: Any, guard: Any, tz: str) -> str | None:
    """None when the generated schedule fires when Celery's does over the proof year, else why not."""
    from saqmigrate.translate import proof

    kind = sched.get("kind")
    if kind == "crontab":
        if not isinstance(cron, str):
            return f"Celery fires on {_schedule_text(sched)}; the generated job has no cron"
        try:
            res = proof.prove_crontab(
                dict(sched.get("fields") or {}), cron, guard if isinstance(guard, dict) else None, tz=tz
            )
        except Exception as exc:  # noqa: BLE001 - a cron that cannot be evaluated is a difference
            return f"the generated cron {cron!r} cannot be evaluated ({type(exc).__name__}: {exc})"
        if res.exact:
            return None
        pairs = "; ".join(f"Celery {a or '—'} vs SAQ {b or '—'}" for a, b in res.differences[:3])
        return (
            f"the generated cron {cron!r} does not fire when Celery's {_schedule_text(sched)} does in {tz}: first "
            f"differences {pairs} (Celery {res.celery_fires} runs/yr, SAQ {res.saq_fires})"
        )
    if kind == "interval":
        seconds = sched.get("seconds")
        if isinstance(interval, (int, float)) and not isinstance(interval, bool):
            if float(interval) == float(seconds):
                return None
            return f"Celery runs it every {seconds:g} s, the generated self-rescheduling job every {interval:g} s"
        if not isinstance(cron, str):
            return f"Celery runs it every {seconds:g} s; the generated job has neither a cron nor an interval"
        try:
            res = proof.prove_interval(float(seconds), cron=cron, relative=bool(sched.get("relative")), tz=tz)
        except Exception as exc:  # noqa: BLE001
            return f"the generated cron {cron!r} cannot be evaluated ({type(exc).__name__}: {exc})"
        if res.exact:
            return None
        gaps = ", ".join(f"{g:g} s ×{n}" for g, n in res.saq_gaps[:4])
        return f"Celery runs it every {seconds:g} s; the generated cron {cron!r} runs with gaps {gaps} in {tz}"
    return (
        f"its Celery schedule {_schedule_text(sched)} ({kind}) cannot be proven equal to any cron; the generated "
        f"job runs {cron or interval!r}"
    )
