"""Build SAQ worker settings for a migrated queue (called by generated ``queue_<name>.py``).

Keeps generated settings modules short and stable: they list functions and cron jobs; this
module adds what every migrated worker needs:

* the queue on ``SAQ_REDIS_URL`` / ``REDIS_URL`` / ``redis://localhost:6379`` with the
  Celery-compatible JSON serializer;
* ``before_process=apply_job_options`` so jobs enqueued without options (cron, the web UI,
  ``enqueue("name")``) get the translated timeout/retries/ttl, never SAQ's 10 s default;
* the dead-letter queue (``after_process`` + ``queue.finish`` capture), Prometheus metrics
  (HTTP endpoint when ``SAQMIGRATE_METRICS_PORT`` is set);
* ``metadata`` advertising the served functions (``saqmigrate route set ... saq`` checks it);
* at startup, schedule ownership (the flag store at ``SAQMIGRATE_REDIS_URL``/``REDIS_URL``)
  so a beat entry fires on exactly one side.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo


def setup_django() -> None:
    """Configure Django before the task modules (and their models) are imported.

    Generated worker settings of a Django project call this first, as Celery's own Django
    integration does. It needs ``DJANGO_SETTINGS_MODULE`` in the worker's environment, exactly
    as the Celery worker did.
    """
    import logging

    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        logging.getLogger("saqmigrate.worker").warning(
            "DJANGO_SETTINGS_MODULE is not set: Django is not configured, so tasks that use the ORM will fail; "
            "start the SAQ worker with the same DJANGO_SETTINGS_MODULE as the Celery worker")
        return
    try:
        import django
    except ImportError:  # what Celery does too ("Won't apply Django fix-ups!"): warn, go on
        logging.getLogger("saqmigrate.worker").warning(
            "DJANGO_SETTINGS_MODULE is set but Django is not installed in the worker's environment; "
            "Django is not configured")
        return
    django.setup()


def redis_url() -> str:
    return os.environ.get("SAQ_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://localhost:6379"


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
    concurrency: int | None = None,
    dead_letters: bool = True,
    metrics: bool = True,
    extra: dict | None = None,
) -> dict:
    from saqmigrate.runtime.hooks import merge_hooks
    from saqmigrate.runtime.registry import worker_metadata
    from saqmigrate.runtime.task import apply_job_options

    functions = list(functions)
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
    hook_sets: list[dict[str, Callable]] = []
    if registry:
        hook_sets.append({"startup": _ownership_startup(registry, tz)})
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
    settings.update(extra or {})
    return merge_hooks(settings, *hook_sets)


def _ownership_startup(registry_module: str, tz: Any) -> Callable:
    async def startup(ctx: dict) -> None:
        from saqmigrate.runtime.flags import FlagClient
        from saqmigrate.runtime.ownership import Ownership, get_ownership, set_ownership
        from saqmigrate.runtime.registry import Registry

        if get_ownership() is None:
            set_ownership(Ownership(Registry.load(registry_module), FlagClient(), cron_tz=tz))

    startup.__qualname__ = "saqmigrate_ownership_startup"
    return startup


def cron_function(entry: str, twin: Callable, kwargs: dict | None = None, *, guard: dict | None = None,
                  cron_tz: str = "UTC") -> Callable:
    """The function a generated ``CronJob`` runs for beat entry ``entry``.

    Its ``__qualname__`` is ``beat:<entry>`` so every entry has its own SAQ unique key
    (two entries for one task no longer share ``cron:<task>``). It fires only when SAQ owns
    the entry (``saq_cron_guard``) and, for day-of-month AND day-of-week crontabs, when the
    scheduled instant also passes the calendar ``guard``.
    """
    from saqmigrate.runtime.cronguard import guard_allows, _scheduled_instant
    from saqmigrate.runtime.ownership import saq_cron_guard

    zone = ZoneInfo(cron_tz)
    fixed = dict(kwargs or {})

    async def run(ctx: dict) -> Any:
        if guard and not guard_allows(guard, _scheduled_instant(ctx), zone):
            return None
        if not await saq_cron_guard(ctx, entry):
            return None
        return await twin(ctx, **fixed)

    run.__qualname__ = run.__name__ = f"beat:{entry}"
    run.saqmigrate_entry = entry  # type: ignore[attr-defined]
    return run
