"""Contract for the loop-free sync enqueue (saqmigrate/runtime/direct.py) against the installed SAQ:
the stored job equals the one `await queue.enqueue` stores, dedup by key behaves the same, and a
real SAQ worker runs it."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from saq import Job, Worker

from saqmigrate.runtime import direct, serializer
from saqmigrate.runtime.bridge import make_queue


def test_supported_version_is_the_installed_one() -> None:
    assert direct.supported(), "saq changed version: re-run this contract and widen direct.SUPPORTED"


@pytest.mark.slow
def test_direct_enqueue_matches_saq_and_runs_on_a_real_worker(redis_url: str, unique_name: str) -> None:
    client = redis.Redis.from_url(redis_url)
    enq = direct.DirectEnqueuer(redis_url, dump=serializer.dump)
    ran: list[dict] = []

    async def echo(ctx, **kwargs):
        ran.append(kwargs)
        return kwargs

    async def scenario() -> None:
        q = make_queue(redis_url, unique_name, dump=serializer.dump, load=serializer.load)
        a = Job(function="echo", kwargs={"n": 1}, key="k-async", timeout=0, retries=2, ttl=600)
        await q.enqueue(a)
        b = Job(function="echo", kwargs={"n": 1}, key="k-direct", timeout=0, retries=2, ttl=600)
        assert enq.enqueue(unique_name, b) is b
        assert enq.enqueue(unique_name, Job(function="echo", kwargs={"n": 2}, key="k-direct")) is None  # dedup
        raw_a = json.loads(client.get(f"saq:job:{unique_name}:k-async"))
        raw_b = json.loads(client.get(f"saq:job:{unique_name}:k-direct"))
        for raw in (raw_a, raw_b):
            raw.pop("key"), raw.pop("queued")
        assert raw_a == raw_b
        assert client.lrange(f"saq:{unique_name}:queued", 0, -1) == [
            f"saq:job:{unique_name}:k-async".encode(),
            f"saq:job:{unique_name}:k-direct".encode(),
        ]
        worker = Worker(q, functions=[("echo", echo)], burst=True, dequeue_timeout=1)
        await worker.start()
        job = await q.job("k-direct")
        assert job.status == "complete" and job.result == {"n": 1}
        await q.disconnect()

    try:
        asyncio.run(scenario())
        assert ran == [{"n": 1}, {"n": 1}]
    finally:
        for key in client.scan_iter(f"saq*{unique_name}*"):
            client.delete(key)
        enq.close()
