"""Self-rescheduling jobs for intervals no cron can express, on a real SAQ worker and Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.ownership import Ownership, set_ownership
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.worker import IntervalJob, make_queue


def test_slots_are_epoch_aligned_and_shared_by_all_workers() -> None:
    async def twin(ctx, **kw):
        return None

    job = IntervalJob("every-7min", twin, 420)
    assert job.next_slot(1000) == 1260 and job.next_slot(1259.9) == 1260 and job.next_slot(1260) == 1680
    assert job.job(1260).key == "beat:every-7min@1260" and job.function.__qualname__ == "beat:every-7min"
    with pytest.raises(ValueError):
        IntervalJob("bad", twin, 0)


@pytest.mark.slow
def test_interval_job_runs_every_interval_and_only_when_saq_owns_it(redis_url: str, unique_name: str) -> None:
    from saq import Worker

    ns, entry, task = unique_name, "tick", "proj.tasks.tick"
    store = F.FlagStore(redis_url, ns)
    store.set_rule(task, "saq", reason="interval test")
    flags = F.FlagClient(redis_url, namespace=ns)
    flags.refresh_now()
    registry = Registry.from_dicts(
        {task: {"saq_function": task, "queue": unique_name}},
        {entry: {"task": task, "cron": None, "cron_function": f"beat:{entry}"}},
    )
    set_ownership(Ownership(registry, flags))
    runs: list[float] = []

    async def twin(ctx, **kwargs):
        runs.append(ctx["job"].scheduled)
        return kwargs

    job = IntervalJob(entry, twin, 2, {"x": 1}, timeout=30, retries=1)

    async def scenario() -> None:
        q = make_queue(unique_name, redis_url)
        w = Worker(q, functions=[(job.name, job.function)], startup=[job.startup()], concurrency=2)
        w2 = Worker(q, functions=[(job.name, job.function)], startup=[job.startup()], concurrency=2)  # a 2nd worker
        tasks = [asyncio.create_task(w.start()), asyncio.create_task(w2.start())]
        await asyncio.sleep(7.5)
        store.set_rule(task, "celery", reason="back to beat")
        flags.refresh_now()
        before = len(runs)
        await asyncio.sleep(4.5)
        after = len(runs)
        await w.stop()
        await w2.stop()
        for t in tasks:
            t.cancel()
        await q.disconnect()
        assert after == before, "kept running after the entry moved back to Celery beat"

    try:
        asyncio.run(scenario())
        assert len(runs) >= 3, runs  # ~7.5 s / 2 s
        assert len(runs) == len(set(runs)), "a slot ran twice (two workers bootstrapped it)"
        gaps = [b - a for a, b in zip(runs, runs[1:])]
        assert all(g == 2 for g in gaps), gaps  # exactly the interval: slots, not run times
    finally:
        set_ownership(None)
        flags.close()
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*{unique_name}*"):
            client.delete(key)
