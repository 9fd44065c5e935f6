"""Index data model.

Everything here is plain data: built by ``index/extract.py`` (one file, stdlib ``ast``),
linked across modules by ``index/resolve.py``, classified by ``classify/``. ``to_json()``
gives the documented ``saqmigrate.scan/1`` contract (docs/scan-json.md).

Values taken from source code are *literal-evaluated* when they are literals; anything
else is kept as ``{"dynamic": "<source text>"}`` so nothing is guessed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA = "saqmigrate.scan/1"

# module name -> (its parsed tree, whether it is a package __init__, its path relative to the root), or None
ModuleLoader = Callable[[str], "tuple[ast.Module, bool, str] | None"]

MIGRATABILITY = ("auto", "assisted", "manual")


def dynamic(src: str) -> dict[str, str]:
    """Marker for a value that is not a literal: the source text, never a guess."""
    return {"dynamic": src}


def is_dynamic(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"dynamic"}


@dataclass
class Finding:
    rule: str
    severity: str
    file: str
    line: int
    column: int
    message: str
    subject: str = ""  # e.g. the task or schedule entry name this is about

    def key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.rule, self.message)


@dataclass
class FileError:
    file: str
    message: str


@dataclass
class Param:
    name: str
    kind: str  # positional_only | positional | keyword_only | var_positional | var_keyword
    default: Any = None  # literal value, dynamic(...) or None
    has_default: bool = False


@dataclass
class App:
    """A ``Celery(...)`` instance or subclass."""

    name: str  # variable name (or class name for subclasses)
    file: str
    line: int
    module: str
    kind: str = "instance"  # instance | subclass
    main: Any = None  # Celery(main=...) / first positional
    task_cls: Any = None  # Celery(task_cls=...) or app.Task = ...
    config_from_object: list[dict[str, Any]] = field(default_factory=list)  # [{"obj": ..., "namespace": ...}]
    options: dict[str, Any] = field(default_factory=dict)
    in_function: bool = False  # created inside a function (a factory, or a throwaway app for one call)


@dataclass
class Task:
    name: str | None  # Celery task name; None when it cannot be known statically
    function: str  # qualified name inside its module (e.g. "send_email", "Cls.run")
    file: str
    line: int  # line of the def / class
    decorator_line: int | None
    module: str
    kind: str  # shared_task | app_task | legacy_task | periodic_task | alias | registration | class
    decorator: str = ""  # source text of the decorator callee, e.g. "app.task", "shared_task"
    app: str | None = None  # the app variable for @app.task
    options: dict[str, Any] = field(default_factory=dict)
    bind: bool = False
    is_async: bool = False
    params: list[Param] = field(default_factory=list)
    base: Any = None  # base= option source, or the base classes of a class-based task
    inherited_options: dict[str, Any] = field(
        default_factory=dict
    )  # from base classes, task_cls, app.conf task_* defaults
    hooks: list[str] = field(default_factory=list)  # on_failure/on_success/... defined by the task or its bases
    nested: bool = False  # defined inside a function
    in_loop: bool = False  # defined or registered inside a loop
    features: dict[str, Any] = field(
        default_factory=dict
    )  # body features: request_attrs, retry, update_state, blocking[...]
    stacked: list[str] = field(default_factory=list)  # other decorators on the function
    end_line: int = 0
    migratability: str = "auto"
    rules: list[str] = field(default_factory=list)


@dataclass
class Schedule:
    entry: str | None  # beat entry name (dict key / add_periodic_task name=)
    task: Any  # task name string, or dynamic(...)
    file: str
    line: int
    module: str
    source: str  # CELERY_BEAT_SCHEDULE | CELERYBEAT_SCHEDULE | beat_schedule | conf.beat_schedule | conf.update | add_periodic_task | dict_literal | item_assignment | update
    container: str = ""  # the variable/attribute that holds the schedule dict
    kind: str = "dynamic"  # crontab | interval | schedule | solar | custom | dynamic
    celery: dict[str, Any] = field(default_factory=dict)  # crontab fields / {"seconds": ..} / {"expr": src}
    args: Any = None
    kwargs: Any = None
    options: Any = None
    relative: Any = False
    in_loop: bool = False
    from_settings: bool = False
    cron: str | None = None
    exact: bool | None = None
    translation: dict[str, Any] | None = None  # filled by translate/ (CronJob description)
    migratability: str = "auto"
    rules: list[str] = field(default_factory=list)


@dataclass
class Call:
    kind: str  # delay | apply_async | signature | s | si | send_task | chain | group | chord | pipe | retry | map | starmap | chunks | async_result | apply
    file: str
    line: int
    column: int
    module: str
    target: str = ""  # source text of what is called on, e.g. "tasks.send_email"
    task: str | None = None  # resolved Celery task name, or None if unknown
    options: dict[str, Any] = field(default_factory=dict)
    dynamic_name: str | None = None  # send_task with a non-literal name: its source
    on_commit: bool = False
    in_function: str | None = None
    migratability: str = "auto"
    rules: list[str] = field(default_factory=list)


@dataclass
class Setting:
    name: str  # normalised name: timezone, enable_utc, task_serializer, task_routes, ...
    raw_name: str  # as written: CELERY_TIMEZONE, TIME_ZONE, app.conf.timezone
    value: Any
    file: str
    line: int
    module: str
    namespace: str | None = None


@dataclass
class ProjectIndex:
    root: str
    files_scanned: int = 0
    files_parsed: int = 0
    errors: list[FileError] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    django: dict[str, Any] = field(default_factory=dict)  # {"signals": [...], "settings_module": "proj.settings"}
    live: dict[str, Any] = field(default_factory=dict)  # run-time facts rewrite --live used (index/live.py)
    native: dict[str, Any] = field(
        default_factory=dict
    )  # rewrite --mode native's verdict per task (transform/native.py)
    # What the scan hands the later stages in the same process; not part of the JSON contract:
    # the relative paths of the files the scan parsed (rewrite lists the generated twins from them) and
    # the scan's parsed trees by module name (rewrite's native prover reads them instead of parsing again).
    indexed_files: list[str] = field(default_factory=list, metadata={"json": False})
    module_loader: ModuleLoader | None = field(default=None, repr=False, compare=False, metadata={"json": False})
    # functions decorated with a project decorator that builds Celery tasks in a way the scan cannot
    # follow (resolve.untracked_builder): {file, line, function, decorator, builder}; findings SM125
    unfollowed: list[dict[str, Any]] = field(default_factory=list, metadata={"json": False})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            if f.metadata.get("json", True):
                value = getattr(self, f.name)
                out[f.name] = asdict(value) if hasattr(value, "__dataclass_fields__") else _plain(value)
        return out


def _plain(value: Any) -> Any:
    """``asdict``'s conversion of one field value: dataclasses in lists and dicts become dicts."""
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
