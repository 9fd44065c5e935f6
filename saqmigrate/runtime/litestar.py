"""Litestar integration: wire the DLQ, metrics and Celery-compatible JSON into litestar-saq.

litestar-saq (0.8) already gives the conventions python.org's ADR-002 wants
(docs/adr/0001-python-org-adr-002-is-the-acceptance-material.md): queues as a dependency
(``task_queues: TaskQueues``), workers started with the app (``separate_process=False``)
or by ``litestar workers run``, and per-queue hook lists in ``QueueConfig``. A second
plugin would add nothing, so this module is three small helpers (see docs/operations.md,
"Litestar"):

* :func:`instrument` -- put :mod:`saqmigrate.runtime.serializer` on every queue and append
  the dead-letter and metrics hooks to every ``QueueConfig`` (after-process hooks isolated,
  so one failing hook cannot skip the DLQ). Call it before ``SAQPlugin(config)`` is
  handed to ``Litestar(...)``.
* :func:`metrics_route` -- a mounted ASGI route serving the metrics registry at
  ``/metrics``.
* :func:`named` -- litestar-saq 0.8 drops the name of ``("celery.name", fn)`` task tuples
  (``QueueConfig._get_or_import_task`` keeps only ``fn``), so the worker would register
  ``fn.__qualname__`` and jobs enqueued by Celery name would hit ``KeyError``.
  ``named("app.tasks.send_email", send_email)`` returns a wrapper whose ``__qualname__``
  *is* that name, so SAQ registers it under it.

Import cost: nothing from litestar is imported until a helper is called.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from saqmigrate.runtime import serializer
from saqmigrate.runtime.hooks import chain

__all__ = ["instrument", "metrics_route", "named"]


def named(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` registered under ``name`` by any SAQ worker, even one that ignores tuples."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

    wrapper.__qualname__ = name
    wrapper.__name__ = name
    return wrapper


def _as_list(hooks: Any) -> list:
    if hooks is None:
        return []
    if callable(hooks):
        return [hooks]
    return list(hooks)


def instrument(config: Any, *, dead_letters: Any = None, metrics: Any = None, use_serializer: bool = True) -> Any:
    """Add saqmigrate's runtime pieces to a litestar-saq ``SAQConfig`` (in place; returned).

    ``dead_letters``: a :class:`~saqmigrate.runtime.dlq.DeadLetterQueue`; ``metrics``: a
    :class:`~saqmigrate.runtime.metrics.SaqMetrics`. Either may be ``None``.
    """
    if use_serializer:
        if config.queue_instances:
            raise ValueError(
                "instrument(config) must run before the queues exist (before SAQPlugin starts): "
                "queue_instances are already built with another serializer"
            )
        config.json_serializer = serializer.dump
        config.json_deserializer = serializer.load
    extra = [h.hooks() for h in (dead_letters, metrics) if h is not None]
    for qc in config.queue_configs:
        qc.startup = _as_list(qc.startup) + [hs["startup"] for hs in extra if "startup" in hs]
        qc.before_process = _as_list(qc.before_process) + [
            hs["before_process"] for hs in extra if "before_process" in hs
        ]
        after = _as_list(qc.after_process) + [hs["after_process"] for hs in extra if "after_process" in hs]
        qc.after_process = [chain(*after, run_all=True, name="after_process")] if after else []
        qc.shutdown = [hs["shutdown"] for hs in reversed(extra) if "shutdown" in hs] + _as_list(qc.shutdown)
    return config


def metrics_route(metrics: Any, path: str = "/metrics") -> Any:
    """A Litestar ASGI route handler mounting ``metrics.asgi_app()`` at ``path``."""
    from litestar import asgi

    app = metrics.asgi_app()
    options: dict[str, Any] = {"is_mount": True, "include_in_schema": False, "opt": {"exclude_from_auth": True}}
    if "copy_scope" in inspect.signature(asgi).parameters:  # litestar >= 2.11
        options["copy_scope"] = True

    @asgi(path, **options)
    async def saq_metrics(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    return saq_metrics
