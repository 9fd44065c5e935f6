"""Outcomes recorded by the routing wiring on real Celery and SAQ workers, read back from Redis."""

from __future__ import annotations

import time

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, set_router

from .harness import SaqWorker, celery_app, recorder

pytestmark = pytest.mark.slow

OK, BAD, RETRIED = "ck.ok", "ck.bad", "ck.retried"
DOWN = "ck.down"


def _wait(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def test_both_backends_record_runs_failures_retries_durations_and_waits(ns):
    from celery.contrib.testing.worker import start_worker

    rec = recorder(ns.url, ns.name)
    app = celery_app(ns.url, ns.name)

    @app.task(name=OK)
    def ok(n):
        time.sleep(0.02)

    @app.task(name=BAD)
    def bad(n):
        raise ValueError("celery boom")

    @app.task(name=RETRIED, bind=True, max_retries=1)
    def retried(self, n):
        if self.request.retries == 0:
            raise self.retry(countdown=0)

    async def saq_ok(ctx, *, n):
        import asyncio

        await asyncio.sleep(0.02)

    async def saq_bad(ctx, *, n):
        raise ValueError("saq boom")

    async def saq_retried(ctx, *, n):
        if ctx["job"].attempts == 1:
            raise RuntimeError("first attempt fails")

    job = {"timeout": 10, "retries": 1, "ttl": 600}
    registry = Registry.from_dicts(
        {
            OK: {"saq_function": OK, "queue": ns.name, "params": ["n"], "job": job},
            BAD: {"saq_function": BAD, "queue": ns.name, "params": ["n"], "job": job},
            RETRIED: {"saq_function": RETRIED, "queue": ns.name, "params": ["n"], "job": {**job, "retries": 2}},
        }
    )
    flags = F.FlagClient(ns.url, namespace=ns.name, poll_interval=0.2)
    router = Router(registry, flags, celery_app=app, saq_url=ns.url)
    set_router(router)
    saq = SaqWorker(ns.url, ns.name, [(OK, saq_ok), (BAD, saq_bad), (RETRIED, saq_retried)], rec).start()
    store = O.OutcomeStore(ns.url, ns.name, bucket_seconds=1)
    t0 = time.time() - 1
    try:
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"):
            for i in range(6):
                ok.delay(i)
            for i in range(2):
                bad.delay(i)
            retried.delay(0)
            for name in (OK, BAD, RETRIED):
                ns.store.set_rule(name, "saq", reason="test: all to SAQ")
            assert _wait(lambda: router.snapshot().version >= 3)
            for i in range(4):
                ok.delay(i)
            bad.delay(9)
            retried.delay(1)

            def counted():
                w = store.window([OK, BAD, RETRIED], t0)
                return (
                    w[(OK, "celery")].runs,
                    w[(OK, "saq")].runs,
                    w[(BAD, "celery")].runs,
                    w[(BAD, "saq")].runs,
                    w[(RETRIED, "celery")].runs,
                    w[(RETRIED, "saq")].runs,
                ) == (6, 4, 2, 1, 1, 1)

            assert _wait(counted), store.window([OK, BAD, RETRIED], t0)
    finally:
        saq.stop()
        set_router(None)
        flags.close()
        rec.close()
        O.set_default_recorder(None)
    w = store.window([OK, BAD, RETRIED], t0)
    c_ok, s_ok = w[(OK, "celery")], w[(OK, "saq")]
    assert (c_ok.successes, c_ok.failures, s_ok.successes, s_ok.failures) == (6, 0, 4, 0)
    assert 0.015 < c_ok.duration_q(0.5) < 0.2 and 0.015 < s_ok.duration_q(0.5) < 0.2
    assert c_ok.wait and s_ok.wait  # queue wait measured on both sides (publish time header / job.queued)
    assert c_ok.wait_q(0.95) < 10 and s_ok.wait_q(0.95) < 10
    assert w[(BAD, "celery")].failure_rate == 1.0 and w[(BAD, "saq")].failure_rate == 1.0
    assert w[(BAD, "saq")].dead == 1 and w[(BAD, "celery")].dead == 0
    assert w[(RETRIED, "celery")].retries == 1 and w[(RETRIED, "celery")].successes == 1
    assert w[(RETRIED, "saq")].retries == 1 and w[(RETRIED, "saq")].successes == 1
    assert store.tasks()[OK] == {"celery", "saq"}
    assert rec.errors == 0


def test_a_task_runs_normally_when_the_outcome_redis_is_down(ns):
    """Recording errors are counted and swallowed: the task result is untouched."""
    from celery.contrib.testing.worker import start_worker

    rec = recorder("redis://127.0.0.1:1/0", ns.name, socket_timeout=0.1)
    app = celery_app(ns.url, ns.name)
    done = []

    @app.task(name=DOWN)
    def ok(n):
        done.append(n)

    async def saq_ok(ctx, *, n):
        done.append(("saq", n))

    registry = Registry.from_dicts(
        {
            DOWN: {
                "saq_function": DOWN,
                "queue": ns.name,
                "params": ["n"],
                "job": {"timeout": 10, "retries": 1, "ttl": 600},
            }
        }
    )
    flags = F.FlagClient(ns.url, namespace=ns.name, poll_interval=0.2)
    router = Router(registry, flags, celery_app=app, saq_url=ns.url)
    set_router(router)
    saq = SaqWorker(ns.url, ns.name, [(DOWN, saq_ok)], rec).start()
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"):
            ok.delay(1)
            assert _wait(lambda: 1 in done)
            ns.store.set_rule(DOWN, "saq", reason="test")
            assert _wait(lambda: router.snapshot().version >= 1)
            ok.delay(2)
            assert _wait(lambda: ("saq", 2) in done)
            assert _wait(lambda: rec.errors >= 1, timeout=5)
    finally:
        saq.stop()
        set_router(None)
        flags.close()
        rec.close()
        O.set_default_recorder(None)
    assert rec.errors >= 1 and done == [1, ("saq", 2)]
