"""Build SAQ worker settings for a migrated queue (called by generated ``queue_<name>.py``).

Keeps generated settings modules short and stable: they list functions and cron jobs; this
module adds what every migrated worker needs:

* the queue on ``SAQ_REDIS_URL`` / ``REDIS_URL`` / ``redis://localhost:6379`` with the
  Celery-compatible JSON serializer;
* ``before_process=apply_job_options`` so jobs enqueued without options (cron, the web UI,
  ``enqueue("name")``) get the translated timeout/retries/ttl, never SAQ's 10 s default;
* the dead-letter queue (``after_process`` + ``queue.finish`` capture), Prometheus metrics
  (HTTP endpoint when ``SAQMIGRATE_METRICS_PORT`` is set);
* twins whose generated options assume unset an environment variable the worker sets (SM116,
  registry ``assumes_unset``) are not registered, with an ERROR naming the task and the variable;
* ``metadata`` advertising the served functions (``saqmigrate route set ... saq`` checks it);
* at startup, schedule ownership (the flag store at ``SAQMIGRATE_REDIS_URL``/``REDIS_URL``)
  so a beat entry fires on exactly one side;
* a sweep that never aborts a job dequeued but not yet marked active, and redelivers
  ``acks_late`` jobs whose worker died (runtime/sweep.py); ``SAQMIGRATE_SWEEP_INTERVAL``
  sets ``timers["sweep"]`` (SAQ's default 60 s).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo


def setup_django(settings_module: str | None = None) -> None:
    """Configure Django before the task modules (and their models) are imported.

    Generated worker settings of a Django project call this first, as Celery's own Django
    integration does. ``settings_module`` is what the project's Celery app module sets with
    ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)``: a default, as there, so the worker's
    environment still wins.
    """
    import logging

    if settings_module:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        logging.getLogger("saqmigrate.worker").warning(
            "DJANGO_SETTINGS_MODULE is not set: Django is not configured, so tasks that use the ORM will fail; "
            "start the SAQ worker with the same DJANGO_SETTINGS_MODULE as the Celery worker"
        )
        return
    try:
        import django
    except ImportError:  # what Celery does too ("Won't apply Django fix-ups!"): warn, go on
        logging.getLogger("saqmigrate.worker").warning(
            "DJANGO_SETTINGS_MODULE is set but Django is not installed in the worker's environment; "
            "Django is not configured"
        )
        return
    django.setup()


def redis_url() -> str:
    """SAQ's Redis: one resolution for workers, router, route, dlq and check (runtime/urls.py)."""
    from saqmigrate.runtime.urls import saq_redis_url

    return saq_redis_url()


_celery_app_module: str | None = None  # what import_celery_app imported in this process


def import_celery_app(default: str | None = None) -> str | None:
    """Create the project's Celery app as ``celery -A`` does: import ``SAQMIGRATE_CELERY_APP``, else
    ``default`` (``proj.celery`` or ``make_celery:celery_app``). Generated worker settings call it before
    they import the task modules, so tasks resolve in that app, with its Task class and configuration.
    Returns the module imported (None: nothing to import)."""
    global _celery_app_module
    target = os.environ.get("SAQMIGRATE_CELERY_APP") or default
    if not target:
        return None
    import importlib

    module = target.split(":", 1)[0]
    try:
        importlib.import_module(module)
    except Exception as exc:
        raise RuntimeError(
            f"saqmigrate: cannot import the Celery app module {module!r} (the worker settings' "
            f"import_celery_app, or SAQMIGRATE_CELERY_APP): {type(exc).__name__}: {exc}"
        ) from exc
    _celery_app_module = module
    return module


def make_queue(name: str, url: str | None = None) -> Any:
    from saq import Queue

    from saqmigrate.runtime import serializer

    return Queue.from_url(url or redis_url(), name=name, dump=serializer.dump, load=serializer.load)


def worker_settings(
    queue_name: str,
    functions: Iterable[Any],
    cron_jobs: Iterable[Any] = (),
    *,
    registry: str | None = None,
    cron_tz: str = "UTC",
    interval_jobs: Iterable["IntervalJob"] = (),
    concurrency: int | None = None,
    dead_letters: bool = True,
    metrics: bool = True,
    extra: dict | None = None,
    celery_app: str | None = None,
) -> dict:
    """``celery_app``: for hand-written settings, the module that creates the project's Celery app
    (generated settings call :func:`import_celery_app` before importing the task modules instead).
    When an app module was imported, a task that still resolves in Celery's fallback app stops the
    worker at start-up."""
    app_module = import_celery_app(celery_app) or _celery_app_module
    from saqmigrate.runtime.hooks import merge_hooks
    from saqmigrate.runtime.registry import worker_metadata
    from saqmigrate.runtime.task import apply_job_options

    interval_jobs = list(interval_jobs)
    functions = _refuse_env_pinned(list(functions), registry) + [(j.name, j.function) for j in interval_jobs]
    cron_jobs = list(cron_jobs)
    names = [f[0] if isinstance(f, tuple) else getattr(f, "saq_name", f.__qualname__) for f in functions]
    names += [c.function.__qualname__ for c in cron_jobs]
    queue = make_queue(queue_name)
    tz = ZoneInfo(cron_tz)
    settings: dict[str, Any] = {
        "queue": queue,
        "functions": functions,
        "cron_jobs": cron_jobs,
        "cron_tz": tz,
        "concurrency": concurrency or int(os.environ.get("SAQ_CONCURRENCY", "10")),
        "metadata": worker_metadata(names),
        "before_process": apply_job_options,
    }
    from saqmigrate.runtime import logqueue, loopguard, preimport
    from saqmigrate.runtime.task_class import startup_check

    # a task class whose hooks / __call__ a twin cannot honour stops the worker here, by name
    hook_sets: list[dict[str, Callable]] = [{"startup": startup_check(functions, require_app=bool(app_module))}]
    if os.environ.get(preimport.ENV, "1") != "0":
        hook_sets.append(preimport.hooks())  # the modules task bodies import, before the first job
    if os.environ.get(loopguard.ENV, "1") != "0":
        hook_sets.append(loopguard.hooks())  # a task body that blocks the loop is named and bridged from then on
    if os.environ.get(logqueue.ENV, "1") != "0":
        # log handlers' I/O off the loop; its shutdown runs after every later set's (it drains the queues)
        hook_sets.append(logqueue.hooks())
    if registry:
        hook_sets.append({"startup": _ownership_startup(registry, tz)})
    for job in interval_jobs:
        hook_sets.append({"startup": job.startup()})
    if dead_letters and os.environ.get("SAQMIGRATE_DLQ", "1") != "0":
        from saqmigrate.runtime.dlq import DeadLetterQueue

        dlq = DeadLetterQueue()
        dlq.install(queue)
        hook_sets.append(dlq.hooks())
    if metrics and os.environ.get("SAQMIGRATE_METRICS", "1") != "0":
        from saqmigrate.runtime.metrics import default_metrics

        m = default_metrics()
        hook_sets.append(m.hooks())
        port = os.environ.get("SAQMIGRATE_METRICS_PORT")
        if port:
            m.start_http_server(int(port))
    if os.environ.get("SAQMIGRATE_OUTCOMES", "1") != "0":  # per-task outcomes for the cockpit (runtime/outcomes.py)
        from saqmigrate.runtime.outcomes import saq_hooks

        hook_sets.append(saq_hooks(dead_letters=dead_letters and os.environ.get("SAQMIGRATE_DLQ", "1") != "0"))
    from saqmigrate.runtime import django_db

    hook_sets.append(django_db.hooks())  # Celery's Django fixup: close dead connections around each job
    _install_sweep(settings)
    settings.update(extra or {})
    return merge_hooks(settings, *hook_sets)


def _refuse_env_pinned(functions: list[Any], registry_module: str | None) -> list[Any]:
    """The twins to register: those whose generated options assume unset a variable this worker sets
    (SM116, registry ``assumes_unset``) are refused, with an ERROR each. They were generated with the
    default in the code; the router keeps their dispatches on Celery in a process that sets it, and a
    job for them that still reaches this worker fails as an unknown function instead of running with
    the default. Their beat entries stay on Celery beat (runtime/registry.py)."""
    if not registry_module:
        return functions  # finalized settings: no Celery to pin to
    import logging

    from saqmigrate.runtime.registry import Registry, env_pin_message

    tasks = Registry.load(registry_module).tasks
    kept = []
    for f in functions:
        name = f[0] if isinstance(f, tuple) else getattr(f, "saq_name", getattr(f, "__qualname__", None))
        entry = tasks.get(name) if isinstance(name, str) else None
        env = entry.env_set() if entry is not None else ()
        if env:
            logging.getLogger("saqmigrate.worker").error(
                "saqmigrate: the SAQ worker does not register %s: %s", name, env_pin_message(str(name), env)
            )
            continue
        kept.append(f)
    return kept


def _install_sweep(settings: dict) -> None:
    """The race-free, redelivering sweep (runtime/sweep.py) and its interval from the env."""
    from saqmigrate.runtime.sweep import install

    install(settings["queue"])
    interval = os.environ.get("SAQMIGRATE_SWEEP_INTERVAL")
    if interval:
        settings["timers"] = {**settings.get("timers", {}), "sweep": max(1, int(float(interval)))}


def _ownership_startup(registry_module: str, tz: Any) -> Callable:
    async def startup(ctx: dict) -> None:
        from saqmigrate.runtime.flags import FlagClient
        from saqmigrate.runtime.ownership import Ownership, get_ownership, set_ownership
        from saqmigrate.runtime.registry import Registry

        if get_ownership() is None:
            set_ownership(Ownership(Registry.load(registry_module), FlagClient(), cron_tz=tz))

    startup.__qualname__ = "saqmigrate_ownership_startup"
    return startup


def cron_function(
    entry: str,
    twin: Callable,
    kwargs: dict | None = None,
    *,
    guard: dict | None = None,
    cron_tz: str = "UTC",
    shared: bool = True,
) -> Callable:
    """The function a generated ``CronJob`` runs for beat entry ``entry``.

    Its ``__qualname__`` is ``beat:<entry>`` so every entry has its own SAQ unique key
    (two entries for one task no longer share ``cron:<task>``). It fires only when SAQ owns
    the entry (``saq_cron_guard``) and, for day-of-month AND day-of-week crontabs, when the
    scheduled instant also passes the calendar ``guard``.

    ``shared=False`` (settings written by ``saqmigrate finalize``): there is no Celery beat any
    more and no ownership to ask; the entry always fires on SAQ.
    """
    from saqmigrate.runtime.cronguard import guard_allows, _scheduled_instant
    from saqmigrate.runtime.ownership import saq_cron_guard

    zone = ZoneInfo(cron_tz)
    fixed = dict(kwargs or {})

    async def run(ctx: dict) -> Any:
        if guard and not guard_allows(guard, _scheduled_instant(ctx), zone):
            return None
        if shared and not await saq_cron_guard(ctx, entry):
            return None
        return await twin(ctx, **fixed)

    run.__qualname__ = run.__name__ = f"beat:{entry}"
    run.saqmigrate_entry = entry  # type: ignore[attr-defined]
    return run


class IntervalJob:
    """A beat entry whose interval no cron can express (7 min, 45 s, 90 min ...).

    It runs as a self-rescheduling SAQ job: every run enqueues the next one ``interval``
    seconds after its own scheduled instant (no drift from run time). Slots are aligned on the
    epoch (``k * interval``), so every worker computes the same next slot and the job key
    ``beat:<entry>@<slot>`` makes the start-up bootstrap of many workers enqueue it once.
    Like SAQ cron, missed slots are not caught up. Differences from Celery (which counts from
    beat's start) are reported by the translation (SM205).
    """

    def __init__(
        self,
        entry: str,
        twin: Callable,
        interval: float,
        kwargs: dict | None = None,
        *,
        shared: bool = True,
        **job_options: Any,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"IntervalJob({entry!r}): interval must be positive, got {interval}")
        self.entry = entry
        self.twin = twin
        self.interval = float(interval)
        self.kwargs = dict(kwargs or {})
        self.job_options = {k: v for k, v in job_options.items() if v is not None}
        self.shared = shared  # False after finalize: no Celery beat to share the entry with
        self.name = f"beat:{entry}"
        self.function = self._make_function()

    def next_slot(self, after: float) -> int:
        import math

        return (
            int(math.floor(after / self.interval) + 1) * int(self.interval)
            if self.interval.is_integer()
            else int(math.ceil((math.floor(after / self.interval) + 1) * self.interval))
        )

    def job(self, slot: int) -> Any:
        from saq import Job

        return Job(function=self.name, key=f"{self.name}@{slot}", scheduled=slot, **self.job_options)

    async def schedule_next(self, queue: Any, after: float) -> None:
        await queue.enqueue(self.job(self.next_slot(after)))

    def _make_function(self) -> Callable:
        from saqmigrate.runtime.ownership import saq_cron_guard

        async def run(ctx: dict) -> Any:
            job = ctx.get("job")
            scheduled = float(getattr(job, "scheduled", 0) or 0)
            import time

            try:
                if self.shared and not await saq_cron_guard(ctx, self.entry):
                    return None
                return await self.twin(ctx, **self.kwargs)
            finally:
                # the next slot after this one (or after now, if this run was late)
                await self.schedule_next(ctx["worker"].queue, max(scheduled, time.time()))

        run.__qualname__ = run.__name__ = self.name
        run.saqmigrate_entry = self.entry  # type: ignore[attr-defined]
        return run

    def startup(self) -> Callable:
        async def bootstrap(ctx: dict) -> None:
            import time

            await self.schedule_next(ctx["worker"].queue, time.time())

        bootstrap.__qualname__ = f"bootstrap[{self.name}]"
        return bootstrap
