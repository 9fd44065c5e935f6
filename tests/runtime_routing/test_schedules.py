"""Celery beat and the SAQ cron guard over a simulated stretch with flips: each due fire once."""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.beat import RoutedMemoryScheduler
from saqmigrate.runtime.ownership import Ownership, abort_pending_cron, nominal_due
from saqmigrate.runtime.registry import Registry

from .conftest import make_celery_app

pytestmark = pytest.mark.slow

ENTRY = "every-minute"
TASK = "tests.routing.tick"


def test_each_due_entry_fires_exactly_once_across_beat_and_saq_cron_with_flips(rt):
    from celery.schedules import crontab

    start = dt.datetime(2030, 1, 1, 0, 0, 30, tzinfo=dt.timezone.utc)
    clock = [start]

    def now():
        return clock[0]

    app = make_celery_app(rt.url, rt.ns)
    app.now = now  # beat's clock (Scheduler._when / entry.default_now)
    app.conf.beat_schedule = {ENTRY: {"task": TASK, "schedule": crontab(minute="*", nowfun=now)}}
    app.conf.timezone = "UTC"
    registry = Registry.from_dicts(
        {TASK: {"saq_function": TASK, "queue": rt.ns}},
        {ENTRY: {"task": TASK, "cron": "* * * * *", "cron_function": "cron_every_minute", "queue": rt.ns}},
    )
    # two processes' worth of flag clients: beat's and the SAQ worker's, each with its own snapshot
    beat_flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.3)
    saq_flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.3)
    beat = RoutedMemoryScheduler(app=app, lazy=False)
    beat.saqmigrate_ownership = Ownership(registry, beat_flags)
    saq_side = Ownership(registry, saq_flags)

    def beat_published() -> int:
        return sum(1 for m in rt.redis.lrange(rt.ns, 0, -1) if json.loads(m)["headers"]["task"] == TASK)

    rng = random.Random(5)
    owners = ["saq", "celery", None]
    fired = {}
    try:
        beat.tick()  # populate the heap
        for minute in range(1, 121):
            due = start.replace(second=0) + dt.timedelta(minutes=minute)
            if rng.random() < 0.3:  # flip at a random moment; snapshots may lag in either process
                choice = rng.choice(owners + ["kill", "unkill"])
                if choice == "kill":
                    rt.store.set_mode("force-celery", reason="sim kill")
                elif choice == "unkill":
                    rt.store.set_mode("normal", reason="sim unkill")
                elif choice is None:
                    rt.store.set_rule(TASK, rng.choice(["saq", "celery"]), reason="sim task flip")
                    rt.store.set_schedule_owner(ENTRY, None, reason="follow task")
                else:
                    rt.store.set_schedule_owner(ENTRY, choice, reason="sim owner flip")
            time.sleep(rng.choice([0, 0, 0.05]))
            due_epoch = int(due.timestamp())
            before = beat_published()
            # order varies: sometimes SAQ's cron job runs first, sometimes beat ticks first
            saq_first = rng.random() < 0.5
            saq = saq_side.saq_should_fire(ENTRY, due_epoch) if saq_first else None
            clock[0] = due + dt.timedelta(seconds=rng.uniform(0.0, 0.9))
            for _ in range(3):
                beat.tick()
            if not saq_first:
                saq = saq_side.saq_should_fire(ENTRY, due_epoch)
            fired[minute] = (beat_published() - before, int(saq))
    finally:
        beat_flags.close()
        saq_flags.close()
    wrong = {m: f for m, f in fired.items() if sum(f) != 1}
    assert not wrong, wrong
    assert sum(b for b, _ in fired.values()) > 10 and sum(s for _, s in fired.values()) > 10, fired


def test_nominal_due_matches_saq_scheduled():
    t = dt.datetime(2030, 1, 1, 12, 5, 0, 700000, tzinfo=dt.timezone.utc)
    assert nominal_due("*/5 * * * *", t) == int(dt.datetime(2030, 1, 1, 12, 5, tzinfo=dt.timezone.utc).timestamp())
    assert nominal_due("*/5 * * * *", t + dt.timedelta(minutes=4)) == nominal_due("*/5 * * * *", t)


def test_flip_back_to_celery_aborts_the_scheduled_saq_cron_job(rt):
    import asyncio

    from saq.job import Job

    from saqmigrate.runtime.bridge import make_queue

    registry = Registry.from_dicts(
        {TASK: {"saq_function": TASK, "queue": rt.ns}},
        {ENTRY: {"task": TASK, "cron": "0 0 * * *", "cron_function": "cron_nightly"}},
    )
    sched = registry.schedules[ENTRY]

    async def run():
        q = make_queue(rt.url, rt.ns)
        try:
            # what SAQ's Worker.schedule enqueues for a CronJob(cron_nightly, unique=True)
            await q.enqueue(Job(function="cron_nightly", key="cron:cron_nightly", scheduled=int(time.time()) + 3600))
            assert await abort_pending_cron(q, sched) is True
            job = await q.job("cron:cron_nightly")
            assert job.status in ("aborting", "aborted")
            assert await q.count("incomplete") == 0  # it will not run
            assert await abort_pending_cron(q, sched) is False  # nothing pending any more
        finally:
            await q.disconnect()

    asyncio.run(run())
