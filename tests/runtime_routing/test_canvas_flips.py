"""A canvas never changes backend in the middle (issue 18, item 3).

Real Celery worker (threads, Redis broker and result backend) and a real SAQ worker on the same
Redis. For every subset of the canvas's tasks flipped to SAQ, chains, groups, chords and link
callbacks complete with the result Celery alone gives, and every task of the canvas ran on Celery;
the same tasks dispatched directly do run on SAQ (the flip is in force).
"""

from __future__ import annotations

import itertools

import pytest
from celery import Celery, chain, chord, group

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.celery_integration import install_routed_task_class, install_send_task_hook
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, SaqResult, set_router

from .conftest import SaqWorkerThread, wait_for

pytestmark = pytest.mark.slow

A, B, TOT = "tests.canvas.a", "tests.canvas.b", "tests.canvas.tot"


def canvases(a, b, tot):
    """Each canvas shape a project builds, with the result Celery alone gives."""
    return {
        "chain": (lambda: chain(a.s(1), b.s()).apply_async(), 4),
        "chain of three": (lambda: chain(a.s(1), b.s(), a.s()).apply_async(), 5),
        "pipe": (lambda: (b.s(3) | a.s()).delay(), 7),
        "group": (lambda: group(a.s(1), b.s(2), tot.s([1, 2])).apply_async(), [2, 4, 3]),
        "chord": (lambda: chord([a.s(1), b.s(2)], tot.s()).apply_async(), 6),
        "chord in a chain": (lambda: chain(a.s(0), chord([a.s(), b.s()], tot.s())).apply_async(), None),
        "link": (lambda: a.apply_async((1,), link=b.s()), 2),
    }


@pytest.fixture
def world(rt):
    app = Celery("canvas-tests", broker=rt.url, backend=rt.url, set_as_current=False)
    app.conf.update(
        task_default_queue=rt.ns,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_expires=600,
    )
    install_routed_task_class(app)
    install_send_task_hook(app)
    ran = f"{rt.ns}:ran"

    @app.task(name=A)
    def a(x):
        rt.redis.rpush(ran, f"celery:{A}")
        return x + 1

    @app.task(name=B)
    def b(x):
        rt.redis.rpush(ran, f"celery:{B}")
        return x * 2

    @app.task(name=TOT)
    def tot(xs):
        rt.redis.rpush(ran, f"celery:{TOT}")
        return sum(xs)

    async def saq_a(ctx, *, x):
        rt.redis.rpush(ran, f"saq:{A}")
        return x + 1

    async def saq_b(ctx, *, x):
        rt.redis.rpush(ran, f"saq:{B}")
        return x * 2

    async def saq_tot(ctx, *, xs):
        rt.redis.rpush(ran, f"saq:{TOT}")
        return sum(xs)

    job = {"timeout": 10, "retries": 1, "ttl": 600}
    registry = Registry.from_dicts(
        {
            A: {"saq_function": A, "queue": rt.ns, "params": ["x"], "job": job},
            B: {"saq_function": B, "queue": rt.ns, "params": ["x"], "job": job},
            TOT: {"saq_function": TOT, "queue": rt.ns, "params": ["xs"], "job": job},
        }
    )
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.2)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)
    set_router(router)
    saq = SaqWorkerThread(rt.url, rt.ns, [(A, saq_a), (B, saq_b), (TOT, saq_tot)]).start()
    from celery.contrib.testing.worker import start_worker
    from kombu.asynchronous import set_event_loop

    # a fresh kombu event loop, as in a worker process of its own: before kombu 5.6 (Celery 5.4/5.5) a
    # closed worker's hub stays the process's loop, the next worker reuses it and its timer never runs
    # the new worker's countdowns/ETAs (retries, chord_unlock) (docs/operations.md, Supported versions)
    set_event_loop(None)

    try:
        with start_worker(
            app, pool="threads", concurrency=6, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
        ):
            yield app, (a, b, tot), router, ran
    finally:
        saq.stop()
        set_router(None)
        router.close()


def _flip(rt, router, flipped):
    for name in (A, B, TOT):
        rt.store.set_rule(name, "saq" if name in flipped else "celery", reason="canvas test")
    assert wait_for(
        lambda: all(router.decide(n, (1,)).backend == ("saq" if n in flipped else "celery") for n in (A, B, TOT)), 5
    )


def test_canvases_complete_on_celery_with_any_subset_of_their_tasks_flipped(rt, world):
    app, (a, b, tot), router, ran = world
    shapes = canvases(a, b, tot)
    expected = {}
    _flip(rt, router, set())
    for label, (start, want) in shapes.items():  # Celery alone: the reference results
        expected[label] = start().get(timeout=20)
        if want is not None:
            assert expected[label] == want, label
    for k in range(1, 4):
        for flipped in itertools.combinations((A, B, TOT), k):
            _flip(rt, router, set(flipped))
            for label, (start, _) in shapes.items():
                rt.redis.delete(ran)
                res = start()
                assert not isinstance(res, SaqResult), (label, flipped)
                assert res.get(timeout=20) == expected[label], (label, flipped)
                if label == "link":  # the callback's result is its own
                    assert wait_for(lambda: rt.redis.llen(ran) >= 2, 10)
                backends = {x.split(":", 1)[0] for x in rt.redis.lrange(ran, 0, -1)}
                assert backends == {"celery"}, (label, flipped, rt.redis.lrange(ran, 0, -1))
            # the flip is in force: a direct dispatch of each flipped task runs on SAQ
            for name in flipped:
                task = {A: a, B: b, TOT: tot}[name]
                direct = task.delay([1, 2] if name == TOT else 2)
                assert isinstance(direct, SaqResult), name
                assert direct.get(timeout=10) == {A: 3, B: 4, TOT: 3}[name]
