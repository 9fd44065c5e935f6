"""The same scenarios on a REAL Celery worker (Redis broker, real countdowns) vs a real SAQ worker.

Cheap enough (a solo-pool Celery worker thread starts in ~0.3 s) to run a few scenarios where
eager mode would hide something: the retry is really re-sent through the broker after its
countdown.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from kombu.asynchronous import set_event_loop
from saq.job import Job, Status

from runtime_task_harness import running_worker, wait_done
from test_runtime_task_worker import CALLS, SCENARIOS, make_pair

pytestmark = pytest.mark.slow

CASES = ["bind-retry-exc", "autoretry-then-unlisted", "bind-catch-max"]


@pytest.mark.parametrize("scenario", CASES)
def test_real_celery_worker_and_saq_worker_agree(scenario, redis_url, unique_name):
    options, bind, uses_self_retry, plan = SCENARIOS[scenario]
    app = Celery(f"cw{unique_name}", broker=redis_url, backend=None, set_as_current=False)
    app.conf.update(
        broker_transport_options={"global_keyprefix": f"{unique_name}:"},
        task_default_queue=unique_name,
        worker_hijack_root_logger=False,
    )
    name = f"proj.tasks.{unique_name}"
    celery_task, saq_fn, opts = make_pair(app, name, options, bind, uses_self_retry)

    token_c = f"{unique_name}-celery-worker"
    # a fresh kombu event loop, as in a worker process of its own: before kombu 5.6 (Celery 5.4/5.5) a
    # closed worker's hub stays the process's loop, the next worker reuses it and its timer never runs
    # the new worker's countdowns/ETAs (retries, chord_unlock) (docs/operations.md, Supported versions)
    set_event_loop(None)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=5):
            celery_task.delay(token_c, plan)
            deadline = time.monotonic() + 15
            expected = len(CALLS.get(token_c, []))
            # wait until the attempt count is stable for 1.5 s (countdowns here are <= 0.2 s)
            stable_since = time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.05)
                now = len(CALLS.get(token_c, []))
                if now != expected:
                    expected, stable_since = now, time.monotonic()
                elif now and time.monotonic() - stable_since > 1.5:
                    break
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{unique_name}*"))
        if keys:
            client.delete(*keys)
        client.close()
    celery_attempts = len(CALLS[token_c])

    token_s = f"{unique_name}-saq"

    async def main():
        async with running_worker(redis_url, unique_name, [saq_fn]) as (queue, _):
            job = Job(function=name, kwargs={"token": token_s, "plan": plan}, **opts.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job, timeout=20)

    done = asyncio.run(main())
    assert done.status in (Status.COMPLETE, Status.FAILED)
    assert len(CALLS[token_s]) == celery_attempts, scenario
    gaps_c = [b - a for a, b in zip(CALLS[token_c], CALLS[token_c][1:])]
    assert all(g >= 0.09 for g in gaps_c)  # the Celery oracle really waited its countdowns
