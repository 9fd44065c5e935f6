"""The finalize pipeline: scan -> rewrite plan -> finalize plan -> edits of the project's files -> changes.

Day 60 of the window: every task runs on SAQ, so the Celery side goes. ``compute_finalize`` is
side-effect free and compiles every Python file it would write; the CLI writes them with
``rewrite.apply_changes`` (all files or none). ``gate`` says whether it is safe to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from saqmigrate.config import Config
from saqmigrate.discover import discover, module_name, package_dirs
from saqmigrate.emit.generate import FINALIZED_MARKER, MARKER, render_finalized
from saqmigrate.emit.style import Style, same_code
from saqmigrate.markers import finalized_package
from saqmigrate.plan import RewritePlan, build_plan
from saqmigrate.plan.finalize import CELERY_PACKAGES, Blocker, FinalizePlan, build_finalize_plan
from saqmigrate.rewrite import Change, _compiles, _read, recorded_mode
from saqmigrate.transform.finalize import FileEdit, finalize_source

if TYPE_CHECKING:
    from saqmigrate.index.model import ProjectIndex


@dataclass
class FinalizeResult:
    plan: FinalizePlan | None
    changes: list[Change] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)  # SM8xx: code finalize leaves (refuses without --force)
    errors: list[str] = field(default_factory=list)  # nothing may be written
    messages: list[str] = field(default_factory=list)
    already: bool = False  # the project was finalized before


def is_finalized(root: Path, package_rel: str | None = None) -> bool:
    """The worker package carries finalize's marker (``check`` then treats Celery as gone)."""
    if package_rel is None:
        return finalized_package(root) is not None
    try:
        return FINALIZED_MARKER in (root / package_rel / "__init__.py").read_text(encoding="utf-8")[:2048]
    except (OSError, UnicodeDecodeError):
        return False


def compute_finalize(root: Path, config: Config | None = None, *, rename: bool = False) -> FinalizeResult:
    """``rename``: tasks are registered as ``module.function``; their Celery names stay as aliases."""
    from saqmigrate.scan import run_scan

    root = root.resolve()
    config = config or Config()
    index, _ = run_scan(root, config, use_cache=False)
    generated = _generated(root, index)
    mode = recorded_mode(root, generated)
    plan = build_plan(index, mode=mode)
    plan.style = Style.from_project(root)
    if mode == "native":  # the window ran rewrite --mode native's ports: they become the tasks themselves
        from saqmigrate.rewrite import RewriteResult, _port_natively

        _port_natively(root, plan, RewriteResult(plan), index)
    fp = build_finalize_plan(index, plan, rename=rename)
    result = FinalizeResult(fp, blockers=list(fp.blockers))
    if is_finalized(root, plan.package_rel):
        result.already = True
    for e in index.errors:
        result.messages.append(f"{e.file}: {e.message} (skipped)")

    disc = discover(root, exclude=config.exclude, include=config.include)
    has_init = package_dirs(disc.root, disc.files)
    worker_pkg = f"{plan.package_rel}/"
    sources = [rel for rel in disc.files if rel not in generated and not rel.startswith(worker_pkg)]
    wiring = {module_name(rel, has_init) for rel in set(generated) | set(_worker_files(root, plan))}
    wiring |= {f"{plan.package}.routing", f"{plan.package}.registry", f"{plan.package}.live_facts"}
    texts = _texts(root, sources, fp, result)
    _unreadable_files(index, texts, result)
    mocked = _mocked_dispatch(texts, fp)
    saq_functions = _saq_job_functions(texts)
    # a second run: the tasks are @saq_job functions already, and their mocked dispatches are what the first kept
    mocked_functions = {fp.jobs[n].task.function for n in mocked} | {
        obj for obj, _ in (_mock_targets(texts) if saq_functions else []) if obj in saq_functions
    }
    if saq_functions:  # `t.delay()` of a @saq_job task (kept because a test mocks it, or written since): not SM803

        def unknown_saq_dispatch(b: Blocker) -> bool:
            m = re.match(r"([\w.]+)\.(?:delay|apply_async)\(\): finalize cannot tell which task this is", b.message)
            return b.code == "SM803" and m is not None and m.group(1).rsplit(".", 1)[-1] in saq_functions

        fp.blockers = [b for b in fp.blockers if not unknown_saq_dispatch(b)]
        result.blockers = [b for b in result.blockers if not unknown_saq_dispatch(b)]
    holders = _mocked_holders(texts)
    if mocked or holders:  # a dispatch method the project's tests mock keeps its name: SaqJob.delay/apply_async
        # enqueue the same; so does a dispatch reached through a mocked object (the module holding the task)
        fp.calls = [
            c
            for c in fp.calls
            if not (
                c.job is not None
                and (
                    c.call.kind in mocked.get(c.job.task.name, ())
                    or (c.call.kind in ("delay", "apply_async") and holders & set(c.call.target.split(".")[:-1]))
                )
            )
        ]
    hooks = _beat_hooks(index, fp, texts)
    for h in hooks:
        if h.computed:  # the one difference a computed schedule can make: say it, do not hide it
            fp.notes.append(
                f"{h.file}:{h.start}: {h.function} is now @beat_hook: the schedules of "
                f"{', '.join(repr(e) for e in h.computed)} are computed when each SAQ worker starts, "
                "as when Celery beat started; with several workers on a queue, the first worker's draw is stored in SAQ's Redis "
                "(saqmigrate-beat-draw:<queue>:<name>) and every worker of the queue uses it, so the "
                "entry fires once, as under one beat; it is drawn again only when that key is deleted"
            )
    if hooks:  # their beat entries become CronJobs at worker start: not SM806 any more, and Celery may go
        fp.blockers = [b for b in fp.blockers if not (b.code == "SM806" and _in_hook(hooks, b.file, b.line))]
        result.blockers = [b for b in result.blockers if not (b.code == "SM806" and _in_hook(hooks, b.file, b.line))]
    keep_apps = False
    still_read = _still_read(texts, fp.config_namespace)
    # a Django project whose Celery app (the scan's Django signal) a first run removed is still one (attack 17 #11)
    django = fp.rewrite.django or any(_DJANGO_SETTINGS_MODULE.search(t) for t in texts.values())
    cache: dict = {}
    for _attempt in range(6):  # another pass keeps the Celery app when code finalize leaves still uses it, and
        # drops a setting whose only reader this pass removed (CELERY_B = CELERY_A: A goes too, as a 2nd run would)
        edits = _file_edits(fp, sources, has_init, plan.style.line_length, keep_apps=keep_apps, django=django)
        for rel, edit in edits.items():
            edit.wiring_modules = wiring
            edit.settings_keep = still_read
            edit.beat_hooks = {h.function for h in hooks if h.file == rel and not h.done}
            edit.mocked_tasks = mocked_functions
        changes, blockers, dangling_app, converted = _edit_sources(fp, edits, texts, cache)
        if dangling_app and not keep_apps:
            keep_apps = True
            continue
        fewer = _still_read({**texts, **{c.rel: c.new or "" for c in changes}}, fp.config_namespace) & still_read
        if fewer == still_read:
            break
        still_read = fewer
    result.changes.extend(changes)
    result.blockers = _merge_blockers(result.blockers, blockers, converted)

    _worker_package_changes(root, plan, fp, hooks, generated, result)
    _tasks_left_on_celery(plan, fp, generated, result)
    _dependency_changes(root, result)
    result.messages.extend(f"note: {n}" for n in fp.notes)
    result.changes.sort(key=lambda c: c.rel)
    _refuse_non_compiling(result)
    result.blockers.sort(key=lambda b: (b.file, b.line, b.code))
    return result


def _tasks_left_on_celery(plan: RewritePlan, fp: FinalizePlan, generated: list[str], result: FinalizeResult) -> None:
    """Tasks of the window that finalize does not convert (SM804 ...) stay on Celery. When that is every task,
    writing would only delete the window's SAQ side (twins, worker settings, registry, routing hook) and
    convert nothing: an error, which ``--force`` does not lift. When it is some, it is said by name."""
    stays = sorted({tw.celery_name for m in plan.modules for tw in m.twins} - set(fp.jobs))
    if not stays or not generated:
        return
    names = ", ".join(stays[:5]) + (f" and {len(stays) - 5} more" if len(stays) > 5 else "")
    if not fp.jobs:
        result.errors.append(
            f"nothing to convert: all {len(stays)} task(s) of the window stay on Celery ({names}; the SM80x "
            "places say why); finalize would only delete their SAQ side (twins, worker settings, registry, "
            "routing hook): resolve them first (--force does not apply to this)"
        )
    else:
        result.messages.append(
            f"note: {len(stays)} task(s) stay on Celery ({names}): with --force they run on Celery workers "
            "only, their SAQ twins go with the window's code"
        )


def _unreadable_files(index: ProjectIndex, texts: dict[str, str], result: FinalizeResult) -> None:
    """A file the scan could not parse: its Celery use is unseen, so finalize cannot convert it (SM803)."""
    for rel in (e.file for e in index.errors):
        text = texts.get(rel) or ""
        if re.search(r"\bcelery\b|\.(delay|apply_async|send_task)\(", text, re.I):
            result.blockers.append(
                Blocker(
                    "SM803",
                    rel,
                    1,
                    "the scan could not read this file (see its SM900): finalize cannot convert the Celery use in it",
                )
            )


def _worker_package_changes(
    root: Path, plan: RewritePlan, fp: FinalizePlan, hooks: list[BeatHook], generated: list[str], result: FinalizeResult
) -> None:
    """The window's generated code goes; the worker settings stay, in the project's hands. A second run (after
    --force left code on Celery) keeps the settings the first one wrote."""
    converted = _converted_plan(plan, fp, hooks)
    files = render_finalized(converted, fp.renames()) if converted.queues and not is_finalized(root) else {}
    if hooks and files:
        files = _with_beat_hooks(files, converted, hooks, result.errors)
    for rel in sorted(set(generated) | set(_worker_files(root, plan))):
        if rel not in files:
            result.changes.append(Change(rel, _read(root / rel), None))
    for rel, new in sorted(files.items()):
        old = _read(root / rel)
        if old is not None and MARKER not in old and FINALIZED_MARKER not in old:
            result.errors.append(f"{rel}: exists and was not written by saqmigrate; not overwritten (move it away)")
            continue
        if not same_code(old, new) and not (old is not None and FINALIZED_MARKER in old):
            result.changes.append(Change(rel, old, new))


def _dependency_changes(root: Path, result: FinalizeResult) -> None:
    """Requirements and package metadata lose Celery, unless code left on Celery still needs the package."""
    if result.blockers:
        result.messages.append("requirements keep celery until the places below are resolved (finalize again then)")
        return
    for rel, old, new in _requirements(root, result.messages) + _package_metadata(root):
        result.changes.append(Change(rel, old, new))
    for rel, line in _unedited_mentions(root):
        result.messages.append(
            f"{rel}:{line}: names a Celery package finalize could not remove from this line; remove it by hand"
        )


def _refuse_non_compiling(result: FinalizeResult) -> None:
    """Nothing is written when a finalized file that compiled before does not compile now."""
    for c in result.changes:
        if c.new is not None and c.rel.endswith(".py"):
            why = _compiles(c.rel, c.new)
            if why is not None and (c.old is None or _compiles(c.rel, c.old) is None):
                result.errors.append(
                    f"{c.rel}: the finalized code does not compile ({why}); nothing is written "
                    "(a saqmigrate defect: please report it with this line)"
                )


def _converted_plan(plan: RewritePlan, fp: FinalizePlan, hooks: list[BeatHook] = ()) -> RewritePlan:  # type: ignore[assignment]
    """The rewrite plan with only what finalize converts: the worker settings it writes run the @saq_job
    tasks and their CronJobs, never a task left on Celery (SM804). A beat entry of a converted beat hook
    is the hook's (built when the worker starts), not a second static CronJob."""
    import copy

    out = copy.copy(plan)
    out.queues = []
    for q in plan.queues:
        twins = [tw for tw in q.twins if tw.celery_name in fp.jobs]
        crons = [
            c
            for c in q.crons
            if c.twin is not None
            and c.twin.celery_name in fp.jobs
            and not _in_hook(hooks, c.schedule.file, c.schedule.line)
        ]
        if twins or crons:
            q2 = copy.copy(q)
            q2.twins, q2.crons = twins, crons
            out.queues.append(q2)
    return out


@dataclass
class BeatHook:
    """``@app.on_after_finalize.connect def setup_periodic_tasks(sender, **kw): sender.add_periodic_task(...)``
    that finalize turns into ``@beat_hook`` (saqmigrate.runtime.jobs): its entries become CronJobs when a
    worker starts, whatever their schedule computes (a random minute included)."""

    file: str
    module: str
    function: str
    start: int
    end: int
    queues: set[str] = field(default_factory=set)
    done: bool = False  # already @beat_hook (a second finalize): only its entries' findings go
    computed: list[str] = field(default_factory=list)  # entries whose crontab is computed (random.randint ...)


_HOOK_SIGNALS = ("on_after_finalize", "on_after_configure")


def _in_hook(hooks, file: str, line: int) -> bool:
    return any(h.file == file and h.start <= line <= h.end for h in hooks)


_MOCK_PATH = re.compile(r"""(?:\bpatch|\bsetattr)\(\s*(?:target\s*=\s*)?["']([\w.]+)["']""")
_MOCK_OBJECT = re.compile(r"""(?:\bpatch\.object|\bsetattr)\(\s*([\w.]+)\s*,\s*["'](delay|apply_async)["']""")


def _mocked_dispatch(texts: dict[str, str], fp: FinalizePlan) -> dict[str, set[str]]:
    """Celery name -> the dispatch methods (``delay``, ``apply_async``) the project's code mocks for that task:
    ``patch("app.tasks.send.delay")``, ``patch.object(send, "apply_async")``, ``monkeypatch.setattr(...)``, or
    the whole task object (``patch("app.views.send")``: then both). Their call sites keep Celery's spelling
    (a @saq_job task's ``delay``/``apply_async`` are the same enqueue), so the mocks keep intercepting and
    their assertions on the arguments keep their meaning; converted to ``enqueue`` they would not."""
    by_function: dict[str, list[str]] = {}
    for name, job in fp.jobs.items():
        by_function.setdefault(job.task.function, []).append(name)
    out: dict[str, set[str]] = {}
    for obj, methods in _mock_targets(texts):
        for name in by_function.get(obj, ()):
            out.setdefault(name, set()).update(methods)
    return out


def _mock_targets(texts: dict[str, str]) -> list[tuple[str, set[str]]]:
    """(object name, dispatch methods) of every mock of a dispatch method or of a whole object by dotted path."""
    found: list[tuple[str, set[str]]] = []
    for text in texts.values():
        if "patch" not in text and "setattr" not in text:
            continue
        for m in _MOCK_PATH.finditer(text):
            parts = m.group(1).split(".")
            if parts[-1] in ("delay", "apply_async") and len(parts) >= 2:
                found.append((parts[-2], {parts[-1]}))
            elif len(parts) >= 2:
                found.append((parts[-1], {"delay", "apply_async"}))
        for m in _MOCK_OBJECT.finditer(text):
            found.append((m.group(1).rsplit(".", 1)[-1], {m.group(2)}))
    return found


_MOCK_ATTRIBUTE = re.compile(r"""(?:\bpatch\.object|\bsetattr)\(\s*[\w.]+\s*,\s*["'](\w+)["']""")


def _mocked_holders(texts: dict[str, str]) -> set[str]:
    """Last names of every object the project's code mocks by dotted path or by attribute (``patch(
    "app.callers.tasks")``, ``patch.object(callers, "tasks")``): a dispatch ``tasks.notify.delay(...)`` reached
    through one of them goes to the mock, whose ``notify.delay`` the test asserts on; converted to
    ``.enqueue(...)`` the assertion would check a method nobody calls (attack 17 #3)."""
    out: set[str] = set()
    for text in texts.values():
        if "patch" not in text and "setattr" not in text:
            continue
        for m in _MOCK_PATH.finditer(text):
            parts = m.group(1).split(".")
            if len(parts) >= 2 and parts[-1] not in ("delay", "apply_async"):
                out.add(parts[-1])  # the object the patch replaces (dispatches through it reach the mock)
        out.update(m.group(1) for m in _MOCK_ATTRIBUTE.finditer(text))
    return out


def _saq_job_functions(texts: dict[str, str]) -> set[str]:
    """Names of the functions decorated with ``@saq_job(...)`` (a finalized task) anywhere in the project."""
    import ast

    out: set[str] = set()
    for text in texts.values():
        if "saq_job" not in text:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "saq_job"
                for d in n.decorator_list
            ):
                out.add(n.name)
    return out


def runtime_beat_hook_spans(text: str) -> list[tuple[int, int]]:
    """Line spans of the module-level functions decorated with saqmigrate.runtime.jobs' ``beat_hook`` (their
    ``sender.add_periodic_task(...)`` calls are the project's CronJobs now, not Celery beat entries)."""
    import ast

    if "beat_hook" not in text:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    names = {
        a.asname or a.name
        for n in tree.body
        if isinstance(n, ast.ImportFrom) and n.module == "saqmigrate.runtime.jobs"
        for a in n.names
        if a.name == "beat_hook"
    }
    return [
        (n.lineno, n.end_lineno or n.lineno)
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and any(isinstance(d, ast.Name) and d.id in names for d in n.decorator_list)
    ]


def _beat_hooks(index, fp: FinalizePlan, texts: dict[str, str]) -> list[BeatHook]:
    """The beat hooks finalize can carry over as they are: a module-level function connected to the
    Celery app's ``on_after_finalize``/``on_after_configure`` whose ``sender`` is used only to call
    ``sender.add_periodic_task(crontab(...), task.s(...), name="...")`` for tasks finalize converts.
    Anything else in the body (settings checks, ``random``) stays as written and runs at worker start."""
    import ast

    app_names = {v for v in ([fp.app_var] if fp.app_var else []) + [v for _, _, v in fp.other_apps]}
    sigs = {(c.file, c.line): c.task for c in index.calls if c.kind in ("s", "si") and c.task}
    out: list[BeatHook] = []
    for rel, text in texts.items():
        if "add_periodic_task" not in text:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        crontab_names = {
            a.asname or a.name
            for n in tree.body
            if isinstance(n, ast.ImportFrom) and n.module == "celery.schedules" and not n.level
            for a in n.names
            if a.name == "crontab"
        }
        defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        runtime_hook = {
            a.asname or a.name
            for n in tree.body
            if isinstance(n, ast.ImportFrom) and n.module == "saqmigrate.runtime.jobs"
            for a in n.names
            if a.name == "beat_hook"
        }
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or len(node.decorator_list) != 1 or defined.count(node.name) > 1:
                continue
            dec = node.decorator_list[0]
            if isinstance(dec, ast.Name) and dec.id in runtime_hook:
                out.append(
                    BeatHook(
                        rel,
                        module_name_of(index, rel),
                        node.name,
                        node.lineno,
                        node.end_lineno or node.lineno,
                        done=True,
                    )
                )
                continue
            if isinstance(dec, ast.Call) and not dec.args and not dec.keywords:
                dec = dec.func
            if not (
                isinstance(dec, ast.Attribute)
                and dec.attr == "connect"
                and isinstance(dec.value, ast.Attribute)
                and dec.value.attr in _HOOK_SIGNALS
                and isinstance(dec.value.value, ast.Name)
                and dec.value.value.id in app_names
            ):
                continue
            params = node.args.posonlyargs + node.args.args
            if not params:
                continue
            hook = BeatHook(rel, module_name_of(index, rel), node.name, node.lineno, node.end_lineno or node.lineno)
            if _hook_entries(node, params[0].arg, crontab_names, sigs, rel, fp, hook):
                out.append(hook)
    return out


def _hook_entries(
    node, sender: str, crontab_names: set[str], sigs: dict, rel: str, fp: FinalizePlan, hook: BeatHook
) -> bool:
    import ast

    calls = 0
    uses = [n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == sender]
    for n in ast.walk(node):
        if not (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "add_periodic_task"
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == sender
        ):
            continue
        calls += 1
        if (
            len(n.args) != 2
            or [k.arg for k in n.keywords] != ["name"]
            or not (isinstance(n.keywords[0].value, ast.Constant) and isinstance(n.keywords[0].value.value, str))
        ):
            return False
        sched, sig = n.args
        if not (
            isinstance(sched, ast.Call)
            and isinstance(sched.func, ast.Name)
            and sched.func.id in crontab_names
            and len(sched.args) <= 5
            and all(k.arg for k in sched.keywords)
        ):
            return False
        if not (
            isinstance(sig, ast.Call)
            and isinstance(sig.func, ast.Attribute)
            and sig.func.attr in ("s", "si")
            and not any(isinstance(a, ast.Starred) for a in sig.args)
            and all(k.arg for k in sig.keywords)
        ):
            return False
        job = fp.jobs.get(sigs.get((rel, sig.lineno)) or "")
        if job is None:
            return False
        hook.queues.add(job.queue)
        if not all(isinstance(v, ast.Constant) for v in [*sched.args, *(k.value for k in sched.keywords)]):
            hook.computed.append(n.keywords[0].value.value)
    return calls > 0 and calls == len(uses)


def module_name_of(index, rel: str) -> str:
    for t in index.tasks:
        if t.file == rel:
            return t.module
    for c in index.calls:
        if c.file == rel:
            return c.module
    for s in index.schedules:
        if s.file == rel:
            return s.module
    return rel[:-3].replace("/", ".").removesuffix(".__init__")


def _with_beat_hooks(
    files: dict[str, str], plan: RewritePlan, hooks: list[BeatHook], errors: list[str]
) -> dict[str, str]:
    """The worker settings of each queue a converted beat hook adds entries to also take the hooks'
    CronJobs (``beat_cron_jobs``), built when the worker starts."""
    from saqmigrate.emit.style import format_many

    out = dict(files)
    changed = {}
    for q in plan.queues:
        mods = sorted({h.module for h in hooks if q.name in h.queues})
        text = out.get(q.rel)
        if not mods:
            continue
        if text is None or "\nsettings = worker_settings(\n" not in text:
            errors.append(
                f"{q.rel}: finalize cannot add the beat hooks' CronJobs to these settings (a saqmigrate "
                "defect: please report it with this line)"
            )
            continue
        head, _, tail = text.partition("\nsettings = worker_settings(\n")
        add = ["# the beat entries of the project's @beat_hook functions (built when this worker starts)"]
        call = f"beat_cron_jobs({q.name!r}, {mods!r}, cron_tz={plan.timezone!r})"
        if "\nCRON_JOBS = [" in head:
            add.append(f"CRON_JOBS += {call}")
        else:
            add.append(f"CRON_JOBS = {call}")
            tail = tail.replace("    FUNCTIONS,\n", "    FUNCTIONS,\n    CRON_JOBS,\n", 1)
        m = re.search(r"^from saqmigrate\.runtime\.worker import [^\n]*\n", head, re.M)
        if m is None:
            errors.append(
                f"{q.rel}: finalize cannot add the beat hooks' CronJobs to these settings (a saqmigrate "
                "defect: please report it with this line)"
            )
            continue
        head = head[: m.start()] + "from saqmigrate.runtime.jobs import beat_cron_jobs\n" + head[m.start() :]
        head = head.rstrip("\n") + "\n\n" + "\n".join(add) + "\n"
        changed[q.rel] = head + "\nsettings = worker_settings(\n" + tail
    if changed:
        out.update(format_many(changed, plan.style))
    return out


def _texts(root: Path, sources: list[str], fp: FinalizePlan, result: FinalizeResult) -> dict[str, str]:
    """The text of every source file finalize may edit (UTF-8, or the encoding its PEP 263 line declares)."""
    import tokenize

    out: dict[str, str] = {}
    for rel in sources:
        try:
            raw = (root / rel).read_bytes()
        except OSError as exc:
            result.errors.append(f"{rel}: cannot read: {exc.strerror or exc}")
            continue
        try:
            out[rel] = raw.decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        try:
            import io

            encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
            text = raw.decode(encoding)
        except (SyntaxError, UnicodeDecodeError, LookupError):
            continue  # not text finalize can read; the scan reported it
        if re.search(r"celery|\.(delay|apply_async|send_task|s|si)\(", text, re.I) or any(
            j.task.file == rel for j in fp.jobs.values()
        ):
            result.blockers.append(
                Blocker(
                    "SM803",
                    rel,
                    1,
                    f"declares the {encoding} encoding: finalize edits UTF-8 "
                    "files only; convert it to UTF-8 (and drop the coding line) first",
                )
            )
    return out


def _still_read(texts: dict[str, str], namespace: str | None) -> set[str]:
    """Celery setting names the project reads somewhere besides assigning them (``if not CELERY_BROKER_URL``,
    ``settings.CELERY_TASK_ALWAYS_EAGER``): their assignments stay. Names in code only: an environment
    variable of the same name (``os.environ.get("CELERY_BROKER_URL")``) is not a read."""
    import io
    import tokenize

    from saqmigrate.transform.finalize import _eager_name

    counts: dict[str, int] = {}
    assigned: dict[str, int] = {}
    for text in texts.values():
        if "CELERY" not in text and "BROKER" not in text and "EAGER" not in text:
            continue
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            continue
        for i, tok in enumerate(tokens):
            if tok.type == tokenize.STRING and "EAGER" in tok.string:  # an eager switch set by its name (attack 17
                # #4): setattr(settings, "CELERY_TASK_EAGER_PROPAGATES", v), override_settings(**{"...": v}),
                # self.settings(**opts): the test overrides Celery's name, which must then still be the one set
                name = tok.string.strip("'\"rbuRBU")
                if name.isidentifier() and name.isupper() and _eager_name(name):
                    counts[name] = counts.get(name, 0) + 1
                continue
            if tok.type != tokenize.NAME or not tok.string.isupper():
                continue
            counts[tok.string] = counts.get(tok.string, 0) + 1
            nxt = next((t for t in tokens[i + 1 :] if t.type not in (tokenize.NL, tokenize.COMMENT)), None)
            line_start = tok.start[1] == len(tok.line) - len(tok.line.lstrip())
            if line_start and nxt is not None and nxt.string in ("=", ":"):
                assigned[tok.string] = assigned.get(tok.string, 0) + 1
    return {n for n, c in counts.items() if n in assigned and c > assigned[n]}


def _edit_sources(fp: FinalizePlan, edits: dict[str, FileEdit], texts: dict[str, str], cache: dict):
    """Run the per-file edits; (changes, blockers, whether the removed Celery app is still used somewhere).
    ``cache``: outputs by (file, what of its edit can differ between passes), reused by the second pass."""
    changes: list[Change] = []
    blockers: list[Blocker] = []
    dangling_app = False
    converted: dict[str, list[tuple[int, int]]] = {}
    deleted_apps: set[str] = set()
    # app modules first: whether one is deleted decides what its importers lose
    order = sorted(edits, key=lambda rel: (edits[rel].app_var is None, rel))
    for rel in order:
        edit = edits[rel]
        old = texts.get(rel)
        if old is None or not _mentions(old, edit, fp):
            continue
        edit.removed_modules |= deleted_apps
        key = (
            rel,
            edit.app_var,  # what differs between the passes, as far as this file can see it
            tuple(sorted(m for m in edit.removed_modules if m.rpartition(".")[2] in old)),
            tuple(sorted((m, tuple(sorted(n))) for m, n in edit.removed_names.items() if m.rpartition(".")[2] in old)),
            tuple(sorted(n for n in edit.settings_keep if n in old)),
        )
        try:
            out = cache.get(key) or finalize_source(old, edit)
        except Exception as exc:  # noqa: BLE001 - libcst cannot parse it (the scan skipped it too)
            blockers.append(
                Blocker(
                    "SM803", rel, 1, f"finalize cannot edit it ({type(exc).__name__}); its Celery use is left as it is"
                )
            )
            continue
        cache[key] = out
        if out.converted:
            converted[rel] = out.converted
        for line, code, message in out.problems:
            if code == "SM803" and "came from Celery code finalize removes" in message:
                dangling_app = True  # a name of a removed Celery app is still used: the next pass keeps the apps
            blockers.append(Blocker(code, rel, line, message))
        if not out.empty:
            left = _CELERY_IMPORT.search(out.code)
            explains = ("SM801", "SM803", "SM804", "SM806")  # findings whose code keeps Celery imported there
            spans = converted.get(rel, [])  # a planned finding the conversion answered explains nothing
            if left and not any(
                b.file == rel
                and b.code in explains
                and not (b.code in ("SM801", "SM803") and any(a <= b.line <= z for a, z in spans))
                for b in [*blockers, *fp.blockers]
            ):
                line = out.code.count("\n", 0, left.start()) + 1
                blockers.append(
                    Blocker(
                        "SM803",
                        rel,
                        line,
                        f"still imports Celery ({left.group(0).strip()}): "
                        "finalize has no conversion for what it uses here",
                    )
                )
        if edit.app_var and out.empty:
            deleted_apps.add(edit.module)
            changes.append(Change(rel, old, None))
            continue
        code = out.code if out.code.strip() else ""  # a package __init__ left with nothing in it
        if code != old:
            changes.append(Change(rel, old, code))
    return changes, blockers, dangling_app, converted


def _merge_blockers(
    planned: list[Blocker], found: list[Blocker], converted: dict[str, list[tuple[int, int]]]
) -> list[Blocker]:
    """The plan's findings less those a conversion answered (a canvas now written with runtime.jobs' chain or
    group, and its dispatch), plus what the edits found."""

    def answered(b: Blocker) -> bool:
        return b.code in ("SM801", "SM803") and any(a <= b.line <= z for a, z in converted.get(b.file, ()))

    return [b for b in planned if not answered(b)] + found


def _generated(root: Path, index) -> list[str]:
    from saqmigrate.rewrite import _existing_generated

    return _existing_generated(root, index)


def _worker_files(root: Path, plan: RewritePlan) -> list[str]:
    folder = root / plan.package_rel
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.py")):
        try:
            head = p.read_text(encoding="utf-8")[:2048]
        except (OSError, UnicodeDecodeError):
            continue
        if MARKER in head:
            out.append(p.relative_to(root).as_posix())
    return out


_DJANGO_SETTINGS_MODULE = re.compile(r"""os\.environ\.setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']""")


def _file_edits(
    fp: FinalizePlan,
    sources: list[str],
    has_init: set[str],
    line_length: int,
    *,
    keep_apps: bool = False,
    django: bool | None = None,
) -> dict[str, FileEdit]:
    edits: dict[str, FileEdit] = {}
    by_file = fp.by_file()
    apps = [(fp.app_module, fp.app_file, fp.app_var)] if fp.app_module and fp.app_file and fp.app_var else []
    apps += fp.other_apps
    blocked = {b.file for b in fp.blockers}
    celery_stays = any(b.code in ("SM804", "SM806") for b in fp.blockers)  # tasks / beat entries keep running there
    removed_names: dict[str, set[str]] = {}
    app_vars: dict[str, str] = {}
    for module, file, var in apps:
        if file in blocked or keep_apps or celery_stays:
            continue  # tasks or beat entries left on Celery (or code still using the app) keep the Celery app
        removed_names.setdefault(module, set()).add(var)
        app_vars[file] = var
    for rel in sources:
        jobs, calls = by_file.get(rel, ([], []))
        edit = FileEdit(
            jobs=jobs,
            calls=calls,
            module=module_name(rel, has_init),
            is_package=rel.endswith("__init__.py"),
            removed_names=dict(removed_names),
            line_length=line_length,
            django=fp.rewrite.django if django is None else django,
            canvas_members=fp.canvas_members.get(rel, {}),
        )
        edit.app_var = app_vars.get(rel)
        edit.drop_celery_apps = not (celery_stays or keep_apps)  # Celery's tasks, beat and app leave
        if rel in fp.settings_files and not celery_stays:  # a task or beat entry left on Celery needs them
            edit.settings_prefix = (fp.config_namespace or "CELERY") + "_"
        edits[rel] = edit
    return edits


_TOUCHES = re.compile(
    r"^[ \t]*(?:from|import)[ \t]+\.?celery\b|[\"'](?:django_celery_beat|django_celery_results)[\"']|"
    r"INSTALLED_APPS[^\n]*[\[(,][^\n]*[\"']celery[\"']|^[ \t]+[\"']celery[\"'],|CELERY_\w*EAGER|celery_(?:app|worker|session)|"
    r"pytest\.mark\.celery|task_always_eager|task_eager_propagates|\bsaq_worker\b|_saqmigrate_routing|"
    r"[\"'](?:[\w.]*\.)?(?:delay|apply_async|send_task)[\"']",  # a test mocking a dispatch method
    re.M,
)


def _mentions(text: str, edit: FileEdit, fp: FinalizePlan) -> bool:
    """Cheap filter: only files with something to change are parsed by libcst (an import of Celery, of an
    app module or of the window's generated code, an eager switch, a Celery test fixture, a planned edit)."""
    if edit.jobs or edit.calls or edit.app_var or edit.settings_prefix or edit.canvas_members:
        return True
    if _TOUCHES.search(text):
        return True
    for module in [fp.app_module, *(m for m, _, _ in fp.other_apps), *edit.removed_modules]:
        if module and re.search(
            rf"^[ \t]*(?:from|import)[ \t]+[\w.]*{re.escape(module.rpartition('.')[2])}\b", text, re.M
        ):
            return True
    return False


_CELERY_IMPORT = re.compile(r"^[ \t]*(?:import celery\b|from celery\b)[^\n]*", re.M)
_REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*([<>=!~;@ ].*)?$")


def _requirement_name(line: str) -> str | None:
    m = _REQ_LINE.match(line.split("#", 1)[0].rstrip())
    return m.group(1).lower().replace("_", "-") if m else None


_DROP = {p.replace("_", "-") for p in CELERY_PACKAGES}


def _without_celery_extra(line: str) -> str:
    """``saqmigrate[celery,cli]>=0.1`` -> ``saqmigrate[cli]>=0.1``: the window's extra is not needed any more."""
    m = _REQ_LINE.match(line.split("#", 1)[0].rstrip())
    if not m or m.group(1).lower() != "saqmigrate" or not m.group(2):
        return line
    extras = [e.strip() for e in m.group(2)[1:-1].split(",") if e.strip() and e.strip().lower() != "celery"]
    return line.replace(m.group(2), f"[{','.join(extras)}]" if extras else "", 1)


def _requirements(root: Path, messages: list[str] | None = None) -> list[tuple[str, str, str]]:
    """requirements*.txt / *.in (top level and requirements/): Celery's packages removed (with their
    continuation lines), saqmigrate kept or added. A compiled file (``--hash``, ``# via``) is not edited:
    its source is, and the message says to regenerate it."""
    out = []
    paths = sorted(
        {
            *root.glob("requirements*.txt"),
            *root.glob("requirements/*.txt"),
            *root.glob("requirements*.in"),
            *root.glob("requirements/*.in"),
        }
    )
    for p in paths:
        try:
            old = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        rel = p.relative_to(root).as_posix()
        lines = old.splitlines(keepends=True)
        if not any(_requirement_name(ln) in _DROP for ln in lines):
            continue
        if "--hash=" in old or re.search(r"^\s*#\s+via\b", old, re.M):
            if messages is not None:
                messages.append(
                    f"{rel}: compiled (hashes or `# via` lines): remove Celery from its source file and "
                    "regenerate it (pip-compile / uv pip compile)"
                )
            continue
        kept: list[str] = []
        skipping = False
        for ln in lines:
            if skipping:  # a continuation of a removed requirement
                skipping = ln.rstrip("\n").rstrip().endswith("\\")
                continue
            if _requirement_name(ln) in _DROP:
                skipping = ln.rstrip("\n").rstrip().endswith("\\")
                continue
            kept.append(_without_celery_extra(ln))
        if kept == lines:
            continue
        names = {_requirement_name(ln) for ln in kept}
        if "saqmigrate" not in names:
            kept.append("saqmigrate\n" if not kept or kept[-1].endswith("\n") else "\nsaqmigrate\n")
        out.append((rel, old, "".join(kept)))
    return out


DEFAULT_SETTLED_DAYS = 7


def settled_days(config: Config) -> float:
    """``[tool.saqmigrate.window] settled_days``: how long the end state must have held (default 7)."""
    value = (config.window or {}).get("settled_days", DEFAULT_SETTLED_DAYS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"[tool.saqmigrate.window] settled_days = {value!r}: give a number of days >= 0")
    return float(value)


def gate(
    root: Path, result: FinalizeResult, config: Config, *, registry: str | None = None, now: float | None = None
) -> list[str]:
    """Why writing the end state is not safe yet (empty: safe). One line each.

    * the flag store says every converted task runs 100 % on SAQ, the kill switch is off, and no routing
      write happened in the last ``settled_days`` (the audit stream's newest entry is older);
    * Celery's queues hold no message of these tasks (CELERY_BROKER_URL; unknown counts as not drained);
    * ``saqmigrate check`` passes.
    """
    import os
    import time

    from saqmigrate.runtime import flags as F

    out: list[str] = []
    plan = result.plan
    names = sorted(plan.jobs) if plan else []
    try:
        days = settled_days(config)
    except ValueError as exc:
        return [str(exc)]
    url = os.environ.get("SAQMIGRATE_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    namespace = os.environ.get("SAQMIGRATE_NAMESPACE", F.DEFAULT_NAMESPACE)
    try:
        store = F.FlagStore(url, namespace)
        snap = store.snapshot()
        history = store.history(count=1)
    except Exception as exc:  # noqa: BLE001 - any failure means "not proven"
        out.append(
            f"the flag store at {F.redact(url)} cannot be read ({type(exc).__name__}): routing is not proven "
            "(SAQMIGRATE_REDIS_URL)"
        )
        snap, history = None, None
    if snap is None:
        pass
    elif snap.mode == "force-celery":
        out.append("the kill switch is on: everything runs on Celery (`saqmigrate route unkill`)")
    elif snap.mode != "force-saq":
        not_saq = []
        for name in names:
            _, rule = snap.rule_for(name)
            if not rule or rule.get("target") != F.SAQ or int(rule.get("percent_bp", F.FULL_BP)) < F.FULL_BP:
                not_saq.append(name)
        if not_saq:
            more = f" and {len(not_saq) - 3} more" if len(not_saq) > 3 else ""
            out.append(
                f"{len(not_saq)} task(s) not routed 100 % to SAQ: {', '.join(not_saq[:3])}{more} "
                "(`saqmigrate route set TASK saq`)"
            )
    if history:
        age = ((time.time() if now is None else now) - float(history[0].get("ts") or 0)) / 86400
        if age < days:
            out.append(
                f"the last routing change was {age:.1f} day(s) ago; finalize waits until the end state has held "
                f"{days:g} days ([tool.saqmigrate.window] settled_days)"
            )
    elif history is not None and names:
        out.append("the flag store has no audit entries: the tasks were never routed to SAQ")
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        out.append("Celery's queues are not proven drained: set CELERY_BROKER_URL (`saqmigrate route drain-status`)")
    else:
        waiting = _celery_waiting(broker, set(names))
        if waiting is None:
            out.append(f"Celery's broker at {F.redact(broker)} cannot be read: its queues are not proven drained")
        elif waiting:
            out.append(
                f"{sum(waiting.values())} Celery message(s) still wait for "
                f"{', '.join(sorted(waiting)[:3])} (`saqmigrate route drain-status`)"
            )
    from saqmigrate.check import run_checks

    try:
        report = run_checks(root, config)
    except Exception as exc:  # noqa: BLE001
        out.append(f"`saqmigrate check` could not run ({exc})")
    else:
        if not report.passed:
            out.append(f"`saqmigrate check` fails ({report.counts()['error']} error(s)): run it and fix them first")
    return out


def _celery_waiting(broker_url: str, names: set[str]) -> dict[str, int] | None:
    """Messages per task name on a Celery Redis broker (runtime/drain.py); None if unreadable."""
    from saqmigrate.runtime.drain import celery_waiting

    try:
        return {n: w.queued + w.unacked for n, w in celery_waiting(broker_url, names).items()}
    except Exception:  # noqa: BLE001 - any failure means "not proven drained"
        return None


_NAMES = "|".join(re.escape(p) for p in sorted(_DROP | {p.replace("-", "_") for p in _DROP}, key=len, reverse=True))
# one dependency per line: "celery[redis]>=5.4", in a pyproject/setup.cfg/setup.py list
_LIST_LINE = re.compile(
    rf"""^[ \t]*["']?(?:{_NAMES})(?:\[[^\]]*\])?[ \t]*(?:[<>=!~][^"'#\n]*)?["']?[ \t]*,?[ \t]*(?:#[^\n]*)?\n?$""", re.I
)
# poetry / pdm tables: celery = "^5.4" or celery = {version = ..., extras = [...]}
_TABLE_LINE = re.compile(rf"^[ \t]*[\"']?(?:{_NAMES})[\"']?[ \t]*=[^\n]*\n?$", re.I)
_MENTION = re.compile(rf"(?<![\w.-])(?:{_NAMES})(?![\w-])", re.I)


def _dependency_lines(name: str, text: str) -> list[tuple[str, bool]]:
    """Each line of a metadata file and whether it declares only a Celery package (to be removed).

    pyproject.toml / setup.cfg: only inside dependency sections (``[project]``'s ``dependencies`` and
    ``[project.optional-dependencies]``, poetry/pdm dependency tables, setup.cfg ``[options]`` and
    ``[options.extras_require]``); setup.py: a string on its own line in a list."""
    out = []
    section = ""
    for ln in text.splitlines(keepends=True):
        head = re.match(r"^\s*\[([^\]]+)\]\s*$", ln)
        if head:
            section = head.group(1).strip().lower()
            out.append((ln, False))
            continue
        if name == "setup.py":
            drop = bool(_LIST_LINE.match(ln))
        else:
            in_deps = (
                section in ("project", "project.optional-dependencies", "options", "options.extras_require")
                or "dependencies" in section
            )
            drop = in_deps and bool(_LIST_LINE.match(ln) or (section != "project" and _TABLE_LINE.match(ln)))
        out.append((ln, drop))
    return out


def _package_metadata(root: Path) -> list[tuple[str, str, str]]:
    """pyproject.toml, setup.cfg and setup.py: lines that declare only a Celery package go."""
    out = []
    for name in ("pyproject.toml", "setup.cfg", "setup.py"):
        p = root / name
        try:
            old = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        new = "".join(_without_celery_extra_anywhere(ln) for ln, drop in _dependency_lines(name, old) if not drop)
        if new != old:
            out.append((name, old, new))
    return out


def _without_celery_extra_anywhere(line: str) -> str:
    """``"saqmigrate[celery]>=0.1",`` inside a dependency list: the window's extra goes."""
    return re.sub(r"saqmigrate\[([^\]]*)\]", lambda m: _extras_without_celery(m.group(1)), line)


def _extras_without_celery(extras: str) -> str:
    kept = [e.strip() for e in extras.split(",") if e.strip() and e.strip().lower() != "celery"]
    return f"saqmigrate[{','.join(kept)}]" if kept else "saqmigrate"


def _unedited_mentions(root: Path) -> list[tuple[str, int]]:
    """Dependency declarations still naming a Celery package after the edits (several on one line ...)."""
    out = []
    for name in ("pyproject.toml", "setup.cfg", "setup.py"):
        p = root / name
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        text = "".join(ln for ln, drop in _dependency_lines(name, text) if not drop)
        for i, ln in enumerate(text.splitlines(), 1):
            code = ln.split("#", 1)[0]
            if _MENTION.search(code) and re.search(r"""["'][^"']*(?:celery|flower)[^"']*["']""", code, re.I):
                out.append((name, i))
    return out
