"""Real parts for the cockpit: Redis namespaces of our own, a recorder that flushes on demand."""

from __future__ import annotations

import pytest
import redis

from saqmigrate.runtime.flags import FlagStore


@pytest.fixture
def ns(redis_url, unique_name):
    """A flag-store namespace (and outcome keys) of this test on the shared Redis, deleted after."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = FlagStore(redis_url, unique_name)

    class NS:
        pass

    n = NS()
    n.url, n.name, n.redis, n.store = redis_url, unique_name, client, store
    yield n
    store.delete_all()
    for pattern in (f"{unique_name}*", f"saq:{unique_name}*", f"*{unique_name}*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()
