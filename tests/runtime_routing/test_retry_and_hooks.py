"""Celery retries stay on Celery after a flip; send_task routes by name; kill switch."""

from __future__ import annotations

import time

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.celery_integration import install_send_task_hook
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, set_router

from .conftest import SaqWorkerThread, make_celery_app, wait_for

pytestmark = pytest.mark.slow

TASK = "tests.routing.flaky"


def test_celery_task_retrying_after_a_flip_to_saq_retries_on_celery(rt):
    from celery.contrib.testing.worker import start_worker
    from kombu.asynchronous import set_event_loop

    # a fresh kombu event loop, as in a worker process of its own: before kombu 5.6 (Celery 5.4/5.5) a
    # closed worker's hub stays the process's loop, the next worker reuses it and its timer never runs
    # the new worker's countdowns/ETAs (retries, chord_unlock) (docs/operations.md, Supported versions)
    set_event_loop(None)

    exec_key = f"{rt.ns}:exec"
    app = make_celery_app(rt.url, rt.ns)
    registry = Registry.from_dicts(
        {TASK: {"saq_function": TASK, "queue": rt.ns, "params": ["did"], "job": {"timeout": 0}}}
    )
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.5)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)

    @app.task(name=TASK, bind=True, max_retries=3)
    def flaky(self, did):
        rt.redis.rpush(exec_key, f"celery:{did}:{self.request.retries}")
        if self.request.retries == 0:
            # the operator flips the task to SAQ while this first attempt runs ...
            v = rt.store.set_rule(TASK, "saq", reason="move during retry")
            assert wait_for(lambda: router.snapshot().version == v, 3)
            assert router.decide(TASK, (did,)).backend == "saq"  # new dispatches now go to SAQ
            raise self.retry(countdown=0)  # ... and the retry must stay on Celery

    async def saq_flaky(ctx, *, did):
        rt.redis.rpush(exec_key, f"saq:{did}")

    set_router(router)
    saq_worker = SaqWorkerThread(rt.url, rt.ns, [(TASK, saq_flaky)]).start()
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"):
            res = flaky.delay("d1")
            assert res.saqmigrate_route.backend == "celery"
            assert wait_for(lambda: rt.redis.llen(exec_key) >= 2, 20)
            after = router.dispatch(TASK, "d2")  # a fresh dispatch after the flip goes to SAQ
            assert after.saqmigrate_route.backend == "saq"
            assert wait_for(lambda: rt.redis.llen(exec_key) >= 3, 20)
            time.sleep(0.5)
    finally:
        saq_worker.stop()
        set_router(None)
        flags.close()
    runs = rt.redis.lrange(exec_key, 0, -1)
    assert sorted(runs) == ["celery:d1:0", "celery:d1:1", "saq:d2"], runs


def test_send_task_hook_routes_by_name_and_kill_switch_sends_all_to_celery(rt):
    app = make_celery_app(rt.url, rt.ns)
    install_send_task_hook(app)
    install_send_task_hook(app)  # idempotent
    registry = Registry.from_dicts({"t.byname": {"saq_function": "t.byname", "queue": rt.ns, "params": ["x"]}})
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.5)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)
    set_router(router)
    try:
        v = rt.store.set_rule("t.*", "saq", reason="all t")
        assert wait_for(lambda: router.snapshot().version == v, 3)
        r1 = app.send_task("t.byname", (1,))
        assert r1.saqmigrate_route.backend == "saq" and r1.job.kwargs == {"x": 1}
        r2 = app.send_task("t.byname", (2,), expires=30)  # SAQ has no expires: stays on Celery
        assert (r2.saqmigrate_route.backend, r2.saqmigrate_route.reason) == ("celery", F.R_UNSUPPORTED)
        assert rt.redis.llen(rt.ns) == 1  # the Celery message is on the broker queue
        v = rt.store.set_mode("force-celery", reason="kill")
        assert wait_for(lambda: router.snapshot().version == v, 3)
        r3 = app.send_task("t.byname", (3,))
        assert (r3.saqmigrate_route.backend, r3.saqmigrate_route.reason) == ("celery", F.R_KILL)
        assert rt.redis.llen(rt.ns) == 2
        assert rt.redis.zcard(f"saq:{rt.ns}:incomplete") == 1
    finally:
        set_router(None)
        flags.close()
