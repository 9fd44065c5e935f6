"""Django database connection hygiene around SAQ jobs, as Celery's Django fixup does around tasks.

Celery's ``DjangoWorkerFixup`` (celery/fixups/django.py) closes, before and after every task that is not
eager, each initialised database connection that is unusable (an error occurred and it no longer answers)
or obsolete (older than ``CONN_MAX_AGE``): ``conn.close_if_unusable_or_obsolete()``, ignoring the errors
a connection that is already gone raises. Django does the same around each web request
(``close_old_connections`` on ``request_started`` / ``request_finished``). Without it, a long-running
worker whose database restarted keeps failing every job on the dead connection until it restarts.

A SAQ worker of a migrated project touches Django's connections in three kinds of threads:

* the bridge's threads (:func:`saqmigrate.runtime.task.run_sync`): Django connections are per thread,
  so the hygiene runs in that thread, right before and after the body (:func:`around`);
* a thread of its own for each running job's Django async ORM methods (``aget``, ``acount``, ``asave``
  ...) of ported code (:func:`orm_context`, entered by ``saq_task``'s wrapper around the body). Django
  runs them with ``sync_to_async(thread_sensitive=True)``, which outside a ``ThreadSensitiveContext``
  means asgiref's ONE thread per process: every job's ORM calls would take turns there, and a query
  waiting on a row lock (or just slow) would hold up the ORM calls of all the other jobs. Django's ASGI
  handler gives each request ``async with ThreadSensitiveContext()``; each job gets one here too, in one
  of two ways (:data:`ORM_THREAD_ENV`):

  - ``pool`` (default, with asgiref's ``ThreadSensitiveContext(executor=...)``): the job's context runs
    on a single-thread executor taken from a pool and given back after the job. The thread keeps its
    connection across jobs, with Celery's hygiene before and after each job (unusable or obsolete
    connections closed: with ``CONN_MAX_AGE=0`` that is every job's, as under Celery). At most SAQ's
    ``concurrency`` threads and connections, like a Celery worker's processes. A cancelled job's
    thread may still be running its query: it is not reused but retired (its connections closed after
    the query, then the thread ends). The worker's shutdown closes the idle threads' connections;
  - ``fresh`` (and ``pool`` on an asgiref without the executor argument): a new thread per job; at the
    end, inside its context (on its thread), every connection of that thread is closed
    (``conn.close()``, not only the unusable or obsolete ones): asgiref shuts the thread down when the
    context exits, so a connection left open could never be used again, and with ``CONN_MAX_AGE`` > 0
    or ``None`` it would stay open on the server until the garbage collector happened to free it
    (Django's ``close_old_connections`` on ``request_finished`` has this very leak under ASGI). The
    cost: a new connection per job.

  A job that makes no thread-sensitive call starts no thread. Inside another thread-sensitive context or
  an ``async_to_sync`` call (an eager run in a test) nothing changes. ``SAQMIGRATE_ORM_THREAD=shared``
  restores asgiref's one shared thread for every job;
* asgiref's one shared thread, still used by thread-sensitive calls outside a ``saq_task`` body (a
  plain ``async def`` registered with the worker, start-up hooks) and by every job under
  ``SAQMIGRATE_ORM_THREAD=shared``: :func:`hooks` runs the hygiene there before and after each job,
  once that thread exists, like Django's own ``close_old_connections`` does under ASGI, between other
  requests' calls on the same thread. Its connection is kept (persistent connections work there).

A failure of the hygiene itself is logged and the job runs (Celery calls it from signal handlers, whose
exceptions it logs). Eager runs (tests) are left alone, as Celery leaves eager tasks alone: a test's transaction must not be
closed under it (an eager job's own per-job thread is closed; a call asgiref sends to the caller's
thread, as under ``async_to_sync``, is not, since only a thread the job's context created is touched).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

BRIDGE_THREAD_PREFIX = "saqmigrate-bridge"
#: ``shared``: every job's async ORM calls on asgiref's one thread (the behaviour before per-job threads)
ORM_THREAD_ENV = "SAQMIGRATE_ORM_THREAD"
_WARNED: set[str] = set()
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
    them; nothing happens in a process without Django). Under per-job threads (the default) ``saq_task``
    bodies no longer use asgiref's shared thread, but a plain ``async def`` registered with the worker
    and start-up hooks still do, so its hygiene stays; it costs nothing until that thread exists."""

    async def shutdown(ctx: dict) -> None:
        await asyncio.to_thread(close_pool)

    return {"before_process": _hygiene, "after_process": _hygiene, "shutdown": shutdown}


def orm_thread_mode() -> str:
    """``pool`` (default): each job's thread-sensitive calls on a thread of its own, taken from a pool of
    threads that keep their connections between jobs; ``fresh``: a new thread per job, its connections
    closed at the end; ``shared``: asgiref's one thread for every job."""
    value = os.environ.get(ORM_THREAD_ENV, "").strip().lower()
    if value in ("pool", "fresh", "shared"):
        return value
    if value in ("", "job"):
        return "pool"
    if value not in _WARNED:
        _WARNED.add(value)
        logger.warning("%s=%r is not 'pool', 'fresh' or 'shared': using 'pool'", ORM_THREAD_ENV, value)
    return "pool"


def per_job_orm_thread() -> bool:
    """Does each job get its own thread for thread-sensitive calls (default), or share asgiref's one?"""
    return orm_thread_mode() != "shared"


def close_all_connections() -> None:
    """Close every initialised connection of this thread; one that fails to close does not keep the
    others open (logged)."""
    from django.db import connections

    try:
        conns = connections.all(initialized_only=True)
    except TypeError:  # Django < 4.1 has no initialized_only
        conns = connections.all()
    for conn in conns:
        try:
            conn.close()
        except Exception as exc:  # noqa: BLE001 - a connection that is already gone
            logger.warning("closing Django database connection %r failed: %r", conn.alias, exc)


#: idle single-thread executors of the ``pool`` mode, each thread keeping its Django connections
_IDLE: list[ThreadPoolExecutor] = []
_IDLE_LOCK = threading.Lock()


@functools.cache
def _executor_argument() -> bool:
    """asgiref's ``ThreadSensitiveContext(executor=...)`` (a thread the caller owns and can reuse)."""
    from asgiref.sync import ThreadSensitiveContext

    return "executor" in inspect.signature(ThreadSensitiveContext.__init__).parameters


def _started(executor: ThreadPoolExecutor) -> bool:
    return bool(getattr(executor, "_threads", None))


def _retire(executor: ThreadPoolExecutor) -> None:
    """Close the thread's connections after whatever it still runs (a cancelled job's query), then let
    the thread end; nothing waits for it."""
    if _started(executor):
        executor.submit(close_all_connections)
    executor.shutdown(wait=False)


def close_pool() -> None:
    """Close every idle pool thread's connections and end the threads (the worker's shutdown)."""
    with _IDLE_LOCK:
        idle, _IDLE[:] = list(_IDLE), []
    for executor in idle:
        _retire(executor)
    for executor in idle:
        executor.shutdown(wait=True)


@asynccontextmanager
async def orm_context() -> AsyncIterator[None]:
    """A job's body runs in this: its thread-sensitive calls (Django's async ORM) on a thread of its
    own. ``pool``: a pooled thread whose unusable or obsolete connections are closed before and after the
    job (Celery's fixup), the others kept for the next job; ``fresh``: a new thread whose connections are
    all closed at the end, as Django's ASGI handler does per request. Inside another thread-sensitive
    context or an ``async_to_sync`` call (an eager run in a test) nothing changes: the caller's thread and
    its connection (a test's transaction) stay the ones the body uses."""
    mode = orm_thread_mode()
    if mode == "shared" or not django_configured():
        yield
        return
    from asgiref.sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext, sync_to_async

    if mode == "pool" and _executor_argument():
        try:
            SyncToAsync.thread_sensitive_context.get()
            nested = True
        except LookupError:
            nested = getattr(AsyncToSync.executors, "current", None) is not None
        if nested:
            yield
            return
        with _IDLE_LOCK:
            executor = _IDLE.pop() if _IDLE else None
        if executor is None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saqmigrate-orm")
        hygiene = sync_to_async(close_unusable_connections, thread_sensitive=True)
        reusable = False
        try:
            async with ThreadSensitiveContext(executor=executor):
                if _started(executor):
                    await hygiene()
                try:
                    yield
                except asyncio.CancelledError:
                    raise  # its thread may still run a query: retired below, not reused
                except BaseException:
                    if _started(executor):
                        await hygiene()
                    reusable = True
                    raise
                if _started(executor):
                    await hygiene()
                reusable = True
        finally:
            if reusable:
                with _IDLE_LOCK:
                    _IDLE.append(executor)
            else:
                _retire(executor)
        return

    async with ThreadSensitiveContext() as context:
        try:
            yield
        finally:
            # Only when this job's calls created the context's thread: an enclosing context (ours is
            # then not entered) or a parent async_to_sync thread belongs to someone else.
            if context in SyncToAsync.context_to_thread_executor:
                await sync_to_async(close_all_connections, thread_sensitive=True)()
