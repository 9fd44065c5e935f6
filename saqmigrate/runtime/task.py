"""What generated SAQ tasks call: the task decorator, the sync bridge and the ``self`` adapter.

Generated code (docs/options.md has the full set of examples)::

    from saqmigrate.runtime.task import TaskOptions, celery_impl, run_sync, saq_task, task_self
    from proj import tasks

    @saq_task("proj.tasks.fetch", TaskOptions(retries=4))
    async def fetch(ctx, *, url):
        return await run_sync(celery_impl(tasks.fetch), task_self(ctx), url)

* :func:`saq_task` registers the function under its Celery name (it sets ``__qualname__``
  so both ``functions=[fetch]`` and ``CronJob(fetch, ...)`` use that name) and enforces
  the Celery retry semantics SAQ lacks: only ``self.retry`` and ``autoretry_for``
  exceptions are retried, with Celery's countdown, limit and jitter; any other exception,
  a time-limit cancel and an expired job fail without a retry.
* :func:`run_sync` runs the unchanged Celery implementation in a worker thread with the
  caller's contextvars. A thread cannot be killed: when SAQ's ``timeout`` or an abort
  cancels the job, the job is failed/aborted on time but the thread runs on to its end.
* :func:`task_self` gives a ``bind=True`` body its ``self``: ``self.request``,
  ``self.retry(...)``, ``self.update_state(...)``, usable from the worker thread.
* :func:`apply_job_options` is a ``before_process`` hook that gives jobs enqueued without
  the task's options (a ``CronJob``, ``enqueue("name")``, the web UI) the translated
  ``timeout``/``heartbeat``/``ttl``/retry settings instead of SAQ's defaults.

Imports only the standard library (plus ``celery.exceptions`` lazily, when present, so a
body's ``except MaxRetriesExceededError`` keeps working).
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import functools
import importlib
import inspect
import logging
import os
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

from saqmigrate.runtime import django_db, loopguard, offloop, preimport
from saqmigrate.runtime.task_options import JOB_FIELDS, TaskOptions

if TYPE_CHECKING:
    from saq.job import Job

__all__ = [
    "TaskOptions",
    "saq_task",
    "run_sync",
    "celery_impl",
    "task_self",
    "TaskSelf",
    "apply_job_options",
    "job_options",
    "registered_options",
    "TaskExpired",
    "Retry",
    "MaxRetriesExceededError",
]

logger = logging.getLogger("saqmigrate.runtime.task")

#: Celery name → options of every function decorated with :func:`saq_task` in this process.
_REGISTRY: dict[str, TaskOptions] = {}

# saq.Job dataclass defaults: a field still holding one was not set by the enqueuer.
SAQ_JOB_DEFAULTS: dict[str, Any] = {
    "retries": 1,
    "retry_delay": 0.0,
    "retry_backoff": False,
    "timeout": 10,
    "heartbeat": 0,
    "ttl": 600,
}

#: Seconds a worker thread waits for ``update_state`` to reach Redis before going on.
UPDATE_STATE_WAIT = 5.0


class TaskExpired(Exception):
    """The job started after its Celery ``expires`` deadline (Celery would mark it REVOKED)."""


# exceptions compatible with celery.exceptions when Celery is installed

_EXC: dict[str, type[Any]] = {}
_EXC_LOCK = threading.Lock()


def _exceptions() -> dict[str, type[Any]]:
    if _EXC:
        return _EXC
    with _EXC_LOCK:
        if _EXC:
            return _EXC
        try:
            from celery import exceptions as cex  # noqa: PLC0415 (only when the app still has Celery)

            retry_base: type[Any] = cex.Retry
            max_base: type[Any] = cex.MaxRetriesExceededError
        except ImportError:  # after finalize: Celery is gone
            retry_base, max_base = Exception, Exception

        class Retry(retry_base):
            """Raised by ``self.retry()``: the job is retried after ``when`` seconds."""

            def __init__(
                self,
                message: Any = None,
                exc: BaseException | None = None,
                when: Any = None,
                kwargs: dict[str, Any] | None = None,
            ) -> None:
                self.countdown = 0.0 if when is None else float(when)
                self.new_kwargs = kwargs
                if retry_base is Exception:
                    Exception.__init__(self, message or f"Retry in {self.countdown}s", exc)
                    self.exc, self.when, self.message = exc, when, message
                else:
                    retry_base.__init__(self, message, exc=exc, when=when)

        class MaxRetriesExceededError(max_base):
            """``self.retry()`` without ``exc`` after the last allowed retry."""

        Retry.__module__ = MaxRetriesExceededError.__module__ = __name__
        _EXC["Retry"] = Retry
        _EXC["MaxRetriesExceededError"] = MaxRetriesExceededError
        try:
            from celery.exceptions import Ignore  # noqa: PLC0415

            _EXC["Ignore"] = Ignore
        except ImportError:
            pass
        return _EXC


def __getattr__(name: str) -> Any:  # PEP 562: Retry / MaxRetriesExceededError built lazily
    if name in ("Retry", "MaxRetriesExceededError"):
        return _exceptions()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# per-job state


@dataclass
class _Current:
    name: str
    options: TaskOptions
    ctx: dict
    loop: asyncio.AbstractEventLoop
    params: tuple[str, ...]
    #: the exception whose retry decision the hook adapter already made (``_decide`` once only)
    decided: BaseException | None = None
    #: the hook adapter's call in progress (``celery_impl`` inside a task class with hooks)
    call: Any = None
    #: SAQ cancelled the job (time limit, abort): the thread's late outcome runs no hooks
    cancelled: bool = False


_CURRENT: contextvars.ContextVar[_Current | None] = contextvars.ContextVar("saqmigrate_task", default=None)


def registered_options() -> dict[str, TaskOptions]:
    """Celery name → :class:`TaskOptions` of the SAQ tasks defined in this process."""
    return dict(_REGISTRY)


def job_options(name: str) -> dict[str, Any]:
    """``saq.Job`` keyword arguments for the task registered as ``name`` (for enqueuers)."""
    try:
        return _REGISTRY[name].job_kwargs()
    except KeyError:
        raise KeyError(
            f"no SAQ task registered as {name!r}; import the module that defines it with @saq_task"
        ) from None


def saq_task(name: str, options: TaskOptions | None = None) -> Callable[[Callable], Callable]:
    """Decorate an ``async def f(ctx, *, ...)`` as the SAQ task for Celery task ``name``.

    The result is an async function SAQ can register directly (its ``__qualname__`` is the
    Celery name) and has ``saq_name``, ``saq_options`` and ``registration`` (the
    ``("name", fn)`` tuple) attributes.
    """
    options = options if options is not None else TaskOptions()
    if not isinstance(options, TaskOptions):
        raise TypeError(f"saq_task({name!r}, options=...): expected TaskOptions, got {type(options).__name__}")
    install_retry_log_filter()

    def decorate(fn: Callable) -> Callable:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"saq_task({name!r}): {fn.__qualname__} must be an async def taking ctx first")
        params = tuple(
            p.name
            for p in list(inspect.signature(fn).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )

        @functools.wraps(fn)
        async def task(ctx: dict, /, **kwargs: Any) -> Any:  # positional-only: a job kwarg may be named ctx
            return await _run_task(fn, name, options, params, ctx, kwargs)

        loopguard.register(fn, name)  # a stall inside fn is attributed to this task (runtime/loopguard.py)
        preimport.register(fn, name)  # its body's own imports run at worker start-up (runtime/preimport.py)
        task.__qualname__ = name
        task.saq_name = name  # type: ignore[attr-defined]
        task.saq_options = options  # type: ignore[attr-defined]
        task.registration = (name, task)  # type: ignore[attr-defined]
        previous = _REGISTRY.get(name)
        if previous is not None and previous != options:
            logger.warning("SAQ task %s registered twice with different options; the last one wins", name)
        _REGISTRY[name] = options
        return task

    return decorate


async def _run_task(
    fn: Callable[..., Any],
    name: str,
    options: TaskOptions,
    params: tuple[str, ...],
    ctx: dict[str, Any],
    kwargs: dict[str, Any],
) -> Any:
    job = ctx["job"]
    _fill_defaults(job, options, include_timeout=False)
    if options.expires is not None and job.queued:
        age = time.time() - job.queued / 1000
        if age > options.expires:
            job.retries = job.attempts
            raise TaskExpired(
                f"{name}[{job.key}] expired: started {age:.1f}s after enqueue, expires={options.expires}s"
            )
    current = _Current(name, options, ctx, asyncio.get_running_loop(), params)
    token = _CURRENT.set(current)
    beat = _Heartbeat(job) if job.heartbeat else None
    try:
        if options.rate_limit:
            # Celery: a task over its rate_limit waits in this worker process (token bucket),
            # then runs; the event loop keeps serving other jobs meanwhile.
            from saqmigrate.runtime.ratelimit import acquire  # noqa: PLC0415

            await acquire(name, options.rate_limit)
        async with django_db.orm_context():  # its async ORM calls on a thread of its own (runtime/django_db.py)
            result = await _body(fn, name, ctx, kwargs)
    except asyncio.CancelledError:
        current.cancelled = True
        if job.timeout and job.started and (time.time() * 1000 - job.started) >= job.timeout * 1000 - 50:
            # A Celery hard time limit fails the task; SAQ would retry the TimeoutError.
            job.retries = job.attempts
            if current.call is not None:
                current.call.time_limit_exceeded(job.timeout)
        raise
    except Exception as exc:
        if loopguard.sync_only_error(exc):
            loopguard.demote(name, f"made a synchronous Django ORM call on the event loop ({exc})")
        ignore = _exceptions().get("Ignore")
        if ignore is not None and isinstance(exc, ignore):
            return None  # Celery: the task asked not to record a state; SAQ completes with None
        todo = offloop.needs_text(exc)
        if todo:  # the retry log and SAQ's traceback format str() these on the loop: their text, in a thread
            texts = await run_sync(lambda: [offloop.safe_str(e) for e in todo])
            for e, text in zip(todo, texts):
                offloop.freeze(e, text)
        if current.decided is not exc:
            _decide(job, options, params, exc)
        raise
    finally:
        _CURRENT.reset(token)
        if beat is not None:
            await beat.stop()
    if not offloop.plain(result):  # SAQ serialises the result on the loop: encode it in a thread
        result = await run_sync(offloop.normalize, result)
    return result


async def _body(fn: Callable[..., Any], name: str, ctx: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    if loopguard.demoted(name):  # its port blocked the loop before: the Celery body in a thread
        bridged = loopguard.fallback(name)
        if bridged is not None:
            return await bridged(ctx, kwargs)
    limit = loopguard.step_limit()
    if limit is None:
        return await fn(ctx, **kwargs)
    return await loopguard.TimedSteps(fn(ctx, **kwargs), name, limit)  # a step over the limit held the loop


def _decide(
    job: Job, options: TaskOptions, params: tuple[str, ...], exc: BaseException, *, from_body: bool = True
) -> bool:
    """Set the live job so SAQ retries exactly when Celery would, after Celery's countdown.

    Returns True when a retry is scheduled. ``autoretry_for`` applies only to exceptions raised
    by the task body (``from_body``): Celery's autoretry wraps ``run``, not the task class's
    ``before_start`` or ``__call__``.
    """
    retry_cls = _exceptions()["Retry"]
    if isinstance(exc, retry_cls):
        if exc.new_kwargs is not None:
            job.kwargs = exc.new_kwargs
        _schedule_retry(job, options, exc.countdown, exc)
        return True
    try:
        auto = (
            from_body
            and bool(options.autoretry_for)
            and _matches(exc, options.autoretry_for, options)
            and not (options.dont_autoretry_for and _matches(exc, options.dont_autoretry_for, options))
        )
    except (LookupError, ImportError):
        logger.exception("job %s: cannot resolve autoretry_for/dont_autoretry_for; not retrying", job.key)
        auto = False
    if auto:
        limit = options.retry_kwargs.get("max_retries", options.max_retries)
        if limit is None or job.attempts <= limit:  # Celery: request.retries + 1 > max_retries fails
            _schedule_retry(job, options, options.autoretry_countdown(job.attempts - 1), exc)
            return True
    job.retries = job.attempts  # not retryable: SAQ finishes the job as failed
    return False


def _schedule_retry(job: Job, options: TaskOptions, countdown: float, exc: BaseException) -> None:
    job.retries = max(job.attempts + 1, options.retries)
    job.retry_delay = max(0.0, float(countdown))
    job.retry_backoff = False
    current = _CURRENT.get()
    name = current.name if current is not None else job.function
    # read by _PlannedRetryLog when SAQ's worker logs this exception (an attribute, not a field: never stored)
    job.__dict__[_PLANNED_RETRY] = (exc, name, _retry_text(exc, job.retry_delay))


# logging a planned retry as Celery does

_PLANNED_RETRY = "_saqmigrate_planned_retry"
_SAQ_JOB_ERROR = "Error processing job %s"  # saq/worker.py Worker.process: logger.exception(...) for every job error


def _retry_text(exc: BaseException, countdown: float) -> str:
    """Celery's ``str(Retry)``: ``Retry in 10s: ValueError('boom')`` (celery/exceptions.py Retry.__str__)."""
    retry_cls = _exceptions()["Retry"]
    message = getattr(exc, "message", None) if isinstance(exc, retry_cls) else None
    if message:
        return str(message)
    cause = getattr(exc, "exc", None) if isinstance(exc, retry_cls) else exc
    when = f"{countdown:g}"
    return f"Retry in {when}s: {cause!r}" if cause is not None else f"Retry in {when}s"


class _PlannedRetryLog(logging.Filter):
    """On the ``saq`` logger: SAQ's worker logs every job error at ERROR with a traceback, a retry the task
    planned (``self.retry()``, ``autoretry_for`` within its limit) included, which trips log-based alerting.
    Celery logs that retry as one INFO line (``Task x[id] retry: Retry in 10s: exc``, celery/app/trace.py
    LOG_RETRY). This filter drops SAQ's record for exactly the exception the runtime planned a retry for,
    while the job is still retryable, and logs Celery's line instead (logger ``saqmigrate.runtime.task``).
    The final failure (no retry left) and any other error keep SAQ's ERROR record and its traceback, once
    (the job text without the previous attempt's error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _SAQ_JOB_ERROR or not record.args or not record.exc_info:
            return True
        job: Any = record.args[0] if isinstance(record.args, tuple) else None
        planned = getattr(job, "__dict__", {}).get(_PLANNED_RETRY)
        if planned is None:
            _without_previous_error(record, job)
            return True
        exc, name, text = planned
        if record.exc_info[1] is not exc or not getattr(job, "retryable", False):
            _without_previous_error(record, job)
            return True
        logger.info("Task %s[%s] retry: %s (attempt %s of %s)", name, job.key, text, job.attempts, job.retries)
        return False


def _without_previous_error(record: logging.LogRecord, job: Any) -> None:
    """SAQ's job text lists ``error``, which still holds the *previous* attempt's traceback when the record
    is made: the final failure would show two tracebacks, the older one first (for ``self.retry`` a
    misleading ``Retry in 1s``). Render the job without it; the record's own traceback is this attempt's."""
    if getattr(job, "error", None) is None or not hasattr(job, "info"):
        return
    saved = job.error
    try:
        job.error = None  # the field's default: info() leaves it out
        record.args = (job.info(True),)
    finally:
        job.error = saved


_RETRY_LOG_FILTER = _PlannedRetryLog()


def install_retry_log_filter() -> None:
    """Log planned retries at INFO as Celery does (idempotent; saq_task() calls it)."""
    saq_logger = logging.getLogger("saq")
    if _RETRY_LOG_FILTER not in saq_logger.filters:
        saq_logger.addFilter(_RETRY_LOG_FILTER)


def _fill_defaults(job: Job, options: TaskOptions, *, include_timeout: bool) -> dict[str, Any]:
    changed = {}
    for field_name in JOB_FIELDS:
        if field_name == "timeout" and not include_timeout:
            continue
        current = getattr(job, field_name)
        default = SAQ_JOB_DEFAULTS[field_name]
        wanted = getattr(options, field_name)
        if current == default and type(current) is type(default) and current != wanted:
            setattr(job, field_name, wanted)
            changed[field_name] = wanted
    return changed


async def apply_job_options(ctx: dict) -> None:
    """``before_process`` hook: give a job still carrying SAQ's defaults its task's options.

    Runs before SAQ reads ``job.timeout``, so a ``CronJob`` or a bare
    ``enqueue("proj.tasks.f")`` gets the translated timeout (not 10 s), heartbeat, ttl
    and retries. Values the enqueuer set explicitly are kept.
    """
    job = ctx["job"]
    options = _REGISTRY.get(job.function)
    if options is None:
        return
    if _fill_defaults(job, options, include_timeout=True):
        await job.update()  # persist timeout/heartbeat so the sweep judges the job correctly


def _matches(exc: BaseException, names: tuple, options: TaskOptions) -> bool:
    return isinstance(exc, _resolve_all(names, options.module))


@functools.lru_cache(maxsize=256)
def _resolve_all(names: tuple, module: str | None) -> tuple[type, ...]:
    return tuple(_resolve(n, module) for n in names)


def _resolve(name: Any, module: str | None) -> type:
    """An exception class from its name, the way the task module itself would see it.

    ``rewrite`` emits fully qualified names (``requests.exceptions.ConnectionError``); those are
    imported by that path first. A bare name (older generated code, hand-written options) is looked
    up in the task module's globals before builtins, as Python does: ``from requests.exceptions
    import ConnectionError`` in the task module shadows the builtin class of that name.
    """
    if isinstance(name, type):
        return name
    obj: Any = None
    _, _, rest = name.partition(".")
    if rest:
        obj = _import_dotted(name)
    if obj is None and module:
        mod = sys.modules.get(module) or importlib.import_module(module)
        obj = _walk(mod, name)
    if obj is None and not rest:
        obj = getattr(builtins, name, None)
    if not (isinstance(obj, type) and issubclass(obj, BaseException)):
        where = f" (looked in {module}, builtins and by import)" if module else " (looked in builtins and by import)"
        raise LookupError(
            f"autoretry_for names {name!r}, which is not an exception class{where}; "
            "put the class or its importable dotted name in TaskOptions"
        )
    return obj


def _import_dotted(dotted: str) -> Any:
    """``pkg.mod.Class`` or ``pkg.mod.Outer.Inner``: import the longest importable module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            mod = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        return _walk(mod, ".".join(parts[i:]))
    return None


def _walk(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class _Heartbeat:
    """Touch the job every ``heartbeat / 3`` seconds while the task runs (no time limit).

    It proves the worker is alive, not that the body makes progress: a worker that dies
    stops touching its jobs and SAQ's sweep re-runs or aborts them.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.stopped = asyncio.Event()
        self.interval = max(0.2, job.heartbeat / 3)
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.stopped.wait(), self.interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.job.update()
            except Exception:  # a heartbeat must never fail the job
                logger.warning("heartbeat for job %s failed", self.job.key, exc_info=True)

    async def stop(self) -> None:
        self.stopped.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 5)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.task.cancel()


# the sync bridge

_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        with _EXECUTOR_LOCK:
            if _EXECUTOR is None:
                size = int(os.environ.get("SAQMIGRATE_BRIDGE_THREADS", "64"))
                _EXECUTOR = ThreadPoolExecutor(max_workers=size, thread_name_prefix="saqmigrate-bridge")
    return _EXECUTOR


async def run_sync(fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a worker thread and await its result.

    The thread sees a copy of the caller's contextvars (as ``asyncio.to_thread`` does).
    The pool has ``SAQMIGRATE_BRIDGE_THREADS`` threads (default 64, above SAQ's default
    concurrency of 10). Cancelling the await (SAQ timeout or abort) does not stop the
    thread: it runs to completion and its result is dropped. In a Django project the thread's
    unusable or obsolete database connections are closed before and after the call, as Celery's
    Django fixup does around a task (runtime/django_db.py).
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    future = loop.run_in_executor(_executor(), django_db.around(call))
    try:
        return await future
    except asyncio.CancelledError:
        logger.warning("%s was cancelled; its thread keeps running until it returns", getattr(fn, "__qualname__", fn))
        raise


def _shared_task_function(obj: Any) -> Callable | None:
    """The function behind a ``@shared_task`` proxy, without asking any Celery app for it.

    A shared task is a ``celery.local.Proxy`` whose factory looks the task up in the *current*
    app's registry; in a SAQ worker the current app may be another one (or one that cannot be
    finalized without Django settings), so the function is read from the factory's closure.
    """
    try:
        factory = object.__getattribute__(obj, "_Proxy__local")
    except AttributeError:
        return None
    for cell in getattr(factory, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if inspect.isfunction(value) and getattr(value, "__name__", "") != "task_by_cons":
            return value
    return None


def celery_impl(task: Any) -> Callable:
    """The undecorated implementation of a function-based Celery task.

    ``bind=True`` tasks get a function taking ``self`` first (pass :func:`task_self`).
    Celery's autoretry wrapper is bypassed: :func:`saq_task` applies those semantics.

    Inside a :func:`saq_task` function, when the Celery task's class overrides Celery's task
    hooks (``before_start``, ``on_success``, ``on_failure``, ``on_retry``, ``after_return``) or
    ``__call__``, the function returned runs the body the way Celery's tracer does: through the
    class's ``__call__`` and with the hooks called in Celery's order, with Celery's arguments,
    in the same thread as the body (saqmigrate.runtime.task_class).
    """
    fun = _raw_impl(task)
    current = _CURRENT.get()
    if current is None:
        return fun
    from saqmigrate.runtime.task_class import adapt  # noqa: PLC0415

    return adapt(task, fun, current)


def _raw_impl(task: Any) -> Callable:
    obj = task
    if type(obj) is types.FunctionType:  # type(), not isinstance(): a Proxy would resolve itself
        return obj
    fun = _shared_task_function(obj)
    if fun is not None:
        return fun
    get = getattr(obj, "_get_current_object", None)
    if get is not None:
        obj = get()
    if inspect.isfunction(obj):
        return obj
    raw = inspect.getattr_static(type(obj), "__wrapped__", None)
    if isinstance(raw, staticmethod):
        raw = raw.__func__
    if not inspect.isfunction(raw):
        raise TypeError(
            f"celery_impl({getattr(obj, 'name', obj)!r}): not a function-based Celery task "
            "(class-based tasks need a hand-written SAQ task)"
        )
    return raw


# bind=True: the self adapter


class Request:
    """``self.request`` for a bind=True body, read from the SAQ job (celery/app/task.py:Context)."""

    def __init__(self, ctx: dict, name: str, options: TaskOptions) -> None:
        job = ctx["job"]
        worker = ctx.get("worker")
        queue = getattr(job, "queue", None)
        self.id = job.key
        self.task = name
        self.retries = max(0, job.attempts - 1)
        self.args: tuple = ()
        self.kwargs = dict(job.kwargs or {})
        self.eta = _iso(job.scheduled) if job.scheduled else None
        self.expires = _iso(job.queued / 1000 + options.expires) if options.expires is not None and job.queued else None
        self.hostname = getattr(worker, "id", None)
        queue_name = getattr(queue, "name", None)
        self.delivery_info = {"routing_key": queue_name, "exchange": "", "priority": job.priority, "redelivered": None}
        self.called_directly = False
        self.is_eager = False
        self.timelimit = (job.timeout or None, None)
        self.ignore_result = job.ttl == -1
        self.correlation_id = job.key
        for missing in (
            "root_id",
            "parent_id",
            "group",
            "group_index",
            "chord",
            "callbacks",
            "errbacks",
            "reply_to",
            "origin",
            "headers",
            "taskset",
            "chain",
            "utc",
            "properties",
            "replaced_task_nesting",
        ):
            setattr(self, missing, None)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __repr__(self) -> str:
        return f"<Request {self.task}[{self.id}] retries={self.retries}>"


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).isoformat()


class TaskSelf:
    """The ``self`` of a ``bind=True`` Celery body running under SAQ.

    Safe to use from the bridge's worker thread: reads are plain attribute reads; Redis
    writes (``update_state``) are scheduled on the worker's event loop.
    """

    def __init__(
        self, ctx: dict, name: str, options: TaskOptions, loop: asyncio.AbstractEventLoop, params: tuple[str, ...] = ()
    ) -> None:
        self._ctx = ctx
        self._loop = loop
        self._params = params
        self._pending: set = set()
        self.name = name
        self.options = options
        self.max_retries = options.max_retries
        self.default_retry_delay = options.default_retry_delay
        self.request = Request(ctx, name, options)

    @property
    def MaxRetriesExceededError(self) -> type:  # noqa: N802 (Celery's attribute name)
        return _exceptions()["MaxRetriesExceededError"]

    def __getattr__(self, attr: str) -> Any:
        """Anything else a body reaches through ``self`` (a helper method of its ``base=`` class, a class
        attribute, ``self.app``) comes from the Celery task object; its methods run bound to this
        ``self``, so inside them ``self.request``/``self.retry`` are the SAQ job's."""
        if attr.startswith("__"):
            raise AttributeError(attr)
        task = _celery_task_by_name(self.name)
        if task is None:
            raise AttributeError(
                f"{type(self).__name__} of {self.name!r} has no attribute {attr!r} (and the Celery "
                "task object is not registered in this process)"
            )
        for klass in type(task).__mro__:
            if attr in klass.__dict__:
                raw = klass.__dict__[attr]
                if isinstance(raw, types.FunctionType):
                    return types.MethodType(raw, self)
                break
        return getattr(task, attr)

    def retry(
        self,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> NoReturn:
        """Celery's ``Task.retry`` with SAQ semantics: raises so the SAQ job is retried.

        Past the limit (``max_retries``, or this call's override) it raises ``exc`` (or
        ``MaxRetriesExceededError``) and the job fails, as in Celery.
        """
        if not throw:
            raise TypeError(
                f"{self.name}: self.retry(throw=False) cannot be expressed in SAQ (SM165); "
                "raise self.retry(...) instead"
            )
        ignored = sorted(set(options) - {"queue", "priority"})
        if ignored:
            logger.warning(
                "%s: self.retry(%s=...) has no SAQ equivalent and is ignored (SM165)", self.name, ", ".join(ignored)
            )
        job = self._ctx["job"]
        retries = job.attempts  # Celery: request.retries + 1
        limit = self.max_retries if max_retries is None else max_retries
        exc_types = _exceptions()
        if limit is not None and retries > limit:
            if exc is not None:
                current = sys.exc_info()[1]
                if current is exc:
                    raise exc
                raise exc from current
            raise exc_types["MaxRetriesExceededError"](
                f"Can't retry {self.name}[{self.request.id}] kwargs:{self.request.kwargs}"
            )
        if eta is not None:
            if eta.tzinfo is None:
                eta = eta.replace(tzinfo=timezone.utc)  # Celery treats a naive eta as UTC
            countdown = (eta - datetime.now(timezone.utc)).total_seconds()
        elif countdown is None:
            countdown = self.default_retry_delay
        new_kwargs = None
        if args is not None or kwargs is not None:
            new_kwargs = dict(self.request.kwargs if kwargs is None else kwargs)
            if args:
                if len(args) > len(self._params):
                    raise TypeError(
                        f"{self.name}: self.retry(args=...) has {len(args)} values for parameters {list(self._params)}"
                    )
                new_kwargs.update(zip(self._params, args))
        raise exc_types["Retry"](exc=exc, when=countdown, kwargs=new_kwargs)

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None, **kwargs: Any
    ) -> None:
        """Store ``state`` and ``meta`` in ``job.meta`` (``{"state": ..., "info": ...}``).

        ``progress`` is set from ``meta["progress"]`` (0..1) or ``current/total`` when given.
        From a worker thread it waits up to ``UPDATE_STATE_WAIT`` seconds for the write.
        """
        if task_id not in (None, self.request.id):
            raise ValueError(
                f"{self.name}: update_state(task_id={task_id!r}) for another task is not supported under SAQ"
            )
        job = self._ctx["job"]
        new_meta = dict(job.meta or {})
        new_meta["state"] = state
        new_meta["info"] = meta
        new_meta["attempt"] = job.attempts  # read by router._custom_state: a retry's state is not the last attempt's
        changes: dict[str, Any] = {"meta": new_meta}
        progress = _progress(meta)
        if progress is not None:
            changes["progress"] = progress
        self._submit(job.update(**changes))

    async def aupdate_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None, **kwargs: Any
    ) -> None:
        """``update_state`` for native async bodies (awaits the write)."""
        if task_id not in (None, self.request.id):
            raise ValueError(
                f"{self.name}: update_state(task_id={task_id!r}) for another task is not supported under SAQ"
            )
        job = self._ctx["job"]
        progress = _progress(meta)
        await job.update(
            meta={**(job.meta or {}), "state": state, "info": meta, "attempt": job.attempts},
            **({"progress": progress} if progress is not None else {}),
        )

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:  # called on the loop itself (a sync call in native code)
            task = self._loop.create_task(coro)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            future.result(timeout=UPDATE_STATE_WAIT)
        except TimeoutError:
            logger.warning(
                "%s: update_state did not reach the queue within %ss; going on", self.name, UPDATE_STATE_WAIT
            )

    def __repr__(self) -> str:
        return f"<TaskSelf {self.name}[{self.request.id}]>"


def _progress(meta: Any) -> float | None:
    if not isinstance(meta, dict):
        return None
    p = meta.get("progress")
    if isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1:
        return float(p)
    cur: Any = meta.get("current")
    total: Any = meta.get("total")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cur, total)) and total > 0:
        return max(0.0, min(1.0, cur / total))
    return None


def _celery_task_by_name(name: str) -> Any:
    """The Celery task object registered under ``name`` in this process (None without Celery or the app)."""
    try:
        from celery import current_app
    except ImportError:  # after finalize: no Celery at all
        return None
    from celery._state import _get_active_apps

    apps = [current_app._get_current_object()] + [a for a in _get_active_apps() if a is not current_app]
    for app in apps:
        try:
            task = app.tasks.get(name)
        except Exception:  # noqa: BLE001 - an app that cannot finalize here
            continue
        if task is not None:
            return task
    return None


def task_self(ctx: dict) -> TaskSelf:
    """The ``self`` for a ``bind=True`` body; call it inside a :func:`saq_task` function."""
    current = _CURRENT.get()
    if current is None or current.ctx is not ctx:
        raise RuntimeError("task_self(ctx) must be called inside a function decorated with @saq_task")
    return TaskSelf(ctx, current.name, current.options, current.loop, current.params)
