"""Attack 16 C2: a dead SAQ fleet is trouble. The autopilot makes the live-SAQ-worker check of `route ramp` /
`--resume` / the page before every move: with no live worker serving the task it rolls the task back to Celery
(audited with that reason) instead of advancing on the runs finished before the fleet died (real Redis, a real
SAQ worker)."""

from __future__ import annotations

import time

from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.actions import live_worker_problems
from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.autopilot import Autopilot
from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.registry import Registry

from .harness import SaqWorker, recorder

TASK = "fleet.tasks.t"


def feed(ns, backend, n, at):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=1, flush_interval=0, metrics=None)
    for _ in range(n):
        rec.record(TASK, backend, O.SUCCESS, duration=0.01, now=at)
    assert rec.flush()


async def fn(ctx):
    return None


def test_the_autopilot_rolls_back_when_the_saq_fleet_dies(ns):
    reg = Registry.from_dicts({TASK: {"saq_function": TASK, "queue": ns.name, "params": [], "job": {}}})
    now = time.time()
    R.start(ns.store, TASK, "10,50,100", 1, reason="ramp", now=now - 120)
    feed(ns, "celery", 300, now - 100)
    feed(ns, "saq", 60, now - 30)
    pilot = Autopilot(
        ns.store,
        O.OutcomeStore(ns.url, ns.name),
        Thresholds(min_runs=30, baseline_seconds=3600),
        lock_ttl=10,
        clock=time.time,
        registry=reg,
        saq_url=ns.url,
    )
    assert [a.action for a in pilot.tick() if a.task == TASK] == ["rollback"]  # no worker at all: never advances
    assert "no live SAQ worker on queue" in R.load_plans(ns.store)[TASK].reason
    assert ns.store.snapshot().rules[TASK]["target"] == "celery"

    R.resume(ns.store, TASK, reason="fleet up", now=time.time() - 120)
    feed(ns, "saq", 60, time.time() - 30)
    rec = recorder(ns.url, ns.name)
    worker = SaqWorker(ns.url, ns.name, [(TASK, fn)], rec).start()
    try:
        deadline = time.time() + 10
        while live_worker_problems(reg, ns.url, TASK) and time.time() < deadline:
            time.sleep(0.2)
        acts = pilot.tick()  # a live worker: the passing step advances
        assert [a.action for a in acts if a.task == TASK] == ["advance"], [a.text() for a in acts]
        feed(ns, "saq", 60, time.time() + 0.2)  # the new step's runs, finished before the fleet dies
        time.sleep(1.5)
    finally:
        worker.stop()
        rec.close()
        O.set_default_recorder(None)
    deadline = time.time() + 20
    while not live_worker_problems(reg, ns.url, TASK) and time.time() < deadline:
        time.sleep(0.2)
    acts = pilot.tick()
    moves = [a for a in acts if a.task == TASK]
    assert [a.action for a in moves] == ["rollback"], [a.text() for a in acts]
    assert "no live SAQ worker" in moves[0].reason
    plan = R.load_plans(ns.store)[TASK]
    assert plan.state == R.PAUSED and plan.rolled_back and plan.percent == 50
    assert ns.store.snapshot().rules[TASK]["target"] == "celery"
    h = ns.store.history(1)[0]
    assert h["target"] == f"ramp:{TASK}" and "no live SAQ worker" in h["reason"]


def test_the_autopilot_rolls_back_when_the_saq_fleet_is_stuck(ns):
    """A live worker that finishes nothing (its one slot hangs) while jobs wait in its queue: once the step has
    lasted --every with no SAQ run, it is trouble, not a hold (real SAQ worker, real queue)."""
    import asyncio
    import threading

    from saqmigrate.runtime.bridge import make_queue

    release = threading.Event()

    async def hangs(ctx):
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)

    reg = Registry.from_dicts({TASK: {"saq_function": TASK, "queue": ns.name, "params": [], "job": {}}})
    now = time.time()
    R.start(ns.store, TASK, "10,50,100", 2, reason="ramp", now=now)
    feed(ns, "celery", 300, now - 100)
    rec = recorder(ns.url, ns.name)
    worker = SaqWorker(ns.url, ns.name, [(TASK, hangs)], rec, concurrency=1).start()

    async def enqueue(n):
        q = make_queue(ns.url, ns.name)
        try:
            for _ in range(n):
                await q.enqueue(TASK, timeout=60)
        finally:
            await q.disconnect()

    try:
        asyncio.run(enqueue(4))
        deadline = time.time() + 10
        while live_worker_problems(reg, ns.url, TASK) and time.time() < deadline:
            time.sleep(0.2)
        pilot = Autopilot(
            ns.store,
            O.OutcomeStore(ns.url, ns.name),
            Thresholds(min_runs=30, baseline_seconds=3600),
            lock_ttl=10,
            clock=time.time,
            registry=reg,
            saq_url=ns.url,
        )
        assert [a.action for a in pilot.tick() if a.task == TASK] == ["hold"]  # within --every: no verdict yet
        time.sleep(2.2)
        acts = pilot.tick()
        moves = [a for a in acts if a.task == TASK]
        assert [a.action for a in moves] == ["rollback"], [a.text() for a in acts]  # before: hold for ever
        assert "the SAQ fleet is stuck" in moves[0].reason and "job(s) wait" in moves[0].reason
        assert ns.store.snapshot().rules[TASK]["target"] == "celery"
    finally:
        release.set()
        worker.stop()
        rec.close()
        O.set_default_recorder(None)
