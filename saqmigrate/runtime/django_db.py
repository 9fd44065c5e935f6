"""Django database connection hygiene around SAQ jobs, as Celery's Django fixup does around tasks.

Celery's ``DjangoWorkerFixup`` (celery/fixups/django.py) closes, before and after every task that is not
eager, each initialised database connection that is unusable (an error occurred and it no longer answers)
or obsolete (older than ``CONN_MAX_AGE``): ``conn.close_if_unusable_or_obsolete()``, ignoring the errors
a connection that is already gone raises. Django does the same around each web request
(``close_old_connections`` on ``request_started`` / ``request_finished``). Without it, a long-running
worker whose database restarted keeps failing every job on the dead connection until it restarts.

A SAQ worker of a migrated project touches Django's connections in two kinds of threads:

* the bridge's threads (:func:`saqmigrate.runtime.task.run_sync`): Django connections are per thread,
  so the hygiene runs in that thread, right before and after the body (:func:`around`);
* asgiref's one thread per process that Django's async ORM methods (``aget`` ...) of ported code
  use (docs/native.md, "thread_sensitive"): :func:`hooks` runs the hygiene there before and after each
  job, once that thread exists, like Django's own ``close_old_connections`` does under ASGI, between
  other requests' calls on the same thread.

A failure of the hygiene itself is logged and the job runs (Celery calls it from signal handlers, whose
exceptions it logs). Eager runs (tests) are left alone, as Celery leaves eager tasks alone: a test's transaction must not be
closed under it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

BRIDGE_THREAD_PREFIX = "saqmigrate-bridge"
logger = logging.getLogger("saqmigrate.runtime.django_db")


def django_configured() -> bool:
    """True when the process uses Django's ORM: ``django.db`` imported and the settings configured."""
    if "django.db" not in sys.modules:
        return False
    from django.conf import settings

    return bool(settings.configured)


def close_unusable_connections() -> None:
    """Close this thread's unusable or obsolete connections, exactly as Celery's fixup does."""
    from django.db import DatabaseError, InterfaceError, connections

    try:
        conns = connections.all(initialized_only=True)
    except TypeError:  # Django < 4.1 has no initialized_only
        conns = connections.all()
    for conn in conns:
        try:
            conn.close_if_unusable_or_obsolete()
        except InterfaceError:
            pass
        except DatabaseError as exc:
            text = str(exc)
            if "closed" not in text and "not connected" not in text:
                raise


def _safe_close() -> None:
    """The hygiene never fails a job: Celery runs it from signal handlers, whose exceptions it logs."""
    try:
        close_unusable_connections()
    except Exception as exc:  # noqa: BLE001 - logged, as Celery's signal dispatch logs a handler's error
        logger.warning("closing unusable Django database connections failed: %r", exc)


def around(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` with the hygiene before and after it when it runs in one of the bridge's threads.

    The check is made in the thread that runs the call: an eager run (saqmigrate.runtime.testing) hands
    the same call to the test's own thread, where nothing is closed."""

    def call() -> Any:
        if not (threading.current_thread().name.startswith(BRIDGE_THREAD_PREFIX) and django_configured()):
            return fn()
        _safe_close()
        try:
            return fn()
        finally:
            _safe_close()

    return call


def _asgiref_thread_started() -> bool:
    """Has asgiref's single thread (sync_to_async with thread_sensitive=True outside async_to_sync) run
    anything in this process? Before that it holds no connection, and a hop there would be wasted."""
    mod = sys.modules.get("asgiref.sync")
    if mod is None:
        return False
    executor = getattr(mod.SyncToAsync, "single_thread_executor", None)
    return bool(getattr(executor, "_threads", None))


async def _hygiene(ctx: dict) -> None:
    if not (_asgiref_thread_started() and django_configured()):
        return
    from asgiref.sync import sync_to_async

    await sync_to_async(_safe_close)()


def hooks() -> dict[str, Callable[[dict], Any]]:
    """``before_process`` / ``after_process`` hooks for the worker settings (worker_settings installs
    them; nothing happens in a process without Django)."""
    return {"before_process": _hygiene, "after_process": _hygiene}
