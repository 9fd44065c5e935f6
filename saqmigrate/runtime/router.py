"""The dual router: every dispatch goes to Celery or to SAQ, decided per call from the flags.

::

    router = Router(registry, FlagClient(flag_url), celery_app=app, saq_url=saq_url)
    set_router(router)                                  # for RoutedTask / the send_task hook
    router.dispatch("proj.tasks.add", 2, 3)             # like .delay(2, 3)
    router.apply_async("proj.tasks.add", (2, 3), countdown=10)
    await router.adispatch("proj.tasks.add", 2, 3)      # from async code

Order of a decision (first match wins; pure function of the snapshot and the call):
  1. structural pins, which keep the dispatch on Celery: task not in the registry
     (``not_registered``), a Celery retry (``pinned_retry``), a continuation of a Celery canvas
     (``canvas``: chain link, group member, chord body, link callback), an option or argument
     shape SAQ cannot honour (``unsupported_option``), or an environment variable the task's generated
     options assume unset that this process sets (``unsupported_option`` with ``$NAME``, SM116: one
     warning per task per process);
  2. the global mode (``kill_switch``);
  3. the task's exact rule (``override`` / ``percentage``), else the longest glob (``pattern``);
  4. the compiled default: Celery (``default``, or ``store_unavailable`` with no flags at all).

When SAQ's Redis cannot be reached *and nothing was sent* (connection refused, unreachable),
a SAQ decision falls back to Celery (reason ``saq_unavailable``, one warning
log line and ``saqmigrate_route_decisions_total{reason="saq_unavailable"}`` per dispatch), with
the same task id. ``Router(fallback=False)`` or ``SAQMIGRATE_FALLBACK=0`` raise
:class:`SaqUnavailable` instead. A timeout (also one while connecting: a frozen server
still accepts connections) or a failure after the enqueue may have been sent is never retried elsewhere: it raises
:class:`EnqueueUncertain` (:class:`EnqueueTimeout` for timeouts), which carries the job key and
queue so the caller can reconcile (``exc.job_exists()``).

A SAQ job is always ``Job(function=..., kwargs=..., **per-task job options)``; user kwargs
are never spread into ``enqueue`` (SAQ would swallow ``timeout``, ``key`` ...).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as _dt
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.bridge import BridgeTimeout
from saqmigrate.runtime.registry import Registry, TaskEntry, warn_env_pinned
from saqmigrate.runtime.urls import saq_redis_url

# Set while the router itself publishes to Celery, so the hooks (RoutedTask.apply_async,
# the send_task hook) pass the call straight through instead of routing it twice.
_BYPASS: contextvars.ContextVar[bool] = contextvars.ContextVar("saqmigrate_bypass", default=False)

# Celery call options that do not change what the task does; dropped on the SAQ path.
_IGNORED_OPTIONS = frozenset(
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
        "result_cls",
        "task_type",
        "router",
        "route_name",
        "reply_to",
        "shadow",
        "ignore_result",
        "delivery_mode",
        "immediate",
        "mandatory",
    }
)
# Options only Celery's canvas machinery sets (measured on Celery 5.7 with a real worker): chain links
# carry ``chain`` (even ``[]`` for the last link) with ``parent_id``/``root_id``; group members and chord
# headers ``group_id``/``group_index`` (+ ``chord``); a chord body ``group_id``; link callbacks
# ``parent_id``/``root_id``; ``Task.replace`` ``replaced_task_nesting``. A dispatch carrying any of them
# belongs to a canvas Celery started and runs there: SAQ has no canvas to continue it (the chain's
# result would wait forever). ``send_task`` sets parent/root ids of a task called from a task itself,
# after this decision, so plain dispatches from inside a task are not affected.
_CANVAS_OPTIONS = frozenset(
    {"chain", "parent_id", "root_id", "group_id", "group_index", "chord", "link", "link_error", "replaced_task_nesting"}
)
# Options the router maps onto the SAQ job.
_MAPPED_OPTIONS = frozenset({"countdown", "eta", "task_id", "time_limit", "queue", "serializer", "retries"})


def _saq_eager() -> bool:
    """saqmigrate's eager switch (runtime/testing.py; imported on the first Celery-routed dispatch)."""
    from saqmigrate.runtime import testing  # noqa: PLC0415

    return bool(testing.eager_enabled())


class RouterError(SaqmigrateError, RuntimeError):
    pass


class SaqLookupUnavailable(RouterError):
    """A result lookup skipped because SAQ's Redis failed one moments ago (``Router.lookup_backoff``)."""


#: Decision reason of a SAQ dispatch that went to Celery because SAQ's Redis was unreachable.
R_SAQ_UNAVAILABLE = "saq_unavailable"


class _KeyedError(RouterError):
    def __init__(self, message: str, *, task: str, key: str, queue: str, url: str | None = None):
        super().__init__(message)
        self.task, self.key, self.job_key, self.queue, self.url = task, key, key, queue, url

    def job_exists(self, timeout: float = 2.0) -> bool:
        """Is the job stored in SAQ's Redis now? (raises redis errors while it is still unreachable)"""
        import redis
        from saq.queue.redis import ID_PREFIX

        client = redis.Redis.from_url(
            self.url or saq_redis_url(), socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            return bool(client.exists(f"{ID_PREFIX}{self.queue}:{self.key}"))
        finally:
            client.close()


class _Refused(_KeyedError):
    """SAQ's Redis answered with an error (out of memory, read-only replica): nothing stored."""


class SaqUnavailable(_KeyedError):
    """SAQ's Redis could not be reached and nothing was sent (definite); raised when the
    Celery fallback is off or impossible. The job was not enqueued."""


class EnqueueUncertain(_KeyedError):
    """The enqueue may or may not have reached SAQ's Redis. Reconcile by ``key``: the job
    runs once if it was stored, never if not (``job_exists()``)."""


class EnqueueTimeout(EnqueueUncertain, BridgeTimeout):
    """An :class:`EnqueueUncertain` because no reply came in time (SAQ's Redis frozen, overloaded)."""


class _Gate:
    """Lets the enqueue write only while the caller still waits for it (bridge thread mode)."""

    __slots__ = ("lock", "sent", "closed")

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.sent = self.closed = False

    def open(self) -> bool:
        with self.lock:
            if self.closed:
                return False
            self.sent = True
            return True

    def close(self) -> bool:
        """Stop any later write; True when nothing was sent."""
        with self.lock:
            self.closed = True
            return not self.sent


_CONNECT_ERRORS: tuple[type[BaseException], ...] = (OSError,)
_TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError,)
try:
    import redis.exceptions as _rexc

    _CONNECT_ERRORS = (_rexc.ConnectionError, OSError)
    _TIMEOUTS = (_rexc.TimeoutError, TimeoutError)
except ImportError:  # pragma: no cover
    pass


async def _connected(queue: Any) -> None:
    """Connect now (or reuse a live pooled connection) without sending a command.

    An idle pooled connection whose socket is readable was closed by the server (a killed or
    restarted Redis): it is reconnected here, so a dead server shows up as a refused connect,
    before anything is written, not as a lost reply after the write. (redis-py's asyncio
    check reads the stream's EOF flag, which the event loop may not have set yet.)
    """
    pool = getattr(getattr(queue, "redis", None), "connection_pool", None)
    if pool is None:
        return
    try:
        pending = pool.get_connection()
    except TypeError:  # redis-py < 5.1 requires a command name
        pending = pool.get_connection("PING")
    conn = await pending
    try:
        if _peer_closed(conn):
            await conn.disconnect()
            await conn.connect()
    finally:
        await pool.release(conn)


def _peer_closed(conn: Any) -> bool:
    import select

    try:
        fd = conn._writer.transport.get_extra_info("socket").fileno()
        return bool(select.select([fd], [], [], 0)[0]) if fd >= 0 else False
    except Exception:  # noqa: BLE001 - another connection class: trust redis-py's own check
        return False


@dataclass(slots=True)
class Decision:
    task: str
    backend: str  # celery | saq
    reason: str
    version: int
    unsupported: tuple[str, ...] = ()


@dataclass(slots=True)
class Plan:
    decision: Decision
    entry: TaskEntry | None = None
    task_id: str | None = None
    job_fields: dict[str, Any] | None = None  # complete Job(...) arguments for the SAQ path


def _saq_entry(p: Plan) -> TaskEntry:
    """The registry entry of a plan routed to SAQ (plan_dispatch sets it on every SAQ plan)."""
    assert p.entry is not None, "a SAQ plan has its registry entry"
    return p.entry


def _saq_key(p: Plan) -> str:
    """The job key (the task id) of a plan routed to SAQ."""
    assert p.task_id is not None, "a SAQ plan has its task id"
    return p.task_id


# Celery's state names, as SaqResult reports them (celery.states).
PENDING, STARTED, RETRY, SUCCESS, FAILURE = "PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"
REVOKED = "REVOKED"
_READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
# SAQ statuses of a job a worker holds (``aborting``: an abort asked, the worker has not cancelled it yet)
_RUNNING = frozenset({"active", "aborting"})
_DONE = frozenset({"complete", "failed", "aborted"})
# SAQ's error text for a job swept from a lost worker (saq.queue.base.DEFAULT_SWEPT_JOB_ERROR)
_SWEPT = "swept"


class SaqTaskError(Exception):
    """A SAQ job failed (or was aborted): what ``SaqResult.get()`` raises and ``.result`` holds.

    SAQ keeps only the traceback text, not the exception object. When the last traceback line
    names a built-in exception (``ValueError: boom``), the raised object is also an instance of
    it, so ``except ValueError`` around ``.get()`` works as with Celery.
    """

    def __init__(
        self, message: str, *, exc_type: str | None = None, traceback: str | None = None, status: str | None = None
    ):
        super().__init__(message)
        self.exc_type, self.traceback, self.status = exc_type, traceback, status


_ERROR_CLASSES: dict[str, type] = {}


def _saq_error(job: Any) -> SaqTaskError:
    """The exception-like value of a failed/aborted job, built from its error text."""
    import builtins

    text = (getattr(job, "error", None) or "").strip()
    last = text.splitlines()[-1] if text else f"SAQ job {getattr(job, 'key', '?')} {getattr(job, 'status', '')}"
    name, _, message = last.partition(":")
    exc_type = name.strip().rsplit(".", 1)[-1] if _ and " " not in name.strip() else None
    cls: type = SaqTaskError
    base = getattr(builtins, exc_type, None) if exc_type else None
    if isinstance(base, type) and issubclass(base, Exception) and base is not Exception:
        cls = _error_class(exc_type, base)  # type: ignore[arg-type]
    status = str(getattr(getattr(job, "status", None), "value", getattr(job, "status", None)))
    return cls(message.strip() if exc_type else last, exc_type=exc_type, traceback=text or None, status=status)


# The text SAQ keeps for a job retried by ``self.retry(exc=...)``: the last traceback line is the Retry,
# ``<module>.Retry: Retry in 2s: ValueError('boom')`` (Celery's ``str(Retry)``: the cause's repr).
_RETRY_LINE = re.compile(r"^(?:[\w.<>]+\.)?Retry: Retry in [0-9.eE+-]+s(?:: (?P<exc>.+))?$")
_NO_CAUSE = object()


def _retry_cause(job: Any) -> Any:
    """Celery's value of a task waiting for (or running) its retry: the ``exc`` given to ``retry()``
    (None when none was), rebuilt from SAQ's error text; ``_NO_CAUSE`` when the error is not a Retry."""
    import ast
    import builtins

    text = (getattr(job, "error", None) or "").strip()
    m = _RETRY_LINE.match(text.splitlines()[-1].strip()) if text else None
    if m is None:
        return _NO_CAUSE
    cause = m.group("exc")
    if cause is None:
        return None  # self.retry() without exc: Celery stores None
    try:
        node = ast.parse(cause, mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords):
            raise ValueError(cause)
        name, args = node.func.id, tuple(ast.literal_eval(a) for a in node.args)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return SaqTaskError(cause, traceback=text, status="queued")
    base = getattr(builtins, name, None)
    cls: type = SaqTaskError
    if isinstance(base, type) and issubclass(base, Exception) and base is not Exception:
        cls = _error_class(name, base)
    err = cls(str(args[0]) if len(args) == 1 else cause, exc_type=name, traceback=text, status="queued")
    err.args = args  # repr(err) is the cause's repr, as Celery shows it
    return err


def _error_class(name: str, base: type) -> type:
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        try:
            cls = _ERROR_CLASSES[name] = type(name, (SaqTaskError, base), {"__module__": __name__})
        except TypeError:  # a layout conflict (e.g. OSError subclasses): plain SaqTaskError
            cls = SaqTaskError
    return cls


def _status(job: Any) -> str:
    return getattr(job.status, "value", job.status)


def _custom_state(job: Any) -> tuple[str, Any] | None:
    """``(state, meta)`` of the task's last ``update_state`` in the job's *current* attempt (stored in
    ``job.meta`` by :meth:`saqmigrate.runtime.task.TaskSelf.update_state`, tagged with the attempt), or
    None. A state stored by an earlier attempt is stale once SAQ retries the job: Celery's retry
    replaces it with ``RETRY`` (then ``STARTED`` when the task tracks starts), so it is not reported.
    An untagged state (written by an older runtime) counts only on the first attempt."""
    meta = getattr(job, "meta", None)
    if isinstance(meta, Mapping):
        state = meta.get("state")
        if isinstance(state, str) and state:
            attempts = getattr(job, "attempts", 0) or 0
            stored = meta.get("attempt")
            if (attempts <= 1 and stored in (None, attempts)) or stored == attempts:
                return state, meta.get("info")
    return None


def _retried(job: Any) -> bool:
    """The job runs (or waits) again after a failed attempt: SAQ keeps that attempt's error."""
    return (getattr(job, "attempts", 0) or 0) >= 1 and bool(getattr(job, "error", None))


def saq_state(job: Any, track_started: bool | None = None) -> str:
    """Celery's state name for a SAQ job (None: not found -> PENDING, as Celery reports unknown ids).

    A running job (SAQ ``active``/``aborting``) reads as the custom state of its last
    ``update_state`` in this attempt when it made one (``PROGRESS`` ...), else ``STARTED``, or when
    ``track_started`` is False (Celery's default stores nothing at a task's start) ``PENDING`` on the
    first attempt and ``RETRY`` on a retry. A job waiting for its retry reads ``RETRY``. ``aborted`` reads ``REVOKED`` (a job SAQ swept from a lost worker:
    ``FAILURE``, as Celery reports a ``WorkerLostError``).
    """
    if job is None:
        return PENDING
    status = _status(job)
    if status == "complete":
        return SUCCESS
    if status == "failed":
        return FAILURE
    if status == "aborted":
        return FAILURE if (getattr(job, "error", None) or "").strip() == _SWEPT else REVOKED
    if status in _RUNNING:
        custom = _custom_state(job)
        if custom is not None:
            return custom[0]
        if track_started is False:
            # Celery stores nothing when an untracked task starts: a retry still reads RETRY
            return RETRY if getattr(job, "attempts", 0) > 1 and _retried(job) else PENDING
        return STARTED
    if status == "queued" and _retried(job):
        return RETRY  # SAQ re-queued it after a failed attempt
    return PENDING  # new, queued, deferred (scheduled later)


def _revoked_error(job: Any) -> Exception:
    """Celery's value of a revoked task: a ``TaskRevokedError(reason)`` (also a :class:`SaqTaskError`)."""
    reason = (getattr(job, "error", None) or "revoked").strip()
    try:
        from celery.exceptions import TaskRevokedError
    except ImportError:  # pragma: no cover - Celery gone after the window
        return SaqTaskError(reason, exc_type="TaskRevokedError", status="aborted")
    cls = _ERROR_CLASSES.get("TaskRevokedError")
    if cls is None:
        cls = _ERROR_CLASSES["TaskRevokedError"] = type(
            "TaskRevokedError", (SaqTaskError, TaskRevokedError), {"__module__": __name__}
        )
    return cls(reason, exc_type="TaskRevokedError", status="aborted")


# Atomically takes a job that waits (queued, or deferred in the incomplete set) away from every
# worker: 1 = it was queued, 2 = deferred, 0 = a worker holds it (or it is done). SAQ 0.26
# RedisQueue layout: `queued` list, `incomplete` sorted set (score 0 once due), job id key.
_CLAIM_WAITING = """
if redis.call('LREM', KEYS[1], 0, KEYS[3]) > 0 then
    redis.call('ZREM', KEYS[2], KEYS[3])
    return 1
end
local score = redis.call('ZSCORE', KEYS[2], KEYS[3])
if score and tonumber(score) > 0 then
    redis.call('ZREM', KEYS[2], KEYS[3])
    return 2
end
return 0
"""


async def _abort_job(q: Any, key: str, terminate: bool) -> str | None:
    """Revoke SAQ job ``key`` as Celery revokes a task; the SAQ status it was found in (None: not kept).

    Waiting (new, queued, deferred, queued again for a retry): taken away from the workers
    atomically and finished ``aborted``: it never runs. Running: with ``terminate`` SAQ's
    ``Queue.abort`` (the worker cancels it on its next abort check); without, left to finish, as
    Celery does. Done: nothing.
    """
    from saq.job import Status

    reason = "terminated" if terminate else "revoked"
    job = await q.job(key)
    if job is None or _status(job) in _DONE:
        return None if job is None else _status(job)
    found = _status(job)
    if found not in _RUNNING:
        queued, incomplete = getattr(q, "_queued", None), getattr(q, "_incomplete", None)
        if queued is None or incomplete is None or not hasattr(q, "redis"):  # not SAQ's Redis queue
            await q.abort(job, reason)
            return found
        claimed = await q.redis.eval(_CLAIM_WAITING, 3, queued, incomplete, job.id)
        if int(claimed or 0):
            await q.finish(job, Status.ABORTED, error=reason)
            return found
        # a worker dequeued it between the read and the claim: wait for it to mark the job
        # active (its own write would overwrite an abort stored before it)
        deadline = time.monotonic() + 2.0
        while True:
            job = await q.job(key)
            if job is None or _status(job) in _DONE or _status(job) in _RUNNING or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        if job is None or _status(job) in _DONE:
            return None if job is None else _status(job)
    if terminate and _status(job) == "active":
        await q.abort(job, reason)
    return _status(job)


class SaqResult:
    """What a SAQ dispatch returns, with the part of Celery's ``AsyncResult`` API a SAQ job can answer.

    ``id`` / ``task_id`` is the Celery task id, which is also the SAQ job key. ``state`` /
    ``status``, ``ready()``, ``successful()``, ``failed()``, ``result`` / ``info``,
    ``traceback``, ``get()`` / ``wait()``, ``forget()`` and ``revoke()`` read (or change) the job
    in SAQ's Redis on each call (sync, through the bridge). A job SAQ no longer keeps (its ``ttl``
    ran out) reads as ``PENDING``, as Celery reports an unknown id. ``job`` is the job as enqueued
    (None when SAQ refused a duplicate key that is still incomplete, or when the result was
    looked up by id).

    While the job runs, ``state`` is the custom state of its last ``update_state`` (``info`` /
    ``result``: its ``meta``), else ``STARTED`` (``info``: ``{"pid": None, "hostname": <SAQ
    worker id>}``) when the task tracks started (``track_started``, else the Celery task's
    ``track_started`` / the app's ``task_track_started``), ``PENDING`` when it does not (Celery's
    default), ``STARTED`` when no Celery app or task can be found to ask.
    """

    backend = "saq"
    parent = None
    children = None

    #: True/False: report a running job without a custom state as STARTED/PENDING; None: ask Celery.
    track_started: bool | None = None

    def __init__(
        self,
        task_id: str,
        job: Any,
        queue: str,
        decision: Decision | None,
        bridge: Any = None,
        url: str | None = None,
        queue_kwargs: Mapping[str, Any] | None = None,
        *,
        celery_app: Any = None,
    ):
        self.id = self.task_id = task_id
        self._url = url
        self.job = job
        self.queue = queue
        self.saqmigrate_route = decision
        self._bridge = bridge
        self._queue_kwargs = dict(queue_kwargs or {})
        self._final: Any = None  # the job once it reached a terminal state (never changes after)
        self._celery_app = celery_app  # where task_track_started is read (else the process router's app)
        self._tracks: bool | None | object = _NOT_ASKED

    @property
    def duplicate(self) -> bool:
        return self.job is None and self.saqmigrate_route is not None

    # -- reading the job ------------------------------------------------------------

    def _run(self, fn: Callable[[Any], Any], what: str, timeout: float = 5.0) -> Any:
        if self._bridge is None or self._url is None:
            raise RouterError(f"SAQ job {self.id}: no bridge to read it with; use `await queue.job(key)`")
        return self._bridge.run_on_queue(self._url, self.queue, fn, timeout=timeout, what=what, **self._queue_kwargs)

    def _fetch(self) -> Any:
        """The job as SAQ stores it now, or None when SAQ does not keep it (any more)."""
        if self._final is not None:
            return self._final
        key = self.id

        async def _job(q: Any) -> Any:
            return await q.job(key)

        job = self._run(_job, f"reading SAQ job {key} in queue {self.queue!r}")
        if job is not None and _status(job) in _DONE:
            self._final = job
        return job

    def _task_name(self, job: Any) -> str | None:
        meta = (getattr(job, "meta", None) or {}).get("saqmigrate") or {}
        return meta.get("task") or (self.saqmigrate_route.task if self.saqmigrate_route else None)

    def _track_started(self, job: Any) -> bool | None:
        """Celery's ``track_started`` for this task: the task's own, else the app's
        ``task_track_started``; None when no Celery app or task can be found."""
        if self.track_started is not None:
            return bool(self.track_started)
        if self._tracks is not _NOT_ASKED:
            return self._tracks  # type: ignore[return-value]
        name = self._task_name(job)
        app = self._celery_app  # the Router passes its celery_app; a hand-made SaqResult may have none
        task = None
        try:
            if app is not None:
                task = app.tasks.get(name) if name else None
            elif name:
                from saqmigrate.runtime.task import _celery_task_by_name

                task = _celery_task_by_name(name)
        except Exception:  # noqa: BLE001 - an app that cannot finalize here: fall back to its conf
            task = None
        tracks: bool | None = None
        if task is not None and getattr(task, "track_started", None) is not None:
            tracks = bool(task.track_started)
        elif app is not None:
            try:
                tracks = bool(app.conf.task_track_started)
            except Exception:  # noqa: BLE001
                tracks = None
        self._tracks = tracks
        return tracks

    def _state_of(self, job: Any) -> str:
        if job is not None and _status(job) in _RUNNING and _custom_state(job) is None:
            return saq_state(job, self._track_started(job))
        return saq_state(job)

    @property
    def state(self) -> str:
        return self._state_of(self._fetch())

    status = state

    def ready(self) -> bool:
        return self.state in _READY_STATES

    def successful(self) -> bool:
        return self.state == SUCCESS

    def failed(self) -> bool:
        return self.state == FAILURE

    def _value(self, job: Any, state: str | None = None) -> Any:
        st = self._state_of(job) if state is None else state
        if st == SUCCESS:
            return job.result
        if st == RETRY:
            cause = _retry_cause(job)
            return _saq_error(job) if cause is _NO_CAUSE else cause
        if st == FAILURE:
            return _saq_error(job)
        if st == REVOKED:
            return _revoked_error(job)
        if job is None or _status(job) not in _RUNNING:
            return None
        custom = _custom_state(job)
        if custom is not None:
            return custom[1]
        if st == STARTED:
            return {"pid": None, "hostname": getattr(job, "worker_id", None)}
        return None

    @property
    def result(self) -> Any:
        """As Celery: the return value on SUCCESS; the error on FAILURE/RETRY (a :class:`SaqTaskError`)
        and REVOKED (a ``TaskRevokedError``); the ``meta`` of a running job's last ``update_state``;
        ``{"pid": None, "hostname": ...}`` for STARTED; else None."""
        return self._value(self._fetch())

    info = result

    @property
    def traceback(self) -> str | None:
        job = self._fetch()
        if job is None or saq_state(job) == REVOKED:  # Celery stores no traceback for a revoked task
            return None
        return job.error or None

    @property
    def date_done(self) -> _dt.datetime | None:
        job = self._fetch()
        if job is None or _status(job) not in _DONE or not job.completed:
            return None
        return _dt.datetime.fromtimestamp(job.completed / 1000, tz=_dt.timezone.utc)

    @property
    def name(self) -> str | None:
        return self._task_name(self._fetch())

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, **_ignored: Any) -> Any:
        """Block until the job is ready (sync callers only); like ``AsyncResult.get``.

        Returns the job's return value; on failure raises its error (``propagate=True``) or
        returns it. Raises ``celery.exceptions.TimeoutError`` when ``timeout`` seconds pass first
        (``None``: wait for ever, as Celery does; an id SAQ does not keep stays PENDING).
        """
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        step = max(float(interval or 0), 0.01)
        while True:
            job = self._fetch()
            st = saq_state(job)
            if st in _READY_STATES:
                value = self._value(job, st)
                if st in (FAILURE, REVOKED) and propagate:  # Celery's PROPAGATE_STATES
                    raise value
                return value
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    try:
                        from celery.exceptions import TimeoutError as CeleryTimeoutError
                    except ImportError:  # a finalized project: no Celery (a TimeoutError all the same)
                        raise TimeoutError("The operation timed out.") from None
                    raise CeleryTimeoutError("The operation timed out.")
                time.sleep(min(step, left))
            else:
                time.sleep(step)

    wait = get

    def forget(self) -> None:
        """Drop the stored outcome: a finished job's record is deleted from SAQ's Redis.

        A job still queued or running is left alone (SAQ needs its record to run it); Celery's
        ``forget`` likewise never stops a task.
        """
        key = self.id

        async def _forget(q: Any) -> None:
            job = await q.job(key)
            if job is not None and _status(job) in _DONE:
                await q.redis.delete(job.id)

        self._run(_forget, f"forgetting SAQ job {key} in queue {self.queue!r}")
        self._final = None

    def revoke(
        self,
        connection: Any = None,
        terminate: bool = False,
        signal: Any = None,
        wait: bool = False,
        timeout: float | None = None,
        **_ignored: Any,
    ) -> None:
        """Revoke the job, as Celery's ``AsyncResult.revoke`` does.

        A job that waits (queued, deferred by ``countdown``/``eta``, queued again for a retry) is
        taken away from the workers atomically and never runs: ``REVOKED``. A running job goes on to
        its end unless ``terminate=True``: then SAQ's ``Queue.abort`` marks it ``aborting`` and the
        worker cancels it on its next abort check (SAQ's ``timers["abort"]``, 1 s; a job that has run
        for less than that is cancelled on a later check), then ``REVOKED``. The asyncio task is
        cancelled, a sync Celery body's thread runs on to its end (no process to kill); ``signal`` is
        ignored. A finished job is left as it is. ``wait=True`` waits up to ``timeout`` (default 1 s)
        for a terminated job to stop.
        """
        key = self.id

        async def _revoke(q: Any) -> Any:
            return await _abort_job(q, key, bool(terminate))

        self._run(_revoke, f"revoking SAQ job {key} in queue {self.queue!r}")
        self._final = None
        if wait and terminate:
            deadline = time.monotonic() + (1.0 if timeout is None else float(timeout))
            while time.monotonic() < deadline:
                job = self._fetch()
                if job is None or _status(job) in _DONE:
                    break
                time.sleep(0.05)

    def __eq__(self, other: object) -> bool:
        other_id = getattr(other, "id", other)
        return isinstance(other_id, str) and other_id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __str__(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<SaqResult {self.id} queue={self.queue}>"


try:  # the sentinel send_task uses for expires / time limits it was not given
    from celery.app.base import _OMITTED
except Exception:  # pragma: no cover - celery not importable
    _OMITTED = object()


_NOT_ASKED = object()


def _absent(v: Any) -> bool:
    return v is None or v is _OMITTED


def new_task_id() -> str:
    """A random (version 4) UUID string, as Celery makes them; ~5x cheaper than str(uuid4())."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _epoch_ceil(eta: Any) -> int:
    if isinstance(eta, str):
        eta = _dt.datetime.fromisoformat(eta)
    if isinstance(eta, _dt.datetime):
        if eta.tzinfo is None:  # Celery treats a naive eta as UTC
            eta = eta.replace(tzinfo=_dt.timezone.utc)
        return math.ceil(eta.timestamp())
    if isinstance(eta, (int, float)):
        return math.ceil(eta)
    raise TypeError(f"eta must be a datetime or ISO string, got {type(eta).__name__}")


def plan_dispatch(
    registry: Registry,
    snapshot: F.Snapshot,
    name: str,
    args: Any,
    kwargs: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    *,
    routing_key_fn: Callable[[dict], Any] | None = None,
    now: float | None = None,
) -> Plan:
    """Decide and build the SAQ job arguments. Pure (no I/O); never raises for a bad call."""
    version = snapshot.version
    entry = registry.get(name)
    opts = {k: v for k, v in options.items() if not _absent(v) and k not in _IGNORED_OPTIONS} if options else {}
    task_id = opts.get("task_id")
    if entry is None:
        return Plan(Decision(name, F.CELERY, F.R_NOT_REGISTERED, version), None, task_id)
    if int(opts.get("retries") or 0) > 0:
        return Plan(Decision(name, F.CELERY, F.R_RETRY, version), entry, task_id)
    canvas = canvas_options(opts)  # opts: absent values already dropped
    if canvas:
        return Plan(Decision(name, F.CELERY, F.R_CANVAS, version, canvas), entry, task_id)

    bad = set(entry.unsupported) if entry.unsupported else set()
    if entry.assumes_unset:
        env = entry.env_set()
        if env:  # SM116: the twin was generated with the default in the code; Celery reads the value set
            warn_env_pinned(name, env)
            bad.update("$" + v for v in env)
    for k, v in opts.items():
        if k in _MAPPED_OPTIONS:
            continue
        if k in _CANVAS_OPTIONS or k in ("callbacks", "errbacks", "headers") and not v:
            continue  # a canvas option here is an empty one; an empty list / dict asks for nothing
        bad.add(k)
    if "serializer" in opts and opts["serializer"] != "json":
        bad.add("serializer")
    if "queue" in opts and opts["queue"] != entry.queue and registry_queue(registry, opts["queue"]) != entry.queue:
        bad.add("queue")
    named = entry.named_kwargs(args, kwargs)
    if named is None:
        bad.add("args")
    scheduled = 0
    try:
        if opts.get("countdown"):
            clock = time.time() if now is None else now
            scheduled = math.ceil(clock + float(opts["countdown"]))
        elif opts.get("eta") is not None:
            scheduled = _epoch_ceil(opts["eta"])
    except (TypeError, ValueError):
        bad.add("eta")
    if bad:
        return Plan(Decision(name, F.CELERY, F.R_UNSUPPORTED, version, tuple(sorted(bad))), entry, task_id)

    assert named is not None  # else "args" is bad
    task_id = str(task_id) if task_id else new_task_id()
    rkey = None
    try:
        if routing_key_fn is not None:
            rkey = routing_key_fn(named)
        elif entry.routing_key:
            rkey = named.get(entry.routing_key)
    except Exception:
        rkey = None
    if rkey is None:
        rkey = task_id
    backend, reason = F.evaluate(snapshot, name, rkey)
    decision = Decision(name, backend, reason, version)
    if backend != F.SAQ:
        return Plan(decision, entry, task_id)
    fields = dict(entry.job)
    if opts.get("time_limit"):
        fields["timeout"] = math.ceil(float(opts["time_limit"]))
    fields.update(
        function=entry.saq_function,
        kwargs=named,
        key=task_id,
        scheduled=scheduled,
        meta={"saqmigrate": {"task": name, "v": version, "reason": reason}},
    )
    return Plan(decision, entry, task_id, fields)


def canvas_options(options: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The canvas options of a dispatch (sorted), or ``()`` for a plain one.

    ``chain`` counts even when empty: the last link of a chain arrives with ``chain=[]``. The others
    count when set (a ``link=None`` or ``parent_id=None`` a caller passes explicitly asks for nothing).
    """
    if not options:
        return ()
    found = []
    for k in _CANVAS_OPTIONS:
        v = options.get(k)
        if _absent(v) or (k != "chain" and isinstance(v, (list, tuple)) and not v):
            continue
        found.append(k)
    return tuple(sorted(found))


def registry_queue(registry: Registry, celery_queue: str) -> str | None:
    return registry.queues.get(celery_queue)


class Router:
    def __init__(
        self,
        registry: Registry,
        flags: F.FlagClient | None = None,
        *,
        celery_app: Any = None,
        saq_url: str | None = None,
        queue_kwargs: Mapping[str, Any] | None = None,
        bridge: Any = None,
        metrics: Any = None,
        enqueue_timeout: float = 5.0,
        routing_keys: Mapping[str, Callable[[dict], Any]] | None = None,
        fallback: bool | None = None,
    ):
        from saqmigrate.runtime.bridge import LoopQueues, default_bridge

        # SAQ's Redis unreachable, nothing sent: publish on Celery instead (default on)
        self.fallback = (
            os.environ.get("SAQMIGRATE_FALLBACK", "1").strip().lower() not in ("0", "false", "no", "off")
            if fallback is None
            else bool(fallback)
        )

        self.registry = registry
        self.flags = flags
        self.celery_app = celery_app
        # SAQ's Redis as the generated workers resolve it (SAQ_REDIS_URL, REDIS_URL, localhost);
        # never the flag store's SAQMIGRATE_REDIS_URL, where no worker listens
        self.saq_url = saq_redis_url(saq_url)
        self.queue_kwargs = dict(queue_kwargs or {})
        if "dump" not in self.queue_kwargs and "load" not in self.queue_kwargs:
            # the generated workers load with the Celery-compatible serializer: enqueue with it too,
            # so datetime/Decimal/UUID arguments mean the same thing on both backends
            from saqmigrate.runtime import serializer

            self.queue_kwargs.update(dump=serializer.dump, load=serializer.load)
        self.bridge = bridge or default_bridge()
        self.metrics = metrics
        self.enqueue_timeout = enqueue_timeout
        # a failed result lookup (SAQ's Redis down or hanging) makes the next ones answer "not on SAQ"
        # at once for this long, instead of each attribute of each AsyncResult waiting out a timeout
        self.lookup_backoff = 5.0
        self._lookup_down_until = 0.0
        self.routing_keys = dict(routing_keys or {})
        self._aqueues = LoopQueues(self.saq_url, **self.queue_kwargs)
        self._direct: Any = None  # runtime.direct.DirectEnqueuer once needed; False when not usable
        if metrics is not None and flags is not None:
            flags.metrics = flags.metrics or metrics
            metrics.bind_flags(flags)

    # -- decisions ------------------------------------------------------------------

    def snapshot(self) -> F.Snapshot:
        if self.flags is None:
            return F.DEFAULT_SNAPSHOT
        try:
            return self.flags.snapshot()
        except Exception:  # belt and braces: snapshot() is written not to raise
            return F.DEFAULT_SNAPSHOT

    def plan(self, name: str, args: Any = None, kwargs: Mapping[str, Any] | None = None, **options: Any) -> Plan:
        try:
            return plan_dispatch(
                self.registry, self.snapshot(), name, args, kwargs, options, routing_key_fn=self.routing_keys.get(name)
            )
        except Exception:  # evaluation never raises into the caller
            return Plan(Decision(name, F.CELERY, F.R_UNAVAILABLE, 0), self.registry.get(name), options.get("task_id"))

    def decide(self, name: str, args: Any = None, kwargs: Mapping[str, Any] | None = None, **options: Any) -> Decision:
        return self.plan(name, args, kwargs, **options).decision

    def _count(self, d: Decision) -> None:
        if self.metrics is not None:
            self.metrics.decision(d.task, d.backend, d.reason)

    # -- sync -------------------------------------------------------------------------

    def dispatch(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Like ``task.delay(*args, **kwargs)``, by task name."""
        return self.apply_async(name, args, kwargs)

    def apply_async(
        self,
        name: str,
        args: Any = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        celery_call: Callable[..., Any] | None = None,
        **options: Any,
    ) -> Any:
        """Like ``task.apply_async(args, kwargs, **options)`` / ``app.send_task(name, ...)``.

        ``celery_call(args, kwargs, **options)`` publishes on the Celery path (default:
        ``celery_app.send_task(name, ...)``).
        """
        p = self.plan(name, args, kwargs, **options)
        self._count(p.decision)
        t0 = time.perf_counter()
        if p.decision.backend == F.SAQ:
            try:
                res = self._enqueue_sync(p)
            except SaqUnavailable as exc:
                p = self._fallback_plan(p, exc, celery_call)
                res = self._celery(name, args, kwargs, options, p, celery_call)
        else:
            res = self._celery(name, args, kwargs, options, p, celery_call)
        if self.metrics is not None:
            self.metrics.enqueued(p.decision.backend, time.perf_counter() - t0)
        return res

    def _fallback_plan(self, p: Plan, exc: SaqUnavailable, celery_call: Any) -> Plan:
        """The Celery plan for a SAQ dispatch whose Redis was unreachable (nothing sent), or raise."""
        if not self.fallback or (self.celery_app is None and celery_call is None):
            raise exc
        import logging

        d = Decision(p.decision.task, F.CELERY, R_SAQ_UNAVAILABLE, p.decision.version)
        self._count(d)
        logging.getLogger("saqmigrate.router").warning(
            "saqmigrate fallback: %s[%s] published on Celery: SAQ's Redis is unreachable and nothing was sent "
            "(%s); SAQMIGRATE_FALLBACK=0 raises instead",
            p.decision.task,
            p.task_id,
            exc.__cause__ or exc,
        )
        return Plan(d, p.entry, p.task_id)

    def _keyed(self, cls: type[_KeyedError], p: Plan, message: str) -> _KeyedError:
        return cls(message, task=p.decision.task, key=_saq_key(p), queue=_saq_entry(p).queue, url=self.saq_url)

    def _direct_enqueuer(self) -> Any:  # a direct.DirectEnqueuer or None
        """The loop-free sync enqueuer (runtime/direct.py), or None where it does not apply."""
        d = self._direct
        if d is False:
            return None
        if d is None:
            import os

            from saqmigrate.runtime import direct

            mode = os.environ.get("SAQMIGRATE_SYNC_ENQUEUE", "direct")
            if mode != "direct" or not direct.supported() or not self.saq_url.startswith("redis"):
                self._direct = False
                return None
            d = self._direct = direct.DirectEnqueuer(
                self.saq_url, dump=self.queue_kwargs.get("dump"), socket_timeout=self.enqueue_timeout
            )
        return d

    def _enqueue_sync(self, p: Plan) -> SaqResult:
        from saqmigrate.runtime import testing  # [eager mode] tests: run inline, enqueue nothing

        if testing.eager_enabled():  # [eager mode] (saqmigrate.runtime.testing, docs/testing.md)
            return testing.enqueue_plan(self, p)
        from saq.job import Job

        from saqmigrate.runtime.bridge import BridgeTimeout
        from saqmigrate.runtime.direct import NotSent

        entry = _saq_entry(p)
        job = Job(**(p.job_fields or {}))
        what = f"SAQ enqueue of {p.decision.task}[{p.task_id}] to queue {entry.queue!r}"
        direct = self._direct_enqueuer()
        if direct is not None:
            try:
                out = direct.enqueue(entry.queue, job)
            except Exception as exc:
                if self.metrics is not None:
                    self.metrics.enqueue_error(F.SAQ, exc)
                raise self._classify(p, what, exc) from exc
            return SaqResult(
                _saq_key(p),
                out,
                entry.queue,
                p.decision,
                self.bridge,
                self.saq_url,
                self.queue_kwargs,
                celery_app=self.celery_app,
            )

        gate = _Gate()

        async def enqueue(q: Any) -> Any:
            try:
                await _connected(q)
            except _TIMEOUTS:
                raise  # a server that accepts but does not answer: ambiguous (conservative)
            except _CONNECT_ERRORS as exc:
                raise NotSent(f"cannot connect to SAQ's Redis: {exc}") from exc
            if not gate.open():  # the caller gave up while we connected: send nothing
                raise NotSent("the caller stopped waiting before anything was sent")
            return await q.enqueue(job)

        try:
            out = self.bridge.run_on_queue(
                self.saq_url, entry.queue, enqueue, timeout=self.enqueue_timeout, what=what, **self.queue_kwargs
            )
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.enqueue_error(F.SAQ, exc)
            if isinstance(exc, BridgeTimeout):
                gate.close()  # a write not started yet never starts
            raise self._classify(p, what, exc) from exc
        return SaqResult(
            _saq_key(p),
            out,
            entry.queue,
            p.decision,
            self.bridge,
            self.saq_url,
            self.queue_kwargs,
            celery_app=self.celery_app,
        )

    def _classify(self, p: Plan, what: str, exc: BaseException) -> _KeyedError:
        """The caller's error for a failed SAQ enqueue: definite (nothing sent) or ambiguous, keyed."""
        from saqmigrate.runtime.direct import NotSent

        if isinstance(exc, NotSent):
            return self._keyed(SaqUnavailable, p, f"{what} failed: {exc}; nothing was sent")
        tail = (
            f"it may or may not have been enqueued: check job key {p.task_id!r} in queue {_saq_entry(p).queue!r} "
            "(EnqueueUncertain.job_exists()) before sending it again"
        )
        if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
            return self._keyed(EnqueueTimeout, p, f"{what} did not finish within {self.enqueue_timeout:g} s; {tail}")
        try:
            import redis.exceptions as rexc

            if isinstance(exc, rexc.ResponseError):  # the server answered: refused, nothing stored
                return self._keyed(_Refused, p, f"{what} refused by SAQ's Redis: {exc}")
        except ImportError:  # pragma: no cover
            pass
        return self._keyed(EnqueueUncertain, p, f"{what} failed after it was sent ({exc}); {tail}")

    def _celery(self, name: str, args: Any, kwargs: Any, options: Mapping[str, Any], p: Plan, celery_call: Any) -> Any:
        opts = dict(options)
        if p.task_id and not opts.get("task_id"):
            opts["task_id"] = p.task_id
        token = _BYPASS.set(True)
        try:
            if _saq_eager():
                res = self._celery_inline(name, args, kwargs, opts, celery_call)
            elif celery_call is not None:
                res = celery_call(args, kwargs, **opts)
            else:
                if self.celery_app is None:
                    raise RouterError(
                        f"{name}: routed to Celery but the Router has no celery_app; pass Router(..., celery_app=app)"
                    )
                res = self.celery_app.send_task(name, args, kwargs, **opts)
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.enqueue_error(F.CELERY, exc)
            raise
        finally:
            _BYPASS.reset(token)
        try:
            res.saqmigrate_route = p.decision
        except Exception:
            pass
        return res

    def _celery_inline(self, name: str, args: Any, kwargs: Any, opts: Mapping[str, Any], celery_call: Any) -> Any:
        """saqmigrate's eager mode keeps every dispatch inline whatever the flags say (docs/testing.md): a
        Celery-routed one runs through Celery's own eager path, ``Task.apply``, and returns its
        ``EagerResult``, never reaching the broker."""
        from saqmigrate.runtime.testing import eager_propagates  # noqa: PLC0415

        task = getattr(celery_call, "__self__", None)
        if task is None or not hasattr(task, "apply"):
            tasks = getattr(self.celery_app, "tasks", None)
            task = tasks.get(name) if tasks is not None else None
        if task is None:
            raise RouterError(
                f"{name}: saqmigrate's eager mode is on and the task routes to Celery, but no Celery task of "
                "that name is registered here: running it inline is impossible and publishing it would reach "
                "the broker"
            )
        return task.apply(args, kwargs, task_id=opts.get("task_id"), throw=eager_propagates())

    # -- async ------------------------------------------------------------------------

    async def adispatch(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.aapply_async(name, args, kwargs)

    async def aapply_async(
        self,
        name: str,
        args: Any = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        celery_call: Callable[..., Any] | None = None,
        **options: Any,
    ) -> Any:
        p = self.plan(name, args, kwargs, **options)
        self._count(p.decision)
        t0 = time.perf_counter()
        if p.decision.backend == F.SAQ:
            try:
                res = await self._aenqueue(p)
            except SaqUnavailable as exc:
                p = self._fallback_plan(p, exc, celery_call)
                res = await asyncio.to_thread(self._celery, name, args, kwargs, options, p, celery_call)
        else:
            # Celery publishing blocks: run it in a worker thread (contextvars are copied).
            res = await asyncio.to_thread(self._celery, name, args, kwargs, options, p, celery_call)
        if self.metrics is not None:
            self.metrics.enqueued(p.decision.backend, time.perf_counter() - t0)
        return res

    async def _aenqueue(self, p: Plan) -> SaqResult:
        from saqmigrate.runtime import testing  # [eager mode] tests: run inline, enqueue nothing

        if testing.eager_enabled():  # [eager mode] (saqmigrate.runtime.testing, docs/testing.md)
            return await testing.aenqueue_plan(self, p)
        from saq.job import Job

        from saqmigrate.runtime.direct import NotSent

        entry = _saq_entry(p)
        what = f"SAQ enqueue of {p.decision.task}[{p.task_id}] to queue {entry.queue!r}"
        queue = self._aqueues.get(entry.queue)
        try:
            async with asyncio.timeout(self.enqueue_timeout):
                try:
                    await _connected(queue)
                except _TIMEOUTS:
                    raise
                except _CONNECT_ERRORS as exc:
                    raise NotSent(f"cannot connect to SAQ's Redis: {exc}") from exc
                out = await queue.enqueue(Job(**(p.job_fields or {})))
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.enqueue_error(F.SAQ, exc)
            raise self._classify(p, what, exc) from exc
        return SaqResult(
            _saq_key(p),
            out,
            entry.queue,
            p.decision,
            self.bridge,
            self.saq_url,
            self.queue_kwargs,
            celery_app=self.celery_app,
        )

    # -- results by id ----------------------------------------------------------------

    def saq_queues(self) -> list[str]:
        """The SAQ queues this router may enqueue to (where a job looked up by id can be)."""
        return sorted({e.queue for e in self.registry.tasks.values()})

    def saq_result(self, task_id: str, timeout: float = 2.0) -> SaqResult | None:
        """The SAQ-backed result for ``task_id`` when SAQ keeps a job with that key, else None.

        The router sends the Celery task id as the SAQ job key, so no mapping is stored: the
        registry's queues are probed (one Redis round trip). A job whose record SAQ dropped
        (``ttl`` ran out) is not found, and the caller's Celery result reports ``PENDING``.
        """
        queues = self.saq_queues()
        if not task_id or not queues or not self.saq_url.startswith("redis"):
            return None
        from saq.queue.redis import ID_PREFIX

        key = str(task_id)
        if time.monotonic() < self._lookup_down_until:
            raise SaqLookupUnavailable(f"SAQ's Redis failed a result lookup less than {self.lookup_backoff:g} s ago")

        async def _probe(q: Any) -> Any:
            pipe = q.redis.pipeline(transaction=False)
            for name in queues:
                pipe.exists(f"{ID_PREFIX}{name}:{key}")
            return await pipe.execute()

        try:
            found = self.bridge.run_on_queue(
                self.saq_url, queues[0], _probe, timeout=timeout, what=f"looking up SAQ job {key}", **self.queue_kwargs
            )
        except Exception as exc:
            self._lookup_down_until = time.monotonic() + self.lookup_backoff
            import logging

            logging.getLogger("saqmigrate.routing").warning(
                "saqmigrate: SAQ result lookups answer from Celery for %g s: %s", self.lookup_backoff, exc
            )
            raise
        for name, hit in zip(queues, found):
            if hit:
                return SaqResult(
                    key, None, name, None, self.bridge, self.saq_url, self.queue_kwargs, celery_app=self.celery_app
                )
        return None

    def close(self) -> None:
        if self.flags is not None:
            self.flags.close()
        if self._direct:
            self._direct.close()
            self._direct = False


# -- process-wide router used by the Celery hooks ---------------------------------------

_ROUTER: Router | None = None


def set_router(router: Router | None) -> None:
    global _ROUTER
    _ROUTER = router


def get_router() -> Router | None:
    return _ROUTER


def bypassing() -> bool:
    return _BYPASS.get()
