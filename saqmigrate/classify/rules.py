"""The classifier's rules: one detection function per rule code, registered with ``@rule``.

Each function says whether its rule fires and returns the values of the named placeholders of the
``message`` (or ``[messages]``) template in ``saqmigrate/data/rules/<code>.toml``; the words are in
the TOML file. Functions run in the order they are defined here, per stage (registry.py); the
order decides the order of an item's ``rules`` list in the scan JSON, so append new rules at the end
of their stage.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from saqmigrate.classify.registry import Hit, hit, rule
from saqmigrate.index.model import Call, ProjectIndex, Schedule, Setting, Task, is_dynamic

if TYPE_CHECKING:
    from saqmigrate.classify import Classifier

REQUEST_EQUIVALENTS = {"id", "retries", "kwargs", "args", "eta", "hostname", "delivery_info", "task"}
UNSUPPORTED_CALL_OPTIONS = {
    "link",
    "link_error",
    "expires",
    "headers",
    "shadow",
    "exchange",
    "routing_key",
    "priority",
    "soft_time_limit",
    "serializer",
    "compression",
    "producer",
    "connection",
    "add_to_parent",
    "chord",
    "group_id",
    "parent_id",
    "root_id",
}
CANVAS_KINDS = {"chain", "group", "chord", "pipe"}
_NAMED_TASK_KINDS = ("delay", "apply_async", "s", "si", "signature", "map", "starmap", "chunks", "apply")


def src(value: object) -> str:
    """A value as the message shows it: the source text of a dynamic value, else its repr."""
    if isinstance(value, dict) and "dynamic" in value:
        return value["dynamic"]
    return repr(value)


def short_name(t: Task) -> str:
    """The name SAQ would register by default: the function's (the class's, for class tasks)."""
    parts = t.function.split(".")
    return parts[-2] if t.kind == "class" and len(parts) > 1 else parts[-1]


# --- tasks ---------------------------------------------------------------------------------------


@rule("SM101", on="task")
def task_defined_in_function(t: Task, cl: Classifier) -> Hit | None:
    return hit() if t.nested else None


@rule("SM102", on="task")
def task_created_in_loop(t: Task, cl: Classifier) -> Hit | None:
    return hit() if t.in_loop else None


@rule("SM103", on="task")
def task_name_not_literal(t: Task, cl: Classifier) -> Hit | None:
    return hit(name_src=src(t.options.get("name"))) if t.name is None else None


@rule("SM114", on="task")
def task_module_not_importable(t: Task, cl: Classifier) -> Hit | None:
    if all(part.isidentifier() for part in t.module.split(".")):
        return None
    return hit(file=t.file, module=t.module)


@rule("SM118", on="task")
def parameter_shadows_twin_helper(t: Task, cl: Classifier) -> Hit | None:
    from saqmigrate.plan import TWIN_BODY_NAMES

    clash = sorted({p.name for p in t.params} & TWIN_BODY_NAMES)
    return hit(names=", ".join(clash)) if clash else None


@rule("SM119", on="task")
def async_task_under_call_override(t: Task, cl: Classifier) -> Hit | None:
    return hit() if "__call__" in t.hooks and t.is_async else None


@rule("SM117", on="task")
def task_in_test_module(t: Task, cl: Classifier) -> Hit | None:
    from saqmigrate.discover import is_test_path

    return hit() if is_test_path(t.file) else None


@rule("SM105", on="task")
def async_def_task(t: Task, cl: Classifier) -> Hit | None:
    return hit() if t.is_async else None


@rule("SM106", on="task")
def class_based_task(t: Task, cl: Classifier) -> Hit | None:
    return hit() if t.kind == "class" else None


@rule("SM107", on="task")
def task_class_hooks(t: Task, cl: Classifier) -> Hit | None:
    return hit(hooks=", ".join(t.hooks)) if t.hooks else None


@rule("SM112", on="task")
def legacy_task_api(t: Task, cl: Classifier) -> Hit | None:
    return hit(decorator=t.decorator) if t.kind in ("legacy_task", "periodic_task") else None


@rule("SM100", on="task")
def request_attributes(t: Task, cl: Classifier) -> Hit | None:
    unsupported = [a for a in t.features.get("request_attrs", []) if a not in REQUEST_EQUIVALENTS]
    return hit(attrs=", self.request.".join(unsupported)) if unsupported else None


@rule("SM121", on="task")
def self_replace(t: Task, cl: Classifier) -> Hit | None:
    return hit() if t.features.get("self_replace") and t.bind else None


@rule("SM108", on="task")
def update_state(t: Task, cl: Classifier) -> Hit | None:
    return hit() if t.features.get("update_state") else None


@rule("SM104", on="task")
def blocking_calls(t: Task, cl: Classifier) -> Hit | None:
    blocking = t.features.get("blocking") or {}
    if not blocking:
        return None
    return hit(calls=", ".join(f"{k} (line {v})" for k, v in sorted(blocking.items(), key=lambda kv: kv[1])))


@rule("SM109", on="task")
def stacked_decorators(t: Task, cl: Classifier) -> Hit | None:
    return hit(decorators=", ".join(t.stacked)) if t.stacked else None


@rule("SM110", on="task")
def qualname_collision(t: Task, cl: Classifier) -> Hit | None:
    short = short_name(t)
    count = cl.qualname_count[short]
    return hit(short=short, count=count) if count > 1 else None


@rule("SM111", on="task")
def positional_parameters(t: Task, cl: Classifier) -> Hit | None:
    return hit() if any(p.kind in ("var_positional", "positional_only") for p in t.params) else None


@rule("SM115", on="task")
def option_not_static(t: Task, cl: Classifier) -> list[Hit]:
    """An option (or the routing that decides the queue) that cannot be resolved statically: the task
    stays on Celery."""
    from saqmigrate.translate.routing import RouteUnknown

    at = (t.file, t.decorator_line or t.line)
    unresolved = t.features.get("unresolved") or {}
    hits = [
        hit("option", at=at, key=key, value_src=src(t.options.get(key, t.inherited_options.get(key))), why=why)
        for key, why in sorted(unresolved.items())
    ]
    if t.name is not None and "queue" not in unresolved and cl.index is not None:
        from saqmigrate.plan import task_queue

        try:
            task_queue(t, cl.index)
        except RouteUnknown as exc:
            hits.append(hit("queue", at=at, reason=exc))
    return hits


@rule("SM116", on="task")
def option_from_environment(t: Task, cl: Classifier) -> list[Hit]:
    """A value taken from an environment variable's default."""
    return [
        hit(
            at=(t.file, t.decorator_line or t.line),
            key=key,
            src=info["src"],
            value=t.options.get(key, t.inherited_options.get(key)),
            env="$" + ", $".join(info["env"]),
        )
        for key, info in sorted((t.features.get("resolved") or {}).items())
        if info.get("env")
    ]


# --- schedules -----------------------------------------------------------------------------------


@rule("SM250", on="schedule", stop=True)
def schedule_built_at_run_time(s: Schedule, cl: Classifier) -> Hit | None:
    if s.kind == "dynamic" and s.entry is None and s.task is None:
        return hit(container=s.container or "", expr=src(s.celery.get("expr")))
    return None


@rule("SM251", on="schedule")
def schedule_entry_in_loop(s: Schedule, cl: Classifier) -> Hit | None:
    return hit() if s.in_loop else None


@rule("SM253", on="schedule")
def schedule_extra_keys(s: Schedule, cl: Classifier) -> Hit | None:
    extra = s.celery.get("_extra_keys") if isinstance(s.celery, dict) else None
    return hit(keys=", ".join(extra)) if extra else None


@rule("SM254", on="schedule")
def schedule_task_not_literal(s: Schedule, cl: Classifier) -> Hit | None:
    return hit(task_src=src(s.task)) if is_dynamic(s.task) or s.task is None else None


@rule("SM252", on="schedule")
def schedule_task_unknown(s: Schedule, cl: Classifier) -> Hit | None:
    task = s.task
    if isinstance(task, str) and task not in cl.tasks_by_name and not task.startswith("celery."):
        return hit(task=task)
    return None


# --- calls ---------------------------------------------------------------------------------------


@rule("SM300", on="call", stop=True)
def canvas(c: Call, cl: Classifier) -> Hit | None:
    return hit(kind=c.kind) if c.kind in CANVAS_KINDS else None


@rule("SM304", on="call", stop=True)
def async_result(c: Call, cl: Classifier) -> Hit | None:
    return hit() if c.kind == "async_result" else None


@rule("SM301", on="call")
def send_task_computed_name(c: Call, cl: Classifier) -> Hit | None:
    return hit(name=c.dynamic_name) if c.kind == "send_task" and c.dynamic_name else None


@rule("SM302", on="call")
def dispatch_target_unknown(c: Call, cl: Classifier) -> Hit | None:
    return hit(target=c.target, kind=c.kind) if c.kind in _NAMED_TASK_KINDS and c.task is None else None


def _call_options(c: Call) -> dict:
    return {k: v for k, v in c.options.items() if not k.startswith("_")}


@rule("SM303", on="call")
def unsupported_call_options(c: Call, cl: Classifier) -> Hit | None:
    bad = sorted(k for k in _call_options(c) if k in UNSUPPORTED_CALL_OPTIONS)
    return hit(options=", ".join(bad)) if bad else None


@rule("SM305", on="call")
def task_id_option(c: Call, cl: Classifier) -> Hit | None:
    return hit() if "task_id" in _call_options(c) else None


@rule("SM306", on="call")
def publish_retry_option(c: Call, cl: Classifier) -> Hit | None:
    opts = _call_options(c)
    return hit() if "retry" in opts or "retry_policy" in opts else None


@rule("SM307", on="call")
def eager_apply(c: Call, cl: Classifier) -> Hit | None:
    return hit() if c.kind == "apply" else None


@rule("SM308", on="call")
def map_starmap_chunks(c: Call, cl: Classifier) -> Hit | None:
    return hit(kind=c.kind) if c.kind in ("map", "starmap", "chunks") else None


@rule("SM309", on="call")
def signature(c: Call, cl: Classifier) -> Hit | None:
    return hit(kind=c.kind) if c.kind in ("s", "si", "signature") else None


# --- settings ------------------------------------------------------------------------------------


@rule("SM400", on="setting")
def non_json_serializer(s: Setting, cl: Classifier) -> Hit | None:
    v = s.value
    if s.name in ("task_serializer", "result_serializer") and isinstance(v, str) and v != "json":
        return hit("serializer", setting=s.raw_name, value=v)
    if s.name == "accept_content" and isinstance(v, list) and any(x not in ("json", "application/json") for x in v):
        return hit("accept_content", setting=s.raw_name, value=v)
    return None


@rule("SM401", on="setting")
def always_eager(s: Setting, cl: Classifier) -> Hit | None:
    return hit(setting=s.raw_name) if s.name == "task_always_eager" and s.value is True else None


@rule("SM402", on="setting")
def database_scheduler(s: Setting, cl: Classifier) -> Hit | None:
    v = s.value
    if s.name == "beat_scheduler" and (isinstance(v, str) and "DatabaseScheduler" in v or is_dynamic(v)):
        return hit(setting=s.raw_name, value_src=src(v))
    return None


@rule("SM403", on="setting")
def task_routes(s: Setting, cl: Classifier) -> Hit | None:
    return hit(setting=s.raw_name) if s.name == "task_routes" else None


@rule("SM404", on="setting")
def local_time_crontabs(s: Setting, cl: Classifier) -> Hit | None:
    from saqmigrate.classify import project_timezone

    if s.name == "enable_utc" and s.value is False and not project_timezone(cl.index):
        return hit(setting=s.raw_name)
    return None


@rule("SM122", on="setting")
def settings_source_unreadable(s: Setting, cl: Classifier) -> Hit | None:
    """A config source that resolve.py could not read: the settings it may set are unknown."""
    from saqmigrate.index.resolve import UNREADABLE_MARK

    if not (is_dynamic(s.value) and UNREADABLE_MARK in s.raw_name):
        return None
    source, _, why = s.raw_name.partition(f" {UNREADABLE_MARK} ")
    return hit(subject=source, source=source, why=why.rstrip(")"))


# --- the project as a whole (placed where each finding is) ---------------------------------------


@rule("SM406", on="project")
def old_beat_schedule_name(idx: ProjectIndex, cl: Classifier) -> list[Hit]:
    namespaces = {c.get("namespace") for a in idx.apps for c in a.config_from_object if isinstance(c, dict)}
    if "CELERY" not in namespaces:
        return []
    return [
        hit(at=(s.file, s.line), item=s, subject=s.entry or "")
        for s in idx.schedules
        if s.container == "CELERYBEAT_SCHEDULE" or s.source == "CELERYBEAT_SCHEDULE"
    ]


@rule("SM405", on="project")
def custom_task_class(idx: ProjectIndex, cl: Classifier) -> list[Hit]:
    # saqmigrate's own wiring (RoutedTask, set by the routing hook) is not the project's task class
    return [
        hit(at=(a.file, a.line), item=None, subject=a.name, app=a.name, task_cls=src(a.task_cls).lstrip("?"))
        for a in idx.apps
        if a.task_cls is not None and not src(a.task_cls).lstrip("?").startswith("saqmigrate.")
    ]


@rule("SM900", on="project")
def file_not_indexed(idx: ProjectIndex, cl: Classifier) -> list[Hit]:
    hits = []
    for e in idx.errors:
        at = re.search(r"\bline (\d+)", e.message)  # the line the parser stopped at, where the message says
        hits.append(hit(at=(e.file, int(at.group(1)) if at else 1), item=None, subject=e.file, message=e.message))
    return hits


@rule("SM901", on="project")
def newer_syntax_recovered(idx: ProjectIndex, cl: Classifier) -> list[Hit]:
    return [hit(at=(rel, 1), item=None, subject=rel, note=n) for rel, notes in cl.recovered.items() for n in notes]


@rule("SM120", on="project")
def factory_app_entry_unknown(idx: ProjectIndex, cl: Classifier) -> list[Hit]:
    """The app the migration wires is built by a factory, and no single module creates it at import
    time: SAQ workers need SAQMIGRATE_CELERY_APP (rewrite says the same, from this rule's template)."""
    from pathlib import Path

    from saqmigrate.discover import is_test_path
    from saqmigrate.index.entry import find_app_entry
    from saqmigrate.plan import primary_app

    app = primary_app(idx)
    if app is None or not app.in_function or not any(not is_test_path(t.file) for t in idx.tasks):
        return []
    cache = None
    if cl.translations:  # the scan's cache: kept under every file's size and mtime (index/entry.py)
        store, used = cl.translations

        def get(key: str) -> dict | None:
            hit = store.translation(key)
            if hit is not None:
                used[key] = hit
            return hit

        def put(key: str, value: dict) -> None:
            store.store_translation(key, value)
            used[key] = value

        cache = (get, put)
    found = find_app_entry(Path(idx.root), app.file, app.line, cl.config, cache=cache)
    if found.module and found.why:
        return [hit("chosen", at=(app.file, app.line), item=None, subject=app.name, why=found.why)]
    if not found.module:
        return [
            hit(
                "unknown",
                at=(app.file, app.line),
                item=None,
                subject=app.name,
                file=app.file,
                line=app.line,
                why=found.why,
            )
        ]
    return []


@rule("SM125", on="project")
def task_decorator_not_followed(idx: ProjectIndex, cl: Classifier) -> list[Hit]:
    """A function decorated with a project decorator whose code applies a Celery task decorator in a way
    the scan cannot follow (resolve.unfollowed_decorator): it is probably a task, and it is not migrated."""
    return [
        hit(
            at=(u["file"], u["line"]),
            item=None,
            subject=u["function"],
            decorator=f"@{u['decorator']}",
            builder=u["builder"],
        )
        for u in idx.unfollowed
    ]


@rule("SM124", on="task")
def duplicate_task_name(t: Task, cl: Classifier) -> Hit | None:
    same = cl.registrations.get(t.name or "", [])
    if len(same) < 2 or t not in same:
        return None
    return hit(count=len(same), where=", ".join(f"{o.file}:{o.line}" for o in same))
