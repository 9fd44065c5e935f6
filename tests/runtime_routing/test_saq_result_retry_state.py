"""A retried task's state through ``AsyncResult(id)``: the same sequence on SAQ as on Celery.

The body stores ``update_state(state="PROGRESS", meta=...)``, fails with ``self.retry(exc=...)``,
and on its retry stores PROGRESS again before it returns. Each phase is held by a gate and the
state is read at each one, on a real Celery worker (Redis result backend) and on a real SAQ worker
(the task flipped), with and without ``track_started``. Measured on Celery 5.7 (docs/routing.md):

    PROGRESS(attempt 0) -> RETRY(exc) while the retry waits -> RETRY(exc) while the retry runs
    (STARTED with track_started) -> PROGRESS(attempt 1) -> SUCCESS

SAQ used to keep reporting the first attempt's PROGRESS (its meta) until the retry stored a new one.
"""

from __future__ import annotations

import threading
import time
import types

import pytest
from celery.result import AsyncResult

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.celery_integration import install_routed_task_class, install_send_task_hook
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, SaqResult, SaqTaskError, saq_state, set_router
from saqmigrate.runtime.task import run_sync, saq_task, task_self

from .conftest import SaqWorkerThread, make_celery_app, wait_for

PLAIN, TRACKED = "tests.retry_state.plain", "tests.retry_state.tracked"
GATES = {k: threading.Event() for k in ("fail", "resume", "finish")}
STARTS: list[int] = []  # request.retries of every attempt that began


def _body(self, x):
    attempt = self.request.retries
    STARTS.append(attempt)
    if attempt == 0:
        self.update_state(state="PROGRESS", meta={"attempt": 0})
        assert GATES["fail"].wait(20)
        raise self.retry(exc=ValueError("first attempt fails"), countdown=1)
    assert GATES["resume"].wait(20)
    self.update_state(state="PROGRESS", meta={"attempt": attempt})
    assert GATES["finish"].wait(20)
    return x * 10


@saq_task(PLAIN)
async def saq_plain(ctx, *, x):
    return await run_sync(_body, task_self(ctx), x)


@saq_task(TRACKED)
async def saq_tracked(ctx, *, x):
    return await run_sync(_body, task_self(ctx), x)


def _seen(r) -> tuple:
    """(state, info) as a status endpoint shows them (one read of each, exceptions by repr)."""
    state, info = r.state, r.info
    if isinstance(info, BaseException):
        info = repr(info)
    elif state == "STARTED" and isinstance(info, dict):
        info = sorted(info)  # Celery's {"pid", "hostname"}: the values differ by backend
    return state, info


def _sequence(task, on_saq: bool) -> list[tuple]:
    for g in GATES.values():
        g.clear()
    STARTS.clear()
    res = task.delay(4)
    assert isinstance(res, SaqResult) == on_saq
    r = AsyncResult(res.id)  # what a status endpoint builds from the id
    out = []
    assert wait_for(lambda: STARTS == [0] and r.state == "PROGRESS", 15), r.state
    out.append(("running", _seen(r)))
    GATES["fail"].set()
    assert wait_for(lambda: r.state == "RETRY", 15), r.state
    out.append(("retry waits", _seen(r)))
    assert wait_for(lambda: STARTS == [0, 1], 15), STARTS
    time.sleep(0.3)  # the worker stored what it stores at a start (STARTED) before the body began
    out.append(("retry runs", _seen(r)))
    GATES["resume"].set()
    assert wait_for(lambda: r.info == {"attempt": 1}, 15), (r.state, r.info)
    out.append(("retry progress", _seen(r)))
    GATES["finish"].set()
    assert wait_for(lambda: r.state == "SUCCESS", 15), r.state
    out.append(("done", _seen(r)))
    return out


@pytest.mark.slow
def test_a_retried_job_does_not_show_the_previous_attempts_state(rt):
    from celery.contrib.testing.worker import start_worker
    from kombu.asynchronous import set_event_loop

    # a fresh kombu event loop, as in a worker process of its own: before kombu 5.6 (Celery 5.4/5.5) a
    # closed worker's hub stays the process's loop, the next worker reuses it and its timer never runs
    # the new worker's countdowns/ETAs (retries, chord_unlock) (docs/operations.md, Supported versions)
    set_event_loop(None)

    app = make_celery_app(rt.url, rt.ns)
    app.conf.update(result_backend=rt.url, task_ignore_result=False, result_expires=120)
    install_routed_task_class(app)
    install_send_task_hook(app)
    plain = app.task(name=PLAIN, bind=True, max_retries=2, shared=False)(_body)
    tracked = app.task(name=TRACKED, bind=True, max_retries=2, track_started=True, shared=False)(_body)
    job = {"timeout": 60, "retries": 3, "ttl": 600}
    registry = Registry.from_dicts(
        {n: {"saq_function": n, "queue": rt.ns, "params": ["x"], "job": job} for n in (PLAIN, TRACKED)}
    )
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.2)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)
    set_router(router)
    saq_worker = SaqWorkerThread(rt.url, rt.ns, [saq_plain.registration, saq_tracked.registration]).start()
    got: dict = {}
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"):
            for label, task in (("plain", plain), ("tracked", tracked)):
                got[("celery", label)] = _sequence(task, on_saq=False)
            rt.store.set_rule("tests.retry_state.*", "saq", reason="test")
            assert wait_for(lambda: router.decide(PLAIN, (1,)).backend == "saq", 10)
            for label, task in (("plain", plain), ("tracked", tracked)):
                got[("saq", label)] = _sequence(task, on_saq=True)
    finally:
        for g in GATES.values():
            g.set()
        saq_worker.stop()
        set_router(None)
        router.close()

    error = "ValueError('first attempt fails')"
    assert got[("celery", "plain")] == [
        ("running", ("PROGRESS", {"attempt": 0})),
        ("retry waits", ("RETRY", error)),
        ("retry runs", ("RETRY", error)),
        ("retry progress", ("PROGRESS", {"attempt": 1})),
        ("done", ("SUCCESS", 40)),
    ]
    assert got[("celery", "tracked")] == [
        ("running", ("PROGRESS", {"attempt": 0})),
        ("retry waits", ("RETRY", error)),
        ("retry runs", ("STARTED", ["hostname", "pid"])),
        ("retry progress", ("PROGRESS", {"attempt": 1})),
        ("done", ("SUCCESS", 40)),
    ]
    for label in ("plain", "tracked"):
        assert got[("saq", label)] == got[("celery", label)], label


def _job(status, attempts, meta=None, error=None):
    return types.SimpleNamespace(
        status=status, attempts=attempts, meta=meta or {}, error=error, key="k", worker_id="w", result=None
    )


RETRY_TEXT = (
    "Traceback (most recent call last):\n  ...\n"
    "saqmigrate.runtime.task._exceptions.<locals>.Retry: Retry in 1.5s: ValueError('first attempt fails')"
)


def test_a_custom_state_counts_only_in_the_attempt_that_stored_it():
    progress = {"state": "PROGRESS", "info": {"n": 1}, "attempt": 1}
    assert saq_state(_job("active", 1, progress)) == "PROGRESS"
    # the retry runs: attempt 2, the first attempt's state is stale
    assert saq_state(_job("active", 2, progress, RETRY_TEXT), track_started=False) == "RETRY"
    assert saq_state(_job("active", 2, progress, RETRY_TEXT), track_started=True) == "STARTED"
    assert saq_state(_job("active", 2, {**progress, "attempt": 2}, RETRY_TEXT), track_started=False) == "PROGRESS"
    assert saq_state(_job("queued", 1, progress, RETRY_TEXT)) == "RETRY"  # waiting for the retry
    # untagged (an older runtime): first attempt only
    untagged = {"state": "PROGRESS", "info": None}
    assert saq_state(_job("active", 1, untagged), track_started=False) == "PROGRESS"
    assert saq_state(_job("active", 2, untagged, RETRY_TEXT), track_started=False) == "RETRY"


def _value(job):
    r = SaqResult("k", None, "q", None)
    r._final, r.track_started = None, False
    r._fetch = lambda: job  # type: ignore[method-assign]
    return r.state, r.info


def test_the_retry_value_is_the_cause_given_to_retry():
    state, info = _value(_job("queued", 1, None, RETRY_TEXT))
    assert state == "RETRY" and repr(info) == "ValueError('first attempt fails')"
    assert isinstance(info, ValueError) and isinstance(info, SaqTaskError)
    no_cause = RETRY_TEXT.rsplit("\n", 1)[0] + "\nproj.Retry: Retry in 3s"
    assert _value(_job("queued", 1, None, no_cause)) == ("RETRY", None)  # Celery stores None
    own = RETRY_TEXT.replace("ValueError('first attempt fails')", "PaymentDeclined('card', 402)")
    state, info = _value(_job("active", 2, None, own))
    assert state == "RETRY" and type(info) is SaqTaskError and info.exc_type == "PaymentDeclined"
    assert info.args == ("card", 402)
    autoretry = "Traceback (most recent call last):\n  ...\nKeyError: 'a'"  # autoretry_for: the error itself
    state, info = _value(_job("queued", 1, None, autoretry))
    assert state == "RETRY" and isinstance(info, KeyError)
