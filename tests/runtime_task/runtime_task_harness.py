"""Run real SAQ workers against the real Redis for the runtime_task tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Iterable

from saq import Queue, Worker
from saq.job import Job, Status

TERMINAL = {Status.COMPLETE, Status.FAILED, Status.ABORTED}
# "schedule" and "sweep" are also Redis SETEX lock lengths in saq 0.26: whole seconds >= 1.
FAST_TIMERS = {"schedule": 1, "worker_info": 10, "sweep": 60, "abort": 0.2}


@contextlib.asynccontextmanager
async def running_worker(redis_url: str, queue_name: str, functions: Iterable, **worker_kwargs: Any):
    """A real SAQ Worker consuming ``queue_name`` in this event loop; cleaned up after."""
    queue = Queue.from_url(redis_url, name=queue_name)
    await queue.connect()
    timers = {**FAST_TIMERS, **worker_kwargs.pop("timers", {})}
    worker = Worker(queue, functions=list(functions), timers=timers, **worker_kwargs)
    task = asyncio.create_task(worker.start())
    try:
        yield queue, worker
    finally:
        await worker.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        keys = [k async for k in queue.redis.scan_iter(match=f"*{queue_name}*")]
        if keys:
            await queue.redis.delete(*keys)
        await queue.disconnect()


async def wait_done(job: Job, timeout: float = 20) -> Job | None:
    """Wait for a terminal status; None when the record is gone (ttl=-1)."""
    queue = job.get_queue()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        fresh = await queue.job(job.key)
        if fresh is None:
            return None
        if fresh.status in TERMINAL:
            return fresh
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job.key} still {fresh.status} after {timeout}s (attempts={fresh.attempts})")
        await asyncio.sleep(0.05)


def error_type(job: Job) -> str | None:
    """The exception class name on the last line of a failed job's traceback."""
    if not job.error:
        return None
    last = job.error.strip().splitlines()[-1]
    return last.split(":", 1)[0].rsplit(".", 1)[-1]
