"""Real parts for routing tests: a SAQ worker in a thread, an embedded Celery worker."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis

from saqmigrate.runtime.bridge import make_queue
from saqmigrate.runtime.flags import FlagStore
from saqmigrate.runtime.registry import worker_metadata


class SaqWorkerThread:
    """A real ``saq.Worker`` on its own loop in a daemon thread (signals off: not the main thread)."""

    def __init__(self, url, queue_name, functions, concurrency=20, cron_jobs=None):
        self.url, self.queue_name, self.functions = url, queue_name, functions
        self.concurrency, self.cron_jobs = concurrency, cron_jobs
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"saq-{queue_name}")
        self.worker = None
        self.loop = None
        self.error = None

    def _run(self):
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self.ready.set()

    async def _main(self):
        from saq import Worker

        q = make_queue(self.url, self.queue_name)
        self.worker = Worker(
            q,
            functions=self.functions,
            concurrency=self.concurrency,
            cron_jobs=self.cron_jobs,
            metadata=worker_metadata(self.functions),
            dequeue_timeout=0.5,
            timers={"worker_info": 1, "schedule": 1, "sweep": 60, "abort": 1},
        )
        self.worker.SIGNALS = []
        self.loop = asyncio.get_running_loop()
        self.loop.call_later(0.2, self.ready.set)
        await self.worker.start()
        await q.disconnect()

    def start(self):
        self.thread.start()
        assert self.ready.wait(10), "SAQ worker did not start"
        if self.error:
            raise self.error
        return self

    def stop(self):
        if self.loop is not None and self.worker is not None:
            self.loop.call_soon_threadsafe(self.worker.event.set)
        self.thread.join(15)


@pytest.fixture
def rt(redis_url, unique_name):
    """Namespace, a Redis client, a flag store; everything under the namespace is deleted after."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = FlagStore(redis_url, unique_name)

    class RT:
        pass

    r = RT()
    r.url, r.ns, r.redis, r.store = redis_url, unique_name, client, store
    yield r
    store.delete_all()
    for pattern in (f"{unique_name}*", f"saq:{unique_name}*", f"*{unique_name}*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


def wait_for(pred, timeout=10.0, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def make_celery_app(redis_url, queue, name="routing-tests"):
    from celery import Celery

    from saqmigrate.runtime.celery_integration import RoutedTask

    app = Celery(name, broker=redis_url, task_cls=RoutedTask, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
        result_backend=None,
        broker_transport_options={"visibility_timeout": 3600},
        worker_prefetch_multiplier=16,
    )
    return app
