"""Prometheus metrics for SAQ workers (names parallel to celery-exporter, with units).

=====================================  =========  ============================  =========================================
metric                                 type       labels                        meaning
=====================================  =========  ============================  =========================================
``saq_jobs_total``                     counter    queue, function, status       jobs finished: complete | failed | aborted
``saq_job_retries_total``              counter    queue, function               attempts that failed and will be retried
``saq_job_duration_seconds``           histogram  queue, function               run time of each attempt
``saq_job_queue_wait_seconds``         histogram  queue, function               enqueue (or scheduled time) to start,
                                                                                first attempts only (retry delays and
                                                                                ``scheduled=`` are not waiting)
``saq_queue_jobs``                     gauge      queue, state                  queued | active | scheduled (from Redis)
``saq_workers``                        gauge      queue                         live workers registered on the queue
``saq_dead_letter_jobs``               gauge      queue                         entries in the dead-letter store
``saq_worker_concurrency``             gauge      queue                         configured concurrency (this process)
``saq_worker_concurrency_in_use``      gauge      queue                         jobs running now (this process)
=====================================  =========  ============================  =========================================

Per task and backend (the migration cockpit's outcomes, :mod:`saqmigrate.runtime.outcomes`;
recorded on Celery from its task signals and on SAQ from the worker hooks):

=============================================  =========  ========================  ===================================
metric                                         type       labels                    meaning
=============================================  =========  ========================  ===================================
``saqmigrate_jobs_total``                      counter    task, backend, status     runs finished: complete | failed
``saqmigrate_job_retries_total``               counter    task, backend             attempts that failed, retried
``saqmigrate_job_dead_letters_total``          counter    task, backend             final failures sent to the DLQ
``saqmigrate_job_duration_seconds``            histogram  task, backend             run time of each attempt
``saqmigrate_job_queue_wait_seconds``          histogram  task, backend             publish to start, first attempts
``saqmigrate_outcome_record_errors_total``     counter    op                        recording errors (swallowed)
=============================================  =========  ========================  ===================================

The counters and histograms come from ``before_process``/``after_process`` hooks; the
gauges from a refresh loop that ``startup`` starts (every ``refresh_interval`` seconds).
Swept jobs never reach ``after_process`` (see ``runtime/dlq.py``): they appear in
``saq_dead_letter_jobs``, not in ``saq_jobs_total``.

Exposition: ``SaqMetrics(port=9108)`` (or ``SAQMIGRATE_METRICS_PORT``) starts
prometheus_client's HTTP server from the worker's ``startup``; ``asgi_app()`` returns an
ASGI app to mount in Litestar or any ASGI server. Pass ``registry=CollectorRegistry()``
for an isolated registry (tests, several apps per process).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

logger = logging.getLogger("saqmigrate.runtime.metrics")

PORT_ENV = "SAQMIGRATE_METRICS_PORT"
ADDR_ENV = "SAQMIGRATE_METRICS_ADDR"

# Seconds. Dense below 1 s (python.org's ADR-002: p95 latency < 1 s, see
# docs/adr/0001-python-org-adr-002-is-the-acceptance-material.md), then up to 30 min.
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

_T0 = "_saqmigrate_metrics_t0"
_TERMINAL = {"complete", "failed", "aborted"}


def _status(job: Any) -> str:
    s = job.status
    return getattr(s, "value", None) or str(s)


def _queue_name(job: Any, ctx: dict) -> str:
    q = getattr(job, "queue", None)
    if q is None and ctx.get("worker") is not None:
        q = ctx["worker"].queue
    return getattr(q, "name", "") or ""


class SaqMetrics:
    """Metrics on one registry plus the worker hooks that feed them."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "saq",
        port: int | None = None,
        addr: str | None = None,
        refresh_interval: float = 15.0,
        dead_letters: Any = None,
        duration_buckets: tuple[float, ...] = DURATION_BUCKETS,
        wait_buckets: tuple[float, ...] = WAIT_BUCKETS,
    ) -> None:
        self.registry = registry if registry is not None else REGISTRY
        r = self.registry
        ns = namespace
        self.jobs = Counter(
            f"{ns}_jobs", "SAQ jobs finished, by final status.", ["queue", "function", "status"], registry=r
        )
        self.retries = Counter(
            f"{ns}_job_retries", "SAQ job attempts that failed and will be retried.", ["queue", "function"], registry=r
        )
        self.loop_stalls = Counter(
            f"{ns}_loop_stalls",
            "SAQ task bodies caught holding the event loop past SAQMIGRATE_LOOP_STALL_MS (runtime/loopguard.py).",
            ["function"],
            registry=r,
        )
        self.duration = Histogram(
            f"{ns}_job_duration_seconds",
            "Run time of each SAQ job attempt.",
            ["queue", "function"],
            buckets=duration_buckets,
            registry=r,
        )
        self.queue_wait = Histogram(
            f"{ns}_job_queue_wait_seconds",
            "Time from enqueue (or scheduled time) to first start.",
            ["queue", "function"],
            buckets=wait_buckets,
            registry=r,
        )
        self.queue_jobs = Gauge(f"{ns}_queue_jobs", "Jobs in the queue by state.", ["queue", "state"], registry=r)
        self.workers = Gauge(f"{ns}_workers", "Live SAQ workers registered on the queue.", ["queue"], registry=r)
        self.dead_letter_jobs = Gauge(f"{ns}_dead_letter_jobs", "Jobs in the dead-letter store.", ["queue"], registry=r)
        self.concurrency = Gauge(
            f"{ns}_worker_concurrency", "Configured worker concurrency (this process).", ["queue"], registry=r
        )
        self.in_use = Gauge(
            f"{ns}_worker_concurrency_in_use", "Jobs running now (this process).", ["queue"], registry=r
        )
        self.port = port if port is not None else (int(os.environ[PORT_ENV]) if os.environ.get(PORT_ENV) else None)
        self.addr = addr or os.environ.get(ADDR_ENV) or "0.0.0.0"
        self.refresh_interval = refresh_interval
        self.dead_letters = dead_letters  # a DeadLetterQueue or DeadLetterStore, optional
        self.http_server: Any = None
        self.http_port: int | None = None
        self._refreshers: dict[str, asyncio.Task] = {}
        self._hook_server = False

    def loop_stall(self, function: str) -> None:
        self.loop_stalls.labels(function).inc()

    # ---- hooks
    async def before_process(self, ctx: dict) -> None:
        job = ctx.get("job")
        if job is None:
            return
        try:
            queue = _queue_name(job, ctx)
            ctx[_T0] = time.perf_counter()
            self.in_use.labels(queue).inc()
            if job.attempts == 1 and job.queued and job.started:
                ready_ms = max(job.queued, (job.scheduled or 0) * 1000)
                self.queue_wait.labels(queue, job.function).observe(max(0.0, (job.started - ready_ms) / 1000.0))
        except Exception:  # metrics never fail a job
            logger.exception("metrics before_process failed")

    async def after_process(self, ctx: dict) -> None:
        job = ctx.get("job")
        if job is None:
            return
        try:
            queue = _queue_name(job, ctx)
            t0 = ctx.pop(_T0, None)
            if t0 is not None:
                self.in_use.labels(queue).dec()
                self.duration.labels(queue, job.function).observe(time.perf_counter() - t0)
            status = _status(job)
            if status in _TERMINAL:
                self.jobs.labels(queue, job.function, status).inc()
            elif status == "queued":
                self.retries.labels(queue, job.function).inc()
        except Exception:
            logger.exception("metrics after_process failed")

    async def startup(self, ctx: dict) -> None:
        worker = ctx.get("worker")
        if self.port is not None and self.http_server is None:
            self._hook_server = self.start_http_server() is not None
        if worker is None:
            return
        queue = worker.queue
        self.concurrency.labels(queue.name).set(worker.concurrency)
        self.in_use.labels(queue.name).set(0)
        if self.refresh_interval and queue.name not in self._refreshers:
            self._refreshers[queue.name] = asyncio.create_task(self._refresh_loop(queue))

    async def shutdown(self, ctx: dict) -> None:
        worker = ctx.get("worker")
        names = [worker.queue.name] if worker is not None else list(self._refreshers)
        for name in names:
            task = self._refreshers.pop(name, None)
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        if not self._refreshers and self._hook_server:
            self.stop_http_server()  # only the server this startup hook started
            self._hook_server = False

    def hooks(self) -> dict[str, Callable[[dict], Any]]:
        return {
            "startup": self.startup,
            "shutdown": self.shutdown,
            "before_process": self.before_process,
            "after_process": self.after_process,
        }

    # ---- gauges
    async def refresh(self, queue: Any) -> None:
        """Read queued/active/scheduled, live workers and DLQ size for ``queue`` now."""
        info = await queue.info()
        name = queue.name
        self.queue_jobs.labels(name, "queued").set(info["queued"])
        self.queue_jobs.labels(name, "active").set(info["active"])
        self.queue_jobs.labels(name, "scheduled").set(max(0, info["scheduled"]))
        self.workers.labels(name).set(len(info.get("workers") or {}))
        if self.dead_letters is not None:
            store = self.dead_letters
            if hasattr(store, "store_for"):
                store = store.store_for(queue)
            self.dead_letter_jobs.labels(name).set(await store.count(name))

    async def _refresh_loop(self, queue: Any) -> None:
        while True:
            try:
                await self.refresh(queue)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("metrics refresh for queue %s failed", queue.name, exc_info=True)
            await asyncio.sleep(self.refresh_interval)

    # ---- exposition
    def start_http_server(self, port: int | None = None, addr: str | None = None) -> int | None:
        """Serve ``/metrics`` from a thread; returns the bound port (``port=0``: any free).
        A port already taken (``saq --workers N`` forks N processes) is logged, not fatal."""
        from prometheus_client import start_http_server

        port = self.port if port is None else port
        if port is None:
            return None
        try:
            server, _thread = start_http_server(port, addr=addr or self.addr, registry=self.registry)
        except OSError as exc:
            logger.warning(
                "metrics endpoint not started on %s:%s (%s); another process may serve it", addr or self.addr, port, exc
            )
            return None
        self.http_server = server
        self.http_port = server.server_port
        return self.http_port

    def stop_http_server(self) -> None:
        if self.http_server is not None:
            self.http_server.shutdown()
            self.http_server.server_close()
            self.http_server = None

    def asgi_app(self) -> Any:
        """An ASGI app serving this registry (mount at ``/metrics``)."""
        from prometheus_client import make_asgi_app

        return make_asgi_app(registry=self.registry)


_default: SaqMetrics | None = None


def default_metrics(**kwargs: Any) -> SaqMetrics:
    """The process-wide :class:`SaqMetrics` on prometheus_client's default registry
    (created on first call; a metric name can be registered only once per registry)."""
    global _default
    if _default is None:
        _default = SaqMetrics(**kwargs)
    return _default


class OutcomeMetrics:
    """Per task and backend outcomes (``saqmigrate_jobs_total{task,backend,status}`` ...), fed by
    :class:`saqmigrate.runtime.outcomes.OutcomeRecorder`. Labels are bounded: task names and the
    two backends, never job ids."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "saqmigrate",
        duration_buckets: tuple[float, ...] = DURATION_BUCKETS,
        wait_buckets: tuple[float, ...] = WAIT_BUCKETS,
    ) -> None:
        r = self.registry = registry if registry is not None else REGISTRY
        ns = namespace
        self.jobs = Counter(
            f"{ns}_jobs",
            "Task runs finished per backend, by final status (complete | failed).",
            ["task", "backend", "status"],
            registry=r,
        )
        self.retries = Counter(
            f"{ns}_job_retries",
            "Task attempts that failed and will be retried, per backend.",
            ["task", "backend"],
            registry=r,
        )
        self.dead = Counter(
            f"{ns}_job_dead_letters",
            "Final failures kept in the dead-letter store, per backend.",
            ["task", "backend"],
            registry=r,
        )
        self.duration = Histogram(
            f"{ns}_job_duration_seconds",
            "Run time of each task attempt, per backend.",
            ["task", "backend"],
            buckets=duration_buckets,
            registry=r,
        )
        self.queue_wait = Histogram(
            f"{ns}_job_queue_wait_seconds",
            "Time from publish (or eta) to the first start, per backend.",
            ["task", "backend"],
            buckets=wait_buckets,
            registry=r,
        )
        self.errors = Counter(
            f"{ns}_outcome_record_errors", "Outcome recording errors (swallowed), by operation.", ["op"], registry=r
        )
        self._cache: dict[tuple[str, str], tuple] = {}

    def _children(self, task: str, backend: str) -> tuple:
        # labels() costs a lock and a dict lookup per metric: keep each (task, backend)'s children (bounded
        # like the label values themselves: task names x two backends)
        key = (task, backend)
        c = self._cache.get(key)
        if c is None:
            c = self._cache[key] = (
                self.jobs.labels(task, backend, "complete"),
                self.jobs.labels(task, backend, "failed"),
                self.retries.labels(task, backend),
                self.dead.labels(task, backend),
                self.duration.labels(task, backend),
                self.queue_wait.labels(task, backend),
            )
        return c

    def observe(
        self,
        task: str,
        backend: str,
        status: str | None,
        duration: float | None,
        wait: float | None,
        dead: bool = False,
    ) -> None:
        complete, failed, retries, dead_c, dur, qwait = self._children(task, backend)
        if status == "success":
            complete.inc()
        elif status == "failure":
            failed.inc()
        elif status == "retry":
            retries.inc()
        if dead:
            dead_c.inc()
        if duration is not None:
            dur.observe(duration)
        if wait is not None:
            qwait.observe(wait)

    def record_error(self, op: str) -> None:
        self.errors.labels(op).inc()


_default_outcomes: OutcomeMetrics | None = None


def default_outcome_metrics(**kwargs: Any) -> OutcomeMetrics:
    """The process-wide :class:`OutcomeMetrics` on prometheus_client's default registry."""
    global _default_outcomes
    if _default_outcomes is None:
        _default_outcomes = OutcomeMetrics(**kwargs)
    return _default_outcomes
