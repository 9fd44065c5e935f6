"""Real Celery and SAQ workers wired as a migrated app is: the router, the Celery signals and the
SAQ worker hooks record outcomes into the test's namespace."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client import CollectorRegistry

from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.bridge import make_queue
from saqmigrate.runtime.metrics import OutcomeMetrics
from saqmigrate.runtime.registry import worker_metadata


def recorder(url: str, ns: str, **kw) -> O.OutcomeRecorder:
    """A process recorder writing to ``ns`` (fast flushes), installed as the default one."""
    kw.setdefault("flush_interval", 0.2)
    kw.setdefault("bucket_seconds", 1)
    r = O.OutcomeRecorder(url, ns, metrics=OutcomeMetrics(CollectorRegistry()), **kw)
    O.set_default_recorder(r)
    return r


def celery_app(url: str, queue: str, name: str = "cockpit-tests"):
    from celery import Celery

    from saqmigrate.runtime.celery_integration import RoutedTask, install_send_task_hook

    app = Celery(name, broker=url, task_cls=RoutedTask, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
        result_backend=None,
        worker_prefetch_multiplier=8,
    )
    install_send_task_hook(app)  # what the generated install(app) ends with: also the outcome signals
    return app


class SaqWorker:
    """A real ``saq.Worker`` with the outcome hooks (merged as worker_settings merges them), in a thread."""

    def __init__(self, url, queue_name, functions, rec: O.OutcomeRecorder, concurrency=20, sweep=60):
        self.url, self.queue_name, self.functions, self.rec = url, queue_name, functions, rec
        self.concurrency, self.sweep = concurrency, sweep
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"saq-{queue_name}")
        self.worker = self.loop = self.error = None

    def _run(self):
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _main(self):
        from saq import Worker

        from saqmigrate.runtime.hooks import merge_hooks

        q = make_queue(self.url, self.queue_name)
        settings = merge_hooks({"functions": self.functions}, O.saq_hooks(self.rec, dead_letters=True))
        settings.pop("functions")
        self.worker = Worker(
            q,
            functions=self.functions,
            concurrency=self.concurrency,
            metadata=worker_metadata(self.functions),
            dequeue_timeout=0.5,
            timers={"worker_info": 1, "schedule": 1, "sweep": self.sweep, "abort": 1},
            **settings,
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
