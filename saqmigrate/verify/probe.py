"""The child side of ``saqmigrate verify``: import the project's Celery app and write what Celery resolved.

Run as a script by the project's interpreter, never imported by the CLI process::

    python probe.py OUT.json APP_SPEC IN.json

Standard library and Celery only (the project's interpreter need not have saqmigrate). It imports
the app the way ``celery -A APP_SPEC`` does, forces the broker to ``memory://`` and the result
backend to ``cache+memory://`` (unless IN.json says ``keep_broker``), imports the task modules
(``app.loader.import_default_modules()``: ``imports``/``include`` and ``autodiscover_tasks``), and
writes ONE JSON document to OUT.json — never to stdout, so whatever the app prints stays out of
the report. It opens no broker or Redis connection itself: routing is computed with
``app.amqp.router.route(...)``, which only reads configuration.

Errors: the document is ``{"error": {"stage": ..., "message": "ExcType: text"}}`` and the exit
status is 3; the traceback goes to stderr (the parent keeps it out of the report).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

SCHEMA = "saqmigrate.verify.probe/1"
HOOKS = ("before_start", "on_success", "on_failure", "on_retry", "after_return", "__call__")
CELERY_TASK = "celery.app.task.Task"
# Installed by `saqmigrate rewrite` as the app's task_cls: what it overrides is saqmigrate's, not the project's.
ROUTED_TASK = "saqmigrate.runtime.celery_integration.RoutedTask"
OPTION_ATTRS = (
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "dont_autoretry_for",
    "retry_kwargs",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "rate_limit",
    "time_limit",
    "soft_time_limit",
    "acks_late",
    "reject_on_worker_lost",
    "ignore_result",
    "store_errors_even_if_ignored",
    "serializer",
    "expires",
    "priority",
    "track_started",
)
# celery/app/autoretry.py reads these with these defaults when the task does not set them.
AUTORETRY_DEFAULTS = {
    "autoretry_for": (),
    "dont_autoretry_for": (),
    "retry_kwargs": {},
    "retry_backoff": False,
    "retry_backoff_max": 600,
    "retry_jitter": True,
}
CRON_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


def qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def describe_exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__


def jsonable(value, depth: int = 0):
    """Plain data for the report; anything else as {"repr": ...} (never a guess)."""
    import datetime as dt

    if depth > 8:
        return {"repr": repr(value)[:200]}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else {"repr": repr(value)}
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, type):
        return qualname(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset, range)):
        items = list(value)
        try:
            items.sort()
        except TypeError:
            pass
        return [jsonable(v, depth + 1) for v in items]
    return {"repr": repr(value)[:200]}


def exc_names(value) -> list:
    if value is None:
        return []
    if isinstance(value, type):
        value = (value,)
    out = []
    try:
        items = list(value)
    except TypeError:
        return [{"repr": repr(value)}]
    for item in items:
        out.append(qualname(item) if isinstance(item, type) else {"repr": repr(item)})
    return out


# ---------------------------------------------------------------- run-time truth


def find_app(spec: str):
    from celery.app.utils import find_app as _find
    from celery.utils.imports import import_from_cwd, symbol_by_name

    return _find(spec, symbol_by_name=symbol_by_name, imp=import_from_cwd)


def class_facts(task) -> dict:
    """The task's base class and which hooks its classes override relative to Celery's Task."""
    cls = type(task)
    decorated = bool(cls.__dict__.get("_decorated"))  # built by @app.task from a function
    mro = list(cls.__mro__)
    base = cls
    if decorated:
        # skip the app's own Task (app.subclass_with_self: it carries ``_app``) and saqmigrate's RoutedTask
        for klass in mro[1:]:
            if klass.__dict__.get("_app") is not None or qualname(klass) == ROUTED_TASK:
                continue
            base = klass
            break
    overrides, routed_only = {}, []
    for hook in HOOKS:
        for klass in mro:
            name = qualname(klass)
            if name == CELERY_TASK:
                break
            if hook in klass.__dict__:
                if name == ROUTED_TASK:
                    routed_only.append(hook)
                    continue
                overrides[hook] = name
                break
    return {
        "base": qualname(base),
        "mro": [qualname(k) for k in mro],
        "hooks": overrides,
        "ignored_hooks": routed_only,
        "decorated": decorated,
    }


def params_of(task) -> list:
    import inspect

    try:
        sig = inspect.signature(task.run)
    except (TypeError, ValueError):
        return []
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional_only",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.KEYWORD_ONLY: "keyword_only",
        inspect.Parameter.VAR_POSITIONAL: "var_positional",
        inspect.Parameter.VAR_KEYWORD: "var_keyword",
    }
    return [
        {"name": p.name, "kind": kinds[p.kind], "has_default": p.default is not inspect.Parameter.empty}
        for p in sig.parameters.values()
    ]


def route(app, name, task, options=None, args=(), kwargs=None) -> dict:
    """The queue a dispatch with no per-call options would use (Celery.send_task's routing)."""
    opts = {}
    if task is not None:
        try:
            opts = {k: v for k, v in dict(task._get_exec_options()).items() if v is not None}
        except Exception:  # noqa: BLE001 - a broken task class: route without its options
            opts = {}
    opts.update(dict(options or {}))
    try:
        result = app.amqp.router.route(opts, name, tuple(args or ()), dict(kwargs or {}), task)
    except Exception as exc:  # noqa: BLE001 - a router that raises is a fact to report
        return {"queue": None, "error": describe_exc(exc)}
    queue = result.get("queue")
    qname = getattr(queue, "name", queue)
    return {"queue": qname if isinstance(qname, str) else None}


def task_facts(app, name, task) -> dict:
    run = getattr(task, "run", None)
    func = getattr(run, "__func__", run)
    facts = {
        "name": name,
        "module": getattr(func, "__module__", None) or type(task).__module__,
        "function": getattr(func, "__qualname__", None) or type(task).__qualname__,
        "class": qualname(type(task)),
        "params": params_of(task),
    }
    options = {}
    for attr in OPTION_ATTRS:
        try:
            value = getattr(task, attr, AUTORETRY_DEFAULTS.get(attr))
        except Exception as exc:  # noqa: BLE001
            options[attr] = {"repr": f"<error: {describe_exc(exc)}>"}
            continue
        if attr in ("time_limit", "soft_time_limit") and value is None:
            # the worker's pool applies the app-wide limit to a task without its own (all Celery 5.x);
            # Task.from_config copies it onto the task only since 5.7
            value = getattr(app.conf, f"task_{attr}", None)
        if attr in ("autoretry_for", "dont_autoretry_for"):
            options[attr] = exc_names(value)
        else:
            options[attr] = jsonable(value)
    facts["options"] = options
    facts.update(class_facts(task))
    facts["route"] = route(app, name, task)
    return facts


def schedule_facts(schedule) -> dict:
    import datetime as dt

    from celery import schedules as cs

    if isinstance(schedule, bool):
        return {"kind": "custom", "repr": repr(schedule)}
    if isinstance(schedule, (int, float)):
        return {"kind": "interval", "seconds": float(schedule), "relative": False}
    if isinstance(schedule, dt.timedelta):
        return {"kind": "interval", "seconds": schedule.total_seconds(), "relative": False}
    if isinstance(schedule, cs.crontab):
        fields = {f: jsonable(getattr(schedule, f"_orig_{f}", "*")) for f in CRON_FIELDS}
        sets = {f: sorted(getattr(schedule, f)) for f in CRON_FIELDS}
        return {"kind": "crontab", "fields": fields, "sets": sets}
    solar = getattr(cs, "solar", None)
    if solar is not None and isinstance(schedule, solar):
        return {
            "kind": "solar",
            "event": getattr(schedule, "event", None),
            "lat": getattr(schedule, "lat", None),
            "lon": getattr(schedule, "lon", None),
        }
    if isinstance(schedule, cs.schedule):
        return {
            "kind": "interval",
            "seconds": schedule.run_every.total_seconds(),
            "relative": bool(getattr(schedule, "relative", False)),
        }
    return {"kind": "custom", "repr": repr(schedule)[:200], "class": qualname(type(schedule))}


def beat_facts(app) -> dict:
    out = {}
    raw = app.conf.beat_schedule or {}
    for entry, value in raw.items():
        if not isinstance(value, dict):
            out[str(entry)] = {"error": f"not a dict: {type(value).__name__}"}
            continue
        task_name = value.get("task")
        options = value.get("options") or {}
        args, kwargs = value.get("args") or (), value.get("kwargs") or {}
        task = app.tasks.get(task_name) if isinstance(task_name, str) else None
        facts = {
            "task": task_name if isinstance(task_name, str) else jsonable(task_name),
            "schedule": schedule_facts(value.get("schedule")),
            "args": jsonable(list(args) if isinstance(args, (list, tuple)) else args),
            "kwargs": jsonable(kwargs),
            "options": jsonable(options),
            "relative": bool(value.get("relative", False)),
            "registered": task is not None,
        }
        if isinstance(task_name, str):
            try:
                facts["route"] = route(app, task_name, task, options=options, args=args, kwargs=kwargs)
            except Exception as exc:  # noqa: BLE001
                facts["route"] = {"queue": None, "error": describe_exc(exc)}
        out[str(entry)] = facts
    return out


def timezone_facts(app) -> dict:
    tz = app.conf.timezone
    try:
        effective = app.timezone
        key = getattr(effective, "key", None) or getattr(effective, "zone", None) or str(effective)
    except Exception as exc:  # noqa: BLE001
        key = f"<error: {describe_exc(exc)}>"
    if not tz and not app.conf.enable_utc:
        key = "local"
    return {
        "timezone": tz if isinstance(tz, str) or tz is None else str(tz),
        "enable_utc": bool(app.conf.enable_utc),
        "effective": key,
    }


# ---------------------------------------------------------------- generated names, resolved as the runtime does


def resolve_name(name: str, module: str | None) -> str:
    """How saqmigrate.runtime.task resolves a name in TaskOptions(autoretry_for=...): the runtime's own
    function when it is importable here (it always is in a migrated project), else the same order:
    a dotted name by import, then the task module's globals, then builtins for a bare name."""
    import builtins
    import importlib

    try:
        from saqmigrate.runtime.task import _resolve
    except Exception:  # noqa: BLE001 - saq not installed in this environment: the same rules, inline
        _resolve = None
    if _resolve is not None:
        try:
            return qualname(_resolve(name, module))
        except Exception:  # noqa: BLE001
            raise LookupError(f"{name!r} is not an exception class") from None
    obj = None
    head, _, rest = name.partition(".")
    if rest:
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except Exception:  # noqa: BLE001
                continue
            for part in parts[i:]:
                obj = getattr(obj, part, None)
                if obj is None:
                    break
            break
    if obj is None and module:
        try:
            mod = sys.modules.get(module) or importlib.import_module(module)
            obj = mod
            for part in name.split("."):
                obj = getattr(obj, part, None)
                if obj is None:
                    break
        except Exception:  # noqa: BLE001
            obj = None
    if obj is None and not rest:
        obj = getattr(builtins, name, None)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return qualname(obj)
    raise LookupError(f"{name!r} is not an exception class")


def resolve_all(requests: list) -> list:
    out = []
    for req in requests:
        resolved = {}
        for name in req.get("names", []):
            try:
                resolved[name] = resolve_name(name, req.get("module"))
            except Exception as exc:  # noqa: BLE001
                resolved[name] = {"error": describe_exc(exc)}
        out.append({"module": req.get("module"), "resolved": resolved})
    return out


# ---------------------------------------------------------------- main


def collect(spec: str, request: dict) -> dict:
    timings = {}
    t0 = time.perf_counter()
    stage = "import"
    try:
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            stage = "django.setup()"
            _django_setup()
        stage = "import"
        app = find_app(spec)
        if not request.get("keep_broker"):
            stage = "configure"
            _memory_broker(app)
        stage = "django.setup()"
        if os.environ.get("DJANGO_SETTINGS_MODULE") or _uses_django_settings(app):
            _django_setup()
        stage = "import task modules"
        app.loader.import_default_modules()
        app.finalize(auto=True)
    except BaseException as exc:  # noqa: BLE001 - SystemExit from an app counts as a failure to import
        traceback.print_exc()
        return {"schema": SCHEMA, "error": {"stage": stage, "message": describe_exc(exc)}}
    timings["import_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    stage = "read tasks"
    try:
        tasks = {}
        for name in sorted(app.tasks.keys()):
            if name.startswith("celery."):
                continue
            try:
                tasks[name] = task_facts(app, name, app.tasks[name])
            except Exception as exc:  # noqa: BLE001
                tasks[name] = {"name": name, "error": describe_exc(exc)}
        stage = "read beat_schedule"
        beat = beat_facts(app)
        tz = timezone_facts(app)
        stage = "resolve generated exception names"
        resolved = resolve_all(request.get("resolve") or [])
        result_expires = jsonable(app.conf.result_expires)
        broker = "memory://" if not request.get("keep_broker") else "kept"
    except BaseException as exc:  # noqa: BLE001
        traceback.print_exc()
        return {"schema": SCHEMA, "error": {"stage": stage, "message": describe_exc(exc)}}
    timings["collect_s"] = time.perf_counter() - t1
    return {
        "schema": SCHEMA,
        "app": qualname(type(app)) + f" {app.main!r}",
        "python": sys.version.split()[0],
        "celery": _celery_version(),
        "tasks": tasks,
        "beat_schedule": beat,
        "timezone": tz,
        "result_expires": result_expires,
        "resolved": resolved,
        "broker": broker,
        "timings": timings,
    }


def _celery_version() -> str:
    try:
        import celery

        return celery.__version__
    except Exception:  # noqa: BLE001
        return "?"


def _memory_broker(app) -> None:
    for key, value in (("broker_url", "memory://"), ("result_backend", "cache+memory://")):
        try:
            setattr(app.conf, key, value)
        except Exception:  # noqa: BLE001 - the environment variables set by the parent still apply
            pass


def _uses_django_settings(app) -> bool:
    source = getattr(app, "_config_source", None)
    return isinstance(source, str) and source.startswith("django.conf")


def _django_setup() -> None:
    try:
        import django
    except ImportError:
        return
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return
    django.setup()


def main(argv: list[str]) -> int:
    out_path, spec, in_path = argv[1], argv[2], argv[3]
    with open(in_path, encoding="utf-8") as fh:
        request = json.load(fh)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # the script's folder is not the project
    root = request.get("root") or os.getcwd()
    if root not in sys.path:
        sys.path.insert(0, root)
    doc = collect(spec, request)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, default=repr)
    os.replace(tmp, out_path)
    return 3 if "error" in doc else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
