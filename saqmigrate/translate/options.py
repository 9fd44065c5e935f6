"""Celery task options → SAQ job options (pure; docs/options.md, docs/adr/0005-job-defaults-from-celery-never-saqs.md).

``translate_task_options(options, uses_self_retry=..., defaults=...)`` takes the decorator
options of one task as the index stores them (``Task.options``: literals evaluated,
anything else ``{"dynamic": "<source>"}``) and the app-level defaults the caller already
merged (``app.conf`` task settings such as ``task_time_limit`` / ``result_expires``, and
attributes of a custom base class under their option names). It returns a
:class:`JobOptions`: the runtime :class:`~saqmigrate.runtime.task_options.TaskOptions`
record, the translation findings (:class:`~saqmigrate.translate.base.Note`, rule codes
SM150–SM199) and a migratability verdict for the options alone.

The mapping (docs/options.md has the full table):

* ``retries`` (SAQ counts attempts) is ``max_retries + 1`` only when the task retries at
  all (``autoretry_for`` or ``self.retry``), else 1; ``max_retries=None`` → a large bound.
* ``retry_delay`` is always explicit: the backoff factor ``int(max(1, retry_backoff))``,
  else ``retry_kwargs['countdown']``, else ``default_retry_delay`` (180).
* ``retry_backoff`` is the numeric cap ``retry_backoff_max`` (600), never ``True``.
* ``timeout``: ``ceil(time_limit)``; with no time limit ``timeout=0`` plus a heartbeat the
  runtime keeps alive, never SAQ's 10 s default.
* ``ttl``: ``-1`` for ``ignore_result=True``, else ``result_expires`` (1 day).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from saqmigrate.runtime.task_options import (
    CELERY_DEFAULT_MAX_RETRIES,
    CELERY_DEFAULT_RETRY_DELAY,
    DEFAULT_HEARTBEAT,
    DEFAULT_TTL,
    UNBOUNDED_ATTEMPTS,
    TaskOptions,
)
from saqmigrate.translate.base import Note

# Rule codes (saqmigrate/data/rules/SMxxx.toml) and their severities. Kept here so this
# module stays pure; tests/translate_options checks they match the rule files.
SM_MAX_RETRIES_NONE = "SM150"
SM_SOFT_TIME_LIMIT = "SM151"
SM_RATE_LIMIT = "SM152"
SM_EXPIRES = "SM153"
SM_PRIORITY = "SM154"
SM_ACKS_LATE = "SM155"
SM_SERIALIZER = "SM156"
SM_DYNAMIC = "SM157"
SM_UNKNOWN = "SM158"
SM_JITTER = "SM159"
SM_DROPPED = "SM160"
SM_IGNORE_RESULT = "SM161"
SM_TIME_LIMIT_THREAD = "SM163"
SM_CUSTOM_REQUEST = "SM164"

SEVERITY = {
    SM_MAX_RETRIES_NONE: "warning",
    SM_SOFT_TIME_LIMIT: "warning",
    SM_RATE_LIMIT: "info",
    SM_EXPIRES: "info",
    SM_PRIORITY: "warning",
    SM_ACKS_LATE: "info",
    SM_SERIALIZER: "warning",
    SM_DYNAMIC: "warning",
    SM_UNKNOWN: "warning",
    SM_JITTER: "info",
    SM_DROPPED: "info",
    SM_IGNORE_RESULT: "info",
    SM_TIME_LIMIT_THREAD: "info",
    SM_CUSTOM_REQUEST: "warning",
}

# Options consumed elsewhere (task name/registration, routing → worker settings).
HANDLED_ELSEWHERE = frozenset({"name", "bind", "base", "queue", "routing_key", "exchange", "shared", "lazy"})
DROPPED_INFO = frozenset(
    {
        "track_started",
        "typing",
        "throws",
        "trail",
        "send_events",
        "resultrepr_maxsize",
        "autoregister",
        "pydantic",
        "pydantic_strict",
        "pydantic_context",
        "pydantic_dump_kwargs",
        "abstract",
        "backend",
        "acks_on_failure_or_timeout",
        "filter",
    }
)
ACKS = frozenset({"acks_late", "reject_on_worker_lost", "retry_on_worker_lost"})
RETRY_OPTIONS = frozenset(
    {
        "max_retries",
        "default_retry_delay",
        "autoretry_for",
        "dont_autoretry_for",
        "retry_kwargs",
        "retry_backoff",
        "retry_backoff_max",
        "retry_jitter",
    }
)
OTHER_KNOWN = frozenset(
    {
        "Request",  # a custom worker request class (SM164)
        "request",  # the same, from a base class (defaults' keys are lower-cased)
        "time_limit",
        "soft_time_limit",
        "rate_limit",
        "ignore_result",
        "store_errors_even_if_ignored",
        "serializer",
        "priority",
        "expires",
    }
)
KNOWN = HANDLED_ELSEWHERE | DROPPED_INFO | ACKS | RETRY_OPTIONS | OTHER_KNOWN

# app.conf setting name → task option it provides a default for (celery/app/task.py:from_config).
SETTING_TO_OPTION = {
    "task_serializer": "serializer",
    "task_default_rate_limit": "rate_limit",
    "task_default_priority": "priority",
    "task_track_started": "track_started",
    "task_acks_late": "acks_late",
    "task_acks_on_failure_or_timeout": "acks_on_failure_or_timeout",
    "task_reject_on_worker_lost": "reject_on_worker_lost",
    "task_ignore_result": "ignore_result",
    "task_store_errors_even_if_ignored": "store_errors_even_if_ignored",
    "task_time_limit": "time_limit",
    "task_soft_time_limit": "soft_time_limit",
}
# Settings that matter here but are not task attributes.
APP_SETTINGS = frozenset({"result_expires"})
# Celery defaults of options whose value changes nothing when left at the default.
CELERY_DEFAULTS: dict[str, Any] = {
    "serializer": "json",
    "rate_limit": None,
    "priority": None,
    "track_started": False,
    "acks_late": False,
    "acks_on_failure_or_timeout": True,
    "reject_on_worker_lost": None,
    "retry_on_worker_lost": None,
    "ignore_result": False,
    "store_errors_even_if_ignored": False,
    "time_limit": None,
    "soft_time_limit": None,
    "expires": None,
    "typing": True,
    "throws": (),
    "trail": True,
    "send_events": True,
}

SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class JobOptions:
    """The translation of one task's options: runtime record + findings."""

    task: TaskOptions
    notes: tuple[Note, ...] = ()
    migratability: str = "auto"  # auto | assisted | manual (the options alone)
    uses_retry: bool = False  # the task retries at all (autoretry_for or self.retry)
    wrapper: dict[str, Any] = field(default_factory=dict, hash=False)  # what the runtime wrapper must do

    # The SAQ Job fields, for convenience.
    @property
    def retries(self) -> int:
        return self.task.retries

    @property
    def retry_delay(self) -> float:
        return self.task.retry_delay

    @property
    def retry_backoff(self) -> float | bool:
        return self.task.retry_backoff

    @property
    def timeout(self) -> int:
        return self.task.timeout

    @property
    def heartbeat(self) -> int:
        return self.task.heartbeat

    @property
    def ttl(self) -> int:
        return self.task.ttl

    def job_kwargs(self) -> dict[str, Any]:
        return self.task.job_kwargs()

    def cron_kwargs(self) -> dict[str, Any]:
        return self.task.cron_kwargs()

    def to_source(self) -> str:
        return self.task.to_source()

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job_kwargs(),
            "task_options": self.task.to_json(),
            "wrapper": dict(self.wrapper),
            "uses_retry": self.uses_retry,
            "migratability": self.migratability,
            "notes": [{"code": n.code, "severity": SEVERITY[n.code], "message": n.message} for n in self.notes],
        }


class _Dynamic(Exception):
    """A value that cannot be known statically."""


def _is_dynamic(value: Any) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and set(value) == {"dynamic"}


_TIMEDELTA_UNITS = {
    "days": 86400,
    "seconds": 1,
    "microseconds": 1e-6,
    "milliseconds": 1e-3,
    "minutes": 60,
    "hours": 3600,
    "weeks": 604800,
}


def _eval_number_src(src: str) -> float:
    """Evaluate simple arithmetic and ``timedelta(...)`` source to seconds, else raise _Dynamic."""
    try:
        node = ast.parse(src.strip(), mode="eval").body
    except SyntaxError:
        raise _Dynamic(src) from None
    return _eval_number_node(node, src)


def _eval_number_node(node: ast.AST, src: str) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_number_node(node.operand, src)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and isinstance(
        node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Pow)
    ):
        a, b = _eval_number_node(node.left, src), _eval_number_node(node.right, src)
        try:
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.FloorDiv):
                return a // b
            if abs(b) > 64:
                raise _Dynamic(src)
            power: float = a**b
            return power
        except (ZeroDivisionError, OverflowError):
            raise _Dynamic(src) from None
    if isinstance(node, ast.Call):
        func = node.func
        fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if fname == "timedelta":
            total = 0.0
            positional = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")
            for unit, arg in zip(positional, node.args):
                total += _eval_number_node(arg, src) * _TIMEDELTA_UNITS[unit]
            for kw in node.keywords:
                if kw.arg not in _TIMEDELTA_UNITS:
                    raise _Dynamic(src)
                total += _eval_number_node(kw.value, src) * _TIMEDELTA_UNITS[kw.arg]
            return total
    raise _Dynamic(src)


def _number(value: Any) -> float | None:
    """A literal or simple-arithmetic value as a number (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if _is_dynamic(value):
        return _eval_number_src(value["dynamic"])
    raise _Dynamic(repr(value))


def exception_names(value: Any) -> tuple[str, ...]:
    """Dotted exception names from a list/tuple of names or the source of a tuple expression.

    ``{"dynamic": "(IOError, requests.RequestException)"}`` → ``("IOError", "requests.RequestException")``.
    Raises _Dynamic for anything else (a variable holding the tuple, a call, a starred item).
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        names = []
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif _is_dynamic(item):
                names.extend(exception_names(item))
            else:
                raise _Dynamic(repr(value))
        return tuple(names)
    if _is_dynamic(value):
        src = value["dynamic"]
        try:
            node = ast.parse(src.strip(), mode="eval").body
        except SyntaxError:
            raise _Dynamic(src) from None
        elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
        names = []
        for elt in elts:
            dotted = _dotted(elt)
            if dotted is None:
                raise _Dynamic(src)
            names.append(dotted)
        return tuple(names)
    raise _Dynamic(repr(value))


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _normalise_defaults(defaults: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (defaults or {}).items():
        k = key.lower()
        if k.startswith("celery_"):
            k = k[len("celery_") :]
        if k.startswith("celeryd_"):
            k = "task_" + k[len("celeryd_") :]
        k = SETTING_TO_OPTION.get(k, k)
        out[k] = value
    return out


def translate_task_options(
    options: dict[str, Any],
    *,
    uses_self_retry: bool,
    defaults: dict[str, Any] | None = None,
    module: str | None = None,
) -> JobOptions:
    """Translate one Celery task's options (see the module docstring).

    ``options``: the decorator options (``Task.options``); ``uses_self_retry``: the body
    calls ``self.retry`` (``Task.features``); ``defaults``: app settings / base-class
    attributes, already merged by the caller (decorator options win); ``module``: the
    task's module, recorded so the runtime can resolve exception names.
    """
    t = _OptionTranslation(options, defaults)
    t.check_unknown()
    t.check_request()
    retry_kwargs = t.retry_kwargs()
    autoretry_for, dont_autoretry_for = t.exception_list("autoretry_for"), t.exception_list("dont_autoretry_for")
    dynamic_autoretry = _is_dynamic(t.merged.get("autoretry_for")) and not autoretry_for
    uses_retry = bool(autoretry_for) or bool(uses_self_retry) or dynamic_autoretry
    autoretry = bool(autoretry_for)
    max_retries, retries = t.attempts(retry_kwargs, autoretry, uses_self_retry or dynamic_autoretry, uses_retry)
    timing = t.retry_timing(retry_kwargs, autoretry, dynamic_autoretry)
    timeout, heartbeat = t.time_limits()
    ignore_result, ttl = t.result_ttl()
    expires = t.expires()
    rate_limit = t.findings_only(ignore_result)

    task = TaskOptions(
        retries=retries,
        retry_delay=timing.retry_delay,
        retry_backoff=timing.retry_backoff,
        timeout=timeout,
        heartbeat=heartbeat,
        ttl=ttl,
        max_retries=max_retries,
        default_retry_delay=timing.default_retry_delay,
        autoretry_for=autoretry_for,
        dont_autoretry_for=dont_autoretry_for,
        retry_kwargs=retry_kwargs,
        retry_jitter=timing.jitter,
        expires=expires,
        rate_limit=rate_limit,
        module=module if (autoretry_for or dont_autoretry_for) else None,
    )
    wrapper = {
        "autoretry_for": list(autoretry_for),
        "dont_autoretry_for": list(dont_autoretry_for),
        "retry_jitter_off": None
        if (timing.jitter or not timing.backoff or not autoretry_for)
        else {"factor": int(timing.retry_delay), "cap": int(timing.retry_backoff)},
        "expires": expires,
        "self_retry": bool(uses_self_retry),
        "heartbeat": heartbeat,
    }
    worst = max((SEVERITY_ORDER[SEVERITY[n.code]] for n in t.notes), default=0)
    migratability = ("auto", "assisted", "manual")[worst]
    return JobOptions(
        task=task, notes=tuple(t.notes), migratability=migratability, uses_retry=uses_retry, wrapper=wrapper
    )


@dataclass(frozen=True)
class _RetryTiming:
    retry_delay: float
    retry_backoff: float | bool
    default_retry_delay: float
    backoff: float  # Celery's retry_backoff factor (0: none)
    jitter: bool


class _OptionTranslation:
    """One task's merged options (defaults, then the decorator's) and the findings made reading them,
    in the order translate_task_options asks: unknown options, retries, time limits, results, the rest."""

    def __init__(self, options: dict[str, Any] | None, defaults: dict[str, Any] | None) -> None:
        self.options = options or {}
        self.merged = _normalise_defaults(defaults)
        self.merged.update(self.options)
        self.notes: list[Note] = []

    def note(self, code: str, message: str) -> None:
        self.notes.append(Note(code, message))

    def num(self, key: str, default: Any) -> Any:
        value = self.merged.get(key, default)
        try:
            return _number(value)
        except _Dynamic as exc:
            self.note(
                SM_DYNAMIC,
                f"{key}={exc.args[0]} is not a literal; used Celery's default {default!r} — set it on "
                "the SAQ task by hand",
            )
            return default

    def flag(self, key: str, default: bool) -> bool:
        value = self.merged.get(key, default)
        if _is_dynamic(value):
            self.note(SM_DYNAMIC, f"{key}={value['dynamic']} is not a literal; assumed {default!r}")
            return default
        return bool(value)

    def check_request(self) -> None:
        """``Request = MyRequest`` on the task class: Celery's worker calls that request's ``on_failure``,
        ``on_timeout``, ``on_success``, ``on_retry``, ``on_accepted`` around every run; SAQ has no worker
        request, so nothing would call them."""
        request = self.merged.get("Request", self.merged.get("request"))  # defaults' keys are lower-cased
        if request is not None:
            self.note(
                SM_CUSTOM_REQUEST,
                f"Request={_show(request)}: a custom worker request class, whose hooks (on_failure, on_timeout, "
                "on_success ...) only Celery's worker calls; the task stays on Celery",
            )

    def check_unknown(self) -> None:
        for key in sorted(self.options):
            if key not in KNOWN:
                self.note(
                    SM_UNKNOWN,
                    f"unknown task option {key}={_show(self.options[key])} is not translated; check it by hand",
                )

    def retry_kwargs(self) -> dict[str, Any]:
        """``retry_kwargs``: countdown and max_retries (numbers), the rest reported."""
        retry_kwargs: dict[str, Any] = {}
        raw_rk = self.merged.get("retry_kwargs", {})
        if _is_dynamic(raw_rk):
            try:
                node = ast.parse(raw_rk["dynamic"].strip(), mode="eval").body
                if not isinstance(node, ast.Dict) or any(k is None for k in node.keys):
                    raise _Dynamic(raw_rk["dynamic"])
                raw_rk = {
                    ast.literal_eval(k): {"dynamic": ast.unparse(v)}
                    for k, v in zip(node.keys, node.values)
                    if k is not None
                }
            except (_Dynamic, ValueError, SyntaxError):
                self.note(
                    SM_DYNAMIC,
                    f"retry_kwargs={raw_rk['dynamic']} is not a literal dict; retry countdown and "
                    "limit use the task defaults",
                )
                raw_rk = {}
        if not isinstance(raw_rk, dict):
            self.note(SM_DYNAMIC, f"retry_kwargs={raw_rk!r} is not a dict; ignored")
            raw_rk = {}
        for k, v in raw_rk.items():
            if k in ("countdown", "max_retries"):
                try:
                    retry_kwargs[k] = _number(v)
                except _Dynamic as exc:
                    self.note(SM_DYNAMIC, f"retry_kwargs[{k!r}]={exc.args[0]} is not a literal; ignored")
            else:
                self.note(SM_UNKNOWN, f"retry_kwargs[{k!r}] is not translated (only countdown and max_retries are)")
        return retry_kwargs

    def exception_list(self, key: str) -> tuple[str, ...]:
        """``autoretry_for`` / ``dont_autoretry_for`` as dotted exception names."""
        try:
            return exception_names(self.merged.get(key))
        except _Dynamic as exc:
            self.note(
                SM_DYNAMIC,
                f"{key}={exc.args[0]} names no exception classes statically; list them in "
                f"TaskOptions({key}=...) by hand",
            )
            return ()

    def attempts(
        self, retry_kwargs: dict[str, Any], autoretry: bool, task_limit: bool, uses_retry: bool
    ) -> tuple[int | None, int]:
        """(max_retries, SAQ retries): attempts are max_retries + 1 when the task retries at all.
        ``task_limit``: self.retry (or an autoretry_for not known statically) is bounded by max_retries."""
        max_retries_value = self.merged.get("max_retries", CELERY_DEFAULT_MAX_RETRIES)
        max_retries: int | None
        if max_retries_value is None:
            max_retries = None
        else:
            number = self.num("max_retries", CELERY_DEFAULT_MAX_RETRIES)
            max_retries = None if number is None else int(number)
        limits: list[int | None] = []
        if task_limit:
            limits.append(max_retries)
        if retry_kwargs.get("max_retries") is not None:
            retry_kwargs["max_retries"] = int(retry_kwargs["max_retries"])
        else:
            retry_kwargs.pop("max_retries", None)  # None means "the task's max_retries" (Task.retry)
        if autoretry:
            limits.append(retry_kwargs.get("max_retries", max_retries))
        if not uses_retry:
            return max_retries, 1
        bounded = [limit for limit in limits if limit is not None]
        if len(bounded) < len(limits):
            self.note(
                SM_MAX_RETRIES_NONE,
                f"max_retries=None (retry forever) has no SAQ equivalent; bounded at {UNBOUNDED_ATTEMPTS} attempts",
            )
            return max_retries, UNBOUNDED_ATTEMPTS
        return max_retries, max(bounded) + 1

    def retry_timing(self, retry_kwargs: dict[str, Any], autoretry: bool, dynamic_autoretry: bool) -> _RetryTiming:
        """retry_delay (always explicit), retry_backoff (a numeric cap or False) and jitter."""
        default_retry_delay = self.num("default_retry_delay", CELERY_DEFAULT_RETRY_DELAY)
        if default_retry_delay is None:
            default_retry_delay = CELERY_DEFAULT_RETRY_DELAY
        backoff_value = self.merged.get("retry_backoff", False)
        try:
            backoff = float(_number(backoff_value) or 0)
        except _Dynamic as exc:
            self.note(SM_DYNAMIC, f"retry_backoff={exc.args[0]} is not a literal; assumed no backoff")
            backoff = 0.0
        backoff_max = self.num("retry_backoff_max", 600)
        backoff_max = 600 if backoff_max is None else int(backoff_max)
        jitter = self.flag("retry_jitter", True)

        if backoff and autoretry or backoff and dynamic_autoretry:
            retry_delay: float = int(max(1.0, backoff))
            retry_backoff: float | bool = backoff_max
        else:
            if backoff and not autoretry:
                self.note(
                    SM_DROPPED,
                    "retry_backoff only applies to autoretry_for in Celery; it has no effect on this "
                    "task and is dropped",
                )
            retry_delay = retry_kwargs.get("countdown", default_retry_delay) if autoretry else default_retry_delay
            retry_backoff = False
        if autoretry and backoff and jitter:
            self.note(
                SM_JITTER,
                "retry_jitter=True: the runtime draws Celery's integer jitter in [0, d]; only a retry "
                "after a lost worker (SAQ sweep) uses SAQ's own float jitter in [0, d)",
            )
        return _RetryTiming(
            retry_delay=_tidy(retry_delay),
            retry_backoff=retry_backoff,
            default_retry_delay=_tidy(default_retry_delay),
            backoff=backoff,
            jitter=jitter,
        )

    def time_limits(self) -> tuple[int, int]:
        """(timeout, heartbeat)."""
        time_limit = self.num("time_limit", None)
        if time_limit:
            timeout = int(math.ceil(time_limit))
            heartbeat = 0
            self.note(
                SM_TIME_LIMIT_THREAD,
                f"time_limit={_show(self.merged.get('time_limit'))} → timeout={timeout}: SAQ "
                "cancels the async task, but a synchronous body keeps running in its thread "
                "until it returns",
            )
        else:
            # No limit, as in Celery; the heartbeat (kept alive by the runtime) lets SAQ's sweep
            # still find a job whose worker died. Never SAQ's 10 s default (docs/options.md).
            timeout = 0
            heartbeat = DEFAULT_HEARTBEAT
        soft = self.merged.get("soft_time_limit")
        if soft not in (None, 0):
            self.note(
                SM_SOFT_TIME_LIMIT,
                f"soft_time_limit={_show(soft)}: SAQ has no SoftTimeLimitExceeded; the body is "
                "not interrupted (port it to asyncio.timeout() in native mode)",
            )
        return timeout, heartbeat

    def result_ttl(self) -> tuple[bool, int]:
        """(ignore_result, ttl)."""
        ignore_result = self.flag("ignore_result", False)
        store_errors = self.flag("store_errors_even_if_ignored", False)
        expires_setting = self.merged.get("result_expires", DEFAULT_TTL)
        try:
            result_expires = _number(expires_setting)
        except _Dynamic as exc:
            self.note(SM_DYNAMIC, f"result_expires={exc.args[0]} is not a literal; ttl uses Celery's default of 1 day")
            result_expires = DEFAULT_TTL
        ttl_keep = 0 if not result_expires else max(1, int(math.ceil(result_expires)))
        if ignore_result and not store_errors:
            self.note(
                SM_IGNORE_RESULT,
                "ignore_result=True → ttl=-1: SAQ deletes the job record on finish, failures "
                "included; the worker log (or a dead-letter hook) is the only trace of a failure",
            )
            return ignore_result, -1
        if ignore_result:
            self.note(
                SM_IGNORE_RESULT,
                f"ignore_result=True with store_errors_even_if_ignored: SAQ has one ttl for "
                f"results and errors, kept {ttl_keep}s for both",
            )
        return ignore_result, ttl_keep

    def expires(self) -> float | None:
        raw_expires = self.merged.get("expires")
        if raw_expires is None:
            return None
        try:
            expires = _tidy(_number(raw_expires) or 0.0)
        except _Dynamic:
            self.note(
                SM_DYNAMIC,
                f"expires={raw_expires['dynamic']} is not a number of seconds; not enforced — check it by hand (SM153)",
            )
            return None
        self.note(
            SM_EXPIRES,
            f"expires={_show(raw_expires)}: SAQ has no expiry; the runtime fails a job that starts "
            f"more than {expires}s after it was enqueued (Celery marks it REVOKED)",
        )
        return expires

    def findings_only(self, ignore_result: bool) -> Any:
        """Options SAQ has no field for (rate_limit: enforced by the runtime; returned), reported."""
        merged = self.merged
        rate = merged.get("rate_limit")
        rate_limit = None
        if _is_dynamic(rate):
            self.note(SM_DYNAMIC, f"rate_limit={rate['dynamic']} is not a literal; not enforced — check it by hand")
        elif rate not in (None, "", 0):
            rate_limit = rate
            self.note(
                SM_RATE_LIMIT,
                f"rate_limit={_show(rate)} is enforced per SAQ worker process like Celery's "
                "per-worker token bucket; a job waiting for its slot holds one of the worker's "
                "concurrency slots",
            )
        prio = merged.get("priority")
        if prio is not None:
            self.note(
                SM_PRIORITY,
                f"priority={_show(prio)}: only SAQ's Postgres queue has priorities (lower runs "
                "first); Redis ignores it",
            )
        acks = [k for k in sorted(ACKS) if merged.get(k) not in (None, False, CELERY_DEFAULTS.get(k))]
        if acks:
            self.note(
                SM_ACKS_LATE,
                f"{', '.join(f'{k}={_show(merged[k])}' for k in acks)}: not configurable in SAQ, "
                "which is at-least-once (a job whose worker died is re-run by the sweep while "
                "retries remain)",
            )
        ser = merged.get("serializer")
        if ser not in (None, "json"):
            self.note(
                SM_SERIALIZER,
                f"serializer={_show(ser)}: SAQ serializes with the queue's dump/load (json by "
                "default); give the queue a matching dump/load",
            )
        for key in sorted(DROPPED_INFO & set(self.options)):
            if merged.get(key) == CELERY_DEFAULTS.get(key, object()):
                continue
            self.note(
                SM_DROPPED,
                f"{key}={_show(merged[key])} has no SAQ counterpart and is dropped"
                + (" (SAQ always records the active status)" if key == "track_started" else ""),
            )
        if "store_errors_even_if_ignored" in self.options and not ignore_result:
            self.note(SM_DROPPED, "store_errors_even_if_ignored only matters with ignore_result; dropped")
        return rate_limit


def _tidy(value: float) -> float:
    """Keep whole numbers as ints so generated code reads ``retry_delay=180``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _show(value: Any) -> str:
    if _is_dynamic(value):
        return value["dynamic"]
    return repr(value)
