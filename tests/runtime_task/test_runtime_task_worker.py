"""Generated-style SAQ tasks on a real SAQ Worker + real Redis, against Celery as the oracle.

Each scenario defines ONE Celery task (a real ``Celery`` app with the Redis broker), runs it
eagerly with ``task.apply()`` (Celery's own retry logic; eager mode ignores countdowns), and
runs the same unchanged body through saqmigrate's bridge on a real SAQ worker with the
options translated by ``translate_task_options``. Attempt counts and outcomes must match.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
import time

import pytest
from celery import Celery
from saq.job import Job, Status

from runtime_task_harness import error_type, running_worker, wait_done
from saqmigrate.runtime.task import TaskOptions, apply_job_options, celery_impl, run_sync, saq_task, task_self
from saqmigrate.translate.options import translate_task_options

pytestmark = pytest.mark.slow

CALLS: dict[str, list[float]] = {}


@pytest.fixture
def celery_app(redis_url, unique_name):
    app = Celery(f"rt{unique_name}", broker=redis_url, backend=None, set_as_current=False)
    app.conf.task_eager_propagates = False
    yield app


def _do(action: str, self=None):
    kind, _, arg = action.partition(":")
    if kind == "ok":
        return "done"
    if kind == "raise":
        raise getattr(builtins, arg)(f"boom {arg}")
    if kind == "retry":  # self.retry(countdown=0.2) — no exc
        raise self.retry(countdown=0.2)
    if kind == "retry_exc":
        raise self.retry(exc=getattr(builtins, arg)("boom"), countdown=0.2)
    if kind == "retry_max1":
        raise self.retry(exc=getattr(builtins, arg)("boom"), countdown=0.2, max_retries=1)
    if kind == "retry_default":  # no countdown: default_retry_delay
        raise self.retry(exc=getattr(builtins, arg)("boom"))
    if kind == "catch_max":  # the common Celery idiom
        try:
            raise self.retry(countdown=0.2)
        except self.MaxRetriesExceededError:
            return "gave up"
    raise AssertionError(action)


def plain_body(token, plan):
    CALLS.setdefault(token, []).append(time.monotonic())
    return _do(plan[min(len(CALLS[token]), len(plan)) - 1])


def bound_body(self, token, plan):
    CALLS.setdefault(token, []).append(time.monotonic())
    return _do(plan[min(len(CALLS[token]), len(plan)) - 1], self)


def _names(options: dict) -> dict:
    out = dict(options)
    for key in ("autoretry_for", "dont_autoretry_for"):
        if key in out:
            out[key] = [c.__name__ for c in out[key]]
    return out


def make_pair(app, name: str, options: dict, bind: bool, uses_self_retry: bool):
    """One Celery task and its SAQ bridge twin, written as the codemod would write it."""
    body = bound_body if bind else plain_body
    celery_task = app.task(name=name, bind=bind, **options)(body)
    opts = translate_task_options(_names(options), uses_self_retry=uses_self_retry).task

    if bind:

        @saq_task(name, opts)
        async def saq_fn(ctx, *, token, plan):
            return await run_sync(celery_impl(celery_task), task_self(ctx), token, plan)

    else:

        @saq_task(name, opts)
        async def saq_fn(ctx, *, token, plan):
            return await run_sync(celery_impl(celery_task), token, plan)

    return celery_task, saq_fn, opts


SCENARIOS = {
    # id: (options, bind, uses_self_retry, plan)
    "plain-fails-once": ({}, False, False, ["raise:ValueError"]),
    "plain-max_retries-ignored": ({"max_retries": 5}, False, False, ["raise:ValueError"]),
    "autoretry-exhausted": (
        {"autoretry_for": (IOError,), "max_retries": 2, "default_retry_delay": 0.2},
        False,
        False,
        ["raise:IOError"],
    ),
    "autoretry-recovers": (
        {"autoretry_for": (IOError,), "max_retries": 3, "default_retry_delay": 0.1},
        False,
        False,
        ["raise:IOError", "raise:IOError", "ok"],
    ),
    "autoretry-unlisted": (
        {"autoretry_for": (IOError,), "max_retries": 3, "default_retry_delay": 0.1},
        False,
        False,
        ["raise:KeyError"],
    ),
    "autoretry-then-unlisted": (
        {"autoretry_for": (IOError,), "max_retries": 3, "default_retry_delay": 0.1},
        False,
        False,
        ["raise:IOError", "raise:KeyError"],
    ),
    "dont-autoretry": (
        {
            "autoretry_for": (Exception,),
            "dont_autoretry_for": (KeyError,),
            "max_retries": 3,
            "default_retry_delay": 0.1,
        },
        False,
        False,
        ["raise:ValueError", "raise:KeyError"],
    ),
    "retry_kwargs": (
        {"autoretry_for": (IOError,), "retry_kwargs": {"max_retries": 1, "countdown": 0.1}},
        False,
        False,
        ["raise:IOError"],
    ),
    "backoff-cap0": (
        {"autoretry_for": (IOError,), "retry_backoff": True, "retry_backoff_max": 0, "max_retries": 2},
        False,
        False,
        ["raise:IOError"],
    ),
    "bind-retry-exc": ({"max_retries": 2}, True, True, ["retry_exc:IOError"]),
    "bind-retry-noexc": ({"max_retries": 2}, True, True, ["retry"]),
    "bind-retry-recovers": ({"max_retries": 3}, True, True, ["retry_exc:IOError", "ok"]),
    "bind-retry-override": ({"max_retries": 5}, True, True, ["retry_max1:IOError"]),
    "bind-retry-default-delay": ({"max_retries": 1, "default_retry_delay": 0.2}, True, True, ["retry_default:IOError"]),
    "bind-retry-then-error": ({"max_retries": 3}, True, True, ["retry_exc:IOError", "raise:ValueError"]),
    "bind-catch-max": ({"max_retries": 1}, True, True, ["catch_max"]),
    "bind-retry-and-autoretry": (
        {"max_retries": 2, "autoretry_for": (ValueError,), "default_retry_delay": 0.1},
        True,
        True,
        ["retry_exc:IOError", "raise:ValueError", "raise:ValueError"],
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_attempts_and_outcome_as_celery(scenario, celery_app, redis_url, unique_name):
    options, bind, uses_self_retry, plan = SCENARIOS[scenario]
    name = f"proj.tasks.{unique_name}"
    celery_task, saq_fn, opts = make_pair(celery_app, name, options, bind, uses_self_retry)

    # Celery oracle (eager: real Task.retry / autoretry logic, countdowns skipped).
    token_c = f"{unique_name}-celery"
    result = celery_task.apply(args=(token_c, plan))
    celery_attempts = len(CALLS[token_c])
    celery_outcome = (result.state, type(result.result).__name__ if result.state == "FAILURE" else result.result)

    token_s = f"{unique_name}-saq"

    async def main():
        async with running_worker(redis_url, unique_name, [saq_fn]) as (queue, _):
            job = Job(function=name, kwargs={"token": token_s, "plan": plan}, **opts.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job, timeout=20)

    done = asyncio.run(main())
    saq_attempts = len(CALLS[token_s])
    saq_outcome = ("SUCCESS", done.result) if done.status == Status.COMPLETE else ("FAILURE", error_type(done))
    assert done.status in (Status.COMPLETE, Status.FAILED)
    assert (saq_attempts, saq_outcome) == (celery_attempts, celery_outcome), scenario
    assert done.attempts == saq_attempts


def test_retry_delays_follow_celery_countdown_without_jitter(celery_app, redis_url, unique_name):
    """retry_backoff with retry_jitter=False: exact delays min(cap, f*2**n) = 1, 1 (cap 1)."""
    name = f"proj.tasks.{unique_name}"
    options = {
        "autoretry_for": (IOError,),
        "retry_backoff": True,
        "retry_backoff_max": 1,
        "retry_jitter": False,
        "max_retries": 2,
    }
    _, saq_fn, opts = make_pair(celery_app, name, options, False, False)
    assert (opts.retry_delay, opts.retry_backoff, opts.retries) == (1, 1, 3)
    token = f"{unique_name}-saq"

    retried = []

    async def after(ctx):  # what SAQ will use for the next delay, read off the live job
        job = ctx["job"]
        if job.status == Status.QUEUED:
            retried.append((job.attempts, job.retry_delay, job.retry_backoff, job.next_retry_delay()))

    async def main():
        async with running_worker(redis_url, unique_name, [saq_fn], after_process=[after]) as (queue, _):
            job = Job(function=name, kwargs={"token": token, "plan": ["raise:IOError"]}, **opts.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job, timeout=20)

    done = asyncio.run(main())
    assert done.status == Status.FAILED and done.attempts == 3
    assert retried == [(1, 1.0, False, 1.0), (2, 1.0, False, 1.0)]
    stamps = CALLS[token]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(gaps) == 2
    # the delays themselves are asserted exactly above (what SAQ schedules); the wall-clock gaps are
    # 1 s delay + up to one 1 s scheduler tick, plus slack for a machine loaded by the parallel suite
    for gap in gaps:
        assert 0.95 <= gap <= 3.5, gaps


def test_self_retry_countdown_is_the_delay(celery_app, redis_url, unique_name):
    """self.retry(countdown=0.2) even though default_retry_delay is 180 (the job's retry_delay)."""
    name = f"proj.tasks.{unique_name}"
    _, saq_fn, opts = make_pair(celery_app, name, {"max_retries": 1}, True, True)
    assert opts.retry_delay == 180
    token = f"{unique_name}-saq"

    retried = []

    async def after(ctx):
        if ctx["job"].status == Status.QUEUED:
            retried.append(ctx["job"].next_retry_delay())

    async def main():
        async with running_worker(redis_url, unique_name, [saq_fn], after_process=[after]) as (queue, _):
            job = Job(function=name, kwargs={"token": token, "plan": ["retry_exc:IOError"]}, **opts.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job, timeout=10)

    done = asyncio.run(main())
    assert retried == [0.2]
    assert done.status == Status.FAILED and error_type(done) == "OSError"
    gap = CALLS[token][1] - CALLS[token][0]
    assert 0.15 <= gap <= 1.6, gap  # 0.2 s, seen by a scheduler that ticks every 1 s


REQUEST_SEEN: dict[str, list] = {}


def test_bind_request_fields(redis_url, unique_name):
    name = f"proj.tasks.{unique_name}"

    def body(self, a, b=2):
        req = self.request
        REQUEST_SEEN.setdefault(unique_name, []).append(
            dict(
                id=req.id,
                retries=req.retries,
                kwargs=req.kwargs,
                args=req.args,
                hostname=req.hostname,
                delivery_info=req.delivery_info,
                called_directly=req.called_directly,
                is_eager=req.is_eager,
                eta=req.eta,
                name=self.name,
                max_retries=self.max_retries,
                default_retry_delay=self.default_retry_delay,
                root_id=req.root_id,
                thread=threading.current_thread().name,
            )
        )
        if req.retries == 0:
            raise self.retry(countdown=0.1)
        return a + b

    @saq_task(name, TaskOptions(retries=3, max_retries=2, default_retry_delay=7))
    async def fn(ctx, *, a, b=2):
        return await run_sync(body, task_self(ctx), a, b=b)

    async def main():
        async with running_worker(redis_url, unique_name, [fn]) as (queue, worker):
            job = Job(function=name, kwargs={"a": 40, "b": 2}, **fn.saq_options.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job), worker.id

    done, worker_id = asyncio.run(main())
    assert done.status == Status.COMPLETE and done.result == 42
    first, second = REQUEST_SEEN[unique_name]
    for seen in (first, second):
        assert seen["id"] == done.key
        assert seen["kwargs"] == {"a": 40, "b": 2} and seen["args"] == ()
        assert seen["hostname"] == worker_id
        assert seen["delivery_info"]["routing_key"] == unique_name
        assert seen["called_directly"] is False and seen["is_eager"] is False
        assert seen["name"] == name and seen["max_retries"] == 2 and seen["default_retry_delay"] == 7
        assert seen["root_id"] is None and seen["eta"] is None
        assert seen["thread"].startswith("saqmigrate-bridge")
    assert (first["retries"], second["retries"]) == (0, 1)


def test_update_state_visible_while_running(redis_url, unique_name):
    name = f"proj.tasks.{unique_name}"
    release = threading.Event()

    def body(self, n):
        self.update_state(state="PROGRESS", meta={"current": 1, "total": 4})
        assert release.wait(10)
        self.update_state(state="PROGRESS", meta={"current": 3, "total": 4})
        return n

    @saq_task(name)
    async def fn(ctx, *, n):
        return await run_sync(body, task_self(ctx), n)

    async def main():
        async with running_worker(redis_url, unique_name, [fn]) as (queue, _):
            job = Job(function=name, kwargs={"n": 5}, **fn.saq_options.job_kwargs())
            await queue.enqueue(job)
            for _ in range(200):
                live = await queue.job(job.key)
                if live.meta.get("state") == "PROGRESS":
                    break
                await asyncio.sleep(0.02)
            release.set()
            return live, await wait_done(job)

    live, done = asyncio.run(main())
    assert live.status == Status.ACTIVE
    # the attempt tag lets a retry tell its own state from the previous attempt's (router.SaqResult)
    assert live.meta == {"state": "PROGRESS", "info": {"current": 1, "total": 4}, "attempt": 1}
    assert live.progress == 0.25
    assert done.status == Status.COMPLETE and done.result == 5
    assert done.meta["info"] == {"current": 3, "total": 4} and done.progress == 1.0


def test_time_limit_cancels_async_and_is_not_retried(redis_url, unique_name):
    """time_limit=1 → timeout=1: the job fails after ~1 s, once, although autoretry_for=(Exception,)."""
    name = f"proj.tasks.{unique_name}"
    opts = translate_task_options(
        {"time_limit": 1, "autoretry_for": ["Exception"], "max_retries": 3, "default_retry_delay": 0},
        uses_self_retry=False,
    ).task
    assert opts.timeout == 1 and opts.retries == 4
    runs = []

    @saq_task(name, opts)
    async def fn(ctx):
        runs.append(time.monotonic())
        await asyncio.sleep(5)

    async def main():
        async with running_worker(redis_url, unique_name, [fn]) as (queue, _):
            job = Job(function=name, **opts.job_kwargs())
            t0 = time.monotonic()
            await queue.enqueue(job)
            done = await wait_done(job, timeout=10)
            return done, time.monotonic() - t0

    done, elapsed = asyncio.run(main())
    assert done.status == Status.FAILED and len(runs) == 1 and done.attempts == 1
    assert error_type(done) == "TimeoutError"
    assert 0.9 <= elapsed <= 3.0


def test_time_limit_on_bridge_fails_job_but_thread_runs_on(redis_url, unique_name):
    name = f"proj.tasks.{unique_name}"
    finished = threading.Event()

    def body():
        time.sleep(2)
        finished.set()

    @saq_task(name, TaskOptions(timeout=1, heartbeat=0))
    async def fn(ctx):
        return await run_sync(body)

    async def main():
        async with running_worker(redis_url, unique_name, [fn]) as (queue, _):
            job = Job(function=name, **fn.saq_options.job_kwargs())
            t0 = time.monotonic()
            await queue.enqueue(job)
            done = await wait_done(job, timeout=10)
            return done, time.monotonic() - t0, finished.is_set()

    done, elapsed, finished_at_fail = asyncio.run(main())
    assert done.status == Status.FAILED and elapsed < 1.9 and not finished_at_fail
    assert finished.wait(3), "the bridged thread is not killed; it runs to its end"


def test_heartbeat_keeps_long_job_without_time_limit_alive(redis_url, unique_name):
    """timeout=0 + heartbeat: a 3.5 s job survives a 1 s sweep with heartbeat=1; without it, swept."""
    name = f"proj.tasks.{unique_name}"
    bare = f"{name}_bare"

    @saq_task(name, TaskOptions(heartbeat=1))
    async def fn(ctx):
        await asyncio.sleep(3.5)
        return "ok"

    async def unprotected(ctx):  # same job options, no saqmigrate wrapper → nobody touches the job
        await asyncio.sleep(3.5)
        return "ok"

    async def main():
        async with running_worker(redis_url, unique_name, [fn, (bare, unprotected)], timers={"sweep": 1}) as (queue, _):
            good = Job(function=name, **fn.saq_options.job_kwargs())
            swept = Job(function=bare, **fn.saq_options.job_kwargs())
            await queue.enqueue(good)
            await queue.enqueue(swept)
            return await wait_done(good, 10), await wait_done(swept, 10)

    good, swept = asyncio.run(main())
    assert good.timeout == 0 and good.heartbeat == 1
    assert good.status == Status.COMPLETE and good.result == "ok"
    assert swept.status == Status.ABORTED  # control: the sweep does judge heartbeats


def test_apply_job_options_hook_replaces_saq_defaults(redis_url, unique_name):
    """A job enqueued by name only (as a CronJob or the web UI does) gets the task's options."""
    name = f"proj.tasks.{unique_name}"
    seen = {}

    @saq_task(name, translate_task_options({"time_limit": 30, "ignore_result": False}, uses_self_retry=False).task)
    async def fn(ctx):
        job = ctx["job"]
        seen.update(timeout=job.timeout, ttl=job.ttl, heartbeat=job.heartbeat)
        return 1

    async def main():
        async with running_worker(redis_url, unique_name, [fn], before_process=[apply_job_options]) as (queue, _):
            job = await queue.enqueue(name)
            explicit = await queue.enqueue(name, timeout=5)
            return await wait_done(job), await wait_done(explicit)

    done, explicit = asyncio.run(main())
    assert done.status == Status.COMPLETE
    assert (done.timeout, done.ttl, done.heartbeat) == (30, 86400, 0)
    assert explicit.timeout == 5  # what the enqueuer set explicitly is kept


def test_ignore_result_deletes_record_and_expires_fails(redis_url, unique_name):
    name = f"proj.tasks.{unique_name}"
    ran = []

    @saq_task(name, translate_task_options({"ignore_result": True}, uses_self_retry=False).task)
    async def quiet(ctx):
        ran.append("quiet")

    @saq_task(f"{name}_exp", translate_task_options({"expires": 0.3}, uses_self_retry=False).task)
    async def expiring(ctx):
        ran.append("expiring")

    async def main():
        async with running_worker(redis_url, unique_name, [quiet, expiring]) as (queue, _):
            q = Job(function=name, **quiet.saq_options.job_kwargs())
            await queue.enqueue(q)
            late = Job(function=f"{name}_exp", scheduled=int(time.time()) + 1, **expiring.saq_options.job_kwargs())
            await queue.enqueue(late)
            return await wait_done(q), await wait_done(late, 10)

    gone, late = asyncio.run(main())
    assert gone is None and "quiet" in ran
    assert late.status == Status.FAILED and error_type(late) == "TaskExpired" and "expiring" not in ran
