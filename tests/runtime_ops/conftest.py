"""Fixtures for the runtime-ops tests: real Redis queues and a namespaced DLQ store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis as sync_redis
from saq import Queue, Worker

from saqmigrate.runtime import serializer
from saqmigrate.runtime.dlq import DeadLetterStore


def dlq_prefix(unique: str) -> str:
    return f"saqmigrate:{{{unique}}}:v1:dlq"


def make_queue(url: str, name: str, **kw: Any) -> Queue:
    return Queue.from_url(url, name=name, dump=serializer.dump, load=serializer.load, **kw)


def make_store(url: str, unique: str) -> DeadLetterStore:
    return DeadLetterStore.from_url(url, dlq_prefix(unique))


async def run_burst(queue: Queue, functions: list, *, dequeue_timeout: float = 2.5, **settings: Any) -> Worker:
    """Run a real SAQ burst worker until no job arrives for ``dequeue_timeout`` seconds."""
    worker = Worker(queue, functions, burst=True, dequeue_timeout=dequeue_timeout, **settings)
    await asyncio.wait_for(worker.start(), timeout=60)
    return worker


@pytest.fixture
def cleanup(redis_url: str, unique_name: str) -> Iterator[None]:
    """Delete every key of this test's queues and DLQ store afterwards."""
    yield
    r = sync_redis.Redis.from_url(redis_url)
    try:
        # one pass over the keyspace: queue keys saq:<q>:*, jobs saq:job:<q>:*, aborts
        # saq:abort:saq:job:<q>:*, and the DLQ store saqmigrate:{<unique>}:*
        keys = list(r.scan_iter(match=f"*{unique_name}*", count=5000))
        if keys:
            r.delete(*keys)
    finally:
        r.close()
