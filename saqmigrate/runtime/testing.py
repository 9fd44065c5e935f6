"""Eager mode for SAQ enqueues: what Celery's ``task_always_eager`` is for the Celery side.

When eager mode is on, a SAQ enqueue does not reach Redis: the SAQ function runs inline, with
the kwargs a worker would get (round-tripped through the queue's serializer), with the task's
retry semantics, and the enqueue returns a finished result. Nothing else changes: the flags,
the router and the generated twins are the same code as in production.

Switching it on, the way a project switched Celery's (first match wins)::

    with eager():                                # a block (also eager(False) to turn it off)
    @eager(propagate=True)                       # a test function, sync or async
    set_eager(True, propagate=True)              # a conftest / test settings module (process-wide)
    SAQMIGRATE_EAGER = True                      # Django settings (override_settings works too)
    SAQMIGRATE_EAGER=1                           # the environment

and ``SAQMIGRATE_EAGER_PROPAGATES`` likewise (``propagate=`` above), the twin of
``task_eager_propagates``. The defaults are Celery's: eager off, propagates off. The
``saq_eager`` pytest fixture (saqmigrate.runtime.pytest_plugin) turns both on for one test.

What an eager enqueue does, measured against a real Celery 5.7 eager run (tests/runtime_eager):

* propagates **off** (Celery's default): a retry (``self.retry``, ``autoretry_for``) runs the
  task again at once, up to the task's limit (no countdown is slept, as in Celery); the result
  is ``FAILURE`` with the last attempt's exception (the ``exc`` given to ``self.retry``, else
  ``MaxRetriesExceededError``; the original exception for ``autoretry_for``), or ``SUCCESS``.
  ``.get()`` raises that exception, ``.get(propagate=False)`` returns it.
* propagates **on**: the enqueue raises the task's exception itself, and a retry is not run:
  the enqueue raises ``Retry`` (a subclass of ``celery.exceptions.Retry`` while Celery is
  installed) after the first attempt, exactly as Celery's eager ``apply`` does
  (celery/app/trace.py re-raises every error, ``Retry`` included, when it propagates).
* time limits (SAQ ``timeout``) are not applied, as Celery eager applies none.

Where the task body runs: a sync caller (``.delay()``, ``router.apply_async``, :func:`enqueue`)
gets the body in **its own thread**, as with Celery eager, so a Django ``TestCase`` transaction
and thread-locals are seen by the task. The SAQ coroutine runs on a private event loop in a
helper thread whose ``run_in_executor`` (what ``run_sync`` uses) hands the body back to the
caller's thread; a caller already inside a running loop works the same way (no nested loop).
An async caller (``await router.aapply_async``, ``await EagerQueue(...).enqueue``) runs the
coroutine on its own loop, and the body in the bridge's worker thread, as a SAQ worker would.

Hooks: the router calls :func:`enqueue_plan` / :func:`aenqueue_plan` (a two-line marked check in
runtime/router.py); :class:`EagerQueue` is a real ``saq.Queue`` (in memory) for code that calls
``await queue.enqueue(...)`` itself; :func:`enqueue` / :func:`aenqueue` enqueue by name.

Imports without Celery (``celery.exceptions`` is used when present).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import importlib
import inspect
import logging
import os
import queue as _stdqueue
import sys
import threading
import traceback as _traceback
import types
from typing import Any, Callable, Iterable, Mapping, TypeVar, TypeVarTuple, Unpack

from saq.job import Job, Status
from saq.queue.base import Queue
from saq.utils import now

from saqmigrate.runtime import serializer
from saqmigrate.runtime.router import FAILURE, REVOKED, SUCCESS, SaqResult, _revoked_error, new_task_id

__all__ = [
    "ENV_EAGER",
    "ENV_PROPAGATES",
    "eager",
    "set_eager",
    "eager_enabled",
    "eager_propagates",
    "EagerSaqResult",
    "EagerQueue",
    "register",
    "function_for",
    "enqueue",
    "aenqueue",
    "enqueue_plan",
    "aenqueue_plan",
    "record",
    "reset",
]

logger = logging.getLogger("saqmigrate.runtime.testing")

#: Environment variables, and Django settings of the same names.
ENV_EAGER = "SAQMIGRATE_EAGER"
ENV_PROPAGATES = "SAQMIGRATE_EAGER_PROPAGATES"
_PROPAGATE_STATES = frozenset({FAILURE, REVOKED})
_TRUE = frozenset({"1", "true", "yes", "on"})

# --- the switch ------------------------------------------------------------------------------

_LOCK = threading.RLock()
#: (eager, propagate or None) set by eager()/set_eager(); None: ask settings and environment.
_OVERRIDE: tuple[bool, bool | None] | None = None


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip().lower()
        return None if v == "" else v in _TRUE
    return bool(value)


def _django_setting(name: str) -> Any:
    conf = sys.modules.get("django.conf")
    if conf is None:
        return None
    try:
        settings = conf.settings
        return getattr(settings, name, None) if settings.configured else None
    except Exception:  # noqa: BLE001 - settings that cannot load here are not a switch
        return None


def eager_enabled() -> bool:
    """Is eager mode on for SAQ enqueues now? (cheap: called on every SAQ dispatch)"""
    o = _OVERRIDE
    if o is not None:
        return o[0]
    value = _flag(_django_setting(ENV_EAGER))
    if value is not None:
        return value
    value = _celery_named(_CELERY_EAGER)
    if value is not None:
        return value
    return bool(_flag(os.environ.get(ENV_EAGER)))


#: The project's own Celery switches in Django settings, honoured when SAQMIGRATE_* is not set: a project that
#: still reads or sets them (``settings.CELERY_TASK_ALWAYS_EAGER = False`` in a test) keeps them after finalize.
_CELERY_EAGER = ("CELERY_TASK_ALWAYS_EAGER", "CELERY_ALWAYS_EAGER")
_CELERY_PROPAGATES = ("CELERY_TASK_EAGER_PROPAGATES", "CELERY_EAGER_PROPAGATES_EXCEPTIONS")


def _celery_named(names: tuple[str, ...]) -> bool | None:
    for name in names:
        value = _flag(_django_setting(name))
        if value is not None:
            return value
    return None


def eager_propagates() -> bool:
    """Does a failing eager enqueue raise (Celery's ``task_eager_propagates``)? Default False."""
    o = _OVERRIDE
    if o is not None and o[1] is not None:
        return o[1]
    value = _flag(_django_setting(ENV_PROPAGATES))
    if value is not None:
        return value
    value = _celery_named(_CELERY_PROPAGATES)
    if value is not None:
        return value
    return bool(_flag(os.environ.get(ENV_PROPAGATES)))


def set_eager(enabled: bool | None, *, propagate: bool | None = None) -> tuple[bool, bool | None] | None:
    """Turn eager mode on or off for the whole process (``None``: back to settings/environment).

    Returns the previous override so it can be restored. ``propagate=None`` leaves
    ``SAQMIGRATE_EAGER_PROPAGATES`` (settings, environment) in charge.
    """
    global _OVERRIDE
    with _LOCK:
        previous = _OVERRIDE
        _OVERRIDE = None if enabled is None else (bool(enabled), propagate)
        return previous


class eager:  # noqa: N801 - used like a function: ``with eager():`` / ``@eager()``
    """Eager mode for a block or a function (sync or async): ``with eager(propagate=True): ...``.

    Process-wide while it is active (like ``override_settings`` and Celery's app-wide
    ``task_always_eager``), so threads the test starts see it too; nests and restores.
    """

    def __init__(self, enabled: bool = True, *, propagate: bool | None = None) -> None:
        self.enabled, self.propagate = enabled, propagate
        self._saved: list = []

    def __enter__(self) -> eager:
        global _OVERRIDE
        with _LOCK:
            self._saved.append(_OVERRIDE)
            _OVERRIDE = (bool(self.enabled), self.propagate)
        return self

    def __exit__(self, *exc: Any) -> None:
        global _OVERRIDE
        with _LOCK:
            _OVERRIDE = self._saved.pop()

    def __call__(self, fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with eager(self.enabled, propagate=self.propagate):
                    return await fn(*args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with eager(self.enabled, propagate=self.propagate):
                return fn(*args, **kwargs)

        return wrapper


# --- which function runs a job ------------------------------------------------------------------

_FUNCTIONS: dict[str, Callable] = {}
_SCANNED = [0]  # len(sys.modules) at the last scan


def register(*items: Any) -> None:
    """Tell eager mode which SAQ function runs which name.

    Accepts ``@saq_task`` functions, plain async functions (registered by ``__qualname__`` as SAQ
    does), ``(name, fn)`` tuples, lists of those and worker settings dicts (their ``functions``).
    Rarely needed: a name not registered is the ``@saq_job`` task registered under it (a finalized
    project), else looked up among the ``@saq_task`` functions of imported modules, then in the
    generated twin module (``pkg/tasks.py`` -> ``pkg.tasks_saq``).
    """
    for item in items:
        if isinstance(item, Mapping):
            register(*(item.get("functions") or ()))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            _FUNCTIONS[item[0]] = item[1]
        elif isinstance(item, (list, tuple)):
            register(*item)
        elif callable(item):
            _FUNCTIONS[getattr(item, "saq_name", None) or item.__qualname__] = item
        else:
            raise TypeError(f"register(): cannot register {item!r}")


def _scan(modules: Iterable[Any]) -> None:
    for mod in modules:
        try:
            values = list(vars(mod).values())
        except TypeError:
            continue
        for v in values:
            # type() check first: getattr on a Celery PromiseProxy would evaluate it
            if type(v) is types.FunctionType:
                name = v.__dict__.get("saq_name")
                if isinstance(name, str):
                    _FUNCTIONS.setdefault(name, v)
            elif type(v).__name__ == "SaqJob" and type(v).__module__ == "saqmigrate.runtime.jobs":
                for alias, fn in v.registrations:  # a finalized task (@saq_job): its SAQ function, every name
                    _FUNCTIONS.setdefault(alias, fn)


def function_for(name: str) -> Callable:
    """The SAQ function registered under ``name`` (see :func:`register`); LookupError if none."""
    fn = _FUNCTIONS.get(name)
    if fn is not None:
        return fn
    jobs = sys.modules.get("saqmigrate.runtime.jobs")
    if jobs is not None:  # every @saq_job registers itself, wherever it is bound (class attribute, dict, factory)
        job = jobs.registered_jobs().get(name)
        if job is not None:
            return job.saq
    if len(sys.modules) != _SCANNED[0]:
        _SCANNED[0] = len(sys.modules)
        _scan(list(sys.modules.values()))
        fn = _FUNCTIONS.get(name)
        if fn is not None:
            return fn
    module = name.rpartition(".")[0]
    if module:
        base, _, leaf = module.rpartition(".")
        twin = f"{base}.{leaf}_saq" if base else f"{leaf}_saq"
        try:
            mod = importlib.import_module(twin)
        except ImportError:
            pass
        else:
            _scan([mod])
            fn = _FUNCTIONS.get(name)
            if fn is not None:
                return fn
    raise LookupError(
        f"saqmigrate eager mode: no SAQ function for {name!r}; import its twin module "
        "(the generated <module>_saq.py) or call saqmigrate.runtime.testing.register(fn)"
    )


# --- results -----------------------------------------------------------------------------------


class EagerSaqResult(SaqResult):
    """The result of an eager SAQ enqueue: Celery's ``EagerResult`` API over a finished job.

    ``state``/``status`` (``SUCCESS``/``FAILURE``), ``ready()`` (always True), ``successful()``,
    ``failed()``, ``result``/``info`` (the return value, or the exception object itself, not
    the text SAQ would store), ``traceback`` (text), ``get(propagate=True)`` (returns the value
    or raises the exception), ``wait``, ``forget()`` (no-op), ``revoke()`` (``REVOKED``, a
    ``TaskRevokedError`` as Celery 5.7). ``job`` is the finished ``saq.Job`` (``attempts``,
    ``kwargs`` as the function got them). Nothing is read from Redis.
    """

    def __init__(
        self,
        task_id: str,
        job: Any,
        queue: str,
        decision: Any,
        state: str,
        value: Any,
        traceback: str | None,
        name: str | None,
    ):
        super().__init__(task_id, job, queue, decision)
        self._state, self._outcome, self._tb, self._name = state, value, traceback, name

    @property
    def state(self) -> str:
        return self._state

    status = state

    @property
    def attempts(self) -> int:
        return int(getattr(self.job, "attempts", 0) or 0)

    def ready(self) -> bool:
        return True

    def successful(self) -> bool:
        return self._state == SUCCESS

    def failed(self) -> bool:
        return self._state == FAILURE

    @property
    def result(self) -> Any:
        return self._outcome

    info = result

    @property
    def traceback(self) -> str | None:
        return self._tb

    @property
    def date_done(self) -> None:
        return None  # as Celery's EagerResult

    @property
    def name(self) -> str | None:
        return self._name

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, **_ignored: Any) -> Any:
        if self._state == SUCCESS:
            return self._outcome
        if self._state in _PROPAGATE_STATES:
            if propagate:
                raise self._outcome if isinstance(self._outcome, BaseException) else Exception(self._outcome)
            return self._outcome
        return None

    wait = get

    def forget(self) -> None:
        pass

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        self._state, self._outcome, self._tb = REVOKED, _revoked_error(None), None

    def then(self, callback: Callable, on_error: Callable | None = None, weak: bool = False) -> Any:
        return callback(self)

    def __repr__(self) -> str:
        return f"<EagerSaqResult: {self.id}>"


_RESULT_CLASS: list[type[EagerSaqResult]] = []


def _result_class() -> type[EagerSaqResult]:
    """:class:`EagerSaqResult`, also a ``celery.result.EagerResult`` while Celery is importable (as the
    runtime's ``Retry`` subclasses Celery's): a test asserting ``isinstance(r, EagerResult)`` keeps passing
    in the window and after finalize (which imports ``EagerSaqResult as EagerResult`` once Celery goes)."""
    if _RESULT_CLASS:
        return _RESULT_CLASS[0]
    try:
        from celery.result import EagerResult  # noqa: PLC0415 (only when the app still has Celery)
    except ImportError:
        cls: type[EagerSaqResult] = EagerSaqResult
    else:

        class CeleryEagerSaqResult(EagerSaqResult, EagerResult):
            __doc__ = EagerSaqResult.__doc__
            queue: str = None  # type: ignore[assignment]  # AsyncResult's is a read-only property: SaqResult sets it
            args = kwargs = worker = retries = None  # as Celery's EagerResult (its meta has none of them)

            def __del__(self) -> None:  # AsyncResult's asks its Celery backend; this result has none
                pass

            def __copy__(self) -> CeleryEagerSaqResult:  # not EagerResult's (it rebuilds from its own fields)
                new = object.__new__(type(self))
                new.__dict__.update(self.__dict__)
                return new

        CeleryEagerSaqResult.__module__ = __name__
        CeleryEagerSaqResult.__name__ = CeleryEagerSaqResult.__qualname__ = "EagerSaqResult"
        cls = CeleryEagerSaqResult
    _RESULT_CLASS.append(cls)
    return cls


# --- recording (the saq_eager fixture's .results) ----------------------------------------------

_RECORDERS: list[list] = []


class record:  # noqa: N801
    """Collect every :class:`EagerSaqResult` produced inside the block: ``with record() as results:``."""

    def __enter__(self) -> list:
        self.results: list = []
        with _LOCK:
            _RECORDERS.append(self.results)
        return self.results

    def __exit__(self, *exc: Any) -> None:
        with _LOCK:
            _RECORDERS.remove(self.results)


def _recorded(result: EagerSaqResult) -> EagerSaqResult:
    for r in list(_RECORDERS):
        r.append(result)
    return result


# --- running a job the way a SAQ worker does ---------------------------------------------------


def _retry_class() -> type:
    from saqmigrate.runtime.task import _exceptions  # noqa: PLC0415

    return _exceptions()["Retry"]


def _roundtrip(kwargs: Any, dump: Callable, load: Callable) -> dict:
    """The kwargs as a worker gets them: through the queue's serializer (raises what it raises)."""
    if not kwargs:
        return {}
    return load(dump({"kwargs": kwargs}))["kwargs"]


async def _run_job(queue: EagerQueue, job: Job, fn: Callable, propagate: bool, decision: Any = None) -> EagerSaqResult:
    """Attempts of ``job`` until it completes, fails or (propagating) asks for a retry."""
    from saqmigrate.runtime.task import apply_job_options  # noqa: PLC0415

    retry_cls = _retry_class()
    name = ((job.meta or {}).get("saqmigrate") or {}).get("task") or job.function
    while True:
        job.kwargs = _roundtrip(job.kwargs, queue._dump, queue._load)
        job.started = now()
        job.attempts += 1
        job.worker_id = "saqmigrate-eager"
        job.status = Status.ACTIVE
        job.touched = now()
        ctx: dict = {"worker": None, "job": job}
        await apply_job_options(ctx)  # what the generated workers' before_process does
        try:
            value = await fn(ctx, **(job.kwargs or {}))
        except Exception as exc:
            error = _traceback.format_exc()
            if job.retryable:
                if propagate:  # Celery eager + task_eager_propagates: the Retry is raised, not run
                    if isinstance(exc, retry_cls):
                        raise
                    raise retry_cls(exc=exc, when=job.retry_delay)  # noqa: B904 (context kept, as Celery)
                await queue.retry(job, error)
                continue
            await queue.finish(job, Status.FAILED, error=error)
            if propagate:
                raise
            return _recorded(_result_class()(job.key, job, queue.name, decision, FAILURE, exc, error, name))
        await queue.finish(job, Status.COMPLETE, result=value)
        return _recorded(_result_class()(job.key, job, queue.name, decision, SUCCESS, value, None, name))


class EagerQueue(Queue):
    """A ``saq.Queue`` kept in memory whose ``enqueue`` runs the job at once (eager mode).

    For code that holds a queue itself (``await queue.enqueue("proj.tasks.add", a=1)``,
    ``await queue.apply(...)``): pass an ``EagerQueue`` in tests. ``enqueue`` returns the
    finished ``Job`` (``status``, ``result``, ``error``, ``attempts``) and, with
    ``propagate=True``, raises the task's exception; ``results[key]`` holds its
    :class:`EagerSaqResult`. ``functions`` is what a worker would get (names as SAQ registers
    them); names not given are found like :func:`function_for`. ``propagate=None`` follows
    :func:`eager_propagates`.
    """

    def __init__(
        self,
        name: str = "default",
        functions: Iterable[Any] = (),
        *,
        dump: Callable | None = None,
        load: Callable | None = None,
        propagate: bool | None = None,
    ) -> None:
        super().__init__(name, dump or serializer.dump, load or serializer.load)
        self.propagate = propagate
        self.functions: dict[str, Callable] = {}
        for f in functions:
            if isinstance(f, tuple):
                self.functions[f[0]] = f[1]
            else:
                self.functions[getattr(f, "saq_name", None) or f.__qualname__] = f
        self._jobs: dict[str, Job] = {}
        self.results: dict[str, EagerSaqResult] = {}

    def function(self, name: str) -> Callable:
        return self.functions.get(name) or function_for(name)

    async def run(self, job: Job, *, propagate: bool | None = None, decision: Any = None) -> EagerSaqResult:
        """Run ``job`` inline now (its queue becomes this one); the result, or raise (propagate)."""
        job.queue = self
        job.queued = job.queued or now()
        job.status = Status.QUEUED
        self._jobs[job.key] = job
        prop = eager_propagates() if propagate is None else propagate
        result = await _run_job(self, job, self.function(job.function), prop, decision)
        self.results[job.key] = result
        return result

    # -- saq.Queue -------------------------------------------------------------------
    async def _enqueue(self, job: Job) -> Job | None:
        old = self._jobs.get(job.key)
        if old is not None and old is not job and old.status not in (Status.COMPLETE, Status.FAILED, Status.ABORTED):
            return None  # SAQ refuses a key that is still incomplete
        prop = eager_propagates() if self.propagate is None else self.propagate
        await self.run(job, propagate=prop)
        return job

    async def job(self, job_key: str) -> Job | None:
        return self._jobs.get(job_key)

    async def jobs(self, job_keys: Iterable[str]) -> list[Job | None]:
        return [self._jobs.get(k) for k in job_keys]

    async def iter_jobs(self, statuses: Any = None, batch_size: int = 100) -> Any:
        for job in list(self._jobs.values()):
            if statuses is None or job.status in statuses:
                yield job

    async def _update(self, job: Job, status: Status | None = None, **kwargs: Any) -> None:
        pass  # Queue.update already set the fields on the live job

    async def _retry(self, job: Job, error: str | None) -> None:
        pass

    async def _finish(
        self, job: Job, status: Status, *, result: Any = None, error: str | None = None, **kwargs: Any
    ) -> None:
        pass

    async def abort(self, job: Job, error: str, ttl: float = 5) -> None:
        pass  # an eager job has finished before anyone can abort it

    async def finish_abort(self, job: Job) -> None:
        pass

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:
        return None

    async def count(self, kind: Any) -> int:
        return 0  # nothing is ever queued, active or scheduled

    async def info(self, jobs: bool = False, offset: int = 0, limit: int = 10) -> Any:
        return {
            "workers": {},
            "name": self.name,
            "queued": 0,
            "active": 0,
            "scheduled": 0,
            "jobs": [j.to_dict() for j in list(self._jobs.values())[offset : offset + limit]] if jobs else [],
        }

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        return []

    async def write_worker_info(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    def reset(self) -> None:
        self._jobs.clear()
        self.results.clear()


# --- sync callers: the coroutine on a private loop, the body in the caller's thread ------------

_DONE = object()
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class _EagerLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``run_in_executor`` hands the call to the thread that waits for it."""

    def __init__(self, inbox: _stdqueue.SimpleQueue) -> None:
        super().__init__()
        self._inbox = inbox

    def run_in_executor(
        self, executor: concurrent.futures.Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: Unpack[_Ts]
    ) -> asyncio.Future[_T]:
        if self.is_closed():
            raise RuntimeError("Event loop is closed")  # as BaseEventLoop._check_closed
        cf: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._inbox.put((cf, func, args))
        return asyncio.wrap_future(cf, loop=self)


def _run_inline(make_coro: Callable[[], Any]) -> Any:
    """``await make_coro()`` for a sync caller, on a private loop in a helper thread; every
    ``run_in_executor`` call (``run_sync``'s task body) runs here, in the caller's thread."""
    inbox: _stdqueue.SimpleQueue = _stdqueue.SimpleQueue()
    box: dict[str, Any] = {}

    def helper() -> None:
        loop = _EagerLoop(inbox)
        try:
            asyncio.set_event_loop(loop)
            box["value"] = loop.run_until_complete(make_coro())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                inbox.put(_DONE)

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(helper,), daemon=True, name="saqmigrate-eager"
    )
    thread.start()
    while True:
        item = inbox.get()
        if item is _DONE:
            break
        cf, func, args = item
        if not cf.set_running_or_notify_cancel():
            continue
        try:
            cf.set_result(func(*args))
        except BaseException as exc:  # noqa: BLE001 - handed back to the coroutine
            cf.set_exception(exc)
    thread.join()
    if "error" in box:
        error = box.pop("error")
        try:
            raise error
        finally:
            del error
    return box["value"]


# --- entry points ----------------------------------------------------------------------------

_QUEUES: dict[tuple, EagerQueue] = {}


def _queue(name: str, dump: Callable | None = None, load: Callable | None = None) -> EagerQueue:
    key = (name, id(dump), id(load))
    q = _QUEUES.get(key)
    if q is None:
        q = _QUEUES[key] = EagerQueue(name, dump=dump, load=load)
    return q


def reset() -> None:
    """Forget the jobs the router's eager queues keep (the ``saq_eager`` fixture calls it)."""
    for q in list(_QUEUES.values()):
        q.reset()


def enqueue_plan(router: Any, plan: Any) -> EagerSaqResult:
    """The router's sync SAQ enqueue in eager mode (called from ``Router._enqueue_sync``)."""
    q = _queue(plan.entry.queue, router.queue_kwargs.get("dump"), router.queue_kwargs.get("load"))
    prop = eager_propagates()
    return _run_inline(lambda: q.run(Job(**plan.job_fields), propagate=prop, decision=plan.decision))


async def aenqueue_plan(router: Any, plan: Any) -> EagerSaqResult:
    """The router's async SAQ enqueue in eager mode (called from ``Router._aenqueue``)."""
    q = _queue(plan.entry.queue, router.queue_kwargs.get("dump"), router.queue_kwargs.get("load"))
    return await q.run(Job(**plan.job_fields), decision=plan.decision)


def _job(name: str, kwargs: Mapping[str, Any], key: str | None, job_options: Mapping[str, Any] | None) -> Job:
    from saqmigrate.runtime.task import registered_options  # noqa: PLC0415

    opts = (
        dict(job_options)
        if job_options is not None
        else (registered_options()[name].job_kwargs() if name in registered_options() else {})
    )
    return Job(function=name, kwargs=dict(kwargs), key=key or new_task_id(), **opts)


def enqueue(
    name: str,
    /,
    *,
    _key: str | None = None,
    _queue_name: str = "default",
    _job_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> EagerSaqResult:
    """Run SAQ function ``name`` eagerly with ``kwargs`` from sync code (whatever the switch says).

    The job gets the task's registered options (``@saq_task``) unless ``_job_options`` is given.
    """
    job = _job(name, kwargs, _key, _job_options)
    q = _queue(_queue_name)
    prop = eager_propagates()
    return _run_inline(lambda: q.run(job, propagate=prop))


async def aenqueue(
    name: str,
    /,
    *,
    _key: str | None = None,
    _queue_name: str = "default",
    _job_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> EagerSaqResult:
    """:func:`enqueue` for async code (runs on the caller's loop)."""
    return await _queue(_queue_name).run(_job(name, kwargs, _key, _job_options))
