"""Celery's result API for flipped dispatches: SaqResult states, get(), and app.AsyncResult(id) lookup.

Real SAQ worker (thread) on the real Redis; the Celery app has no worker and no result backend.
"""

from __future__ import annotations

import types

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.celery_integration import (
    install_routed_task_class,
    install_send_task_hook,
)
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import (
    Router,
    SaqResult,
    SaqTaskError,
    saq_state,
    set_router,
)

from .conftest import SaqWorkerThread, make_celery_app, wait_for

OK, BAD, STAY = "tests.results.ok", "tests.results.bad", "tests.results.stay"


async def saq_ok(ctx, *, x):
    return x * 2


async def saq_bad(ctx, *, x):
    raise ValueError(f"bad {x}")


@pytest.fixture
def wired(rt):
    app = make_celery_app(rt.url, rt.ns)
    install_routed_task_class(app)
    install_send_task_hook(app)  # installs the result lookup too
    install_send_task_hook(app)  # idempotent

    @app.task(name=OK, shared=False)
    def ok(x):
        return x * 2

    @app.task(name=BAD, shared=False)
    def bad(x):
        raise ValueError(x)

    @app.task(name=STAY, shared=False)
    def stay(x):
        return x

    job = {"timeout": 10, "retries": 1, "ttl": 600}
    registry = Registry.from_dicts(
        {
            OK: {"saq_function": OK, "queue": rt.ns, "params": ["x"], "job": job},
            BAD: {"saq_function": BAD, "queue": rt.ns, "params": ["x"], "job": job},
        }
    )
    rt.store.set_rule(OK, "saq", reason="test")
    rt.store.set_rule(BAD, "saq", reason="test")
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.5)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)
    assert wait_for(lambda: router.decide(OK, (1,)).backend == "saq", 5)
    set_router(router)
    try:
        yield types.SimpleNamespace(app=app, ok=ok, bad=bad, stay=stay, router=router)
    finally:
        set_router(None)
        router.close()


def test_flipped_results_go_pending_to_success_and_failure_and_are_found_by_id(rt, wired):
    app = wired.app
    good = wired.ok.delay(21)
    failing = wired.bad.apply_async((7,))
    assert isinstance(good, SaqResult) and isinstance(failing, SaqResult)
    # no SAQ worker yet: queued jobs read PENDING, as in Celery
    for res in (good, failing, app.AsyncResult(good.id)):
        assert res.state == res.status == "PENDING"
        assert not res.ready() and not res.successful() and not res.failed()
        assert res.result is None and res.traceback is None
    with pytest.raises(CeleryTimeoutError):
        good.get(timeout=0.3, interval=0.05)

    worker = SaqWorkerThread(rt.url, rt.ns, [(OK, saq_ok), (BAD, saq_bad)]).start()
    try:
        assert good.get(timeout=10, interval=0.05) == 42
        with pytest.raises(ValueError, match="bad 7") as caught:
            failing.get(timeout=10, interval=0.05)
    finally:
        worker.stop()
    assert isinstance(caught.value, SaqTaskError) and "Traceback" in caught.value.traceback

    assert good.state == "SUCCESS" and good.ready() and good.successful() and not good.failed()
    assert good.result == 42 and good.traceback is None and good.date_done is not None
    assert failing.state == failing.status == "FAILURE" and failing.ready() and failing.failed()
    err = failing.get(propagate=False)
    assert isinstance(err, ValueError) and str(err) == "bad 7"
    assert isinstance(failing.result, ValueError) and "ValueError: bad 7" in failing.traceback

    # looked up by id, in a "later request": the app's AsyncResult answers from SAQ
    by_id_ok, by_id_bad = app.AsyncResult(good.id), wired.bad.AsyncResult(failing.id)
    assert isinstance(by_id_ok, app.AsyncResult.__mro__[1])  # still the app's Celery result class
    assert by_id_ok.state == "SUCCESS" and by_id_ok.get(timeout=1) == 42 and by_id_ok.result == 42
    assert by_id_ok.successful() and by_id_ok.ready()
    assert by_id_bad.status == "FAILURE" and by_id_bad.failed()
    with pytest.raises(ValueError):
        by_id_bad.get(timeout=1)
    assert isinstance(by_id_bad.get(propagate=False), SaqTaskError)
    assert by_id_bad.saqmigrate_saq_result.queue == rt.ns

    # the status-endpoint idiom: celery.result.AsyncResult built directly, with or without the app
    from celery.result import AsyncResult

    for direct in (AsyncResult(good.id), AsyncResult(good.id, app=app)):
        assert direct.state == "SUCCESS" and direct.get(timeout=1) == 42 and direct.successful()
    assert AsyncResult(failing.id).state == "FAILURE" and AsyncResult(failing.id).failed()

    # forget() drops a finished job's record; the id is then unknown -> PENDING (Celery's meaning)
    app.AsyncResult(good.id).forget()
    assert app.AsyncResult(good.id).saqmigrate_saq_result is None
    assert (
        SaqResult(good.id, None, rt.ns, None, wired.router.bridge, rt.url, wired.router.queue_kwargs).state == "PENDING"
    )


def test_ids_not_in_saq_are_answered_by_celery(rt, wired):
    res = wired.stay.delay(1)  # not in the registry: published on Celery
    assert not isinstance(res, SaqResult)
    looked = wired.app.AsyncResult(res.id)
    assert looked.id == res.id and looked.saqmigrate_saq_result is None
    set_router(None)  # no router: nothing asked, plain Celery
    assert wired.app.AsyncResult("x").saqmigrate_saq_result is None


def test_state_names_for_every_saq_status():
    def job(status, attempts=0, error=None, meta=None):
        return types.SimpleNamespace(status=status, attempts=attempts, error=error, key="k", meta=meta)

    assert saq_state(None) == "PENDING"
    assert [saq_state(job(s)) for s in ("new", "queued", "active", "aborting", "complete", "failed", "aborted")] == [
        "PENDING",
        "PENDING",
        "STARTED",
        "STARTED",
        "SUCCESS",
        "FAILURE",
        "REVOKED",
    ]
    # running: Celery's PENDING unless the task tracks started; a custom update_state wins either way
    assert saq_state(job("active"), track_started=False) == "PENDING"
    assert saq_state(job("active"), track_started=True) == "STARTED"
    progress = {"saqmigrate": {"task": "t"}, "state": "PROGRESS", "info": {"current": 1}}
    assert saq_state(job("active", meta=progress), track_started=False) == "PROGRESS"
    assert saq_state(job("complete", meta=progress)) == "SUCCESS"  # the final state replaces it, as in Celery
    assert saq_state(job("active", meta={"saqmigrate": {"task": "t"}})) == "STARTED"
    assert saq_state(job("aborted", error="swept")) == "FAILURE"  # lost worker: Celery's WorkerLostError
    assert saq_state(job("queued", attempts=1, error="Traceback ...\nKeyError: 'a'")) == "RETRY"
    assert saq_state(job("queued", attempts=1)) == "PENDING"  # a deferred / swept job, no failure
