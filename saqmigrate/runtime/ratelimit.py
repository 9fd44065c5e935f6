"""Celery's task ``rate_limit`` on a SAQ worker: a token bucket per worker process and task name.

Celery (celery/worker/consumer/consumer.py: ``bucket_for_task``) gives every rate-limited task
type a ``kombu.utils.limits.TokenBucket(rate, capacity=1)`` in each worker process; a request over
the rate is held back by the consumer's timer until a token is free, then executed (delayed, never
dropped), in arrival order. Here the same bucket is kept as a reservation (GCRA with a burst of
one, which is exactly a capacity-1 token bucket served first come, first served): each job takes
the next free instant and ``await``s until then, so the event loop keeps running other jobs.

Rates are parsed as ``celery.utils.time.rate`` does: ``"10/s"``, ``"100/m"``, ``"1000/h"``, a plain
number (or numeric string) per second; ``None``, ``0`` or ``""`` mean no limit.

Standard library only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["parse_rate", "TokenBucket", "acquire", "reset", "bucket"]

_MODIFIERS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(value: Any) -> float:
    """Tasks per second for a Celery ``rate_limit`` value (0.0 = no limit)."""
    if value is None or value == "" or value is False:
        return 0.0
    if isinstance(value, bool):
        raise ValueError(f"rate_limit={value!r}: give a rate such as '10/s', '100/m', '1000/h' or a number per second")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"rate_limit={value!r} is negative")
        return float(value)
    if isinstance(value, str):
        ops, _, modifier = value.strip().partition("/")
        try:
            per = _MODIFIERS[modifier.strip() or "s"]
            n = float(ops)
        except (KeyError, ValueError):
            raise ValueError(
                f"rate_limit={value!r}: give a rate such as '10/s', '100/m', '1000/h' or a number per second"
            ) from None
        if n < 0:
            raise ValueError(f"rate_limit={value!r} is negative")
        return n / per
    raise ValueError(f"rate_limit={value!r}: give a rate such as '10/s', '100/m', '1000/h' or a number per second")


class TokenBucket:
    """A capacity-1 token bucket as a reservation: ``reserve()`` returns how long to wait.

    Thread-safe (the critical section is a few float operations); not tied to an event loop,
    so one bucket serves every loop of the process, as Celery's serves every pool child's feed.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("TokenBucket needs a positive rate")
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = float("-inf")  # the instant the next token is available
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next token; seconds until it may be used (0.0 when one is free now)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
            return start - now


_BUCKETS: dict[tuple[str, float], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def bucket(name: str, rate_limit: Any) -> TokenBucket | None:
    """This process's bucket for task ``name`` at ``rate_limit`` (None: not limited)."""
    rate = parse_rate(rate_limit)
    if not rate:
        return None
    key = (name, rate)
    b = _BUCKETS.get(key)
    if b is None:
        with _BUCKETS_LOCK:
            b = _BUCKETS.get(key)
            if b is None:
                b = _BUCKETS[key] = TokenBucket(rate)
    return b


async def acquire(name: str, rate_limit: Any) -> float:
    """Wait (without blocking the loop) until task ``name`` may run; returns the seconds waited."""
    b = bucket(name, rate_limit)
    if b is None:
        return 0.0
    delay = b.reserve()
    if delay <= 0:
        return 0.0
    # A job cancelled while it waits leaves its slot unused (the rate is never exceeded).
    await asyncio.sleep(delay)
    return delay


def reset() -> None:
    """Forget every bucket (tests; Celery's ``reset_rate_limits``)."""
    with _BUCKETS_LOCK:
        _BUCKETS.clear()
