"""What the runtime_task tests that measure the SAQ worker's event loop share: a real ``Worker`` run on
the test's loop (:func:`running_worker`), one job run to its end (:func:`run_job`), and a heartbeat that
records how late the loop runs a 5 ms sleep (:class:`LoopGap`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from saq.worker import Worker

TICK = 0.005


class LoopGap:
    """``async with LoopGap() as watch``: ``watch.gap`` is the longest delay beyond the tick while inside."""

    def __init__(self, tick: float = TICK) -> None:
        self.tick = tick
        self.gap = 0.0
        self._on = False
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while self._on:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            self.gap = max(self.gap, now - last - self.tick)
            last = now

    async def __aenter__(self) -> LoopGap:
        self._on = True
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._on = False
        if self._task is not None:
            await self._task


@asynccontextmanager
async def running_worker(settings: dict[str, Any]) -> AsyncIterator[Any]:
    """A real SAQ worker from ``settings`` (worker_settings' output) on this loop; yields its queue and
    stops the worker (its shutdown hooks run) on the way out."""
    queue = settings["queue"]
    await queue.connect()
    worker = Worker(**settings)
    run = asyncio.create_task(worker.start())
    try:
        yield queue
    finally:
        await worker.stop()
        run.cancel()
        try:
            await run
        except (asyncio.CancelledError, Exception):
            pass
        await queue.disconnect()


async def run_job(queue: Any, function: str, *, timeout: int = 10, **kwargs: Any) -> Any:
    """Enqueue one job and wait for its end; returns the refreshed job."""
    job = await queue.enqueue(function, timeout=timeout, **kwargs)
    assert job is not None
    await job.refresh(until_complete=timeout)
    return job
