"""Render a RewritePlan as Python source: twin modules, worker settings, registry, routing.

Pure string building, deterministic (sorted, no timestamps), so a second run produces the
same bytes and ``rewrite --check`` / ``check`` can detect drift.
"""

from __future__ import annotations

import math
import pprint
import textwrap
from contextvars import ContextVar
from typing import Any

from saqmigrate.emit.style import fit_lines
from saqmigrate.markers import FINALIZED as FINALIZED_MARKER
from saqmigrate.markers import GENERATED as MARKER
from saqmigrate.plan import CronEntry, QueuePlan, RewritePlan, Twin, TwinModule

NATIVE_MARKER_PREFIX = "# saqmigrate: written with rewrite --mode native"  # what rewrite looks for
NATIVE_MARKER = NATIVE_MARKER_PREFIX + " (plain `rewrite` keeps it)"  # within flake8's 79 columns


def inert(text: object, *, docstring: bool = False) -> str:
    """User text (a task, entry, queue, module or file name) made safe for a comment or a docstring.

    Names are data: they reach generated code as ``repr()`` literals, or through this function, which
    keeps printable characters and escapes everything that could end a comment or hide code from a
    reviewer: line breaks of every kind, NUL and other controls, bidi and other format characters.
    In a docstring, backslashes and double quotes are escaped too (``\\x22``), so the text reads back
    as it was and cannot close the string.
    """
    out = []
    for ch in str(text):
        if docstring and ch == "\\":
            out.append("\\\\")
        elif docstring and ch == '"':
            out.append("\\x22")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)


_WIDTH: ContextVar[int] = ContextVar("saqmigrate_generate_width", default=88)  # the project's line length


def _wrap(text: str, indent: str = "") -> str:
    """Docstring text wrapped at the project's line length (paragraphs kept)."""
    width = max(40, _WIDTH.get() - len(indent))
    paragraphs = text.split("\n\n")
    return "\n\n".join(
        "\n".join(
            textwrap.wrap(p, width, break_long_words=False, break_on_hyphens=False)
            if "\n    " not in p
            else p.splitlines()
        )
        for p in paragraphs
    )


def _comment(text: str, indent: str = "", *, hang: bool = True) -> str:
    """The whole of ``text`` as a comment within the project's line length: wrapped at words over as many
    lines as it needs (continuation lines indented two more when ``hang``: one item of a list), never cut.
    A word longer than the line (a dotted name) stays whole on its own line."""
    lead = text[: len(text) - len(text.lstrip(" "))]
    lines = textwrap.wrap(
        text.strip(" "),
        max(20, _WIDTH.get() - len(indent)),
        initial_indent=f"# {lead}",
        subsequent_indent=f"# {lead}  " if hang else f"# {lead}",
        break_long_words=False,
        break_on_hyphens=False,
    ) or ["#"]
    return "\n".join(indent + line for line in lines)


def _header(doc: str, regenerate_from: str) -> str:
    text = (
        f"{doc}\n\n{MARKER.lstrip('# ')}. Do not edit: change {regenerate_from} and run "
        "`saqmigrate rewrite --write` again (`saqmigrate check` fails when this file drifts)."
    )
    return f'"""{_wrap(text, "   ")}\n"""\n\n{MARKER}\n'


def _pyrepr(value: Any, indent: int = 0) -> str:
    """Deterministic, reviewable literal: one key per line for nested dicts, sorted keys."""
    pad = "    " * (indent + 1)
    if isinstance(value, dict) and value and (indent == 0 or any(isinstance(v, dict) for v in value.values())):
        items = [f"{pad}{k!r}: {_pyrepr(v, indent + 1)}," for k, v in sorted(value.items())]
        return "{\n" + "\n".join(items) + "\n" + "    " * indent + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_pyrepr(v, indent + 1)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_pyrepr(v, indent + 1) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return pprint.pformat(value)


def _todo_text(code: str, message: str) -> str:
    first = message.split("; ")[0].split(" (")[0]
    return f"TODO(saqmigrate {code}): {inert(first)} (saqmigrate rule {code})"


def _todo_lines(tw: Twin, shared: set[tuple[str, str]] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """One ``# TODO(saqmigrate SMxxx)`` per option finding a reviewer must act on (``saqmigrate rule SMxxx``
    explains it); the ones every twin of the module shares are said once at the top (``shared``)."""
    return [
        _comment(_todo_text(code, message))
        for code, message in tw.todos
        if _todo_text(code, message) not in {_todo_text(c, m) for c, m in shared}
    ]


def _live_lines(tw: Twin) -> list[str]:
    live = tw.task.features.get("live") or {}
    if not live:
        return []
    values = ", ".join(f"{k}={v!r}" for k, v in sorted(live.items()))
    return [_comment(f"resolved at run time by `saqmigrate rewrite --live` (that environment): {inert(values)}")]


def twin_source(tw: Twin, shared: set[tuple[str, str]] = frozenset()) -> list[str]:  # type: ignore[assignment]
    t = tw.task
    if tw.native_code:
        code = _port_body(tw.native_code).replace("async def __port__(", f"async def {tw.function}(", 1).rstrip("\n")
        return [
            "",
            "",
            _comment(f"native port of {inert(t.name)} ({inert(t.file)}); the Celery task keeps its own body"),
            *_todo_lines(tw, shared),
            f"@saq_task({t.name!r}, {tw.options_source})",
            *code.splitlines(),
        ]
    posonly = [p for p in t.params if p.kind == "positional_only"]  # passed by position (given_positional)
    params = [p for p in t.params if p.kind in ("positional", "keyword_only")]
    var_kw = next((p.name for p in t.params if p.kind == "var_keyword"), None)
    names = {p.name for p in t.params}
    ctx = next(
        c for c in ("ctx", "saq_ctx", "_saq_ctx", "__saq_ctx") if c not in names
    )  # a task parameter may be `ctx`
    sig = [ctx]
    if posonly or params:
        sig.append("*")
        for p in posonly + params:
            sig.append(f"{p.name}=UNSET" if p.has_default else p.name)
    if var_kw:
        sig.append(f"**{var_kw}")
    call_args = []
    if t.bind:
        call_args.append(f"task_self({ctx})")
    if posonly:
        call_args.append(f"*given_positional({', '.join(f'{p.name}={p.name}' for p in posonly)})")
    given = ", ".join(f"{p.name}={p.name}" for p in params)
    if params:
        call_args.append(f"**given({given})")
    if var_kw:
        call_args.append(f"**{var_kw}")
    impl = f"celery_impl(_celery.{t.function})"
    if t.is_async:
        body = f"return await {impl}({', '.join(call_args)})"
    else:
        body = f"return await run_sync({', '.join([impl] + call_args)})"
    how = "on the event loop" if t.is_async else "in a worker thread"
    doc = _wrap(
        f"SAQ twin of {inert(t.name, docstring=True)} ({inert(t.file, docstring=True)}): runs the Celery "
        f"implementation {how}.",
        "       ",
    ).replace("\n", "\n    ")
    lines = [
        "",
        "",
        *_todo_lines(tw, shared),
        *_live_lines(tw),
        f"@saq_task({t.name!r}, {tw.options_source})",
        f"async def {tw.function}({', '.join(sig)}):",
        f'    """{doc}{chr(10) + "    " if chr(10) in doc else ""}"""',
        f"    {body}",
    ]
    return lines


def _port_body(native_code: str) -> str:
    """A native port is ``async def __port__(...)``, after the module-level imports it needs (httpx ...)."""
    return "async def __port__(" + native_code.partition("async def __port__(")[2]


def _port_imports(native_code: str) -> list[str]:
    return [line for line in native_code.partition("async def __port__(")[0].splitlines() if line.strip()]


def twin_module_source(m: TwinModule) -> str:
    out = [
        _header(
            f"SAQ twins of the Celery tasks in {inert(m.module, docstring=True)}.", inert(m.source_rel, docstring=True)
        )
    ]
    if any(tw.mode == "native" for tw in m.twins):
        out.append(NATIVE_MARKER + "\n")
    out.append("from __future__ import annotations\n")
    if any(tw.native_code and "asyncio." in tw.native_code for tw in m.twins):
        out.append("import asyncio\n")
    hoisted = sorted({line for tw in m.twins if tw.native_code for line in _port_imports(tw.native_code)})
    if hoisted:  # imported when the worker starts, not by a job on the event loop
        out.append("\n".join(hoisted) + "\n")
    uses = {"saq_task", "TaskOptions"}
    bridged = [tw for tw in m.twins if not tw.native_code]
    if bridged:
        uses.add("celery_impl")
    if any(not tw.task.is_async for tw in bridged):
        uses.add("run_sync")
    if any(tw.task.bind for tw in m.twins):
        uses.add("task_self")
    out.append(f"from saqmigrate.runtime.task import {', '.join(sorted(uses))}")
    twin_names = []
    if any(
        any(p.kind in ("positional", "keyword_only", "positional_only") and p.has_default for p in tw.task.params)
        for tw in bridged
    ):
        twin_names.append("UNSET")
    if any(any(p.kind in ("positional", "keyword_only") for p in tw.task.params) for tw in bridged):
        twin_names.append("given")
    if any(any(p.kind == "positional_only" for p in tw.task.params) for tw in bridged):
        twin_names.append("given_positional")
    if twin_names:
        out.append(f"from saqmigrate.runtime.twin import {', '.join(twin_names)}")
    out.append("")
    pkg, _, leaf = m.module.rpartition(".")
    if bridged or any("_celery." in (tw.native_code or "") for tw in m.twins):  # else it would be unused
        out.append(f"from {pkg} import {leaf} as _celery" if pkg else f"import {leaf} as _celery")
    counts: dict[tuple[str, str], int] = {}
    for tw in m.twins:
        for todo in dict.fromkeys((c, _todo_text(c, msg)) for c, msg in tw.todos):
            counts[todo] = counts.get(todo, 0) + 1
    shared = {(code, text) for (code, text), n in counts.items() if n > 1}
    body = []
    if shared:
        body.append("")  # one blank line: where black and ruff format agree after imports
        body.append(_comment(f"Notes for {sum(1 for tw in m.twins if tw.todos)} twins below:"))
        for code, text in sorted(shared):
            body.append(_comment(text))
    shared_pairs = {(c, msg) for tw in m.twins for c, msg in tw.todos if (c, _todo_text(c, msg)) in shared}
    for tw in m.twins:
        body.extend(twin_source(tw, shared_pairs))
    return "\n".join(out) + "\n" + "\n".join(body) + "\n"


def _finalized_header(doc: str) -> str:
    text = f"{doc}\n\n{FINALIZED_MARKER.lstrip('# ')}: this file is the project's own now."
    return f'"""{_wrap(text, "   ")}\n"""\n\n{FINALIZED_MARKER}\n'


def queue_module_source(
    plan: RewritePlan, q: QueuePlan, *, finalized: bool = False, renames: dict[str, str] | None = None
) -> str:
    """``finalized``: the settings ``saqmigrate finalize`` leaves: the task modules' ``@saq_job`` functions,
    no Celery app, no registry, CronJobs that always fire (no Celery beat to share them with)."""
    crons = [c for c in q.crons if c.interval is None]
    intervals = [c for c in q.crons if c.interval is not None]
    out = [_queue_module_header(q, finalized=finalized)]
    out.extend(_queue_module_setup(plan, q, finalized=finalized))
    aliases, imports = _task_module_imports(plan, q, finalized=finalized)
    out.extend(imports)
    out.extend(_functions_lines(q, aliases, renames or {}, finalized=finalized))
    if crons:
        out.extend(_cron_jobs_lines(plan, crons, aliases, finalized=finalized))
    if intervals:
        out.extend(_interval_jobs_lines(intervals, aliases, finalized=finalized))
    if not finalized:  # finalize refuses while a beat entry has no CronJob (SM806)
        out.extend(_skipped_beat_lines([b for b in plan.skipped_beat if b.queue == q.name]))
    out.extend(_worker_settings_lines(plan, q, crons=bool(crons), intervals=bool(intervals), finalized=finalized))
    return "\n".join(out) + "\n"


def _queue_module_header(q: QueuePlan, *, finalized: bool) -> str:
    """The module docstring (how to start the worker) and its marker: generated, or the project's own."""
    if finalized:
        doc = (
            f"SAQ worker settings for the queue {inert(repr(q.name), docstring=True)}.\n\n"
            f"Start a worker: saq {inert(q.module, docstring=True)}.settings"
        )
        return _finalized_header(doc)
    doc = (
        f"SAQ worker settings for the Celery queue {inert(repr(q.name), docstring=True)}.\n\n"
        f"Start a worker: saq {inert(q.module, docstring=True)}.settings"
    )
    return _header(doc, "the Celery tasks and beat schedule")


def _queue_module_setup(plan: RewritePlan, q: QueuePlan, *, finalized: bool) -> list[str]:
    """The runtime imports the settings use, then Django's setup and the Celery app's creation, which must
    run before the task modules are imported."""
    out = ["from __future__ import annotations\n"]
    needs_cron = any(c.interval is None for c in q.crons)
    needs_interval = any(c.interval is not None for c in q.crons)
    helpers = (
        ["worker_settings"]
        + (["cron_function"] if needs_cron else [])
        + (["setup_django"] if plan.django else [])
        + (["IntervalJob"] if needs_interval else [])
        + (["import_celery_app"] if plan.celery_app_module and not finalized else [])
    )
    if needs_cron:
        out.append("from saq import CronJob")  # third-party like saqmigrate: one isort section (I001)
    out.append(f"from saqmigrate.runtime.worker import {', '.join(sorted(helpers))}")
    if plan.django:
        out.append("")
        out.append(_comment("a Django project: configure it before the task modules import models"))
        out.append(f"setup_django({plan.django_settings!r})" if plan.django_settings else "setup_django()")
        out.append("")
    if plan.celery_app_module and not finalized:
        if not plan.django:
            out.append("")
        out.append(_comment("create the Celery app as `celery -A` does (SAQMIGRATE_CELERY_APP overrides)"))
        out.append(f"import_celery_app({plan.celery_app_module!r})")
        out.append("")
    return out


def _task_module_imports(plan: RewritePlan, q: QueuePlan, *, finalized: bool) -> tuple[dict[str, str], list[str]]:
    """Each module whose tasks the queue runs, imported as ``_t<i>``: its twin module, or (finalized) the task
    module itself. Returns the aliases by task module and the import lines."""
    late_imports = plan.django or (bool(plan.celery_app_module) and not finalized)
    modules = sorted({tw.task.module for tw in q.twins} | {c.twin.task.module for c in q.crons if c.twin})
    aliases = {}
    lines = []
    for i, mod in enumerate(modules):
        twin_mod = mod if finalized else next(m.twin_module for m in plan.modules if m.module == mod)
        pkg, _, leaf = twin_mod.rpartition(".")
        alias = f"_t{i}"
        aliases[mod] = alias
        line = f"from {pkg} import {leaf} as {alias}" if pkg else f"import {leaf} as {alias}"
        lines.append(line + ("  # noqa: E402" if late_imports else ""))
    # in isort's order (`import x` first, then by module: `from a import b` before `from a.c import d`)
    lines.sort(key=lambda ln: (ln.startswith("from "), ln.split()[1], ln.split()[3 if ln.startswith("from ") else 1]))
    # too long with its pragma: parenthesized with the pragma on the first line, where the formatter keeps it
    lines = [fit_lines(line, _WIDTH.get()) for line in lines]
    lines.append("")
    return aliases, lines


def _saq_function_ref(tw: Twin, aliases: dict[str, str], *, finalized: bool) -> str:
    """The SAQ function of a task, in the queue's settings: its twin, or (finalized) its ``@saq_job``."""
    return (
        f"{aliases[tw.task.module]}.{tw.task.function}.saq" if finalized else f"{aliases[tw.task.module]}.{tw.function}"
    )


def _functions_lines(q: QueuePlan, aliases: dict[str, str], renames: dict[str, str], *, finalized: bool) -> list[str]:
    """``FUNCTIONS``: every task under its Celery name (and, after ``finalize --rename``, its new one)."""
    out = [
        _comment("Registered under their Celery names: every dispatch and Celery-era name", hang=False),
        _comment("keeps working.", hang=False),
        "FUNCTIONS = [",
    ]
    for tw in sorted(q.twins, key=lambda t: t.celery_name):
        ref = _saq_function_ref(tw, aliases, finalized=finalized)
        if tw.celery_name in renames:  # finalize --rename: the new name, and the Celery name for queued jobs
            out.append(f"    ({renames[tw.celery_name]!r}, {ref}),")
            out.append("    # the Celery name: jobs queued before the rename")
            out.append(f"    ({tw.celery_name!r}, {ref}),")
        else:
            out.append(f"    ({tw.celery_name!r}, {ref}),")
    out.append("]")
    out.append("")
    return out


def _cron_jobs_lines(
    plan: RewritePlan, crons: list[CronEntry], aliases: dict[str, str], *, finalized: bool
) -> list[str]:
    """``CRON_JOBS``: one CronJob per beat entry a cron expresses, each with the Celery schedule it was proven
    against."""
    out = [
        _comment("One CronJob per beat entry (each with its own unique key beat:<entry>); the cron", hang=False),
        _comment("strings are proven to fire at the same instants as Celery's schedule unless noted.", hang=False),
        "CRON_JOBS = [",
    ]
    for c in sorted(crons, key=lambda c: c.entry):
        sched = c.schedule
        out.append(
            _comment(
                f"{inert(c.entry)}"
                + (" [resolved at run time: rewrite --live]" if sched.source == "live" else "")
                + ("" if sched.exact else " [NOT EXACT: see its findings]")
                + f" ({inert(sched.file)}): {inert((sched.translation or {}).get('celery_expr', ''))}",
                "    ",
            )
        )
        args = [repr(c.entry), _saq_function_ref(c.twin, aliases, finalized=finalized)]  # type: ignore[arg-type]
        if c.kwargs:
            args.append(pprint.pformat(c.kwargs, width=1000, sort_dicts=True))
        if c.guard:
            args.append(f"guard={c.guard!r}")
        args.append(f"cron_tz={plan.timezone!r}")
        if finalized:
            args.append("shared=False")
        kw = ", ".join(f"{k}={v!r}" for k, v in sorted(c.cron_kwargs.items()))
        out.append(f"    CronJob(cron_function({', '.join(args)}), cron={c.cron!r}" + (f", {kw}" if kw else "") + "),")
    out.append("]")
    out.append("")
    return out


def _interval_jobs_lines(intervals: list[CronEntry], aliases: dict[str, str], *, finalized: bool) -> list[str]:
    """``INTERVAL_JOBS``: the beat entries whose interval no cron can express, as self-rescheduling jobs."""
    out = [
        _comment("Intervals no cron can express: self-rescheduling jobs (SM205 says how they differ)."),
        "INTERVAL_JOBS = [",
    ]
    for c in sorted(intervals, key=lambda c: c.entry):
        sched = c.schedule
        out.append(
            _comment(
                f"{inert(c.entry)} ({inert(sched.file)}): {inert((sched.translation or {}).get('celery_expr', ''))}",
                "    ",
            )
        )
        args = [
            repr(c.entry),
            _saq_function_ref(c.twin, aliases, finalized=finalized),  # type: ignore[arg-type]
            f"{c.interval:g}" if math.isfinite(c.interval) else _pyrepr(float(c.interval)),
        ]
        if c.kwargs:
            args.append(pprint.pformat(c.kwargs, width=1000, sort_dicts=True))
        args += [f"{k}={v!r}" for k, v in sorted(c.cron_kwargs.items())]
        if finalized:
            args.append("shared=False")
        out.append(f"    IntervalJob({', '.join(args)}),")
    out.append("]")
    out.append("")
    return out


def _worker_settings_lines(
    plan: RewritePlan, q: QueuePlan, *, crons: bool, intervals: bool, finalized: bool
) -> list[str]:
    """The ``settings = worker_settings(...)`` call SAQ's worker loads."""
    out = ["settings = worker_settings(", f"    {q.name!r},", "    FUNCTIONS,"]
    if crons:
        out.append("    CRON_JOBS,")
    if intervals:
        out.append("    interval_jobs=INTERVAL_JOBS,")
    if not finalized:
        out.append(f"    registry={plan.package + '.registry'!r},")
    out.append(f"    cron_tz={plan.timezone!r},")
    out.append(")")
    return out


def registry_source(plan: RewritePlan) -> str:
    doc = (
        "What the dual-routing shim needs: every Celery task's SAQ function, queue, parameter\n"
        "order and job options, and every beat entry's cron (saqmigrate.runtime.registry)."
    )
    out = [_header(doc, "the Celery tasks and beat schedule")]
    tasks = {}
    for m in plan.modules:
        for tw in m.twins:
            t = tw.task
            entry = {
                "saq_function": tw.celery_name,
                "queue": tw.queue,
                "params": [p.name for p in t.params if p.kind in ("positional", "positional_only", "keyword_only")],
                "job": tw.job,
            }
            unsupported = sorted(
                {k for k in ("soft_time_limit", "priority", "expires") if k in t.options or k in t.inherited_options}
                | set(tw.pinned)
            )
            if unsupported:
                entry["unsupported"] = unsupported
            if tw.assumes_unset:  # SM116: pinned to Celery where the process sets one of them
                entry["assumes_unset"] = tw.assumes_unset
            if tw.canvas:  # route set warns: these uses stay on Celery (docs/routing.md, canvases)
                entry["canvas"] = tw.canvas
            tasks[tw.celery_name] = entry
    schedules = {}
    for q in plan.queues:
        for c in q.crons:
            schedules[c.entry] = {"task": c.task, "cron": c.cron, "cron_function": f"beat:{c.entry}", "queue": q.name}
            if c.interval is not None:
                schedules[c.entry]["interval"] = c.interval
    queues = {q.name: q.name for q in plan.queues}
    out.append(f"TASKS = {_pyrepr(tasks)}\n")
    out.append(f"SCHEDULES = {_pyrepr(schedules)}\n")
    out.append(f"QUEUES = {_pyrepr(queues)}")
    return "\n".join(out) + "\n"


def routing_source(plan: RewritePlan) -> str:
    doc = (
        "Dual routing for the 60-day window: install(app) where the Celery app is created.\n\n"
        "Every .delay()/.apply_async()/send_task then goes to Celery or SAQ per task, as the\n"
        "flags set with `saqmigrate route` say (default: Celery); `celery beat` skips\n"
        "the entries SAQ owns, whatever scheduler it runs (default, -S, beat_scheduler)."
    )
    out = [_header(doc, "the Celery app")]
    out.append("from __future__ import annotations\n")
    out.append("import os\n")
    assert all(part.isidentifier() for part in plan.package.split(".")), plan.package  # build_plan checks it
    out.append(f'REGISTRY = "{plan.package}.registry"\n\n')
    out.append("def install(app):")
    out.append('    """Route this app\'s dispatches through saqmigrate.')
    out.append("")
    out.append("    SAQMIGRATE_ROUTING=0 in the environment turns it off.")
    out.append('    """')
    out.append('    if os.environ.get("SAQMIGRATE_ROUTING", "1") == "0":')
    out.append("        return app")
    out.append("    from saqmigrate.runtime.beat import install_ownership")
    out.append("    from saqmigrate.runtime.celery_integration import (")
    out.append("        install_routed_task_class,")
    out.append("        install_send_task_hook,")
    out.append("    )")
    out.append("    from saqmigrate.runtime.flags import FlagClient")
    out.append("    from saqmigrate.runtime.registry import Registry")
    out.append("    from saqmigrate.runtime.router import Router, set_router")
    out.append("")
    out.append("    set_router(Router(Registry.load(REGISTRY), FlagClient.with_bootstrap(), celery_app=app))")
    out.append("    # .delay()/.apply_async() ask the router; the app's own Task class is kept")
    out.append("    install_routed_task_class(app)")
    out.append("    install_ownership(app)  # beat skips the entries SAQ owns")
    out.append("    return install_send_task_hook(app)")
    return "\n".join(out) + "\n"


def _skipped_beat_lines(skipped: list) -> list[str]:
    """Beat entries with no CronJob, as comments with their rule codes (``saqmigrate rule SMxxx``)."""
    if not skipped:
        return []
    lines = [
        _comment("Beat entries with no CronJob: they keep firing on Celery beat until their findings are", hang=False)
    ]
    lines.append(_comment("resolved (saqmigrate rule <code> explains each):", hang=False))
    for b in sorted(skipped, key=lambda b: (b.file, b.line, b.entry)):
        lines.append(_comment(f"  {inert(b.entry)} ({inert(b.file)}:{b.line}): {inert(b.reason)}"))
    return lines + [""]


def package_init_source(plan: RewritePlan) -> str:
    queues = (
        "\n".join(f"    saq {inert(q.module, docstring=True)}.settings" for q in plan.queues)
        or "    (no queues: no tasks were migrated)"
    )
    doc = f"SAQ workers generated from the Celery app. Start one worker per queue:\n\n{queues}"
    orphans = _skipped_beat_lines([b for b in plan.skipped_beat if b.queue is None])
    return _header(doc, "the Celery tasks and beat schedule") + ("\n" + "\n".join(orphans) if orphans else "")


def finalized_init_source(plan: RewritePlan) -> str:
    queues = "\n".join(f"    saq {inert(q.module, docstring=True)}.settings" for q in plan.queues)
    return _finalized_header(f"SAQ workers of the project. Start one worker per queue:\n\n{queues}")


def render_finalized(plan: RewritePlan, renames: dict[str, str] | None = None) -> dict[str, str]:
    """The worker package ``saqmigrate finalize`` leaves (rel path -> content), formatted."""
    token = _WIDTH.set(plan.style.limit)
    try:
        files = {f"{plan.package_rel}/__init__.py": finalized_init_source(plan)}
        for q in plan.queues:
            files[q.rel] = queue_module_source(plan, q, finalized=True, renames=renames)
        return _formatted(files, plan)
    finally:
        _WIDTH.reset(token)


def render(plan: RewritePlan) -> dict[str, str]:
    """rel path -> content of every generated file, formatted in the project's style (black)."""
    token = _WIDTH.set(plan.style.limit)
    try:
        return _formatted(_render(plan), plan)
    finally:
        _WIDTH.reset(token)


def _formatted(files: dict[str, str], plan: RewritePlan) -> dict[str, str]:
    """Formatted in the project's style, then every line within its lint length (``# noqa: E501`` where a
    string literal cannot be wrapped): E,W,F-clean for ruff and flake8 alike."""
    from saqmigrate.emit.style import format_many

    out = format_many(files, plan.style)
    return {rel: fit_lines(text, plan.style.limit) if rel.endswith(".py") else text for rel, text in out.items()}


def live_source(plan: RewritePlan) -> str:
    doc = (
        "Run-time facts `saqmigrate rewrite --live` used where the static scan had no exact answer\n"
        "(queues from router functions, options computed at run time, beat entries built in loops or\n"
        "from the environment), read from the Celery app in the environment it ran in. Plain `rewrite`\n"
        "and `check` reuse them; run `rewrite --live` again to refresh them, delete this file to drop them."
    )
    out = [_header(doc, "the Celery app")]
    out.append(f"FACTS = {_pyrepr(plan.live)}")
    return "\n".join(out) + "\n"


def _render(plan: RewritePlan) -> dict[str, str]:
    files: dict[str, str] = {}
    for m in plan.modules:
        files[m.rel] = twin_module_source(m)
    if plan.modules or plan.queues:
        files[f"{plan.package_rel}/__init__.py"] = package_init_source(plan)
        files[f"{plan.package_rel}/registry.py"] = registry_source(plan)
        files[f"{plan.package_rel}/routing.py"] = routing_source(plan)
        if plan.live.get("tasks") or plan.live.get("beat_schedule"):
            files[f"{plan.package_rel}/live_facts.py"] = live_source(plan)
        for q in plan.queues:
            files[q.rel] = queue_module_source(plan, q)
    return files
