"""During the window: with Celery's eager mode on, dispatch stays inline whatever the flags say.

Real parts: the router installed (``set_router``), ``RoutedTask`` as the app's task class and
``install_send_task_hook``, flags in a real Redis flag store saying SAQ for the task (an exact
rule, then a 100 % ramp). The same dispatch without Celery eager goes to SAQ (so the test can fail).
"""

from __future__ import annotations

import threading

import pytest
import redis

from saqmigrate.runtime import testing

TASK = "eagerwin.tasks.double"


@pytest.fixture
def window(redis_url, unique_name):
    from celery import Celery

    from saqmigrate.runtime import flags as F
    from saqmigrate.runtime.celery_integration import RoutedTask, install_send_task_hook
    from saqmigrate.runtime.registry import Registry
    from saqmigrate.runtime.router import Router, get_router, set_router

    app = Celery("eagerwin", broker=redis_url, task_cls=RoutedTask, set_as_current=False)
    app.conf.update(
        task_always_eager=True, task_eager_propagates=True, task_default_queue=unique_name, result_backend=None
    )
    ran: list = []

    @app.task(name=TASK, bind=True)
    def double(self, n):
        ran.append((n, threading.current_thread().name, self.request.is_eager))
        return n * 2

    registry = Registry.from_dicts(
        {
            TASK: {
                "saq_function": TASK,
                "queue": unique_name,
                "params": ["n"],
                "job": {"timeout": 0, "retries": 1, "ttl": 600},
            }
        }
    )
    store = F.FlagStore(redis_url, unique_name)
    store.set_rule(TASK, "saq", reason="window test")
    flags = F.FlagClient(redis_url, namespace=unique_name, poll_interval=0.2)
    router = Router(registry, flags, celery_app=app, saq_url=redis_url, fallback=False)
    previous = get_router()
    set_router(router)
    install_send_task_hook(app, router)
    client = redis.Redis.from_url(redis_url)

    class W:
        pass

    w = W()
    w.app, w.task, w.ran, w.store, w.router, w.redis, w.queue = app, double, ran, store, router, client, unique_name
    yield w
    set_router(previous)
    router.close()
    store.delete_all()
    keys = list(client.scan_iter(f"saq:*{unique_name}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _saq_jobs(w) -> list:
    return list(w.redis.scan_iter(f"saq:job:{w.queue}:*"))


@pytest.mark.parametrize("saq_eager_too", [False, True], ids=["celery_eager", "celery_and_saq_eager"])
def test_celery_eager_keeps_flagged_dispatch_inline(window, saq_eager_too):
    from celery.result import EagerResult

    w = window
    assert w.router.decide(TASK, (1,)).backend == "saq"  # the flags say SAQ
    for bp in (None, 10000):  # an exact rule, then a 100 % ramp
        w.store.set_rule(TASK, "saq", bp, reason="window test")
        assert w.router.flags.refresh_now() and w.router.decide(TASK, (1,)).backend == "saq"
        with testing.eager(saq_eager_too, propagate=True):
            results = [w.task.delay(2), w.task.apply_async((3,)), w.task.s(4).delay(), w.task.si(5).apply_async()]
        for r, n in zip(results, (2, 3, 4, 5)):
            assert isinstance(r, EagerResult) and r.get() == n * 2 and r.state == "SUCCESS"
            assert not hasattr(r, "saqmigrate_route")  # the router was never asked
        assert [n for n, *_ in w.ran[-4:]] == [2, 3, 4, 5]
        assert all(thread == threading.current_thread().name and eager for _, thread, eager in w.ran[-4:])
    assert _saq_jobs(w) == []


def test_without_celery_eager_the_same_dispatch_goes_to_saq(window):
    """The control: eager off, the flagged .delay() is enqueued on SAQ (nothing runs it here)."""
    w = window
    w.app.conf.task_always_eager = False
    r = w.task.delay(6)
    assert r.saqmigrate_route.backend == "saq"
    assert w.redis.exists(f"saq:job:{w.queue}:{r.id}")
    assert w.ran == []


def test_saq_eager_keeps_a_celery_routed_dispatch_inline(window):
    """docs/testing.md: saqmigrate's eager switch keeps dispatch inline whatever the flags say. With Celery's
    eager mode off and the task's flag on Celery, ``.delay()`` must run inline, not reach the broker."""
    w = window
    w.app.conf.task_always_eager = False
    w.store.set_rule(TASK, "celery", reason="window test")
    assert w.router.flags.refresh_now() and w.router.decide(TASK, (1,)).backend == "celery"
    with testing.eager(propagate=True):
        r = w.task.delay(7)
    published = w.redis.llen(w.queue)
    w.redis.delete(w.queue)  # what a wrong answer left in the broker
    assert published == 0
    assert [n for n, *_ in w.ran] == [7] and r.get() == 14
