"""Celery's result API for flipped dispatches while they wait or run: update_state's custom
states, PENDING/STARTED by track_started, and revoke (SaqResult, app.AsyncResult, celery.result.AsyncResult,
app.control.revoke).

Real SAQ worker (thread) on the real Redis; the Celery app has no worker and no result backend.
"""

from __future__ import annotations

import asyncio
import threading
import time
import types

import pytest
from celery.exceptions import TaskRevokedError
from celery.result import AsyncResult

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.celery_integration import install_routed_task_class, install_send_task_hook
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, SaqResult, SaqTaskError, set_router
from saqmigrate.runtime.task import run_sync, saq_task, task_self

from .conftest import SaqWorkerThread, make_celery_app, wait_for

PROG, IDLE, TRACKED, SLOW, QUICK = (f"tests.results_running.{n}" for n in ("prog", "idle", "tracked", "slow", "quick"))

GATE = threading.Event()  # the sync bodies wait on it
RAN: list[tuple[str, int]] = []  # (task, x) of every body that started
CANCELLED: list[int] = []


def _prog_body(self, x):
    RAN.append((PROG, x))
    self.update_state(state="PROGRESS", meta={"current": 2, "total": 4})
    assert GATE.wait(20)
    return x


def _idle_body(x):
    RAN.append((IDLE, x))
    assert GATE.wait(20)
    return x


@saq_task(PROG)
async def saq_prog(ctx, *, x):
    return await run_sync(_prog_body, task_self(ctx), x)


@saq_task(IDLE)
async def saq_idle(ctx, *, x):
    return await run_sync(_idle_body, x)


@saq_task(TRACKED)
async def saq_tracked(ctx, *, x):
    return await run_sync(_idle_body, x)


@saq_task(SLOW)
async def saq_slow(ctx, *, x):
    RAN.append((SLOW, x))
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        CANCELLED.append(x)
        raise
    return x


@saq_task(QUICK)
async def saq_quick(ctx, *, x):
    RAN.append((QUICK, x))
    return x


FUNCTIONS = [
    saq_prog.registration,
    saq_idle.registration,
    saq_tracked.registration,
    saq_slow.registration,
    saq_quick.registration,
]


@pytest.fixture
def wired(rt):
    GATE.clear()
    RAN.clear()
    CANCELLED.clear()
    app = make_celery_app(rt.url, rt.ns)
    install_routed_task_class(app)
    install_send_task_hook(app)

    @app.task(name=PROG, bind=True, shared=False)
    def prog(self, x):
        return x

    @app.task(name=IDLE, shared=False)
    def idle(x):
        return x

    @app.task(name=TRACKED, track_started=True, shared=False)
    def tracked(x):
        return x

    @app.task(name=SLOW, shared=False)
    def slow(x):
        return x

    @app.task(name=QUICK, shared=False)
    def quick(x):
        return x

    job = {"timeout": 60, "retries": 1, "ttl": 600}
    registry = Registry.from_dicts(
        {
            n: {"saq_function": n, "queue": rt.ns, "params": ["x"], "job": job}
            for n in (PROG, IDLE, TRACKED, SLOW, QUICK)
        }
    )
    rt.store.set_rule("tests.results_running.*", "saq", reason="test")
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.5)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)
    assert wait_for(lambda: router.decide(QUICK, (1,)).backend == "saq", 5)
    set_router(router)
    worker = None

    def start_worker():
        nonlocal worker
        worker = SaqWorkerThread(rt.url, rt.ns, FUNCTIONS).start()
        return worker

    try:
        yield types.SimpleNamespace(
            app=app,
            prog=prog,
            idle=idle,
            tracked=tracked,
            slow=slow,
            quick=quick,
            router=router,
            start_worker=start_worker,
        )
    finally:
        GATE.set()
        if worker is not None:
            worker.stop()
        set_router(None)
        router.close()


def _saq_status(res: SaqResult) -> str:
    job = res._fetch()
    return getattr(job.status, "value", job.status) if job is not None else "-"


def test_update_state_is_seen_while_the_job_runs(rt, wired):
    res = wired.prog.delay(5)
    assert isinstance(res, SaqResult)
    wired.start_worker()
    by_id, direct = wired.app.AsyncResult(res.id), AsyncResult(res.id)
    assert wait_for(lambda: res.state == "PROGRESS", 10), res.state
    for r in (res, by_id, direct):
        assert r.state == r.status == "PROGRESS"
        assert r.info == r.result == {"current": 2, "total": 4}
        assert not r.ready() and not r.successful() and not r.failed()
        # the usual progress-endpoint idiom
        assert (r.info.get("current") if r.state not in ("PENDING", "FAILURE") else None) == 2
    GATE.set()
    assert res.get(timeout=10, interval=0.05) == 5
    assert res.state == by_id.state == "SUCCESS" and by_id.result == 5 and by_id.info == 5


def test_running_without_custom_state_follows_track_started(rt, wired):
    plain, tracked = wired.idle.delay(1), wired.tracked.delay(2)
    wired.start_worker()
    assert wait_for(lambda: _saq_status(plain) == "active" and _saq_status(tracked) == "active", 10)

    # Celery's default (task_track_started off): a running task reads PENDING, info None
    for r in (plain, wired.app.AsyncResult(plain.id), AsyncResult(plain.id)):
        assert r.state == "PENDING" and r.info is None and r.result is None and not r.ready()
    # track_started=True on the task: STARTED with Celery's {'pid', 'hostname'} info dict
    for r in (tracked, wired.app.AsyncResult(tracked.id), AsyncResult(tracked.id)):
        assert r.state == "STARTED" and not r.ready()
        assert set(r.info) == {"pid", "hostname"} and r.info["hostname"]
        assert (r.info.get("current") if r.state not in ("PENDING", "FAILURE") else None) is None
    # the app's task_track_started applies to a task that does not set its own
    wired.app.conf.task_track_started = True
    wired.idle.track_started = None
    assert (
        SaqResult(
            plain.id, None, rt.ns, None, wired.router.bridge, rt.url, wired.router.queue_kwargs, celery_app=wired.app
        ).state
        == "STARTED"
    )
    explicit = SaqResult(plain.id, None, rt.ns, None, wired.router.bridge, rt.url, wired.router.queue_kwargs)
    explicit.track_started = False
    assert explicit.state == "PENDING"
    GATE.set()
    assert plain.get(timeout=10, interval=0.05) == 1 and tracked.get(timeout=10, interval=0.05) == 2


def _assert_revoked(r):
    assert r.state == r.status == "REVOKED"
    assert r.ready() and not r.successful() and not r.failed()
    assert isinstance(r.result, TaskRevokedError) and isinstance(r.info, SaqTaskError)
    assert r.traceback is None and r.date_done is not None
    with pytest.raises(TaskRevokedError):
        r.get(timeout=1, interval=0.05)
    assert isinstance(r.get(timeout=1, propagate=False), TaskRevokedError)


def test_revoked_waiting_jobs_never_run(rt, wired):
    a = wired.quick.delay(1)
    b = wired.quick.delay(2)
    c = wired.quick.delay(3)
    d = wired.quick.delay(4)
    e = wired.quick.apply_async((5,), countdown=1)  # deferred: in SAQ's schedule, not yet queued
    f = wired.quick.delay(6)
    keep = wired.quick.delay(7)
    keep_later = wired.quick.apply_async((8,), countdown=1)
    assert all(isinstance(r, SaqResult) for r in (a, b, c, d, e, f, keep, keep_later))

    assert a.revoke() is None
    wired.app.AsyncResult(b.id).revoke()
    AsyncResult(c.id).revoke()
    assert wired.app.control.revoke(d.id) is None
    wired.app.control.revoke([e.id, f.id])
    for r in (a, b, c, d, e, f, wired.app.AsyncResult(a.id), AsyncResult(e.id)):
        _assert_revoked(r)
    assert "revoked" in str(a.result)

    wired.start_worker()
    assert keep.get(timeout=10, interval=0.05) == 7 and keep_later.get(timeout=10, interval=0.05) == 8
    time.sleep(1.5)  # a schedule tick and a few dequeues after the deferred ones were due
    assert sorted(x for _, x in RAN) == [7, 8]
    for r in (a, b, c, d, e, f):
        assert r.state == "REVOKED"
    # revoking a finished job changes nothing (Celery: no effect on a stored result)
    keep.revoke()
    assert keep.state == "SUCCESS" and keep.get(timeout=1) == 7
    # an id neither system knows is Celery's business: broadcast to its workers, the SAQ ids left out
    sent = []
    control = wired.app.control
    real_broadcast = control.broadcast
    control.broadcast = lambda command, arguments=None, **kw: sent.append((command, arguments["task_id"]))
    try:
        assert control.revoke("not-a-saq-job") is None
        assert control.revoke(["not-a-saq-job-2", keep.id]) is None
    finally:
        control.broadcast = real_broadcast
    assert sent == [("revoke", "not-a-saq-job"), ("revoke", ["not-a-saq-job-2"])], sent


def test_revoke_of_a_running_job_stops_it_only_with_terminate(rt, wired):
    runs_on, stops = wired.slow.delay(1), wired.slow.delay(2)
    body = wired.idle.delay(3)
    wired.start_worker()
    assert wait_for(lambda: all(_saq_status(r) == "active" for r in (runs_on, stops, body)), 10)

    runs_on.revoke()  # Celery: terminate=False never touches a task that already started
    assert _saq_status(runs_on) == "active" and runs_on.state == "PENDING"

    wired.app.AsyncResult(stops.id).revoke(terminate=True, wait=True, timeout=10)
    assert wait_for(lambda: stops.state == "REVOKED", 10), stops.state
    _assert_revoked(stops)
    assert "terminated" in str(stops.result)
    assert wait_for(lambda: CANCELLED == [2], 5), CANCELLED

    wired.app.control.terminate(body.id)  # Control.terminate is revoke(terminate=True)
    assert wait_for(lambda: body.state == "REVOKED", 10), body.state
    time.sleep(1.5)  # the abort checker cancelled runs_on? it must not have
    assert CANCELLED == [2] and _saq_status(runs_on) == "active"
    GATE.set()  # the sync body's thread ran on (a thread cannot be killed); its job stays REVOKED
    time.sleep(0.3)
    assert body.state == "REVOKED"
