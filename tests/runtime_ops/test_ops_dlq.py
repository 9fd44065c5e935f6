"""Dead-letter queue on real parts: real Redis, real SAQ workers, real sweeps."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from saq import Job, Status

from saqmigrate.runtime.dlq import DeadLetterError, DeadLetterQueue, parse_since
from saqmigrate.runtime.hooks import merge_hooks

from .conftest import make_queue, make_store, run_burst

pytestmark = pytest.mark.usefixtures("cleanup")

# State shared between the test and the task functions it runs in the same process.
CALLS: dict[str, list] = {}
HEALED: set[str] = set()


async def flaky(ctx, *, token: str, when: datetime, amount: Decimal, ref: UUID):
    CALLS.setdefault(token, []).append((time.monotonic(), ctx["job"].attempts, when, amount, ref))
    if token not in HEALED:
        raise ValueError(f"boom {token}")
    return {"token": token, "amount": amount}


KW = dict(
    when=datetime(2025, 1, 31, 12, 0, tzinfo=timezone.utc),
    amount=Decimal("12.50"),
    ref=UUID("12345678-1234-5678-1234-567812345678"),
)


@pytest.mark.slow
def test_failing_task_lands_in_dlq_after_its_attempts_with_delays(redis_url, unique_name):
    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        dlq = DeadLetterQueue(store)
        try:
            job = await queue.enqueue(
                Job("flaky", kwargs={"token": unique_name, **KW}, retries=3, retry_delay=1.0, timeout=5, ttl=1)
            )
            settings = merge_hooks({}, dlq.hooks())
            await run_burst(queue, [("flaky", flaky)], dequeue_timeout=4, **settings)
            calls = CALLS[unique_name]
            assert [c[1] for c in calls] == [1, 2, 3]
            gaps = [b[0] - a[0] for a, b in zip(calls, calls[1:])]
            # retry_delay=1 s; SAQ moves due retries every 1 s scheduler tick
            assert all(0.9 <= g <= 4.0 for g in gaps), gaps
            # every attempt received the same typed kwargs
            assert all(c[2:] == (KW["when"], KW["amount"], KW["ref"]) for c in calls)

            entries = await store.list()
            assert len(entries) == 1
            e = entries[0]
            assert (e.function, e.queue, e.key, e.status, e.reason) == (
                "flaky",
                unique_name,
                job.key,
                "failed",
                "failed",
            )
            assert e.attempts == 3 and e.retries == 3
            assert e.kwargs == {"token": unique_name, **KW}
            assert type(e.kwargs["amount"]) is Decimal and type(e.kwargs["ref"]) is UUID
            assert "Traceback" in e.error and f"ValueError: boom {unique_name}" in e.error
            assert e.exception == f"ValueError: boom {unique_name}"
            assert e.started and e.completed >= e.started and e.queued and e.failed_at > 0
            assert (e.retry_delay, e.timeout) == (1.0, 5)
            # durable: SAQ's copy has ttl=1 and expires, the dead letter stays (no TTL)
            assert await store.redis.ttl(store.k_entries) == -1
            await asyncio.sleep(1.5)
            assert await queue.job(job.key) is None
            assert (await store.get(e.id)).key == job.key
            assert await store.count(unique_name) == 1
        finally:
            await store.close()
            await queue.disconnect()

    asyncio.run(main())


@pytest.mark.slow
def test_requeue_runs_it_again_under_a_new_key(redis_url, unique_name):
    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        dlq = DeadLetterQueue(store)
        try:
            old = await queue.enqueue(Job("flaky", kwargs={"token": unique_name, **KW}, retries=1))
            await run_burst(queue, [("flaky", flaky)], dequeue_timeout=0.5, **merge_hooks({}, dlq.hooks()))
            [entry] = await store.list(task="fla*")
            HEALED.add(unique_name)  # the bug is fixed, the task now succeeds
            result = await store.requeue(entry.id, queue)
            assert result.enqueued and result.new_key != old.key
            assert await store.count() == 0 and await store.marker(entry.id) is None
            await run_burst(queue, [("flaky", flaky)], dequeue_timeout=0.5, **merge_hooks({}, dlq.hooks()))
            new = await queue.job(result.new_key)
            assert new.status == Status.COMPLETE
            assert new.result == {"token": unique_name, "amount": Decimal("12.50")}
            assert new.kwargs == {"token": unique_name, **KW}
            assert new.meta["saqmigrate_dlq"]["requeued_from"] == entry.id
            assert len(CALLS[unique_name]) == 2
            assert await store.count() == 0  # it did not fail again
            # the audit stream records the requeue
            log = await store.redis.xrange(store.k_log)
            assert log[-1][1][b"action"] == b"requeue" and log[-1][1][b"new_key"] == result.new_key.encode()
        finally:
            await store.close()
            await queue.disconnect()

    asyncio.run(main())


async def _dead_entry(queue, store, unique_name):
    """Put one real dead letter in the store by running a failing job."""
    dlq = DeadLetterQueue(store)
    await queue.enqueue(Job("flaky", kwargs={"token": unique_name, **KW}, retries=1))
    await run_burst(queue, [("flaky", flaky)], dequeue_timeout=0.3, **merge_hooks({}, dlq.hooks()))
    [entry] = await store.list()
    return entry


async def _jobs_for(queue, token):
    return [j async for j in queue.iter_jobs() if (j.kwargs or {}).get("token") == token]


@pytest.mark.slow
def test_requeue_interrupted_after_mark_or_after_enqueue_loses_nothing_and_never_doubles(redis_url, unique_name):
    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        try:
            entry = await _dead_entry(queue, store, unique_name)
            before = len(await _jobs_for(queue, unique_name))  # the failed original (ttl 600)

            # crash 1: after the mark, before the enqueue
            marker = await store.mark_requeue(entry.id)
            assert (await store.get(entry.id)) is not None
            assert await store.mark_requeue(entry.id) == marker  # a retry reuses the new key

            # crash 2 (on the retry): after the enqueue, before the delete
            assert await store.enqueue_marked(entry.id, marker, queue) is True
            assert (await store.get(entry.id)) is not None  # still there: nothing lost
            assert (await store.marker(entry.id))["state"] == "enqueued"

            # the operator runs requeue again: finishes, enqueues nothing more
            result = await store.requeue(entry.id, queue)
            assert result.new_key == marker["new_key"] and result.enqueued is False
            jobs = await _jobs_for(queue, unique_name)
            assert len(jobs) == before + 1
            assert await queue.count("queued") == 1
            assert await store.get(entry.id) is None and await store.marker(entry.id) is None
            with pytest.raises(DeadLetterError):
                await store.requeue(entry.id, queue)
        finally:
            await store.close()
            await queue.disconnect()

    asyncio.run(main())


@pytest.mark.slow
def test_requeue_with_queue_redis_down_keeps_the_entry_and_resumes(redis_url, unique_name):
    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        # a real connection failure at the enqueue step: the queue's Redis is unreachable
        dead_queue = make_queue("redis://127.0.0.1:1/0", unique_name)
        try:
            entry = await _dead_entry(queue, store, unique_name)
            with pytest.raises(Exception) as info:
                await store.requeue(entry.id, dead_queue)
            assert "connect" in str(info.value).lower()
            assert (await store.get(entry.id)) is not None
            marker = await store.marker(entry.id)
            assert marker["state"] == "marked"
            # also the marker-then-enqueue-raced case: a job with the new key already queued
            result = await store.requeue(entry.id, queue)
            assert result.new_key == marker["new_key"] and result.enqueued
            assert await queue.count("queued") == 1
            assert await store.count() == 0
        finally:
            await store.close()
            await queue.disconnect()
            try:
                await dead_queue.disconnect()
            except Exception:
                pass

    asyncio.run(main())


@pytest.mark.slow
def test_swept_job_is_captured_by_the_finish_interceptor(redis_url, unique_name):
    """A worker died mid-job: SAQ's sweep finishes it ABORTED without after_process."""

    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        dlq = DeadLetterQueue(store)
        try:
            await queue.enqueue(Job("flaky", kwargs={"token": unique_name, **KW}, retries=1, timeout=1))
            # the "dead worker": dequeued and marked active 5 s ago, then nothing
            job = await queue.dequeue(timeout=1)
            job.attempts = 1
            job.started = int(time.time() * 1000) - 5000
            await job.update(status=Status.ACTIVE)

            await dlq.startup({"worker": type("W", (), {"queue": queue})()})
            swept = await queue.sweep(lock=1, abort=0.1)
            assert job.id in swept
            assert (await queue.job(job.key)).status == Status.ABORTED
            [e] = await store.list()
            assert (e.status, e.reason, e.error, e.key, e.attempts) == ("aborted", "swept", "swept", job.key, 1)
            assert e.kwargs == {"token": unique_name, **KW}
            # a second capture of the same event (e.g. after_process) is a no-op
            assert await dlq.capture(await queue.job(job.key)) is not None
            assert await store.count() == 1
            # a deliberate abort is not a dead letter
            other = await queue.enqueue(Job("flaky", kwargs={"token": "x"}))
            await other.abort("user cancelled")
            assert await store.count() == 1
        finally:
            DeadLetterQueue.uninstall(queue)
            await store.close()
            await queue.disconnect()

    asyncio.run(main())


@pytest.mark.slow
def test_default_store_uses_the_worker_queue_redis_and_reconcile_catches_up(redis_url, unique_name):
    async def main():
        queue = make_queue(redis_url, unique_name)
        from .conftest import dlq_prefix

        try:
            # failed before the DLQ was installed: only SAQ's ttl copy exists
            await queue.enqueue(Job("flaky", kwargs={"token": unique_name, **KW}, retries=1))
            await run_burst(queue, [("flaky", flaky)], dequeue_timeout=0.3)
            dlq = DeadLetterQueue(prefix=dlq_prefix(unique_name))
            assert await dlq.reconcile(queue) == 1
            assert await dlq.reconcile(queue) == 1  # idempotent: same entry id
            store = dlq.store_for(queue)
            assert store.redis is queue.redis
            assert await store.count() == 1
        finally:
            await queue.disconnect()

    asyncio.run(main())


def test_parse_since():
    now = 1_000_000.0
    assert parse_since("30m", now=now) == now - 1800
    assert parse_since("2h", now=now) == now - 7200
    assert parse_since("7d", now=now) == now - 7 * 86400
    assert parse_since("2025-01-31T12:00") == datetime(2025, 1, 31, 12, tzinfo=timezone.utc).timestamp()
    assert parse_since("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=timezone.utc).timestamp()
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="30m"):
        parse_since("yesterday")


@pytest.mark.slow
def test_job_deleted_on_finish_ttl_minus_one_is_still_captured(redis_url, unique_name):
    """The finish interceptor alone (no DLQ after_process hook installed) captures the job
    when SAQ finishes it, before SAQ deletes the record (ttl=-1)."""

    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        dlq = DeadLetterQueue(store)
        captured_before_finish = []
        try:
            job = await queue.enqueue(Job("flaky", kwargs={"token": unique_name, **KW}, retries=1, ttl=-1))

            async def after(ctx):  # runs after SAQ finished (and deleted) the job
                captured_before_finish.append(await store.count())

            settings = merge_hooks({}, {"startup": dlq.startup, "shutdown": dlq.shutdown}, {"after_process": after})
            await run_burst(queue, [("flaky", flaky)], dequeue_timeout=0.3, **settings)
            assert await queue.job(job.key) is None  # SAQ kept nothing
            [e] = await store.list()
            assert e.key == job.key and e.kwargs["amount"] == Decimal("12.50")
            assert captured_before_finish == [1]
        finally:
            await store.close()
            await queue.disconnect()

    asyncio.run(main())
