"""saqmigrate's eager mode against a real Celery eager run of the same tasks.

Each case runs the Celery task with ``task_always_eager=True`` (and ``task_eager_propagates`` off
and on), then the SAQ twin ``rewrite`` generated for it in saqmigrate's eager mode with the same
propagation, through the router (sync and async, flags saying SAQ, real Redis flag store) and through
``testing.enqueue``. Compared: the result (state, value, ``get()`` with and without propagation,
traceback present), or the exception raised (type, args; a ``Retry``'s cause and countdown), and
every attempt the body made (``self.request.retries`` and the kwargs it saw).
"""

from __future__ import annotations

import asyncio

import pytest

from saqmigrate.runtime import testing

CASES = [
    ("add", {"x": 1}),
    ("add", {"x": 1, "y": 2}),
    ("boom", {"tag": "b"}),
    ("succeed_on_third", {"key": "k"}),
    ("retry_with_exc", {"n": 7}),
    ("retry_bare", {}),
    ("retry_no_budget", {"n": 1}),
    ("retry_new_kwargs", {"n": 1}),
    ("auto_kwargs", {"tag": "t"}),
    ("auto_then_ok", {"key": "a"}),
    ("not_listed", {"tag": "n"}),
    ("auto_excluded", {"tag": "e"}),
]
IDS = [f"{name}-{'-'.join(map(str, kw.values())) or 'noargs'}" for name, kw in CASES]


def _norm_exc(exc):
    from celery.exceptions import MaxRetriesExceededError, Retry

    if isinstance(exc, Retry):
        return ("Retry", _norm_exc(exc.exc) if exc.exc is not None else None, float(exc.when))
    if isinstance(exc, MaxRetriesExceededError):
        return ("MaxRetriesExceededError",)  # the message names the task id, which differs
    return (type(exc).__name__, exc.args)


def _norm_value(v):
    return _norm_exc(v) if isinstance(v, BaseException) else ("value", v)


def _get(result, **kw):
    try:
        return ("returned", _norm_value(result.get(**kw)))
    except Exception as exc:  # noqa: BLE001
        return ("raised", _norm_exc(exc))


def _outcome(tasks, call):
    tasks.CALLS.clear()
    tasks.STATE.clear()
    try:
        r = call()
    except Exception as exc:  # noqa: BLE001
        return {"raised": _norm_exc(exc), "attempts": list(tasks.CALLS)}
    return {
        "state": (r.state, r.status),
        "result": _norm_value(r.result),
        "info": _norm_value(r.info),
        "ready": r.ready(),
        "successful": r.successful(),
        "failed": r.failed(),
        "get": _get(r),
        "get_no_propagate": _get(r, propagate=False),
        "traceback": bool(r.traceback),
        "attempts": list(tasks.CALLS),
    }


@pytest.fixture(scope="module")
def saq_router(eagerproj, redis_url):
    import uuid

    from saqmigrate.runtime import flags as F
    from saqmigrate.runtime.registry import Registry
    from saqmigrate.runtime.router import Router

    unique_name = f"t{uuid.uuid4().hex[:12]}"
    store = F.FlagStore(redis_url, unique_name)
    store.set_rule("eagerproj.tasks.*", "saq", reason="eager tests: everything on SAQ")
    flags = F.FlagClient(redis_url, namespace=unique_name, poll_interval=0.5)
    router = Router(Registry.load("saq_worker.registry"), flags, saq_url=redis_url, fallback=False)
    assert router.decide("eagerproj.tasks.add", (1,)).backend == "saq"  # without eager it would enqueue
    yield router
    router.close()
    store.delete_all()


@pytest.mark.parametrize("propagate", [False, True], ids=["propagates_off", "propagates_on"])
@pytest.mark.parametrize(("task", "kwargs"), CASES, ids=IDS)
@pytest.mark.parametrize("path", ["router_sync", "router_async", "testing_enqueue"])
def test_eager_saq_twin_behaves_like_celery_eager(
    eagerproj, celery_eager_app, saq_router, redis_url, path, task, kwargs, propagate
):
    import redis

    tasks = eagerproj
    name = f"eagerproj.tasks.{task}"
    celery_eager_app.conf.task_eager_propagates = propagate
    expected = _outcome(tasks, lambda: getattr(tasks, task).delay(**kwargs))

    def saq_call():
        if path == "router_sync":
            return saq_router.apply_async(name, (), kwargs)
        if path == "router_async":
            return asyncio.run(saq_router.aapply_async(name, (), kwargs))
        return testing.enqueue(name, **kwargs)

    with testing.eager(propagate=propagate), testing.record() as results:
        got = _outcome(tasks, saq_call)
    assert got == expected
    if "state" in got:
        assert len(results) == 1 and isinstance(results[0], testing.EagerSaqResult)
        assert results[0].attempts == len(got["attempts"])
    # nothing reached SAQ's Redis (the queue name is shared with other tests: look by job key)
    client = redis.Redis.from_url(redis_url)
    try:
        assert not any(client.exists(f"saq:job:celery:{r.id}") for r in results)
    finally:
        client.close()


def test_the_comparison_can_fail(eagerproj, celery_eager_app):
    """A different retry budget is seen: Celery's retry_with_exc given max_retries=1, the twin keeps 2."""
    tasks = eagerproj
    task = celery_eager_app.tasks["eagerproj.tasks.retry_with_exc"]
    task.max_retries = 1
    try:
        expected = _outcome(tasks, lambda: tasks.retry_with_exc.delay(n=1))
    finally:
        task.max_retries = 2
    with testing.eager(propagate=False):
        got = _outcome(tasks, lambda: testing.enqueue("eagerproj.tasks.retry_with_exc", n=1))
    assert len(expected["attempts"]) == 2 and len(got["attempts"]) == 3
    assert got != expected
