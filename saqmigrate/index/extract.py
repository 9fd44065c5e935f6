"""Step 3a: one parsed module -> its Celery facts (pure data, cached per content hash).

Nothing here looks at other files. Names are recorded as *references*: dotted paths
resolved through this module's imports (``from a.tasks import f`` makes ``f`` the ref
``a.tasks.f``); names this module cannot resolve start with ``?``. ``index/resolve.py``
links references across modules.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypedDict

from saqmigrate.index.facts import (
    AliasFact,
    AttrWriteFact,
    AppAttrSet,
    AppConfigSet,
    ConfigSourceValue,
    AppFact,
    AppTaskSet,
    CallFact,
    ClassFact,
    DecoratedFact,
    DecoratorCandidate,
    DecoratorFactoryFact,
    FactoryParam,
    Facts,
    Features,
    FlaskConfigFact,
    FunctionFact,
    ItemFact,
    MethodFact,
    Options,
    ParamFact,
    RegistrationFact,
    ScheduleFact,
    SettingFact,
    SourceFact,
    TaskRef,
    Value,
)
from saqmigrate.index.model import dynamic

FACTS_VERSION = 20  # 18: class attribute Request (SM164); 19: pass-through decorator factories; 20: item writes

SHARED_TASK = {"celery.shared_task", "celery.app.shared_task", "celery.app.base.shared_task"}
LEGACY_TASK = {"celery.task", "celery.task.task", "celery.decorators.task", "celery.task.base.task"}
LEGACY_PERIODIC = {"celery.task.periodic_task", "celery.decorators.periodic_task", "celery.task.base.periodic_task"}
CELERY_CLS = {"celery.Celery", "celery.app.Celery", "celery.app.base.Celery"}
TASK_CLS = {
    "celery.Task",
    "celery.app.task.Task",
    "celery.task.Task",
    "celery.task.base.Task",
    "celery.app.Task",
    "celery.task.PeriodicTask",
    "celery.task.base.PeriodicTask",
}
CRONTAB = {"celery.schedules.crontab", "celery.crontab", "celery.task.crontab"}
SCHEDULE_CLS = {"celery.schedules.schedule", "celery.schedule"}
SOLAR = {"celery.schedules.solar"}
TIMEDELTA = {"datetime.timedelta"}
CANVAS = {
    "chain": {"celery.chain", "celery.canvas.chain"},
    "group": {"celery.group", "celery.canvas.group"},
    "chord": {"celery.chord", "celery.canvas.chord"},
    "signature": {
        "celery.signature",
        "celery.canvas.signature",
        "celery.canvas.Signature",
        "celery.Signature",
        "celery.subtask",
        "celery.canvas.subtask",
    },
    "chunks": {"celery.chunks", "celery.canvas.chunks"},
}
ASYNC_RESULT = {"celery.result.AsyncResult", "celery.AsyncResult"}
ON_COMMIT = re.compile(r"(^|\.)on_commit$")

SCHEDULE_NAMES = {"CELERY_BEAT_SCHEDULE", "CELERYBEAT_SCHEDULE", "beat_schedule", "BEAT_SCHEDULE"}
ENTRY_KEYS = {"task", "schedule", "args", "kwargs", "options", "relative"}
CRONTAB_POSITIONAL = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
TIMEDELTA_POSITIONAL = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")
TIMEDELTA_FACTORS = {
    "days": 86400,
    "seconds": 1,
    "microseconds": 1e-6,
    "milliseconds": 1e-3,
    "minutes": 60,
    "hours": 3600,
    "weeks": 604800,
}

CALL_METHODS = {
    "delay": "delay",
    "apply_async": "apply_async",
    "s": "s",
    "si": "si",
    "signature": "signature",
    "map": "map",
    "starmap": "starmap",
    "chunks": "chunks",
    "apply": "apply",
    "retry": "retry",
    "delay_on_commit": "delay",
    "subtask": "signature",
}

# known blocking calls (SM104, features.blocking): one table with native mode's, in transform/allowlist.py
from saqmigrate.transform.allowlist import SCAN_BLOCKING as BLOCKING  # noqa: E402

SETTING_ALIASES = {
    # old (no namespace) and namespaced names -> the new lowercase setting
    "CELERY_TIMEZONE": "timezone",
    "TIMEZONE": "timezone",
    "timezone": "timezone",
    "TIME_ZONE": "django_time_zone",
    "CELERY_ENABLE_UTC": "enable_utc",
    "enable_utc": "enable_utc",
    "CELERY_TASK_SERIALIZER": "task_serializer",
    "task_serializer": "task_serializer",
    "CELERY_RESULT_SERIALIZER": "result_serializer",
    "result_serializer": "result_serializer",
    "CELERY_ACCEPT_CONTENT": "accept_content",
    "accept_content": "accept_content",
    "CELERY_TASK_ROUTES": "task_routes",
    "CELERY_ROUTES": "task_routes",
    "task_routes": "task_routes",
    "CELERY_TASK_ALWAYS_EAGER": "task_always_eager",
    "CELERY_ALWAYS_EAGER": "task_always_eager",
    "task_always_eager": "task_always_eager",
    "CELERY_BEAT_SCHEDULER": "beat_scheduler",
    "CELERYBEAT_SCHEDULER": "beat_scheduler",
    "beat_scheduler": "beat_scheduler",
    "CELERY_TASK_DEFAULT_QUEUE": "task_default_queue",
    "CELERY_DEFAULT_QUEUE": "task_default_queue",
    "task_default_queue": "task_default_queue",
    "CELERY_TASK_TIME_LIMIT": "task_time_limit",
    "CELERYD_TASK_TIME_LIMIT": "task_time_limit",
    "task_time_limit": "task_time_limit",
    "CELERY_TASK_SOFT_TIME_LIMIT": "task_soft_time_limit",
    "CELERYD_TASK_SOFT_TIME_LIMIT": "task_soft_time_limit",
    "task_soft_time_limit": "task_soft_time_limit",
    "CELERY_TASK_ACKS_LATE": "task_acks_late",
    "CELERY_ACKS_LATE": "task_acks_late",
    "task_acks_late": "task_acks_late",
    "CELERY_TASK_IGNORE_RESULT": "task_ignore_result",
    "CELERY_IGNORE_RESULT": "task_ignore_result",
    "task_ignore_result": "task_ignore_result",
    "CELERY_TASK_DEFAULT_RATE_LIMIT": "task_default_rate_limit",
    "task_default_rate_limit": "task_default_rate_limit",
    "CELERY_TASK_DEFAULT_RETRY_DELAY": "task_default_retry_delay",
    "task_default_retry_delay": "task_default_retry_delay",
    "CELERY_BROKER_URL": "broker_url",
    "BROKER_URL": "broker_url",
    "broker_url": "broker_url",
    "CELERY_TASK_CLS": "task_cls",
}

CLASS_ATTRS = {
    "Request",  # a custom worker request class (its hooks run only in Celery's worker: SM164)
    "name",
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "dont_autoretry_for",
    "retry_kwargs",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "time_limit",
    "soft_time_limit",
    "rate_limit",
    "ignore_result",
    "acks_late",
    "track_started",
    "serializer",
    "priority",
    "queue",
    "expires",
    "reject_on_worker_lost",
    "typing",
    "throws",
    "trail",
    "send_events",
    "store_errors_even_if_ignored",
    "acks_on_failure_or_timeout",
    "abstract",
    "task_cls",
    "run_every",
}

SUPPRESS = re.compile(r"#\s*saqmigrate:\s*ignore(?:\[([A-Z0-9,\s]+)\])?")


def literal(node: ast.AST | None, text: "Source | str") -> Value:
    """A node's literal value made JSON-safe, or ``{"dynamic": src}``."""
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        if isinstance(node, ast.Call) and _name(node.func) == "range":
            try:
                return list(range(*[ast.literal_eval(a) for a in node.args]))
            except Exception:  # noqa: BLE001 - a non-literal range is dynamic
                pass
        return dynamic(segment(node, text))
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(_jsonable(v) for v in value)
        except TypeError:
            return [_jsonable(v) for v in value]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, complex) or (isinstance(value, float) and value != value):
        return str(value)
    if isinstance(value, int) and abs(value) > 2**63:
        return str(value)
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return value
    return dynamic(repr(value))  # Ellipsis and anything else JSON cannot hold: kept as source, never guessed


class Source:
    """Source text with O(1) node -> text slicing (``ast.get_source_segment`` re-splits the
    whole file on every call, which made large modules quadratic)."""

    __slots__ = ("text", "_lines", "_encoded")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines = text.splitlines(keepends=True)
        self._encoded: dict[int, bytes] = {}

    def _line(self, i: int) -> bytes:
        b = self._encoded.get(i)
        if b is None:
            b = self._lines[i].encode("utf-8") if 0 <= i < len(self._lines) else b""
            self._encoded[i] = b
        return b

    def segment(self, node: ast.AST) -> str | None:
        try:
            l0, l1 = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
            c0, c1 = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        except AttributeError:
            return None
        if l1 is None or c1 is None:
            return None
        if l0 == l1:
            return self._line(l0)[c0:c1].decode("utf-8", "replace")
        if l1 - l0 > 40:  # long expressions are abbreviated anyway
            l1 = l0 + 40
            c1 = len(self._line(l1))
        parts = [self._line(l0)[c0:]] + [self._line(i) for i in range(l0 + 1, l1)] + [self._line(l1)[:c1]]
        return b"".join(parts).decode("utf-8", "replace")


def segment(node: ast.AST, text: "Source | str") -> str:
    src = text.segment(node) if isinstance(text, Source) else ast.get_source_segment(text, node)
    if src is None:
        try:
            src = ast.unparse(node)
        except Exception:  # noqa: BLE001
            src = "<expr>"
    return src if len(src) <= 300 else src[:297] + "..."


def _name(node: ast.AST) -> str | None:
    """Dotted source name of a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
    parts = base + ([target] if target else [])
    return ".".join(p for p in parts if p)


class Extractor(ast.NodeVisitor):
    def __init__(self, text: str, module: str, is_package: bool) -> None:
        self.text = Source(text)
        self.module = module
        self.is_package = is_package
        self.imports: dict[str, str] = {}  # local name -> dotted ref
        self.star_imports: list[str] = []
        self.defs: dict[str, str] = {}  # module-level name -> function|class|assign
        self.assign_calls: dict[str, str] = {}  # module-level name = <call ref>(...)
        self.assign_lines: dict[str, int] = {}
        self.apps: list[AppFact] = []
        self.app_attr_sets: list[AppAttrSet] = []  # app.Task = X / app.conf.task_cls
        self.decorated: list[DecoratedFact] = []
        self.aliases: dict[str, AliasFact] = {}
        self.registrations: list[RegistrationFact] = []
        self.classes: list[ClassFact] = []
        self.functions: dict[str, FunctionFact] = {}  # module-level plain functions (for app.task(fn))
        self.factories: list[str] = []  # module functions that build a Celery app
        # module-level decorator factories (_decorator_factories)
        self.decorator_factories: dict[str, DecoratorFactoryFact] = {}
        self.task_builders: dict[str, list[str]] = {}  # _task_builders
        self._factory_nodes: dict[int, str] = {}  # id(call or def) applying the task decorator inside one
        self.schedules: list[ScheduleFact] = []
        self.calls: list[CallFact] = []
        self.settings: list[SettingFact] = []
        # writes to a Flask app's config (resolve.py: app.config["CELERY"] sources)
        self.flask_config: list[FlaskConfigFact] = []
        self.uses_celery = False
        self.django_settings: list[Value] = []  # DJANGO_SETTINGS_MODULE values this module sets
        self._consumed: set[int] = set()
        self._funcs: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self._classes: list[str] = []
        self._loops = 0
        self._on_commit = 0
        self._in_schedule = 0  # inside add_periodic_task(...): a signature there is a beat entry, not a canvas
        self._task_fn_stack: list[DecoratedFact | None] = []
        self._module_dicts: dict[str, ast.Dict] = {}
        self._module_values: dict[str, ast.AST] = {}
        self._assign_target: str | None = None
        self._build_dispatch()
        self.has_celery_ctor = "Celery" in text
        self._schedule_hint = "beat_schedule" in text or "BEAT_SCHEDULE" in text or "crontab" in text
        # module-level functions are only worth describing when something may register them
        self.may_register = bool(_REGISTRATION_HINT.search(text))

    # traversal (a type-keyed dispatch table: ~2x faster than NodeVisitor's getattr)
    _LEAVES = (
        ast.Constant,
        ast.Name,
        ast.Load,
        ast.Store,
        ast.Del,
        ast.operator,
        ast.unaryop,
        ast.cmpop,
        ast.boolop,
        ast.expr_context,
        ast.Pass,
        ast.Break,
        ast.Continue,
        ast.Global,
        ast.Nonlocal,
        ast.alias,
    )

    def visit(self, node: ast.AST) -> None:
        method = self._dispatch.get(node.__class__)
        if method is None:
            if isinstance(node, self._LEAVES):
                return
            for child in ast.iter_child_nodes(node):
                self.visit(child)
        else:
            method(node)

    def generic_visit(self, node: ast.AST) -> None:
        visit = self.visit
        for child in ast.iter_child_nodes(node):
            visit(child)

    def _build_dispatch(self) -> None:
        table = {}
        for name in dir(self):
            if name.startswith("visit_"):
                cls = getattr(ast, name[6:], None)
                if isinstance(cls, type):
                    table[cls] = getattr(self, name)
        self._dispatch = table

    # references
    def ref(self, node: ast.AST) -> str | None:
        name = _name(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            base = self.imports[head]
        elif head in self.defs and not self._funcs:
            base = f"{self.module}.{head}" if self.module else head
        elif head in self.defs:
            base = f"{self.module}.{head}" if self.module else head
        else:
            base = "?" + head
        return f"{base}.{rest}" if rest else base

    def ref_in(self, node: ast.AST, names: set[str]) -> bool:
        r = self.ref(node)
        return r is not None and r in names

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "celery":
                self.uses_celery = True
            if alias.asname:
                self.imports[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                self.imports[head] = head

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            mod = _resolve_relative(self.module, self.is_package, node.level, node.module)
        else:
            mod = node.module or ""
        if mod.split(".")[0] == "celery":
            self.uses_celery = True
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append(mod)
                continue
            self.imports[alias.asname or alias.name] = f"{mod}.{alias.name}" if mod else alias.name

    # scopes
    def _visit_loop(self, node: ast.AST) -> None:
        self._loops += 1
        self.generic_visit(node)
        self._loops -= 1

    visit_For = visit_AsyncFor = visit_While = _visit_loop
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_loop

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if not self._funcs and not self._classes:
            self.defs[node.name] = "function"
            if self.may_register:
                self.functions[node.name] = {
                    "line": node.lineno,
                    "params": _params(node, self.text),
                    "is_async": isinstance(node, ast.AsyncFunctionDef),
                    "end_line": getattr(node, "end_lineno", node.lineno),
                    "features": _features(node, self, bound=False),
                }
            if self.has_celery_ctor and any(
                isinstance(n, ast.Call) and self.ref_in(n.func, CELERY_CLS) for n in ast.walk(node)
            ):
                self.factories.append(node.name)
        task_info = self._decorated_function(node)
        for dec in node.decorator_list:
            self.visit(dec)
        self._funcs.append(node)
        self._task_fn_stack.append(task_info)
        saved_loops, self._loops = self._loops, 0
        for stmt in node.body:
            self.visit(stmt)
        self._loops = saved_loops
        self._task_fn_stack.pop()
        self._funcs.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if not self._funcs and not self._classes:
            self.defs[node.name] = "class"
        bases = [self.ref(b) or "<expr>" for b in node.bases]
        attrs: dict[str, Any] = {}
        methods: dict[str, MethodFact] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    if isinstance(t, ast.Name) and t.id in CLASS_ATTRS:
                        attrs[t.id] = literal(stmt.value, self.text)
            elif (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.value is not None
                and stmt.target.id in CLASS_ATTRS
            ):
                attrs[stmt.target.id] = literal(stmt.value, self.text)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if stmt.name == "run":
                    methods[stmt.name] = {
                        "line": stmt.lineno,
                        "params": _params(stmt, self.text, skip_self=True),
                        "is_async": isinstance(stmt, ast.AsyncFunctionDef),
                        "features": _features(stmt, self, bound=True),
                        "end_line": getattr(stmt, "end_lineno", stmt.lineno),
                    }
                else:
                    methods[stmt.name] = {"line": stmt.lineno}
        qual = ".".join(self._classes + [node.name])
        self.classes.append(
            {
                "name": node.name,
                "qualname": qual,
                "line": node.lineno,
                "bases": bases,
                "attrs": attrs,
                "methods": methods,
                "nested": bool(self._funcs),
                "in_loop": self._loops > 0,
                "end_line": getattr(node, "end_lineno", node.lineno),
                "decorators": [segment(d, self.text) for d in node.decorator_list],
            }
        )
        self._classes.append(node.name)
        self.generic_visit(node)
        self._classes.pop()

    # task definitions
    def _decorated_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> DecoratedFact | None:
        candidates: list[DecoratorCandidate] = []
        for dec in node.decorator_list:
            callee = dec.func if isinstance(dec, ast.Call) else dec
            r = self.ref(callee)
            if r is None:
                continue
            opts: Options = {}
            pos: list[Value] = []
            if isinstance(dec, ast.Call):
                opts = {kw.arg: literal(kw.value, self.text) for kw in dec.keywords if kw.arg}
                if any(kw.arg is None for kw in dec.keywords):
                    opts["**"] = dynamic(
                        ", ".join(segment(kw.value, self.text) for kw in dec.keywords if kw.arg is None)
                    )
                pos = [literal(a, self.text) for a in dec.args]
            candidates.append(
                {
                    "ref": r,
                    "src": segment(callee, self.text),
                    "options": opts,
                    "args": pos,
                    "is_call": isinstance(dec, ast.Call),
                    "line": dec.lineno,
                }
            )
        if not candidates or not any(_may_be_task_decorator(c["ref"]) for c in candidates):
            return None
        for dec in node.decorator_list:
            dref = self.ref(dec.func) if isinstance(dec, ast.Call) else None
            if isinstance(dec, ast.Call) and dref and (dref in LEGACY_PERIODIC or dref.endswith(".periodic_task")):
                run_every = next((k.value for k in dec.keywords if k.arg == "run_every"), None)
                kind, celery, fs = self._schedule_kind(run_every)
                self.schedules.append(
                    {
                        "entry": None,
                        "task": {"ref": f"{self.module}.{node.name}", "src": node.name},
                        "line": dec.lineno,
                        "source": "periodic_task",
                        "container": "periodic_task",
                        "kind": kind,
                        "celery": celery,
                        "args": None,
                        "kwargs": None,
                        "options": None,
                        "relative": False,
                        "in_loop": self._loops > 0,
                        "from_settings": fs,
                        "entry_is_task": True,
                    }
                )
        qual = ".".join(self._classes + [node.name]) if not self._funcs else node.name
        info: DecoratedFact = {
            "function": qual,
            "name": node.name,
            "line": node.lineno,
            "decorators": candidates,
            "is_async": isinstance(node, ast.AsyncFunctionDef),
            "params": _params(node, self.text),
            "nested": bool(self._funcs) or bool(self._classes),
            "in_loop": self._loops > 0,
            "features": _features(node, self, bound=True),
            "end_line": getattr(node, "end_lineno", node.lineno),
        }
        if id(node) in self._factory_nodes:  # the wrapper a decorator factory turns into each task
            info["factory"] = self._factory_nodes[id(node)]
        self.decorated.append(info)
        return info

    # assignments
    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assign(target, node.value, node)
        self._assign_target = _name(node.targets[0]) if len(node.targets) == 1 else None
        self.generic_visit(node)
        self._assign_target = None

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._assign(node.target, node.value, node)
        self.generic_visit(node)

    def _assign(self, target: ast.expr, value: ast.expr, stmt: ast.stmt) -> None:
        module_level = not self._funcs and not self._classes
        if isinstance(target, ast.Name) and module_level:
            self.defs.setdefault(target.id, "assign")
            self._module_values[target.id] = value
            if isinstance(value, ast.Dict):
                self._module_dicts[target.id] = value
        if isinstance(value, ast.Call):
            callee_ref = self.ref(value.func)
            if isinstance(target, ast.Name) and module_level and callee_ref:
                self.assign_calls[target.id] = callee_ref
                self.assign_lines[target.id] = stmt.lineno
            if callee_ref in CELERY_CLS or (callee_ref and self._is_local_celery_subclass(callee_ref)):
                self._app(target, value, stmt)
            # aliases and registrations: x = app.task(...), x = shared_task(...), x = app.task(fn)
            self._task_factory_assign(target, value, stmt)
        elif isinstance(value, ast.Attribute) and isinstance(target, ast.Name) and value.attr == "task":
            # task = app.task  (alias without options)
            r = self.ref(value)
            if r:
                self.aliases[target.id] = {"ref": r, "options": {}, "line": stmt.lineno, "is_call": False}
        # app.Task = BaseTask
        tname = _name(target)
        if isinstance(target, ast.Attribute) and tname and tname.endswith(".Task") and tname.count(".") == 1:
            ref = self.ref(value)
            # a resolved reference is stored as "module:Name" (resolve.py reads it as it is); anything else as
            # source text, which resolve.py reads through the module's imports
            qualified = (
                f"{ref.rpartition('.')[0]}:{ref.rpartition('.')[2]}"
                if ref and "." in ref and not ref.startswith("?")
                else None
            )
            task_set: AppTaskSet = {
                "app": self.ref(target.value),
                "attr": "Task",
                "value": qualified or segment(value, self.text),
                "line": stmt.lineno,
            }
            self.app_attr_sets.append(task_set)
        # schedules
        if tname is not None:
            short = tname.rsplit(".", 1)[-1]
            if short in SCHEDULE_NAMES and (module_level or "." in tname):
                self._schedule_container(value, container=tname, source=_source_for(tname), stmt=stmt)
            self._setting_assign(tname, value, stmt, module_level)
        if isinstance(target, ast.Subscript) and self.ref(target.value) == "os.environ":
            self._django_settings(target.slice, value)
        if isinstance(target, ast.Subscript):
            self._flask_config_item(target, value, stmt)
        if isinstance(target, ast.Subscript):
            base = _name(target.value)
            if base and base.rsplit(".", 1)[-1] in SCHEDULE_NAMES:
                key = literal(target.slice, self.text)
                self._schedule_entry(key, value, container=base, source="item_assignment", line=stmt.lineno)

    def _django_settings(self, key: ast.expr, value: ast.expr) -> None:
        """``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")`` (or an assignment)."""
        if isinstance(key, ast.Constant) and key.value == "DJANGO_SETTINGS_MODULE":
            v = literal(value, self.text)
            self.django_settings.append(v if isinstance(v, str) else dynamic(segment(value, self.text)))

    def _is_local_celery_subclass(self, ref: str) -> bool:
        local = ref.rsplit(".", 1)[-1]
        for cls in self.classes:
            if cls["name"] == local and any(b in CELERY_CLS for b in cls["bases"]):
                return True
        return False

    def _app(self, target: ast.expr, call: ast.Call, stmt: ast.stmt) -> None:
        name = _name(target) or segment(target, self.text)
        opts = {kw.arg: literal(kw.value, self.text) for kw in call.keywords if kw.arg}
        main = literal(call.args[0], self.text) if call.args else opts.pop("main", None)
        self.apps.append(
            {
                "name": name,
                "line": stmt.lineno,
                "kind": "instance",
                "main": main,
                "task_cls": opts.get("task_cls"),
                "options": opts,
                "config_from_object": [],
                "in_function": bool(self._funcs),
            }
        )
        # Celery(config_source=X) is config_from_object(X); changes= and setting keywords are app.conf changes
        app_ref = self.ref(target) if isinstance(target, (ast.Name, ast.Attribute)) else None
        ns = next((literal(kw.value, self.text) for kw in call.keywords if kw.arg == "namespace"), None)
        for kw in call.keywords:
            if kw.arg == "config_source":
                self.app_attr_sets.append(
                    {
                        "app": app_ref,
                        "attr": "config_from_object",
                        "line": kw.value.lineno,
                        "value": {
                            "obj": literal(kw.value, self.text),
                            "namespace": ns,
                            "source": self._source_fact(kw.value),
                            "line": kw.value.lineno,
                            "via": "Celery(config_source=)",
                        },
                    }
                )
            elif kw.arg == "changes" or kw.arg is None:
                self.app_attr_sets.append(
                    {
                        "app": app_ref,
                        "attr": "conf.update",
                        "line": kw.value.lineno,
                        "value": {
                            "source": self._source_fact(kw.value),
                            "line": kw.value.lineno,
                            "via": "Celery(changes=)" if kw.arg else "Celery(**)",
                        },
                    }
                )
            elif kw.arg in CELERY_CTOR_SETTINGS:
                self.settings.append(
                    {
                        "name": kw.arg,
                        "raw_name": f"{name} = Celery({kw.arg}=)",
                        "value": literal(kw.value, self.text),
                        "line": kw.value.lineno,
                        "layer": "changes",
                        "app": app_ref,
                    }
                )

    def _task_factory_assign(self, target: ast.expr, value: ast.Call, stmt: ast.stmt) -> None:
        """``x = app.task(bind=True)`` / ``x = shared_task(...)``: an alias decorator (registrations are
        found by ``_maybe_registration`` wherever the call appears)."""
        if isinstance(value.func, ast.Call) or not isinstance(target, ast.Name):
            return
        r = self.ref(value.func)
        if r in ("functools.partial", "?partial") and value.args and len(value.args) == 1:
            # task = partial(app.task, acks_late=True): a decorator alias with preset options
            inner = self.ref(value.args[0])
            if inner and (inner in SHARED_TASK or inner in LEGACY_TASK or inner.endswith(".task")):
                opts = {kw.arg: literal(kw.value, self.text) for kw in value.keywords if kw.arg}
                self.aliases[target.id] = {
                    "ref": inner,
                    "options": opts,
                    "line": stmt.lineno,
                    "is_call": True,
                    "module_level": not self._funcs,
                }
            return
        if not r or value.args:
            return
        if r in SHARED_TASK or r in LEGACY_TASK or r.endswith(".task"):
            opts = {kw.arg: literal(kw.value, self.text) for kw in value.keywords if kw.arg}
            self.aliases[target.id] = {
                "ref": r,
                "options": opts,
                "line": stmt.lineno,
                "is_call": True,
                "module_level": not self._funcs,
            }

    def _maybe_registration(self, node: ast.Call) -> None:
        """``app.task(fn)``, ``app.task(name='x')(fn)``, ``shared_task(fn)``, ``my_alias(fn)``."""
        func = node.func
        if not node.args:
            return
        if isinstance(func, ast.Call):  # app.task(name=...)(<any callable expression>)
            inner_ref = self.ref(func.func)
            if inner_ref and (
                inner_ref in SHARED_TASK
                or inner_ref in LEGACY_TASK
                or inner_ref.endswith(".task")
                or inner_ref.rsplit(".", 1)[-1] in self.aliases
            ):
                self._registration(inner_ref, func, node.args[0], self._assign_target, node)
            return
        if not isinstance(node.args[0], (ast.Name, ast.Attribute, ast.Lambda)):
            return
        r = self.ref(func)
        if not r:
            return
        if (
            r in SHARED_TASK
            or r in LEGACY_TASK
            or r.endswith(".task")
            or (r.rsplit(".", 1)[-1] in self.aliases and not r.startswith("?"))
        ):
            self._registration(r, node, node.args[0], self._assign_target, node)

    def _registration(
        self, decorator_ref: str, call: ast.Call, fn_node: ast.expr, bound: str | None, stmt: ast.expr
    ) -> None:
        opts = {kw.arg: literal(kw.value, self.text) for kw in call.keywords if kw.arg}
        self.registrations.append(
            {
                "ref": decorator_ref,
                "options": opts,
                "fn": self.ref(fn_node) or segment(fn_node, self.text),
                "fn_src": segment(fn_node, self.text),
                "bound": bound,
                "line": stmt.lineno,
                "in_loop": self._loops > 0,
                "nested": bool(self._funcs),
            }
        )
        if id(stmt) in self._factory_nodes:  # inside a decorator factory: one task per decorated function
            self.registrations[-1]["factory"] = self._factory_nodes[id(stmt)]

    # settings
    def _setting_assign(self, tname: str, value: ast.expr, stmt: ast.stmt, module_level: bool) -> None:
        short = tname.rsplit(".", 1)[-1]
        if short in SCHEDULE_NAMES or ("." in tname and ".conf" not in tname):
            return
        # a Flask/Django config class (class Config: CELERY_TASK_DEFAULT_QUEUE = "default") counts like a
        # settings module: config_from_object(app.config, namespace="CELERY") reads its attributes
        in_config_class = bool(self._classes) and not self._funcs and short.startswith("CELERY_")
        if "." not in tname and not module_level and not in_config_class:
            return
        norm = SETTING_ALIASES.get(short)
        if norm is None and short.startswith("CELERY_") and (module_level or in_config_class):
            norm = short[len("CELERY_") :].lower()
        if norm is None and "." in tname and short.islower():
            norm = short
        if norm is None:
            return
        fact: SettingFact = {"name": norm, "raw_name": tname, "value": literal(value, self.text), "line": stmt.lineno}
        if ".conf." in f"{tname}." and "." in tname:  # app.conf.x = v: a change, over any config source
            owner = _conf_owner(stmt)
            fact["layer"] = "changes"
            fact["app"] = self.ref(owner) if owner is not None else None
        why = self._local_why(value) if self._funcs else None
        if why:
            fact["why"] = why
        self.settings.append(fact)

    # calls
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        fref = self.ref(func)
        handled_children = False
        if fref == "os.environ.setdefault" and len(node.args) == 2:
            self._django_settings(node.args[0], node.args[1])
        self._maybe_registration(node)
        if fref and ON_COMMIT.search(fref):
            self._on_commit += 1
            # partial(t.delay, x) passes a reference, not a call
            for arg in node.args:
                if isinstance(arg, ast.Call) and (_name(arg.func) or "").endswith("partial") and arg.args:
                    inner = arg.args[0]
                    if isinstance(inner, ast.Attribute) and inner.attr in ("delay", "apply_async"):
                        self._call(inner.attr, inner.value, arg, options={})
            self.generic_visit(node)
            self._on_commit -= 1
            return
        if isinstance(func, ast.Attribute):
            attr = func.attr
            if attr in CALL_METHODS:
                self._method_call(attr, func, node)
            elif attr == "send_task":
                self._send_task(node)
            elif attr == "add_periodic_task":
                self._add_periodic_task(node)
                self._in_schedule += 1
                self.generic_visit(node)
                self._in_schedule -= 1
                return
            elif attr == "config_from_object":
                self._config_from_object(func, node)
            elif attr in FLASK_CONFIG_CALLS and isinstance(func.value, ast.Attribute) and func.value.attr == "config":
                self._flask_config_call(attr, func, node)
            elif attr == "update" and (flask_key := _flask_config_key(func.value)) is not None:
                self._flask_config_mutation(flask_key, node)
            elif attr == "update" and isinstance(func.value, ast.Attribute) and func.value.attr == "conf":
                self._conf_update(func, node)
            elif attr == "update" and (_name(func.value) or "").rsplit(".", 1)[-1] in SCHEDULE_NAMES:
                for arg in node.args:
                    self._schedule_container(arg, container=_name(func.value) or "", source="update", stmt=node)
                for kw in node.keywords:
                    if kw.arg:
                        self._schedule_entry(
                            kw.arg, kw.value, container=_name(func.value) or "", source="update", line=kw.value.lineno
                        )
            elif attr == "register_task" or (attr == "register" and (_name(func.value) or "").endswith("tasks")):
                if node.args:
                    self.registrations.append(
                        {
                            "ref": "celery.register_task",
                            "options": {},
                            "fn": self.ref(node.args[0].func if isinstance(node.args[0], ast.Call) else node.args[0])
                            or segment(node.args[0], self.text),
                            "fn_src": segment(node.args[0], self.text),
                            "bound": None,
                            "line": node.lineno,
                            "in_loop": self._loops > 0,
                            "nested": bool(self._funcs),
                            "class_instance": True,
                        }
                    )
            elif attr == "AsyncResult":
                self._simple_call("async_result", node, target=segment(func.value, self.text))
        if fref:
            for kind, names in CANVAS.items():
                if fref in names:
                    self._simple_call(kind, node, target=fref)
            if fref in ASYNC_RESULT:
                self._simple_call("async_result", node, target=fref)
            if fref in {"celery.execute.send_task"}:
                self._send_task(node)
        if not handled_children:
            self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.BitOr) and (_is_sig(node.left, self) or _is_sig(node.right, self)):
            if not (isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.BitOr)):
                self._simple_call("pipe", node, target=segment(node, self.text))
            elif not _is_sig(node.left, self):
                self._simple_call("pipe", node, target=segment(node, self.text))
        self.generic_visit(node)

    def _enclosing_task(self) -> DecoratedFact | None:
        for info in reversed(self._task_fn_stack):
            if info is not None:
                return info
        return None

    def _method_call(self, attr: str, func: ast.Attribute, node: ast.Call) -> None:
        kind = CALL_METHODS[attr]
        target = func.value
        tname = _name(target)
        looked_up = _registry_lookup(target)
        if looked_up is not None and kind in ("delay", "apply_async", "s", "si", "signature", "apply"):
            # app.tasks.get("name").subtask(...) / app.tasks["name"].delay(...): a task looked up by name
            name = looked_up.value if isinstance(looked_up, ast.Constant) and isinstance(looked_up.value, str) else None
            self._call(
                kind,
                target,
                node,
                options=self._kw(node),
                task_name=name,
                dynamic_name=None if name else segment(looked_up, self.text),
            )
            return
        if attr == "retry":
            info = self._enclosing_task()
            first = info["params"][0]["name"] if info and info["params"] else None
            if tname and (tname == first or tname == "self"):
                self._call("retry", target, node, options=self._kw(node), task_fn=info["function"] if info else None)
            elif tname and "task" in tname.rsplit(".", 1)[-1].lower():
                self._call("retry", target, node, options=self._kw(node))
            return
        if attr == "signature" and not tname:
            return
        if attr in ("map", "starmap", "chunks", "apply", "s", "si", "signature") and tname is None:
            # e.g. foo().map(...) -- not a task reference we can see
            if not isinstance(target, ast.Call):
                return
        if attr in ("map", "starmap", "apply") and not self._looks_like_task_ref(target):
            return
        if attr in ("delay", "apply_async") and isinstance(target, (ast.Call, ast.BinOp)):
            # chain(...).delay(), a.s() | b.s() ... .apply_async(), sig.clone().delay(): the canvas or
            # signature call is already recorded as the dispatch
            return
        options = self._kw(node) if attr == "apply_async" else {}
        if attr == "apply_async":
            if node.args and isinstance(node.args[0], (ast.Name, ast.Attribute)):
                options["_first_positional"] = segment(node.args[0], self.text)
            options["_args"] = literal(node.args[0], self.text) if node.args else options.pop("args", None)
            if len(node.args) > 1:
                options["_kwargs"] = literal(node.args[1], self.text)
        self._call(kind, target, node, options=options)

    def _looks_like_task_ref(self, target: ast.AST) -> bool:
        r = self.ref(target)
        if r is None:
            return False
        if r.startswith("?"):
            return False  # local variable: a list, a Pool, a DataFrame...
        return True

    def _kw(self, node: ast.Call) -> Options:
        out = {kw.arg: literal(kw.value, self.text) for kw in node.keywords if kw.arg}
        if any(kw.arg is None for kw in node.keywords):
            out["**"] = dynamic(", ".join(segment(kw.value, self.text) for kw in node.keywords if kw.arg is None))
        return out

    def _call(
        self,
        kind: str,
        target: ast.expr,
        node: ast.expr,
        options: Options,
        task_fn: str | None = None,
        dynamic_name: str | None = None,
        task_name: str | None = None,
    ) -> None:
        if self._in_schedule and kind in ("s", "si", "signature"):
            options = {**options, "_in_schedule": True}
        self.calls.append(
            {
                "kind": kind,
                "line": node.lineno,
                "column": node.col_offset,
                "target": segment(target, self.text) if isinstance(target, ast.AST) else str(target),
                "target_ref": self.ref(target) if isinstance(target, ast.AST) else None,
                "options": options,
                "on_commit": self._on_commit > 0,
                "dynamic_name": dynamic_name,
                "task_name": task_name,
                "task_fn": task_fn,
                "in_function": getattr(self._funcs[-1], "name", None) if self._funcs else None,
            }
        )

    def _simple_call(self, kind: str, node: ast.expr, target: str) -> None:
        opts = self._kw(node) if isinstance(node, ast.Call) else {}
        self.calls.append(
            {
                "kind": kind,
                "line": node.lineno,
                "column": node.col_offset,
                "target": target,
                "target_ref": None,
                "options": opts,
                "on_commit": self._on_commit > 0,
                "dynamic_name": None,
                "task_name": None,
                "task_fn": None,
                "in_function": getattr(self._funcs[-1], "name", None) if self._funcs else None,
            }
        )

    def _send_task(self, node: ast.Call) -> None:
        name_node = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
        opts = {k: v for k, v in self._kw(node).items() if k != "name"}
        if len(node.args) > 1:
            opts["_args"] = literal(node.args[1], self.text)
        if len(node.args) > 2:
            opts["_kwargs"] = literal(node.args[2], self.text)
        value = literal(name_node, self.text) if name_node is not None else None
        if isinstance(value, str):
            self._call("send_task", node.func, node, options=opts, task_name=value)
        else:
            src = segment(name_node, self.text) if name_node is not None else "<missing>"
            self._call("send_task", node.func, node, options=opts, dynamic_name=src)

    # beat schedules
    def _schedule_container(self, value: ast.expr, container: str, source: str, stmt: ast.AST) -> None:
        if isinstance(value, ast.Name) and value.id in self._module_dicts:
            value = self._module_dicts[value.id]
        if isinstance(value, ast.Dict):
            self._consumed.add(id(value))
            for k, v in zip(value.keys, value.values):
                if k is None:  # {**BASE}
                    if isinstance(v, ast.Name) and v.id in self._module_dicts:
                        self._schedule_container(v, container, source, stmt)
                    else:
                        self._dynamic_schedule(v, container, source, reason="spread")
                    continue
                self._schedule_entry(literal(k, self.text), v, container=container, source=source, line=k.lineno)
        elif isinstance(value, ast.Call) and _name(value.func) == "dict":
            self._consumed.add(id(value))
            for kw in value.keywords:
                if kw.arg:
                    self._schedule_entry(kw.arg, kw.value, container=container, source=source, line=kw.value.lineno)
                else:
                    self._dynamic_schedule(kw.value, container, source, reason="spread")
        elif isinstance(value, ast.DictComp):
            self._consumed.add(id(value.value))
            self._dynamic_schedule(value, container, source, reason="loop")
        else:
            self._dynamic_schedule(value, container, source, reason="settings")

    def _dynamic_schedule(self, value: ast.expr, container: str, source: str, reason: str) -> None:
        src = segment(value, self.text)
        self.schedules.append(
            {
                "entry": None,
                "task": None,
                "line": value.lineno,
                "source": source,
                "container": container,
                "kind": "dynamic",
                "celery": {"expr": src},
                "args": None,
                "kwargs": None,
                "options": None,
                "relative": False,
                "in_loop": self._loops > 0 or reason == "loop",
                "from_settings": reason in ("settings", "spread"),
            }
        )

    def _schedule_entry(self, key: Value, value: ast.expr, container: str, source: str, line: int) -> None:
        if isinstance(value, ast.Name) and value.id in self._module_dicts:
            value = self._module_dicts[value.id]
        fields: dict[str, ast.expr] = {}
        if isinstance(value, ast.Dict):
            self._consumed.add(id(value))
            for k, v in zip(value.keys, value.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    fields[k.value] = v
        elif isinstance(value, ast.Call) and _name(value.func) == "dict":
            self._consumed.add(id(value))
            fields = {kw.arg: kw.value for kw in value.keywords if kw.arg}
        else:
            self.schedules.append(
                {
                    "entry": key if isinstance(key, str) else None,
                    "task": None,
                    "line": line,
                    "source": source,
                    "container": container,
                    "kind": "dynamic",
                    "celery": {"expr": segment(value, self.text)},
                    "args": None,
                    "kwargs": None,
                    "options": None,
                    "relative": False,
                    "in_loop": self._loops > 0,
                    "from_settings": True,
                }
            )
            return
        entry = key if isinstance(key, str) else None
        self._emit_schedule(entry, key, fields, container, source, line)

    def _emit_schedule(
        self,
        entry: str | None,
        key: Value,
        fields: Mapping[str, ast.expr | None],
        container: str,
        source: str,
        line: int,
        task_override: Value | TaskRef = None,
    ) -> None:
        kind, celery, from_settings = self._schedule_kind(fields.get("schedule"))
        task = task_override if task_override is not None else literal(fields.get("task"), self.text)
        rec: ScheduleFact = {
            "entry": entry,
            "task": task,
            "line": line,
            "source": source,
            "container": container,
            "kind": kind,
            "celery": celery,
            "args": literal(fields.get("args"), self.text) if "args" in fields else None,
            "kwargs": literal(fields.get("kwargs"), self.text) if "kwargs" in fields else None,
            "options": literal(fields.get("options"), self.text) if "options" in fields else None,
            "relative": literal(fields.get("relative"), self.text)
            if "relative" in fields
            else self._schedule_relative(fields.get("schedule")),
            "in_loop": self._loops > 0,
            "from_settings": from_settings,
            "extra_keys": sorted(k for k in fields if k not in ENTRY_KEYS),
        }
        if entry is None and key is not None and not isinstance(key, str):
            rec["entry_src"] = key.get("dynamic") if isinstance(key, dict) else str(key)
        self.schedules.append(rec)

    def _schedule_kind(self, node: ast.AST | None, depth: int = 0) -> tuple[str, dict[str, Value], bool]:
        if node is None:
            return "dynamic", {"expr": "<missing schedule>"}, False
        if isinstance(node, ast.Name) and node.id in self._module_values and depth < 3:
            return self._schedule_kind(self._module_values[node.id], depth + 1)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return "interval", {"seconds": float(node.value)}, False
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):  # 60.0 * 20.0, 24 * 3600: a number Celery reads as seconds
            seconds = _number(node)
            if seconds is not None:
                return "interval", {"seconds": seconds}, False
        if isinstance(node, ast.Call):
            r = self.ref(node.func) or ""
            short = r.rsplit(".", 1)[-1].lstrip("?")
            if r in CRONTAB or short == "crontab":
                return "crontab", self._crontab(node), False
            if (
                r.endswith("crontab.from_string")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "from_string")
            ) and node.args:
                return "crontab", {"from_string": literal(node.args[0], self.text)}, False
            if r in TIMEDELTA or short == "timedelta":
                secs = self._timedelta(node)
                return "interval", ({"seconds": secs} if isinstance(secs, float) else secs), False
            if r in SCHEDULE_CLS or short == "schedule":
                run_every = (
                    node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "run_every"), None)
                )
                kind, inner, fs = self._schedule_kind(run_every, depth + 1)
                out = (
                    dict(inner)
                    if kind == "interval"
                    else {"dynamic": segment(run_every, self.text) if run_every else "<missing>"}
                )
                return "schedule", out, fs
            if r in SOLAR or short == "solar":
                return "solar", {"expr": segment(node, self.text)}, False
            src = segment(node, self.text)
            return ("custom" if short[:1].isupper() else "dynamic"), {"expr": src}, "settings" in src
        src = segment(node, self.text)
        return "dynamic", {"expr": src}, ("settings" in src or "getenv" in src or "environ" in src)

    def _schedule_relative(self, node: ast.AST | None) -> Value:
        """``schedule(run_every=..., relative=True)``: the flag given to the schedule object itself."""
        if isinstance(node, ast.Call) and (self.ref(node.func) or "").rsplit(".", 1)[-1].lstrip("?") == "schedule":
            for kw in node.keywords:
                if kw.arg == "relative":
                    return literal(kw.value, self.text)
            if len(node.args) > 1:
                return literal(node.args[1], self.text)
        return False

    def _crontab(self, node: ast.Call) -> dict[str, Value]:
        out: dict[str, Any] = {}
        for i, arg in enumerate(node.args[:5]):
            out[CRONTAB_POSITIONAL[i]] = literal(arg, self.text)
        for kw in node.keywords:
            if kw.arg in CRONTAB_POSITIONAL:
                out[kw.arg] = literal(kw.value, self.text)
            elif kw.arg:
                out.setdefault("_other", {})[kw.arg] = segment(kw.value, self.text)
        return out

    def _timedelta(self, node: ast.Call) -> float | dict[str, str]:
        total = 0.0
        try:
            for i, arg in enumerate(node.args[:7]):
                total += float(ast.literal_eval(arg)) * TIMEDELTA_FACTORS[TIMEDELTA_POSITIONAL[i]]
            for kw in node.keywords:
                total += float(ast.literal_eval(kw.value)) * TIMEDELTA_FACTORS[kw.arg]  # type: ignore[index]
        except (ValueError, TypeError, SyntaxError, KeyError):
            return {"dynamic": segment(node, self.text)}
        return total

    def _add_periodic_task(self, node: ast.Call) -> None:
        sched = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "schedule"), None)
        sig = (
            node.args[1]
            if len(node.args) > 1
            else next((k.value for k in node.keywords if k.arg in ("sig", "signature")), None)
        )
        kws = {k.arg: k.value for k in node.keywords if k.arg}
        name = literal(kws["name"], self.text) if "name" in kws else None
        task: Value | TaskRef = None
        args_node = node.args[2] if len(node.args) > 2 else kws.get("args")
        kwargs_node = node.args[3] if len(node.args) > 3 else kws.get("kwargs")
        sig_args = None
        sig_kwargs: Options = {}
        if (
            isinstance(sig, ast.Call)
            and isinstance(sig.func, ast.Attribute)
            and sig.func.attr in ("s", "si", "signature")
        ):
            task = {"ref": self.ref(sig.func.value), "src": segment(sig.func.value, self.text)}
            sig_args = [literal(a, self.text) for a in sig.args]
            sig_kwargs = {k.arg: literal(k.value, self.text) for k in sig.keywords if k.arg}
        elif isinstance(sig, ast.Call) and self.ref(sig.func) in CANVAS["signature"] and sig.args:
            task = literal(sig.args[0], self.text)
        elif sig is not None:
            task = {"ref": self.ref(sig), "src": segment(sig, self.text)}
        fields = {"schedule": sched}
        rec_task = task
        opts = {
            k: literal(v, self.text) for k, v in kws.items() if k not in ("name", "args", "kwargs", "schedule", "sig")
        }
        self._emit_schedule(
            name if isinstance(name, str) else None,
            name,
            fields,
            container="add_periodic_task",
            source="add_periodic_task",
            line=node.lineno,
            task_override=rec_task if rec_task is not None else dynamic("<missing>"),
        )
        rec = self.schedules[-1]
        rec["args"] = literal(args_node, self.text) if args_node is not None else (sig_args or None)
        rec["kwargs"] = literal(kwargs_node, self.text) if kwargs_node is not None else (sig_kwargs or None)
        rec["options"] = opts or None
        if name is None:
            rec["entry_default"] = True  # Celery names it repr(sig)

    def _config_from_object(self, func: ast.Attribute, node: ast.Call) -> None:
        arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "obj"), None)
        obj = literal(arg, self.text) if arg is not None else None
        ns = next((literal(k.value, self.text) for k in node.keywords if k.arg == "namespace"), None)
        value: ConfigSourceValue = {"obj": obj, "namespace": ns}
        if arg is not None:
            value["source"] = self._source_fact(arg)
            value["line"] = node.lineno
        config_set: AppConfigSet = {
            "app": self.ref(func.value),
            "attr": "config_from_object",
            "value": value,
            "line": node.lineno,
        }
        self.app_attr_sets.append(config_set)

    def _conf_update(self, func: ast.Attribute, node: ast.Call) -> None:
        items: list[tuple[str, ast.expr]] = [(k.arg, k.value) for k in node.keywords if k.arg]
        app_ref = self.ref(func.value.value) if isinstance(func.value, ast.Attribute) else None
        for arg in list(node.args) + [k.value for k in node.keywords if k.arg is None]:
            if isinstance(arg, ast.Dict) and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) for k in arg.keys
            ):
                items.extend(
                    (k.value, v)
                    for k, v in zip(arg.keys, arg.values)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                )
            else:  # conf.update(SOME_DICT) / conf.update(**x) / conf.update(dict(...)): resolve.py reads it
                update: AppConfigSet = {
                    "app": app_ref,
                    "attr": "conf.update",
                    "line": node.lineno,
                    "value": {
                        "source": self._source_fact(arg),
                        "line": node.lineno,
                        "via": f"{_name(func.value) or 'app.conf'}.update()",
                    },
                }
                self.app_attr_sets.append(update)
        container = f"{_name(func.value) or 'app.conf'}"
        for key, value in items:
            if key in SCHEDULE_NAMES:
                self._schedule_container(value, container=f"{container}.{key}", source="conf.update", stmt=node)
            norm = SETTING_ALIASES.get(key) or (key if key.islower() else None)
            if norm:
                fact: SettingFact = {
                    "name": norm,
                    "raw_name": f"{container}.update({key}=)",
                    "value": literal(value, self.text),
                    "line": value.lineno,
                    "layer": "changes",
                    "app": app_ref,
                }
                why = self._local_why(value) if self._funcs else None
                if why:
                    fact["why"] = why
                self.settings.append(fact)

    # config sources: what resolve.py needs to read them as Celery does
    def _local_names(self) -> set[str]:
        """Names bound in the enclosing function (parameters, assignments, loop targets ...)."""
        if not self._funcs:
            return set()
        fn = self._funcs[-1]
        cached: set[str] | None = getattr(fn, "_saqmigrate_locals", None)
        if cached is None:
            a = fn.args
            cached = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
            cached |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
            declared_global: set[str] = set()
            for n in ast.walk(fn):
                if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                    cached.add(n.id)
                elif isinstance(n, (ast.Global, ast.Nonlocal)):
                    declared_global.update(n.names)
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    cached.update((x.asname or x.name).split(".")[0] for x in n.names)
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not fn:
                    cached.add(n.name)
            cached -= declared_global
            setattr(fn, "_saqmigrate_locals", cached)  # noqa: B010 - a cache on the node, not an ast field
        return cached

    def _local_why(self, node: ast.expr) -> str | None:
        """Why ``node`` (inside a function) cannot be evaluated at module level, or None when it can."""
        local = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & self._local_names())
        if not local:
            return None
        fn = getattr(self._funcs[-1], "name", "<function>")
        return f"`{local[0]}` is a local variable of {fn}()"

    def _inline_local(self, node: ast.expr) -> ast.expr:
        """A local name bound once, by a plain top-level assignment of the function, and used nowhere
        else (so never changed in place) stands for the value assigned to it."""
        if not (self._funcs and isinstance(node, ast.Name) and node.id in self._local_names()):
            return node
        fn = self._funcs[-1]
        uses = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == node.id]
        stores = [n for n in uses if isinstance(n.ctx, ast.Store)]
        if len(uses) != 2 or len(stores) != 1:
            return node
        for stmt in fn.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and stmt.targets[0] is stores[0]
                and stmt.lineno < node.lineno
            ):
                return stmt.value
        return node

    def _source_fact(self, node: ast.expr) -> SourceFact:
        """What a config source expression is (resolve.py reads it): a Flask config item, a module path,
        an expression evaluable at module level (values.py), or something local to a function."""
        node = self._inline_local(node)
        src = segment(node, self.text)
        key = _flask_config_key(node)
        if key is not None:
            return {"kind": "flask_config", "key": key, "src": src}
        if isinstance(node, ast.Attribute) and node.attr == "config" and self._flaskish():
            return {"kind": "flask_config_all", "src": src}
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {"kind": "import_path", "src": src, "path": node.value}
        items = _mapping_items(node)
        if items is not None:  # {...} / dict(k=v, ...): item by item (a long literal's source text is abbreviated)
            return {"kind": "mapping", "src": src, "items": {k: self._item_fact(v) for k, v in items}}
        why = self._local_why(node)
        if why:
            return {"kind": "local", "src": src, "why": why}
        return {"kind": "expr", "src": src}

    def _item_fact(self, node: ast.expr) -> ItemFact:
        lit = literal(node, self.text)
        if not is_dynamic_value(lit):
            return {"value": lit}
        return {"source": self._source_fact(node)}

    def _flaskish(self) -> bool:
        return any(v.split(".")[0] in ("flask", "quart") for v in self.imports.values())

    def _flask_write(self, key: str, value: ast.expr, line: int, how: str) -> None:
        fact: FlaskConfigFact = {"kind": "set", "key": key, "line": line, "how": how, "func": self._func_name()}
        value = self._inline_local(value)
        lit = literal(value, self.text)
        item = self._item_fact(value)
        if "value" in item:
            fact["value"] = item["value"]
        else:
            fact["source"] = item["source"]
        self.flask_config.append(fact)
        if key.startswith("CELERY_") and key not in SCHEDULE_NAMES:  # read like a Flask config class's attribute
            norm = SETTING_ALIASES.get(key) or key[len("CELERY_") :].lower()
            setting: SettingFact = {"name": norm, "raw_name": f"app.config[{key!r}]", "value": lit, "line": line}
            why = self._local_why(value) if self._funcs else None
            if why:
                setting["why"] = why
            self.settings.append(setting)

    def _func_name(self) -> str | None:
        return getattr(self._funcs[-1], "name", None) if self._funcs else None

    def _flask_config_call(self, attr: str, func: ast.Attribute, node: ast.Call) -> None:
        """``app.config.from_mapping(CELERY=...)``, ``.update(...)``, ``.setdefault(k, v)``, ``.from_object(x)``,
        the file and environment loaders: what may set a key of a Flask config."""
        owner = func.value.value if isinstance(func.value, ast.Attribute) else func.value
        if not self._flaskish() and not (_name(owner) or "").endswith("current_app"):
            return

        def fact(kind: Literal["unknown", "from_object", "env", "loader"]) -> FlaskConfigFact:
            return {"kind": kind, "line": node.lineno, "func": self._func_name(), "src": segment(node, self.text)}

        if attr in ("from_mapping", "update"):
            for kw in node.keywords:
                if kw.arg:
                    self._flask_write(kw.arg, kw.value, node.lineno, attr)
                else:
                    self.flask_config.append(fact("unknown"))
            for arg in node.args:
                if isinstance(arg, ast.Dict) and all(
                    isinstance(k, ast.Constant) and isinstance(k.value, str) for k in arg.keys
                ):
                    for k, v in zip(arg.keys, arg.values):
                        if isinstance(k, ast.Constant) and isinstance(k.value, str):
                            self._flask_write(k.value, v, node.lineno, attr)
                else:
                    self.flask_config.append(fact("unknown"))
        elif (
            attr == "setdefault"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and len(node.args) > 1
        ):
            self._flask_write(node.args[0].value, node.args[1], node.lineno, attr)
        elif attr == "from_object" and node.args:
            loaded = fact("from_object")
            loaded["source"] = self._source_fact(node.args[0])
            self.flask_config.append(loaded)
        elif attr == "from_prefixed_env":
            prefix = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "prefix"), None)
            p = literal(prefix, self.text) if prefix is not None else "FLASK"
            env = fact("env")
            env["prefix"] = p if isinstance(p, str) else None
            self.flask_config.append(env)
        elif attr in ("from_pyfile", "from_file", "from_envvar"):
            self.flask_config.append(fact("loader"))

    def _flask_config_item(self, target: ast.Subscript, value: ast.expr, stmt: ast.stmt) -> None:
        """``app.config["CELERY"] = {...}`` (a write) or ``app.config["CELERY"]["x"] = v`` (a change in place)."""
        if not self._flaskish():
            return
        key = _flask_config_key(target)
        if key is not None:
            self._flask_write(key, value, stmt.lineno, "item")
            return
        inner = _flask_config_key(target.value)
        if inner is not None:
            self._flask_config_mutation(inner, stmt)

    def _flask_config_mutation(self, key: str, node: ast.stmt | ast.expr) -> None:
        if self._flaskish():
            self.flask_config.append(
                {
                    "kind": "mutation",
                    "key": key,
                    "line": node.lineno,
                    "func": self._func_name(),
                    "src": segment(node, self.text),
                }
            )

    # a list of entry dicts a loop turns into beat entries
    def visit_List(self, node: ast.List | ast.Tuple) -> None:
        items = [e for e in node.elts if isinstance(e, ast.Dict)]
        if items and len(items) == len(node.elts) and self._schedule_hint:
            for d in items:
                fields = {
                    k.value: v
                    for k, v in zip(d.keys, d.values)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                }
                task = literal(fields.get("task"), self.text) if "task" in fields else None
                if not (isinstance(task, str) and "." in task) or id(d) in self._consumed:
                    continue
                self._consumed.add(id(d))
                name = literal(fields.get("name"), self.text) if "name" in fields else None
                kind, celery, _ = (
                    self._schedule_kind(fields.get("schedule"))
                    if "schedule" in fields
                    else ("dynamic", {"expr": "set by the loop that turns this list into beat entries"}, True)
                )
                self.schedules.append(
                    {
                        "entry": name if isinstance(name, str) else None,
                        "task": task,
                        "line": d.lineno,
                        "source": "entry_list",
                        "container": "",
                        "kind": kind,
                        "celery": celery,
                        "args": literal(fields.get("args"), self.text) if "args" in fields else None,
                        "kwargs": literal(fields.get("kwargs"), self.text) if "kwargs" in fields else None,
                        "options": literal(fields.get("options"), self.text) if "options" in fields else None,
                        "relative": False,
                        "in_loop": True,
                        "from_settings": "schedule" not in fields,
                    }
                )
        self.generic_visit(node)

    visit_Tuple = visit_List

    # any dict literal with task + schedule
    def visit_Dict(self, node: ast.Dict) -> None:
        if id(node) not in self._consumed:
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if "task" in keys and "schedule" in keys:
                fields = {
                    k.value: v
                    for k, v in zip(node.keys, node.values)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                }
                self._consumed.add(id(node))
                self._emit_schedule(None, None, fields, container="", source="dict_literal", line=node.lineno)
            else:
                # a dict of entries: {'name': {'task':..., 'schedule':...}}
                for k, v in zip(node.keys, node.values):
                    if isinstance(v, ast.Dict) and id(v) not in self._consumed:
                        vkeys = {x.value for x in v.keys if isinstance(x, ast.Constant)}
                        if "task" in vkeys and "schedule" in vkeys:
                            self._schedule_entry(
                                literal(k, self.text) if k is not None else None,
                                v,
                                container="",
                                source="dict_literal",
                                line=(k or v).lineno,
                            )
        self.generic_visit(node)


_REGISTRATION_HINT = re.compile(
    r"\.task\(\s*[A-Za-z_]|shared_task\(\s*[A-Za-z_]|\.task\([^()]*\)\(|register_task|_task\(\s*[A-Za-z_][\w.]*\s*\)"
)
_NOT_TASK_DECORATORS = {
    "?property",
    "?staticmethod",
    "?classmethod",
    "?cached_property",
    "?abstractmethod",
    "?overload",
    "?override",
    "?wraps",
    "?contextmanager",
    "?asynccontextmanager",
}
_NOT_TASK_PREFIXES = (
    "functools.",
    "abc.",
    "contextlib.",
    "typing.",
    "typing_extensions.",
    "dataclasses.",
    "unittest.",
    "pytest.",
    "enum.",
    "atexit.",
    "asyncio.",
    "django.utils.",
    "django.views.",
    "django.contrib.",
    "django.test.",
    "django.urls.",
    "django.db.models.",
    "click.",
    "flask.",
    "pydantic.",
    "sqlalchemy.",
    "numpy.",
    "builtins.",
)


# Flask's Config methods that may set keys (flask/config.py)
FLASK_CONFIG_CALLS = {
    "from_mapping",
    "update",
    "setdefault",
    "from_object",
    "from_prefixed_env",
    "from_pyfile",
    "from_file",
    "from_envvar",
}
# Celery(...) keywords that are settings (celery/app/base.py: Celery.__init__ hands **kwargs to app.conf)
CELERY_CTOR_SETTINGS = {
    "task_ignore_result",
    "task_default_queue",
    "task_routes",
    "timezone",
    "enable_utc",
    "task_time_limit",
    "task_soft_time_limit",
    "task_acks_late",
    "task_serializer",
    "result_expires",
    "task_track_started",
    "task_default_rate_limit",
    "beat_schedule",
}


def is_dynamic_value(v: Value) -> bool:
    return isinstance(v, dict) and set(v) == {"dynamic"}


def _flask_config_key(node: ast.AST) -> str | None:
    """``X.config["KEY"]`` / ``X.config.get("KEY")`` -> "KEY"."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "config"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "config"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _mapping_items(node: ast.AST) -> list[tuple[str, ast.expr]] | None:
    """``{"k": v, ...}`` / ``dict(k=v, ...)`` with literal string keys and no ``**``: its items, else None."""
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
        return [(k.value, v) for k, v in zip(node.keys, node.values)]  # type: ignore[union-attr]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(kw.arg for kw in node.keywords)
    ):
        return [(kw.arg, kw.value) for kw in node.keywords]  # type: ignore[misc]
    return None


def _conf_owner(stmt: ast.AST) -> ast.expr | None:
    """``app`` in ``app.conf.x = v``."""
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else getattr(stmt, "target", None)
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute) and target.value.attr == "conf":
        return target.value.value
    return None


def _registry_lookup(target: ast.AST) -> ast.expr | None:
    """The name argument of ``<app>.tasks.get(name)`` / ``<app>.tasks[name]``, else None."""
    if (
        isinstance(target, ast.Call)
        and isinstance(target.func, ast.Attribute)
        and target.func.attr == "get"
        and isinstance(target.func.value, ast.Attribute)
        and target.func.value.attr == "tasks"
        and target.args
    ):
        return target.args[0]
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) and target.value.attr == "tasks":
        return target.slice
    return None


def _number(node: ast.AST) -> float | None:
    """Literal arithmetic on numbers (translate/options.py's evaluator), else None."""
    from saqmigrate.translate.options import _Dynamic, _eval_number_node

    try:
        value = _eval_number_node(node, "")
    except (_Dynamic, RecursionError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _may_be_task_decorator(ref: str) -> bool:
    if ref in _NOT_TASK_DECORATORS or ref.startswith(_NOT_TASK_PREFIXES):
        return False
    return not (ref.startswith("?") and "." not in ref and ref[1:] in ("property", "setter"))


def _source_for(tname: str) -> str:
    short = tname.rsplit(".", 1)[-1]
    if "." in tname:
        return "conf.beat_schedule" if ".conf." in f".{tname}" or tname.endswith("conf.beat_schedule") else short
    return short


def _is_sig(node: ast.AST, ex: Extractor) -> bool:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("s", "si", "signature"):
            return True
        r = ex.ref(node.func) or ""
        return any(r in names for names in CANVAS.values())
    return False


def _params(
    node: ast.FunctionDef | ast.AsyncFunctionDef, text: Source | str, skip_self: bool = False
) -> list[ParamFact]:
    a = node.args
    out: list[ParamFact] = []
    positional = list(a.posonlyargs) + list(a.args)
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, arg in enumerate(positional):
        kind = "positional_only" if i < len(a.posonlyargs) else "positional"
        d = defaults[i]
        out.append(
            {
                "name": arg.arg,
                "kind": kind,
                "default": literal(d, text) if d is not None else None,
                "has_default": d is not None,
            }
        )
    if a.vararg:
        out.append({"name": a.vararg.arg, "kind": "var_positional", "default": None, "has_default": False})
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append(
            {
                "name": arg.arg,
                "kind": "keyword_only",
                "default": literal(d, text) if d is not None else None,
                "has_default": d is not None,
            }
        )
    if a.kwarg:
        out.append({"name": a.kwarg.arg, "kind": "var_keyword", "default": None, "has_default": False})
    if skip_self and out and out[0]["name"] in ("self", "cls"):
        out = out[1:]
    return out


def _features(node: ast.AST, ex: Extractor, bound: bool) -> Features:
    request_attrs: set[str] = set()
    blocking: dict[str, int] = {}
    retry = update_state = uses_self = replace = False
    first = None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args.posonlyargs + node.args.args
        first = args[0].arg if args else None
    local_imports: dict[str, str] = {}  # `import time as t` inside the body binds t like a module import
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            for a in sub.names:
                local_imports[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(sub, ast.ImportFrom) and not sub.level and sub.module:
            for a in sub.names:
                local_imports[a.asname or a.name] = f"{sub.module}.{a.name}"
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Attribute)
            and isinstance(sub.value, ast.Attribute)
            and isinstance(sub.value.value, ast.Name)
            and sub.value.value.id == first
            and sub.value.attr == "request"
        ):
            request_attrs.add(sub.attr)
        if isinstance(sub, ast.Call):
            fname = _name(sub.func) or ""
            if first and fname == f"{first}.retry":
                retry = True
            if first and fname == f"{first}.update_state":
                update_state = True
            if first and fname == f"{first}.replace":
                replace = True
            head, _, rest = fname.partition(".")
            if head in local_imports:
                r = local_imports[head] + (f".{rest}" if rest else "")
            else:
                r = (ex.ref(sub.func) or fname).lstrip("?")
            for pattern, label in BLOCKING:
                if pattern.search(r) or (label == "django ORM" and pattern.search(fname)):
                    blocking.setdefault(label, sub.lineno)
                    break
        if isinstance(sub, ast.Name) and first and sub.id == first:
            uses_self = True
    return {
        "request_attrs": sorted(request_attrs),
        "self_retry": retry,
        "update_state": update_state,
        "blocking": blocking,
        "uses_first_arg": uses_self,
        "self_replace": replace,
    }


def suppressions(text: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if "saqmigrate" not in text:
        return out
    for i, line in enumerate(text.splitlines(), 1):
        m = SUPPRESS.search(line)
        if m:
            codes = [c.strip() for c in (m.group(1) or "*").split(",") if c.strip()]
            out[i] = codes
    return out


def extract(tree: ast.Module, text: str, module: str, is_package: bool) -> Facts:
    ex = Extractor(text, module, is_package)
    # a first pass over module-level imports/defs so forward references resolve
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            ex.visit(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            ex.defs[stmt.name] = "class" if isinstance(stmt, ast.ClassDef) else "function"
    _rebindings(ex, tree)
    _decorator_factories(ex, tree)
    ex.visit(tree)
    for cls in ex.classes:
        if any(b in CELERY_CLS for b in cls["bases"]):
            ex.apps.append(
                {
                    "name": cls["name"],
                    "line": cls["line"],
                    "kind": "subclass",
                    "main": None,
                    "task_cls": cls["attrs"].get("task_cls"),
                    "options": {},
                    "config_from_object": [],
                    "in_function": cls["nested"],
                }
            )
    return {
        "v": FACTS_VERSION,
        "module": module,
        "is_package": is_package,
        "imports": ex.imports,
        "star_imports": ex.star_imports,
        "defs": ex.defs,
        "assign_calls": ex.assign_calls,
        "assign_lines": ex.assign_lines,
        "apps": ex.apps,
        "app_attr_sets": ex.app_attr_sets,
        "decorated": ex.decorated,
        "aliases": ex.aliases,
        "decorator_factories": ex.decorator_factories,
        "task_builders": ex.task_builders,
        "registrations": ex.registrations,
        "classes": ex.classes,
        "factories": ex.factories,
        "functions": ex.functions,
        "schedules": ex.schedules,
        "calls": ex.calls,
        "settings": ex.settings,
        "uses_celery": ex.uses_celery,
        "suppress": suppressions(text),
        "django_settings": ex.django_settings,
        "flask_config": ex.flask_config,
        "uses_django": any(v == "django" or v.startswith("django.") for v in ex.imports.values()),
        "attr_writes": attribute_writes(tree, module, is_package) if may_write_attributes(text) else [],
    }


def _rebindings(ex: Extractor, tree: ast.Module) -> None:
    """``project_task = shared_task`` / ``task = app.task`` / ``Base = other.Base`` at module level,
    bound once: the name means what the right-hand side means, as an import would. Recorded with the
    imports so every later lookup (decorators, bases, re-exports from a package ``__init__``) follows it."""
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        name = stmt.targets[0].id
        if counts.get(name) != 1 or name in ex.imports or not isinstance(stmt.value, (ast.Name, ast.Attribute)):
            continue
        if isinstance(stmt.value, ast.Attribute) and stmt.value.attr == "task":
            continue  # `task = app.task`: recorded as a decorator alias by _assign
        r = ex.ref(stmt.value)
        if r and not r.startswith("?") and r != f"{ex.module}.{name}":
            ex.imports[name] = r


def extract_imports_only(tree: ast.Module, module: str, is_package: bool) -> Facts:
    """For files without trigger words that resolution needs (re-exporting ``__init__.py``)."""
    ex = Extractor("", module, is_package)
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            ex.visit(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            ex.defs[stmt.name] = "function"
    return {
        "v": FACTS_VERSION,
        "module": module,
        "is_package": is_package,
        "imports": ex.imports,
        "star_imports": ex.star_imports,
        "defs": ex.defs,
        "imports_only": True,
    }


# attribute writes (the native prover's rebinding facts)
# A look at the text before any parse, for files the scan would not parse: each pattern starts with a literal
# (``.``, ``del``, ``attr``, ``import``, ``class``), which the regex engine searches for fast (a pattern
# anchored with ``^`` under re.M is tried at every position: 10x the cost on the corpus); possessive
# quantifiers (``\w*+``) keep a name that is not written from being backtracked letter by letter (3x).
#: ``.a = `` / ``.a += `` / ``.a: T = `` (not ``==``): the end of an attribute write
_WRITE_END = re.compile(r"\.[ \t]*+[A-Za-z_]\w*+[ \t]*+(?::[^=\n]+)?(?:[-+*/%&|^@]|//|\*\*|<<|>>)?=(?!=)")
#: the line before it, up to the head: ``X.b`` after an indent, ``del``, ``a = `` (chained) or ``if c: ``
_WRITE_HEAD = re.compile(
    r"(?:[^\n]*[:;][ \t]*)?(?:[A-Za-z_][\w. \t]*=[ \t]*)*[ \t]*(?:del[ \t(]+)?"
    r"([A-Za-z_]\w*)[ \t]*(?:\.[ \t]*[A-Za-z_]\w*[ \t]*)*$"
)
_DEL_SITE = re.compile(r"del[ \t(]+([A-Za-z_]\w*)[ \t]*\.")
_SETATTR_SITE = re.compile(r"attr[ \t]*\([ \t\n]*([A-Za-z_]\w*)")
#: a store into a container: a line ``X[...] = v`` / ``X.a[...] += v`` (one attempt per line), or a mutator
#: call ``X.a.append(`` (found by its method, the head read backwards): stdlib heads (``sys.path.append``,
#: ``os.environ[k] = v``) do not count, only what a project imports can be its container
_ITEM_STORE_END = re.compile(r"\][ \t]*+(?:[-+*/%&|^@]|//|\*\*|<<|>>)?=(?!=)")
_ITEM_STORE_HEAD = re.compile(r"[ \t]*+([A-Za-z_]\w*+)(?:[ \t]*+\.[ \t]*+[A-Za-z_]\w*+)*+[ \t]*+\[")
#: methods that store into a container (a list, dict, set, deque)
CONTAINER_MUTATORS = frozenset(
    {"append", "extend", "insert", "update", "setdefault", "add", "__setitem__", "appendleft", "extendleft"}
)
_MUTATOR_CALL = re.compile(r"\.[ \t]*(?:" + "|".join(sorted(CONTAINER_MUTATORS)) + r")[ \t]*\(")
_STDLIB = frozenset(sys.stdlib_module_names)
_HEAD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_. \t")


def _item_heads(text: str) -> set[str]:
    heads: set[str] = set()
    for m in _ITEM_STORE_END.finditer(text):  # ``] =``: the line's head, if the line starts ``X[`` / ``X.a[``
        line = _ITEM_STORE_HEAD.match(text, text.rfind("\n", 0, m.start()) + 1)
        if line:
            heads.add(line.group(1))
    for m in _MUTATOR_CALL.finditer(text):
        i = m.start()
        while i > 0 and text[i - 1] in _HEAD_CHARS:
            i -= 1
        head = text[i : m.start()].strip().split(".", 1)[0].strip()
        if head.isidentifier():
            heads.add(head)
    return heads - _STDLIB


_IMPORTED = re.compile(r"import[ \t]*(\([^)]*\)|[^\n]*)")
_CLASS = re.compile(r"class[ \t]+(\w+)")
_WORD_RE = re.compile(r"\w+")


def may_write_attributes(data: str | bytes) -> bool:
    """Whether a file may write an attribute of a name it imports or a class it defines: a write site (``X.a
    = v`` ..., ``del X.a``, ``setattr(X, ...)``) whose head ``X`` is a word an import statement or a ``class``
    binds. A superset: the parse (``attribute_writes``) decides."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    heads: set[str] = set()
    for m in _WRITE_END.finditer(text):
        head = _WRITE_HEAD.match(text, text.rfind("\n", 0, m.start()) + 1, m.start())
        if head:
            heads.add(head.group(1))
    if "del" in text:
        heads.update(m.group(1) for m in _DEL_SITE.finditer(text))
    if "attr" in text:
        heads.update(
            m.group(1) for m in _SETATTR_SITE.finditer(text) if text[m.start() - 3 : m.start()] in ("set", "del")
        )
    heads |= _item_heads(text)
    heads -= {"self", "cls"}
    if not heads:
        return False
    names = {w for m in _IMPORTED.finditer(text) for w in _WORD_RE.findall(m.group(1))}
    names.update(m.group(1) for m in _CLASS.finditer(text))
    return not heads.isdisjoint(names)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda


def _split_scope(body: list[ast.AST]) -> tuple[list[ast.AST], list[_Scope]]:
    """The nodes that run in this scope and the nested scopes (functions, classes, lambdas) it defines; a
    nested scope's decorators, defaults and bases run in this one."""
    own: list[ast.AST] = []
    nested: list[_Scope] = []
    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, _SCOPES):
            nested.append(n)
            if isinstance(n, ast.ClassDef):
                stack += [*n.decorator_list, *n.bases, *(k.value for k in n.keywords)]
            else:
                stack += [*getattr(n, "decorator_list", []), *n.args.defaults]
                stack += [d for d in n.args.kw_defaults if d is not None]
            continue
        own.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return own, nested


def _scope_bindings(own: list[ast.AST], params: list[str], module: str, is_package: bool) -> dict[str, str | None]:
    """name -> the dotted reference an import binds it to, or None when the scope binds it otherwise (a
    parameter, an assignment, a loop target ...). An import wins over other bindings (more writes kept)."""
    out: dict[str, str | None] = dict.fromkeys(params)
    imports: list[ast.AST] = []
    for n in own:
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.setdefault(n.id, None)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.setdefault(n.name, None)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            imports.append(n)
    for n in own:
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            for name in n.names:
                out.pop(name, None)
    if imports:
        ex = Extractor("", module, is_package)  # the names imports bind, as the facts' imports record them
        for n in imports:
            ex.visit(n)
        out.update(ex.imports)
    return out


class _Bindings:
    """A scope's bindings (``_scope_bindings``), computed only when a write in it or a nested scope asks."""

    def __init__(self, own: list[ast.AST], params: list[str], module: str, is_package: bool, is_class: bool) -> None:
        self.own, self.params, self.module, self.is_package, self.is_class = own, params, module, is_package, is_class
        self._map: dict[str, str | None] | None = None

    def map(self) -> dict[str, str | None]:
        if self._map is None:
            self._map = _scope_bindings(self.own, self.params, self.module, self.is_package)
        return self._map


def _write_site(n: ast.AST) -> tuple[ast.AST, str | None, Literal["set", "del", "item"], str] | None:
    """(the object, the attribute or None when computed, set | del | item, setattr | delattr | "") of a write.
    ``item``: a store into a container another module owns (``helpers.CACHE[k] = v``,
    ``helpers.CACHE.append(v)``; with ``from helpers import CACHE``, ``CACHE[k] = v``: the object is the
    name itself and the attribute ``""``)."""
    if isinstance(n, ast.Attribute) and isinstance(n.ctx, (ast.Store, ast.Del)):
        return n.value, n.attr, "del" if isinstance(n.ctx, ast.Del) else "set", ""
    container: ast.AST | None = None
    if isinstance(n, ast.Subscript) and isinstance(n.ctx, (ast.Store, ast.Del)):
        container = n.value
    elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in CONTAINER_MUTATORS:
        container = n.func.value
    if isinstance(container, ast.Attribute):
        return container.value, container.attr, "item", ""
    if isinstance(container, ast.Name):
        return container, "", "item", ""
    if (
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id in ("setattr", "delattr")
        and len(n.args) >= 2
    ):
        name = n.args[1]
        attr = name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None
        return n.args[0], attr, "set" if n.func.id == "setattr" else "del", n.func.id
    return None


def attribute_writes(tree: ast.Module, module: str, is_package: bool) -> list[AttrWriteFact]:
    """Every write to an attribute of a name bound by an import or a module-level class (``X.a = v``, ``X.a
    += v``, ``del X.a``, ``setattr(X, "a", v)``, ``delattr``, with ``X`` dotted), in any scope: the name is
    looked up as Python would (the function's own bindings, enclosing functions, then the module); a name
    a function binds otherwise (a parameter, a local variable: ``self.x = 1``) is not followed."""
    out: list[AttrWriteFact] = []

    def visit(own: list[ast.AST], nested: list[_Scope], scopes: list[_Bindings]) -> None:
        for n in own:
            site = _write_site(n)
            dotted = _name(site[0]) if site is not None else None
            if site is None or dotted is None:
                continue
            _, attr, how, fname = site
            head, _, rest = dotted.partition(".")
            ref = next((s.map()[head] for s in reversed(scopes) if head in s.map()), None)
            if ref is None:
                continue
            if attr == "":  # ``CACHE[k] = v`` with CACHE imported: the owner is the module it comes from
                if rest or "." not in ref:
                    continue
                ref, attr = ref.rsplit(".", 1)
                src = f"{head}[...]"
            elif how == "item":
                src = f"{dotted}.{attr}[...]"
            elif fname:
                src = f"{fname}({dotted}, " + (f"{attr!r})" if attr is not None else "<computed name>)")
            else:
                src = f"{dotted}.{attr}"
            out.append(
                {
                    "line": getattr(n, "lineno", 0),
                    "target": f"{ref}.{rest}" if rest else ref,
                    "attr": attr,
                    "how": how,
                    "src": src,
                }
            )
        for fn in nested:
            body: list[ast.AST] = [fn.body] if isinstance(fn, ast.Lambda) else list(fn.body)
            inner_own, inner_nested = _split_scope(body)
            params: list[str] = []
            if not isinstance(fn, ast.ClassDef):
                a = fn.args
                params = [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p is not None]
            is_class = isinstance(fn, ast.ClassDef)
            # a class body's names are not visible in the scopes nested in it: only functions' scopes enclose
            outer = [s for s in scopes if not s.is_class]
            visit(inner_own, inner_nested, [*outer, _Bindings(inner_own, params, module, is_package, is_class)])

    own, nested = _split_scope(list(tree.body))
    top = _Bindings(own, [], module, is_package, False)
    names = top.map()
    for n in nested:
        if isinstance(n, ast.ClassDef) and names.get(n.name) is None:
            names[n.name] = f"{module}.{n.name}" if module else n.name
    visit(own, nested, [top])
    out.sort(key=lambda w: w["line"])
    return out


# decorator factories
_FUNC = (ast.FunctionDef, ast.AsyncFunctionDef)


def _own_nodes(fn: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function's own body (not of functions, classes or lambdas nested in it)."""
    stack = list(getattr(fn, "body", []))
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield n
        stack.extend(ast.iter_child_nodes(n))


class _ParamSlot(TypedDict):
    index: int | None  # positional index after ``skip`` (None: keyword-only)
    default: Value
    has_default: bool


def _param_table(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, text: Source, skip: int = 0
) -> tuple[dict[str, _ParamSlot], str | None]:
    """Named parameters -> {index (positional, after ``skip``), default}; and the ``**kwargs`` name."""
    a = fn.args
    positional = list(a.posonlyargs) + list(a.args)
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    table: dict[str, _ParamSlot] = {
        arg.arg: {"index": i, "default": literal(d, text) if d is not None else None, "has_default": d is not None}
        for i, (arg, d) in enumerate(zip(positional[skip:], defaults[skip:]))
    }
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        table[arg.arg] = {
            "index": None,
            "default": literal(d, text) if d is not None else None,
            "has_default": d is not None,
        }
    return table, (a.kwarg.arg if a.kwarg else None)


def _is_wraps_of(ex: Extractor, node: ast.AST, param: str) -> bool:
    """``wraps(param)`` / ``functools.wraps(param)``."""
    return (
        isinstance(node, ast.Call)
        and (ex.ref(node.func) or "").lstrip("?").rsplit(".", 1)[-1] == "wraps"
        and bool(node.args)
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == param
    )


def _calls_param(wrapper: ast.AST, param: str) -> bool:
    """The wrapper calls the function it wraps (else it is a task of its own, e.g. a closure over a prefix)."""
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == param for n in ast.walk(wrapper)
    )


_NamedAfter = tuple[Literal["function", "wrapper"], str | None]


def _named_after(ex: Extractor, fn: ast.AST, x: ast.AST, param: str) -> _NamedAfter | None:
    """What the task built from ``x`` is named after: ("function", None) when ``x`` is the decorated
    function or a ``functools.wraps`` copy of its name and module; ("wrapper", name) for a nested
    wrapper that keeps its own; None when ``x`` is neither."""
    if isinstance(x, ast.Name) and x.id == param:
        return ("function", None)
    if isinstance(x, ast.Call) and isinstance(x.func, ast.Call) and _is_wraps_of(ex, x.func, param):
        return ("function", None)  # wraps(f)(inner)
    if not isinstance(x, ast.Name):
        return None
    wrapper = next((s for s in getattr(fn, "body", []) if isinstance(s, _FUNC) and s.name == x.id), None)
    if wrapper is None or not _calls_param(wrapper, param):
        return None
    if any(_is_wraps_of(ex, d, param) for d in wrapper.decorator_list):
        return ("function", None)
    for n in _own_nodes(fn):  # functools.update_wrapper(inner, f) / inner = wraps(f)(inner)
        if (
            isinstance(n, ast.Call)
            and (ex.ref(n.func) or "").lstrip("?").rsplit(".", 1)[-1] == "update_wrapper"
            and len(n.args) >= 2
            and isinstance(n.args[0], ast.Name)
            and n.args[0].id == x.id
            and isinstance(n.args[1], ast.Name)
            and n.args[1].id == param
        ):
            return ("function", None)
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Call)
            and _is_wraps_of(ex, n.func, param)
            and n.args
            and isinstance(n.args[0], ast.Name)
            and n.args[0].id == x.id
        ):
            return ("function", None)
    return ("wrapper", wrapper.name)


class _FactoryOptions(TypedDict):
    fixed: Options
    params: dict[str, FactoryParam]
    pass_kwargs: bool
    clash: list[str]  # fixed keywords a call that gives them too makes a TypeError
    over: list[str]  # fixed keywords that win over the call's


class _Application(_FactoryOptions):
    task_ref: str
    task_src: str
    named_after: Literal["function", "wrapper"]
    wrapper: str | None


def _factory_options(
    ex: Extractor, keywords: list[ast.keyword], kwargs_names: set[str], named: dict[str, FactoryParam]
) -> _FactoryOptions:
    """The options a factory hands the Celery decorator: literal ones (``fixed``), the ones taken from
    its own named parameters (``params``: option -> parameter), and whether its ``**kwargs`` pass through."""
    fixed: Options = {}
    params: dict[str, FactoryParam] = {}
    pass_kwargs = False
    over: list[str] = []
    for kw in keywords:
        src = _name(kw.value)
        if kw.arg is None:
            if src in kwargs_names:
                pass_kwargs = True
            elif (
                isinstance(kw.value, ast.Dict)
                and any(k is None and _name(v) in kwargs_names for k, v in zip(kw.value.keys, kw.value.values))
                and all(
                    (k is None and _name(v) in kwargs_names)
                    or (isinstance(k, ast.Constant) and isinstance(k.value, str))
                    for k, v in zip(kw.value.keys, kw.value.values)
                )
            ):  # **{"a": 1, **kwargs, "b": 2}: the call's keywords win over a, b wins over them
                pass_kwargs = True
                after = False
                for k, v in zip(kw.value.keys, kw.value.values):
                    if k is None:
                        after = True
                    elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                        fixed[k.value] = literal(v, ex.text)
                        if after:
                            over.append(k.value)
                        elif k.value in over:
                            over.remove(k.value)
            elif isinstance(kw.value, ast.Dict) and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) for k in kw.value.keys
            ):
                fixed.update(
                    {
                        k.value: literal(v, ex.text)
                        for k, v in zip(kw.value.keys, kw.value.values)
                        if isinstance(k, ast.Constant) and isinstance(k.value, str)
                    }
                )
            else:
                fixed["**"] = dynamic(segment(kw.value, ex.text))
        elif src in named:
            params[kw.arg] = named[src]
        else:
            fixed[kw.arg] = literal(kw.value, ex.text)
    # D(x=1, **kwargs): a call that passes x too makes Python raise TypeError (multiple values for x)
    clash = (
        [k for k in fixed if k != "**" and k not in over]
        if any(kw.arg is None and _name(kw.value) in kwargs_names for kw in keywords)
        else []
    )
    return {"fixed": fixed, "params": params, "pass_kwargs": pass_kwargs, "clash": clash, "over": over}


def _task_application(
    ex: Extractor, fn: ast.AST, param: str, kwargs_names: set[str], named: dict[str, FactoryParam]
) -> tuple[_Application, ast.AST] | None:
    """``fn`` returns a (possible) Celery task decorator applied to ``param`` or to a wrapper of it:
    ``shared_task(**opts)(param)``, ``app.task(wrapper, bind=True)``, or a nested wrapper decorated
    ``@shared_task(...)`` and returned. Which callee is really a task decorator is decided by resolve."""
    local: dict[str, ast.expr] = {}
    for s in getattr(fn, "body", []):
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
            local[s.targets[0].id] = s.value
    nested = {s.name: s for s in getattr(fn, "body", []) if isinstance(s, _FUNC)}
    for n in _own_nodes(fn):
        if not isinstance(n, ast.Return) or n.value is None:
            continue
        value = n.value
        node: ast.AST
        after: _NamedAfter | None
        if isinstance(value, ast.Name) and value.id in local:
            value = local[value.id]
        if isinstance(value, ast.Name) and value.id in nested:  # a returned wrapper decorated @shared_task(...)
            wrapper = nested[value.id]
            decs = [d for d in wrapper.decorator_list if not _is_wraps_of(ex, d, param)]
            if not decs or not _calls_param(wrapper, param):
                continue
            dec = decs[0]
            callee = dec.func if isinstance(dec, ast.Call) else dec
            keywords = dec.keywords if isinstance(dec, ast.Call) else []
            node = wrapper
            after = (
                ("function", None)
                if any(_is_wraps_of(ex, d, param) for d in wrapper.decorator_list)
                else ("wrapper", wrapper.name)
            )
        elif isinstance(value, ast.Call) and len(value.args) == 1:
            if isinstance(value.func, ast.Call):  # D(...)(x)
                if value.keywords:
                    continue
                callee, keywords = value.func.func, value.func.keywords
            else:  # D(x, **opts)
                callee, keywords = value.func, value.keywords
            after = _named_after(ex, fn, value.args[0], param)
            node = value
        else:
            continue
        ref = ex.ref(callee)
        if (
            after is None
            or not ref
            or ref.startswith("?")
            or not _may_be_task_decorator(ref)
            or (isinstance(callee, ast.Name) and callee.id == param)
        ):
            continue
        options = _factory_options(ex, keywords, kwargs_names, named)
        return {
            "task_ref": ref,
            "task_src": segment(callee, ex.text),
            "named_after": after[0],
            "wrapper": after[1],
            "fixed": options["fixed"],
            "params": options["params"],
            "pass_kwargs": options["pass_kwargs"],
            "clash": options["clash"],
            "over": options["over"],
        }, node
    return None


def _kwargs_edits(fn: ast.AST, kwarg: str, text: Source) -> tuple[Options, list[str], list[str]] | None:
    """What a factory's own statements write into its ``**kwarg`` before passing it on:
    ``kwargs.setdefault("k", v)`` (the call's wins), ``kwargs["k"] = v`` / ``kwargs.update(k=v)`` (the
    factory's wins). -> (values, the keys the factory wins on, the others); None for any other edit."""
    values: Options = {}
    over: list[str] = []
    under: list[str] = []
    for s in getattr(fn, "body", []):
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):
            continue  # docstring
        if isinstance(s, ast.Return):
            break
        call = s.value if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) else None
        if (
            call is not None
            and isinstance(call.func, ast.Attribute)
            and _name(call.func.value) == kwarg
            and call.func.attr == "setdefault"
            and len(call.args) == 2
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, str)
        ):
            values[call.args[0].value] = literal(call.args[1], text)
            under.append(call.args[0].value)
        elif (
            call is not None
            and isinstance(call.func, ast.Attribute)
            and _name(call.func.value) == kwarg
            and call.func.attr == "update"
            and not call.args
            and all(k.arg for k in call.keywords)
        ):
            for k in call.keywords:
                values[str(k.arg)] = literal(k.value, text)
                over.append(str(k.arg))
        elif (
            isinstance(s, ast.Assign)
            and len(s.targets) == 1
            and isinstance(s.targets[0], ast.Subscript)
            and _name(s.targets[0].value) == kwarg
            and isinstance(s.targets[0].slice, ast.Constant)
            and isinstance(s.targets[0].slice.value, str)
        ):
            values[s.targets[0].slice.value] = literal(s.value, text)
            over.append(s.targets[0].slice.value)
        elif any(isinstance(n, ast.Name) and n.id == kwarg for n in ast.walk(s)):
            return None  # kwargs edited some other way: not followed
    return values, over, [k for k in under if k not in over]


def _pass_through(ex: Extractor, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[_Application, ast.AST] | None:
    """``def task(*args, **kwargs): return app.task(*args, **kwargs, retry_backoff=True)``: Celery's
    decorator with the call's arguments forwarded, so the factory works as ``@task(queue="x")`` and as
    bare ``@task`` (the function is ``args[0]``)."""
    a = fn.args
    if a.vararg is None or a.kwarg is None or a.posonlyargs or a.args or a.kwonlyargs:
        return None
    var, kwarg = a.vararg.arg, a.kwarg.arg
    edits = _kwargs_edits(fn, kwarg, ex.text)
    if edits is None:
        return None
    for s in getattr(fn, "body", []):
        if not isinstance(s, ast.Return):
            continue
        call = s.value
        if not (
            isinstance(call, ast.Call)
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Starred)
            and _name(call.args[0].value) == var
        ):
            return None
        ref = ex.ref(call.func)
        if not ref or ref.startswith("?") or not _may_be_task_decorator(ref):
            return None
        options = _factory_options(ex, call.keywords, {kwarg}, {})
        if not options["pass_kwargs"]:
            return None
        values, over, _under = edits  # the others: the call's keyword wins, as for any fixed option
        clash = options["clash"]
        return {
            "task_ref": ref,
            "task_src": segment(call.func, ex.text),
            "named_after": "function",
            "wrapper": None,
            "fixed": {**values, **options["fixed"]},
            "params": {},
            "pass_kwargs": True,
            "clash": clash,
            "over": [k for k in [*options["over"], *over] if k not in clash],
        }, call
    return None


def _task_builders(ex: Extractor, tree: ast.Module) -> dict[str, list[str]]:
    """Module-level functions (their whole body) and classes (their ``__call__``) that call or apply
    something named like a task decorator (``app.task``, ``shared_task``, ``x.task``, ``*_task``):
    name -> those references. resolve decides which really are Celery's (SM125 for the decorators
    the scan cannot follow)."""
    out: dict[str, list[str]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            body: list[ast.AST] = [
                s for s in stmt.body if isinstance(s, _FUNC) and s.name in ("__call__", "__new__", "__init__")
            ]
        elif isinstance(stmt, _FUNC):
            body = [stmt]
        else:
            continue
        refs: list[str] = []
        for part in body:
            for n in ast.walk(part):
                callees = [n.func] if isinstance(n, ast.Call) else []
                if isinstance(n, _FUNC) and n is not part:
                    callees += [d.func if isinstance(d, ast.Call) else d for d in n.decorator_list]
                for c in callees:
                    ref = ex.ref(c)
                    last = (ref or "").rsplit(".", 1)[-1]
                    if (
                        ref
                        and not ref.startswith("?")
                        and ref not in refs
                        and (last == "task" or last.endswith("_task"))
                        and last not in ("send_task", "register_task")
                        and _may_be_task_decorator(ref)
                    ):
                        refs.append(ref)
        if refs and stmt.name not in ex.decorator_factories:
            out[stmt.name] = refs[:10]
    return out


def _decorator_factories(ex: Extractor, tree: ast.Module) -> None:
    """Module-level decorator factories that build Celery tasks (recorded in ``decorator_factories``):

    * a class whose ``__call__(self, f)`` returns a task decorator applied to ``f`` or a wrapper of it
      (``@retryable_task(name=..., max_retries=10)``: options from ``__init__``'s parameters stored on self);
    * a function returning a nested ``decorate(fn)`` that does the same (``@project_task(queue="x")``);
    * a function that does it itself (``@periodic``, ``called`` False).

    The call or wrapper that applies the decorator inside is marked so it is not a task of its own."""
    if not any(isinstance(s, (ast.ClassDef, *_FUNC)) for s in tree.body):
        return
    # module-level variables (``app = Celery()``) are only in ``defs`` once the main visit reaches them
    early = {
        t.id
        for s in tree.body
        if isinstance(s, (ast.Assign, ast.AnnAssign))
        for t in (s.targets if isinstance(s, ast.Assign) else [s.target])
        if isinstance(t, ast.Name) and t.id not in ex.defs and t.id not in ex.imports
    }
    ex.defs.update(dict.fromkeys(early, "assign"))
    try:
        _find_decorator_factories(ex, tree)
        ex.task_builders = _task_builders(ex, tree)
    finally:
        for name in early:
            ex.defs.pop(name, None)


def _find_decorator_factories(ex: Extractor, tree: ast.Module) -> None:
    for stmt in tree.body:
        found: tuple[_Application, ast.AST] | None = None
        called = True
        either = False  # a pass-through factory: @f(...) and bare @f
        own: dict[str, _ParamSlot] = {}
        named: dict[str, FactoryParam]
        if isinstance(stmt, ast.ClassDef):
            methods = {s.name: s for s in stmt.body if isinstance(s, _FUNC)}
            call = methods.get("__call__")
            call_params = (list(call.args.posonlyargs) + list(call.args.args))[1:] if call else []
            if not call_params:
                continue
            kwargs_names: set[str] = set()
            named = {}
            init = methods.get("__init__")
            if init is not None:
                own, kwarg = _param_table(init, ex.text, skip=1)
                for n in _own_nodes(init):  # self.x = kwargs / dict(kwargs) / named parameter
                    if not (
                        isinstance(n, ast.Assign)
                        and len(n.targets) == 1
                        and isinstance(n.targets[0], ast.Attribute)
                        and _name(n.targets[0].value) == "self"
                    ):
                        continue
                    v = n.value
                    if isinstance(v, ast.Call) and _name(v.func) == "dict" and len(v.args) == 1 and not v.keywords:
                        v = v.args[0]
                    if isinstance(v, ast.Name) and v.id == kwarg:
                        kwargs_names.add(f"self.{n.targets[0].attr}")
                    elif isinstance(v, ast.Name) and v.id in own:
                        named[f"self.{n.targets[0].attr}"] = {"param": v.id, **own[v.id]}
            if call is not None:
                found = _task_application(ex, call, call_params[0].arg, kwargs_names, named)
        elif isinstance(stmt, _FUNC):
            params = list(stmt.args.posonlyargs) + list(stmt.args.args)
            own, kwarg = _param_table(stmt, ex.text)
            named = {p: {"param": p, **info} for p, info in own.items()}
            if stmt.args.vararg and stmt.args.kwarg:  # def task(*args, **kwargs): return app.task(*args, **kwargs)
                found = _pass_through(ex, stmt)
                if found is not None:
                    either, own = True, {}
            if found is None and params and len(params) - len(stmt.args.defaults) == 1:
                # def periodic(fn): return app.task(fn)
                found = _task_application(ex, stmt, params[0].arg, set(), {})
                called, own = False, {}
            if found is None:
                inner = {s.name: s for s in stmt.body if isinstance(s, _FUNC)}
                for n in _own_nodes(stmt):
                    if isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id in inner:
                        dec = inner[n.value.id]
                        dparams = list(dec.args.posonlyargs) + list(dec.args.args)
                        if dparams:
                            found = _task_application(ex, dec, dparams[0].arg, {kwarg} if kwarg else set(), named)
                            called = True
                        break
        else:
            continue
        if found is None:
            continue
        app, node = found
        ex._factory_nodes[id(node)] = stmt.name
        ex.decorator_factories[stmt.name] = {
            "line": stmt.lineno,
            "form": "class" if isinstance(stmt, ast.ClassDef) else "function",
            "called": called,
            "own_params": {p: info["index"] for p, info in own.items()},
            "task_ref": app["task_ref"],
            "task_src": app["task_src"],
            "named_after": app["named_after"],
            "wrapper": app["wrapper"],
            "fixed": app["fixed"],
            "params": app["params"],
            "pass_kwargs": app["pass_kwargs"],
            "clash": app["clash"],
            "over": app["over"],
        }
        if either:
            ex.decorator_factories[stmt.name]["either"] = True
