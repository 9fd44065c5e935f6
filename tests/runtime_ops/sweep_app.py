"""A migrated app for the sweep fault tests, run by a real ``saq`` worker process.

``python -m saq tests.runtime_ops.sweep_app.settings`` with ``SAQ_REDIS_URL`` (a redis-server
the test started) and ``SWEEP_TEST_QUEUE``. Celery tasks (one ``acks_late``), their SAQ
twins as ``rewrite`` generates them, and ``worker_settings`` as the generated
``queue_<name>.py`` calls it. Every run is recorded in the Redis list ``runs``.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

from saqmigrate.runtime.task import TaskOptions, celery_impl, run_sync, saq_task
from saqmigrate.runtime.worker import worker_settings

app = Celery("sweepapp", broker="memory://")
_r = redis.Redis.from_url(os.environ.get("SAQ_REDIS_URL", "redis://127.0.0.1:6379"))
HEARTBEAT = int(os.environ.get("SWEEP_TEST_HEARTBEAT", "2"))


def _record(event: str, n) -> None:
    _r.rpush("runs", f"{event}:{n}:{os.getpid()}")


@app.task(name="sweepapp.quick")
def quick(n):
    _record("run", n)
    return n


@app.task(name="sweepapp.slow_late", acks_late=True)
def slow_late(n, seconds):
    _record("start", n)
    time.sleep(seconds)
    _record("done", n)
    return n


@app.task(name="sweepapp.slow_early")
def slow_early(n, seconds):
    _record("start", n)
    time.sleep(seconds)
    _record("done", n)
    return n


OPTS = TaskOptions(heartbeat=HEARTBEAT, retry_delay=0)


@saq_task("sweepapp.quick", OPTS)
async def quick_saq(ctx, *, n):
    return await run_sync(celery_impl(quick), n)


@saq_task("sweepapp.slow_late", OPTS)
async def slow_late_saq(ctx, *, n, seconds):
    return await run_sync(celery_impl(slow_late), n, seconds)


@saq_task("sweepapp.slow_early", OPTS)
async def slow_early_saq(ctx, *, n, seconds):
    return await run_sync(celery_impl(slow_early), n, seconds)


settings = worker_settings(
    os.environ.get("SWEEP_TEST_QUEUE", "sweeptest"),
    [quick_saq, slow_late_saq, slow_early_saq],
    metrics=False,
    concurrency=10,
    extra={
        "timers": {
            "schedule": 1,
            "worker_info": 1,
            "abort": 1,
            "sweep": int(os.environ.get("SAQMIGRATE_SWEEP_INTERVAL", "60")),
        },
        "dequeue_timeout": 0.5,
    },
)
