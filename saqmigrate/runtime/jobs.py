"""SAQ tasks after ``saqmigrate finalize``: the project's task functions, without Celery.

Finalize turns each Celery task into a plain function decorated with :func:`saq_job`::

    from saqmigrate.runtime.jobs import saq_job
    from saqmigrate.runtime.task import TaskOptions

    @saq_job("orders.tasks.send_receipt", TaskOptions(retries=4, max_retries=3), queue="mail")
    def send_receipt(order_id):
        ...

    send_receipt(7)                                   # runs inline, as calling a Celery task did
    send_receipt.enqueue(order_id=7)                  # was send_receipt.delay(7)
    await send_receipt.aenqueue(order_id=7)           # the same from async code
    send_receipt.enqueue_with({"order_id": 7}, countdown=60)   # was .apply_async((7,), countdown=60)

The body is unchanged (a sync body runs in a worker thread, an ``async def`` body on the loop);
the worker settings register ``send_receipt.saq`` under the Celery name, so jobs already queued
and cron keys keep working. Enqueues go through the same code as the window's router
(``saqmigrate.runtime.router``): the per-task job options, Celery-compatible JSON, the
loop-free sync enqueue, classified connection errors and eager mode for tests
(``saqmigrate.runtime.testing``); they return a :class:`~saqmigrate.runtime.router.SaqResult`
(``.id``, ``.state``, ``.get()`` ...). Nothing here imports Celery.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, cast

from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry, TaskEntry
from saqmigrate.runtime.task import TaskOptions, run_sync, saq_task, task_self

__all__ = [
    "saq_job",
    "SaqJob",
    "send_job",
    "asend_job",
    "JobOptionError",
    "registered_jobs",
    "chain",
    "group",
    "Step",
    "Chain",
    "Group",
    "GroupResult",
    "crontab",
    "beat_hook",
    "beat_cron_jobs",
]

#: The decision reason finalized enqueues carry (there is no routing any more).
R_FINALIZED = "finalized"
_ALL_SAQ = F.Snapshot(mode="force-saq", source="finalized")

_JOBS: dict[str, SaqJob] = {}
_LOCK = threading.Lock()
_ROUTER: list[Any] = [None]


class JobOptionError(SaqmigrateError, ValueError):
    """An enqueue option SAQ cannot honour (the message names it)."""


def registered_jobs() -> dict[str, SaqJob]:
    """Celery name → :class:`SaqJob` of every ``@saq_job`` function imported in this process."""
    return dict(_JOBS)


class _InlineRequest:
    """``self.request`` of a bound task called directly (``task(...)``), as Celery gives it."""

    def __init__(self, name: str) -> None:
        self.id = None
        self.task = name
        self.retries = 0
        self.args: tuple = ()
        self.kwargs: dict = {}
        self.called_directly = True
        self.is_eager = False
        self.delivery_info: dict = {}
        self.hostname = None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


class _InlineSelf:
    """``self`` for a bound body called directly: its name, options and an empty request. Anything else
    (``self.retry``, ``self.MaxRetriesExceededError``, a patched attribute) comes from the job object, as a
    Celery body's ``self`` was the task object itself (``patch.object(task, "retry")`` reaches it)."""

    def __init__(self, job: SaqJob) -> None:
        self._job = job
        self.name = job.name
        self.request = _InlineRequest(job.name)
        self.max_retries = job.options.max_retries
        self.default_retry_delay = job.options.default_retry_delay

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._job, attr)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        return None  # Celery: no task id when called directly, nothing is stored


class SaqJob:
    """A task function with its SAQ registration and enqueue methods (see the module doc)."""

    def __init__(
        self, fn: Callable, name: str, options: TaskOptions, queue: str, bind: bool, aliases: tuple[str, ...] = ()
    ) -> None:
        self.function = fn
        self.name = name
        self.aliases = tuple(aliases)  # former (Celery) names the workers still run, for jobs queued under them
        self.options = options
        self.queue = queue
        self.bind = bind
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())[1 if bind else 0 :]
        self.params = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        self.positional_only = tuple(p.name for p in params if p.kind == p.POSITIONAL_ONLY)
        self.saq = self._saq_function(fn, inspect.iscoroutinefunction(fn))
        self.entry = TaskEntry(
            name=name, saq_function=name, queue=queue, params=self.params, job=MappingProxyType(options.job_kwargs())
        )
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__qualname__ = getattr(fn, "__qualname__", name)
        self.__module__ = cast(str, getattr(fn, "__module__", None))  # None when fn has none, as functools.wraps
        from saqmigrate.runtime.task import _REGISTRY  # noqa: PLC0415 - jobs queued under an alias get the options

        for alias in self.aliases:
            _REGISTRY[alias] = options

    @property
    def registrations(self) -> list[tuple[str, Callable]]:
        """``(name, function)`` for a worker's ``functions``: the name, then every alias (``--rename``)."""
        return [(self.name, self.saq), *((alias, self.saq) for alias in self.aliases)]

    def _saq_function(self, fn: Callable, is_async: bool) -> Callable:
        bind = self.bind
        posonly = self.positional_only

        async def run(ctx: dict, /, **kwargs: Any) -> Any:
            args: tuple = (task_self(ctx),) if bind else ()
            if posonly:  # a job carries names; `def f(a, /, b)` takes `a` by position
                args += tuple(kwargs.pop(p) for p in posonly if p in kwargs)
            if is_async:
                result = await fn(*args, **kwargs)
            else:
                result = await run_sync(fn, *args, **kwargs)
            then = ((getattr(ctx.get("job"), "meta", None) or {}).get("saqmigrate") or {}).get("then")
            if then:  # the next step of a chain (saqmigrate.runtime.jobs.chain): enqueued once this one succeeded
                await _continue(then, result)
            return result

        run.__name__ = run.__qualname__ = getattr(fn, "__name__", "run")
        # saq_task reads the parameter names from the signature (ctx first, then the task's)
        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_ONLY)]
            + [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in self.params]
        )
        return saq_task(self.name, self.options)(run)

    # -- inline ----------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body here and now, as calling a Celery task object did. An ``async def`` body (a native
        port) called from sync code runs to its end on a loop of its own and returns its value, as the
        Celery task did; called where a loop runs, it returns the coroutine to await."""
        if self.bind:
            args = (_InlineSelf(self), *args)
        result = self.function(*args, **kwargs)
        if inspect.iscoroutine(result):
            import asyncio  # noqa: PLC0415

            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(result)
        return result

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self  # a job stored as a class attribute stays the job

    def __repr__(self) -> str:
        return f"<SaqJob {self.name} queue={self.queue!r}>"

    # -- enqueue ---------------------------------------------------------------------

    def enqueue(self, **kwargs: Any) -> Any:
        """Enqueue a job with these keyword arguments (was ``.delay(...)``); a ``SaqResult``."""
        return self.enqueue_with(kwargs=kwargs)

    async def aenqueue(self, **kwargs: Any) -> Any:
        """:meth:`enqueue` from async code."""
        return await self.aenqueue_with(kwargs=kwargs)

    def enqueue_with(
        self,
        kwargs: Mapping[str, Any] | None = None,
        *,
        args: Any = None,
        countdown: float | None = None,
        eta: Any = None,
        queue: str | None = None,
        task_id: str | None = None,
        time_limit: float | None = None,
    ) -> Any:
        """Enqueue with Celery's call options (was ``.apply_async(...)``): ``countdown``/``eta`` set the
        job's ``scheduled`` time, ``time_limit`` its ``timeout``, ``task_id`` its key; ``queue`` must
        be the task's own (another queue has no worker for it: :class:`JobOptionError`)."""
        r = _router()
        p = self._plan(
            r, args, kwargs, countdown=countdown, eta=eta, queue=queue, task_id=task_id, time_limit=time_limit
        )
        return r._enqueue_sync(p)

    async def aenqueue_with(
        self,
        kwargs: Mapping[str, Any] | None = None,
        *,
        args: Any = None,
        countdown: float | None = None,
        eta: Any = None,
        queue: str | None = None,
        task_id: str | None = None,
        time_limit: float | None = None,
    ) -> Any:
        """:meth:`enqueue_with` from async code."""
        r = _router()
        p = self._plan(
            r, args, kwargs, countdown=countdown, eta=eta, queue=queue, task_id=task_id, time_limit=time_limit
        )
        return await r._aenqueue(p)

    # -- canvas ------------------------------------------------------------------------

    def step(self, **kwargs: Any) -> Step:
        """This task with these arguments, as a step of :func:`chain` or :func:`group` (was ``.s()``/``.si()``)."""
        return Step(self.name, self.queue, dict(kwargs))

    def s(self, *args: Any, **kwargs: Any) -> Step:
        """Celery's ``.s()`` for code finalize could not convert: positional arguments named by the parameters."""
        if len(args) > len(self.params):
            raise JobOptionError(
                f"{self.name}.s(): {len(args)} positional arguments for parameters {list(self.params)}"
            )
        return Step(self.name, self.queue, {**dict(zip(self.params, args)), **kwargs})

    si = s

    def enqueue_on_commit(self, **kwargs: Any) -> None:
        """Enqueue when the current Django transaction commits (was ``.delay_on_commit(...)``)."""
        from django.db import transaction  # noqa: PLC0415 - only Django projects call this

        transaction.on_commit(lambda: self.enqueue(**kwargs))

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Celery's ``.delay_on_commit`` (5.4+), for call sites finalize could not see."""
        from django.db import transaction  # noqa: PLC0415

        transaction.on_commit(lambda: self.delay(*args, **kwargs))

    # -- what a bound body's ``self`` offered as the task object, called directly ----------------

    def retry(self, *args: Any, exc: BaseException | None = None, **kwargs: Any) -> Any:
        """``self.retry()`` in a body called directly (not by a worker): Celery re-raises ``exc`` (there is no
        message to retry). Under a worker, ``self`` is the SAQ job's (runtime.task.TaskSelf)."""
        if exc is not None:
            raise exc
        raise RuntimeError(f"{self.name}: self.retry() outside a worker (the task was called directly)")

    @property
    def MaxRetriesExceededError(self) -> type:  # noqa: N802 - Celery's attribute name
        from saqmigrate.runtime.task import _exceptions  # noqa: PLC0415

        return _exceptions()["MaxRetriesExceededError"]

    def apply(
        self, args: Any = None, kwargs: Mapping[str, Any] | None = None, *, throw: bool | None = None, **options: Any
    ) -> Any:
        """Celery's ``.apply()``: run the task here, through the worker's code path (retries inline), and
        return an eager result (``.get()``, ``.state``) — saqmigrate's eager mode for this one call."""
        from saqmigrate.runtime.testing import eager  # noqa: PLC0415

        with eager(propagate=bool(throw)):
            return self.enqueue_with(kwargs, args=args)

    # -- Celery's spelling, for call sites finalize could not see (``getattr(task, "delay")``,
    # code generated at run time): the same enqueue; ``saqmigrate check`` reports them (SM805)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``.delay``: positional arguments are named by the task's parameters."""
        return self.enqueue_with(kwargs, args=args)

    def apply_async(self, args: Any = None, kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Celery's ``.apply_async`` for the options :meth:`enqueue_with` takes; any other raises
        :class:`JobOptionError` (transport-only options such as ``routing_key`` are ignored)."""
        from saqmigrate.runtime.router import _IGNORED_OPTIONS  # noqa: PLC0415

        mapped = {k: v for k, v in options.items() if k not in _IGNORED_OPTIONS}
        unknown = sorted(set(mapped) - {"countdown", "eta", "queue", "task_id", "time_limit"})
        if unknown:
            raise JobOptionError(f"{self.name}.apply_async(): {', '.join(unknown)} cannot be expressed on SAQ")
        return self.enqueue_with(kwargs, args=args, **mapped)

    def _plan(self, router: Any, args: Any, kwargs: Mapping[str, Any] | None, **options: Any) -> Any:
        from saqmigrate.runtime.router import plan_dispatch  # noqa: PLC0415

        _register(self)
        opts = {k: v for k, v in options.items() if v is not None}
        p = plan_dispatch(router.registry, _ALL_SAQ, self.name, args, kwargs, opts)
        if p.decision.backend != F.SAQ:
            what = ", ".join(p.decision.unsupported) or p.decision.reason
            raise JobOptionError(
                f"{self.name}: cannot enqueue on SAQ ({what}): queue {self.queue!r}, parameters {list(self.params)}"
            )
        p.decision = replace(p.decision, reason=R_FINALIZED)
        _saq_fields(p)["meta"] = {"saqmigrate": {"task": self.name, "v": 0, "reason": R_FINALIZED}}
        return p


def _register(job: SaqJob) -> None:
    if _JOBS.get(job.name) is job:
        return
    with _LOCK:
        _JOBS[job.name] = job
        for alias in job.aliases:  # send_job("old.name") still finds it
            _JOBS.setdefault(alias, job)
        r = _ROUTER[0]
        if r is not None:
            r.registry = _registry()


def _registry() -> Registry:
    tasks = {name: job.entry for name, job in _JOBS.items()}
    return Registry(MappingProxyType(tasks), MappingProxyType({}), MappingProxyType({}))


def _router() -> Any:
    r = _ROUTER[0]
    if r is None:
        from saqmigrate.runtime.router import Router  # noqa: PLC0415

        with _LOCK:
            r = _ROUTER[0]
            if r is None:
                r = _ROUTER[0] = Router(_registry(), None, fallback=False)
    return r


def reset() -> None:
    """Forget the process's enqueuer (tests; a new ``SAQ_REDIS_URL`` takes effect)."""
    with _LOCK:
        r, _ROUTER[0] = _ROUTER[0], None
    if r is not None:
        r.close()


def saq_job(
    name: str,
    options: TaskOptions | None = None,
    *,
    queue: str = "default",
    bind: bool = False,
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable], SaqJob]:
    """Make ``fn`` the SAQ task registered as ``name`` on ``queue`` (see the module doc).

    ``bind=True``: the body takes ``self`` first (``self.request``, ``self.retry``,
    ``self.update_state``) as a ``bind=True`` Celery task did. ``aliases``: former names the workers
    also run (``finalize --rename``: jobs already queued under the Celery name); enqueues use ``name``."""
    options = options if options is not None else TaskOptions()

    def decorate(fn: Callable) -> SaqJob:
        job = SaqJob(fn, name, options, queue, bind, aliases)
        _register(job)
        return job

    return decorate


def _named(name: str, queue: str | None) -> SaqJob | TaskEntry:
    job = _JOBS.get(name)
    if job is not None:
        return job
    if not queue:
        raise LookupError(
            f"no @saq_job task {name!r} in this process: import the module that defines it, or pass queue="
        )
    # not imported here (the web process enqueues by name, as send_task did): the worker's
    # before_process hook gives the job the task's options (runtime.task.apply_job_options)
    return TaskEntry(name=name, saq_function=name, queue=queue)


def _entry_plan(entry: TaskEntry, kwargs: Mapping[str, Any] | None, options: dict, args: Any = None) -> Any:
    from saqmigrate.runtime.router import plan_dispatch  # noqa: PLC0415

    registry = Registry(MappingProxyType({entry.name: entry}), MappingProxyType({}), MappingProxyType({}))
    p = plan_dispatch(registry, _ALL_SAQ, entry.name, args, kwargs, {k: v for k, v in options.items() if v is not None})
    if p.decision.backend != F.SAQ:
        raise JobOptionError(
            f"{entry.name}: cannot enqueue on SAQ ({', '.join(p.decision.unsupported) or p.decision.reason})"
        )
    p.decision = replace(p.decision, reason=R_FINALIZED)
    _saq_fields(p)["meta"] = {"saqmigrate": {"task": entry.name, "v": 0, "reason": R_FINALIZED}}
    return p


def _saq_fields(p: Any) -> dict[str, Any]:
    """The Job(...) arguments of a plan routed to SAQ (plan_dispatch sets them on every SAQ plan)."""
    fields: dict[str, Any] | None = p.job_fields
    assert fields is not None, "a SAQ plan has its Job fields"
    return fields


# --- canvas: chain and group -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One task call in a :func:`chain` or :func:`group`: ``task.step(**kwargs)``.

    ``taking_result("param")``: in a chain, the previous step's return value is passed as ``param``
    (Celery's ``.s()`` prepends it as the first positional argument; ``.si()`` takes nothing)."""

    task: str
    queue: str
    kwargs: dict
    result_to: str | None = None

    def taking_result(self, param: str) -> Step:
        return replace(self, result_to=param)

    def enqueue(self) -> Any:
        """Enqueue this one step on its own (``t.s(1).delay()`` in Celery's spelling)."""
        return _router()._enqueue_sync(_step_plan(self))

    async def aenqueue(self) -> Any:
        return await _router()._aenqueue(_step_plan(self))

    def delay(self) -> Any:
        return self.enqueue()

    apply_async = delay

    def _entry(self) -> TaskEntry:
        job = _JOBS.get(self.task)
        return job.entry if job is not None else TaskEntry(name=self.task, saq_function=self.task, queue=self.queue)


class Chain:
    """Steps run one after the other; each is enqueued when the one before it succeeded (a failure,
    after its retries, stops the chain, as in Celery). ``enqueue()`` returns the *last* step's
    result (its job exists once the chain reaches it; until then it reads ``PENDING``)."""

    def __init__(self, *steps: Step) -> None:
        if not steps:
            raise ValueError("chain() needs at least one step")
        self.steps = steps

    def _links(self) -> list[dict]:
        from saqmigrate.runtime.router import new_task_id  # noqa: PLC0415

        return [
            {"task": s.task, "queue": s.queue, "kwargs": dict(s.kwargs), "key": new_task_id(), "result_to": s.result_to}
            for s in self.steps
        ]

    def enqueue(self) -> Any:
        links = self._links()
        r = _router()
        from saqmigrate.runtime import testing  # noqa: PLC0415

        if testing.eager_enabled():  # every step runs inline: the result is the last step's eager result
            with testing.record() as results:
                r._enqueue_sync(_link_plan(links[0], links[1:]))
            return _eager_chain_result(results, links)
        r._enqueue_sync(_link_plan(links[0], links[1:]))
        return _pending_result(r, links[-1])

    async def aenqueue(self) -> Any:
        links = self._links()
        r = _router()
        from saqmigrate.runtime import testing  # noqa: PLC0415

        if testing.eager_enabled():
            with testing.record() as results:
                await r._aenqueue(_link_plan(links[0], links[1:]))
            return _eager_chain_result(results, links)
        await r._aenqueue(_link_plan(links[0], links[1:]))
        return _pending_result(r, links[-1])

    def delay(self) -> Any:  # Celery's spelling, for `job = chain(...); job.delay()` finalize did not see
        return self.enqueue()

    apply_async = delay


class Group:
    """Steps enqueued together (was ``group(...)``); ``enqueue()`` returns a :class:`GroupResult`."""

    def __init__(self, steps: Any) -> None:
        self.steps = list(steps)

    def enqueue(self) -> GroupResult:
        r = _router()
        return GroupResult([r._enqueue_sync(_step_plan(s)) for s in self.steps])

    async def aenqueue(self) -> GroupResult:
        r = _router()
        return GroupResult([await r._aenqueue(_step_plan(s)) for s in self.steps])

    def delay(self) -> GroupResult:  # Celery's spelling
        return self.enqueue()

    apply_async = delay


class GroupResult:
    """The results of a :class:`Group`, in order (``.results``), with Celery's ``GroupResult`` basics."""

    def __init__(self, results: list) -> None:
        self.results = results

    def get(self, timeout: float | None = None, propagate: bool = True) -> list:
        return [r.get(timeout=timeout, propagate=propagate) for r in self.results]

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


def chain(*steps: Step) -> Chain:
    """``chain(a.step(x=1), b.step().taking_result("total")).enqueue()`` (see :class:`Chain`)."""
    return Chain(*steps)


def group(*steps: Any) -> Group:
    """``group(t.step(n=n) for n in ns).enqueue()`` (see :class:`Group`). Celery's call shapes work too:
    ``group(a, b)``, ``group([a, b])``, ``group(*steps)``."""
    if len(steps) == 1 and not isinstance(steps[0], Step):
        return Group(steps[0])
    return Group(steps)


def _step_plan(step: Step) -> Any:
    return _entry_plan(step._entry(), step.kwargs, {})


def _link_plan(link: dict, rest: list[dict]) -> Any:
    job = _JOBS.get(link["task"])
    entry = (
        job.entry if job is not None else TaskEntry(name=link["task"], saq_function=link["task"], queue=link["queue"])
    )
    p = _entry_plan(entry, link["kwargs"], {"task_id": link["key"]})
    if rest:
        p.job_fields["meta"]["saqmigrate"]["then"] = rest
    return p


def _pending_result(router: Any, link: dict) -> Any:
    from saqmigrate.runtime.router import SaqResult  # noqa: PLC0415

    return SaqResult(link["key"], None, link["queue"], None, router.bridge, router.saq_url, router.queue_kwargs)


def _eager_chain_result(results: list, links: list[dict]) -> Any:
    """A chain run inline (eager mode), as Celery's eager ``chain.apply()``: the last step's eager result,
    each step's result its ``parent``; a step before the last that failed stops the chain and its
    exception is raised here (Celery's next step calls ``previous.get()``, which raises it)."""
    by_key = {r.id: r for r in results}
    previous = None
    for link in links:
        res = by_key.get(link["key"])
        if res is None:
            if previous is not None:
                previous.get()  # raises the failed step's exception
            raise RuntimeError(f"eager chain: step {link['task']!r} did not run")  # pragma: no cover
        res.parent = previous
        previous = res
    return previous


async def _continue(then: list[dict], result: Any) -> None:
    nxt = dict(then[0])
    if nxt.get("result_to"):
        nxt["kwargs"] = {**nxt["kwargs"], nxt["result_to"]: result}
    await _router()._aenqueue(_link_plan(nxt, then[1:]))


def send_job(
    name: str, kwargs: Mapping[str, Any] | None = None, *, queue: str | None = None, args: Any = None, **options: Any
) -> Any:
    """Enqueue the task registered as ``name`` (was ``app.send_task(name, ...)``) without importing
    it: ``queue`` says where its worker listens (finalize writes it). Options as
    :meth:`SaqJob.enqueue_with`."""
    target = _named(name, queue)
    if isinstance(target, SaqJob):
        return target.enqueue_with(kwargs, args=args, queue=queue, **options)
    r = _router()
    return r._enqueue_sync(_entry_plan(target, kwargs, options, args))


async def asend_job(
    name: str, kwargs: Mapping[str, Any] | None = None, *, queue: str | None = None, args: Any = None, **options: Any
) -> Any:
    """:func:`send_job` from async code."""
    target = _named(name, queue)
    if isinstance(target, SaqJob):
        return await target.aenqueue_with(kwargs, args=args, queue=queue, **options)
    r = _router()
    return await r._aenqueue(_entry_plan(target, kwargs, options, args))


# --- beat hooks: ``@app.on_after_finalize.connect`` / ``on_after_configure`` handlers that call
# ``sender.add_periodic_task(crontab(...), task.s(...), name=...)`` -----------------------------------

_BEAT_HOOKS: list[Callable] = []
_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")  # cron's order


class crontab:  # noqa: N801 - Celery's name, so a converted beat hook reads as before
    """Celery's ``crontab(minute, hour, day_of_week, day_of_month, month_of_year)`` as a cron string,
    without Celery. Every field defaults to ``*`` as in Celery (``crontab(hour=3)`` fires every minute of
    hour 3). Full day/month names are cut to three letters (what Celery reads; croniter rejects the
    long ones). When both day_of_month and day_of_week are restricted Celery fires only on days matching
    both, and cron on days matching either: the cron keeps day_of_week and :attr:`guard` drops the runs
    whose day of the month does not match (the same guard the window's CronJobs use)."""

    def __init__(
        self,
        minute: Any = "*",
        hour: Any = "*",
        day_of_week: Any = "*",
        day_of_month: Any = "*",
        month_of_year: Any = "*",
    ) -> None:
        import re  # noqa: PLC0415

        from croniter import croniter  # noqa: PLC0415 - SAQ's own dependency

        given = {
            "minute": minute,
            "hour": hour,
            "day_of_week": day_of_week,
            "day_of_month": day_of_month,
            "month_of_year": month_of_year,
        }
        fields = {}
        for name, value in given.items():
            if isinstance(value, bool):
                raise TypeError(f"crontab({name}={value!r}): not a cron field")
            if isinstance(value, int):
                text = str(value)
            elif isinstance(value, str):
                text = re.sub(r"[A-Za-z]+", lambda m: m.group(0)[:3].lower(), value.strip()) or "*"
            elif isinstance(value, (list, tuple, set, frozenset, range)):
                text = ",".join(str(v) for v in sorted(value))
            else:
                raise TypeError(f"crontab({name}={value!r}): give a str, an int or a collection of ints")
            fields[name] = text
        self.guard: dict | None = None
        if fields["day_of_month"] != "*" and fields["day_of_week"] != "*":
            from saqmigrate.translate.cron import _croniter_set  # noqa: PLC0415 - pure, no Celery

            days = _croniter_set("day_of_month", fields["day_of_month"])
            if days is None:
                raise ValueError(f"crontab(day_of_month={day_of_month!r}): not a valid day of the month")
            self.guard = {"field": "day_of_month", "values": list(days)}
            fields["day_of_month"] = "*"
        self.cron = " ".join(fields[f] for f in _CRON_FIELDS)
        if not croniter.is_valid(self.cron):
            raise ValueError(
                f"crontab({', '.join(f'{k}={v!r}' for k, v in given.items())}) gives the cron "
                f"{self.cron!r}, which croniter (SAQ's cron) rejects"
            )

    def __repr__(self) -> str:
        return f"<crontab: {self.cron}{' (day of month AND day of week)' if self.guard else ''}>"


def beat_hook(fn: Callable) -> Callable:
    """Was ``@app.on_after_finalize.connect`` (or ``on_after_configure``) on a function that adds beat
    entries with ``sender.add_periodic_task(...)``. The function is kept as it is; every worker calls it
    when its settings are built (:func:`beat_cron_jobs`), as Celery beat called it when it started, so a
    schedule computed there (``crontab(minute=random.randint(0, 59))``) is drawn once per worker start."""
    if fn not in _BEAT_HOOKS:
        _BEAT_HOOKS.append(fn)
    return fn


@dataclass
class _BeatEntry:
    name: str
    schedule: crontab
    step: Step


class _BeatSender:
    """What a beat hook's ``sender`` offers: ``add_periodic_task`` (the only use finalize converts)."""

    def __init__(self) -> None:
        self.entries: dict[str, _BeatEntry] = {}

    def add_periodic_task(
        self, schedule: Any, sig: Any, args: Any = (), kwargs: Any = (), name: str | None = None, **opts: Any
    ) -> None:
        if not isinstance(schedule, crontab):
            raise TypeError(
                f"add_periodic_task({schedule!r}, ...): only saqmigrate.runtime.jobs.crontab schedules "
                "become CronJobs here"
            )
        if not isinstance(sig, Step):
            raise TypeError(f"add_periodic_task(..., {sig!r}): give task.s(...) of a @saq_job task")
        if opts:
            raise JobOptionError(f"add_periodic_task(..., {', '.join(sorted(opts))}=...): CronJobs have no such option")
        if args or kwargs:
            job = _JOBS.get(sig.task)
            params = job.params if job is not None else ()
            if len(tuple(args)) > len(params):
                raise JobOptionError(
                    f"add_periodic_task({sig.task}): {len(tuple(args))} positional arguments for "
                    f"parameters {list(params)}"
                )
            sig = replace(sig, kwargs={**sig.kwargs, **dict(zip(params, args)), **dict(kwargs or {})})
        if name is None:
            raise JobOptionError(f"add_periodic_task(..., {sig.task}) without name=: the CronJob needs a stable name")
        self.entries[name] = _BeatEntry(name, schedule, sig)  # Celery: a later entry of the same name wins


def beat_cron_jobs(queue: str, modules: Any = (), *, cron_tz: str = "UTC") -> list:
    """The ``CronJob`` of every beat entry the ``@beat_hook`` functions add for tasks on ``queue``
    (finalize's worker settings call it). ``modules``: the modules that define the hooks, imported first.
    Each entry's function is ``beat:<entry name>``, the key the window's CronJobs used."""
    import importlib  # noqa: PLC0415

    from saq import CronJob  # noqa: PLC0415

    from saqmigrate.runtime.worker import cron_function  # noqa: PLC0415

    for module in modules:
        importlib.import_module(module)
    sender, again = _BeatSender(), _BeatSender()
    for hook in list(_BEAT_HOOKS):
        hook(signal=None, sender=sender)
    for hook in list(_BEAT_HOOKS):  # a second draw tells computed schedules (random minutes) from fixed ones
        hook(signal=None, sender=again)
    drawn = {
        name
        for name, e in sender.entries.items()
        if name in again.entries and again.entries[name].schedule.cron != e.schedule.cron
    }
    shared = _shared_draws(queue, {name: sender.entries[name].schedule.cron for name in drawn}) if drawn else {}
    out = []
    for entry in sender.entries.values():
        job = _JOBS.get(entry.step.task)
        if job is None:
            raise LookupError(f"beat entry {entry.name!r}: no @saq_job task {entry.step.task!r} is imported")
        if job.queue != queue:
            continue
        fn = cron_function(
            entry.name, job.saq, dict(entry.step.kwargs), guard=entry.schedule.guard, cron_tz=cron_tz, shared=False
        )
        extra = {k: v for k, v in job.options.cron_kwargs().items() if v is not None}
        out.append(CronJob(fn, cron=shared.get(entry.name, entry.schedule.cron), **extra))
    return out


def _shared_draws(queue: str, crons: dict[str, str]) -> dict[str, str]:
    """One draw per computed schedule for every worker of the queue. Celery beat is one process: it draws
    a random minute once when it starts and fires at that minute. Several SAQ workers each drawing their own
    would fire the entry once per distinct draw. The first worker stores its draw in SAQ's Redis (``SET
    NX``, no expiry); every worker uses the stored one. To draw again, stop every worker of the queue and
    delete ``saqmigrate-beat-draw:<queue>:<name>`` (outside the flag store's namespace: ``route purge``
    leaves it, as a purge while workers run would let a restarted one draw apart from the others)."""
    import redis  # noqa: PLC0415

    from saqmigrate.runtime.worker import redis_url  # noqa: PLC0415

    client = redis.Redis.from_url(redis_url(), socket_timeout=5, decode_responses=True)
    try:
        out: dict[str, str] = {}
        for name, cron in crons.items():
            key = f"saqmigrate-beat-draw:{queue}:{name}"
            client.set(key, cron, nx=True)
            stored = client.get(key)  # a str (decode_responses)
            out[name] = str(stored) if stored else cron
        return out
    finally:
        client.close()
