"""runtime.cronguard: the guard the generated CronJob runs, and a real SAQ worker with it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from saqmigrate.runtime.cronguard import guard_allows, guarded, next_interval_run
from saqmigrate.translate.schedule import translate_schedule

BERLIN = ZoneInfo("Europe/Berlin")


def test_guard_allows_in_the_schedule_time_zone():
    g = {"field": "day_of_week", "values": [1]}  # Monday (Sunday = 0)
    monday_0030_berlin = datetime(2028, 1, 3, 0, 30, tzinfo=BERLIN)  # still Sunday in UTC
    assert guard_allows(g, monday_0030_berlin.timestamp(), "Europe/Berlin")
    assert not guard_allows(g, monday_0030_berlin.timestamp(), "UTC")
    assert guard_allows({"field": "day_of_month", "values": [29]}, datetime(2028, 2, 29, tzinfo=timezone.utc), "UTC")
    assert guard_allows(None, 0.0)
    with pytest.raises(ValueError, match="unknown guard field"):
        guard_allows({"field": "hour", "values": [1]}, 0.0)
    with pytest.raises(ValueError, match="aware"):
        guard_allows(g, datetime(2028, 1, 3))


def test_next_interval_run_is_anchored_and_skips_missed():
    assert next_interval_run(1000.0, 420, now=1000.5) == 1420.0
    assert next_interval_run(1000.0, 420, now=1000.0 + 420 * 3 + 1) == 1000.0 + 420 * 4  # missed runs skipped
    assert next_interval_run(1000.0, 60, now=900.0) == 1060.0
    with pytest.raises(ValueError):
        next_interval_run(0, 0, now=1)


class _Job:
    def __init__(self, scheduled):
        self.scheduled = scheduled


def test_guarded_sync_and_async_with_fixed_clock():
    plan = translate_schedule(
        "crontab", {"minute": 0, "hour": 9, "day_of_month": "1-7", "day_of_week": "mon"}, prove=False
    )
    calls = []

    def report(ctx, *, region="eu"):
        calls.append(region)
        return "ran"

    async def areport(ctx, *, region="eu"):
        calls.append("async-" + region)
        return "ran"

    first_monday = datetime(2028, 2, 7, 9, 0, tzinfo=timezone.utc).timestamp()
    second_monday = datetime(2028, 2, 14, 9, 0, tzinfo=timezone.utc).timestamp()
    f = guarded(report, plan.guard, plan.cron_tz, name="reports.monthly")
    af = guarded(areport, plan.guard, plan.cron_tz, name="reports.monthly_async")
    assert f.__qualname__ == "reports.monthly"
    assert f({"job": _Job(first_monday)}, region="us") == "ran"
    assert f({"job": _Job(second_monday)}, region="us") is None
    assert asyncio.run(af({"job": _Job(first_monday)})) == "ran"
    assert asyncio.run(af({"job": _Job(second_monday)})) is None
    assert calls == ["us", "async-eu"]


@pytest.mark.slow
def test_saq_worker_runs_guarded_cron_job_only_on_matching_days(redis_url, unique_name):
    """A real Worker accepts the CronJob built from the plan, schedules it where croniter says,
    and the guard lets a run through only on a day Celery would have fired."""
    from croniter import croniter
    from saq import CronJob, Queue, Worker
    from saq.job import Job, Status

    plan = translate_schedule(
        "crontab",
        {"minute": 0, "hour": 9, "day_of_month": "1-7", "day_of_week": "mon"},
        args=["eu"],
        task_params=[],
        options={"queue": unique_name},
    )
    assert plan.strategy == "cron+guard" and plan.exact is True
    ran: list[float] = []

    async def monthly_report(ctx, **kwargs):
        ran.append(ctx["job"].scheduled)
        return "ran"

    name = f"{unique_name}.monthly_report"
    fn = guarded(monthly_report, plan.guard, plan.cron_tz, name=name)

    async def main():
        queue = Queue.from_url(redis_url, name=plan.queue)
        try:
            cron_job = CronJob(
                fn,
                cron=plan.cron,
                unique=plan.unique,
                timeout=plan.timeout,
                retries=plan.retries,
                ttl=plan.ttl,
                kwargs={"region": "eu"},
            )
            worker = Worker(
                queue=queue,
                functions=[],
                cron_jobs=[cron_job],
                cron_tz=ZoneInfo(plan.cron_tz),
                burst=True,
                dequeue_timeout=2,
            )
            assert name in worker.functions
            # the worker's own scheduling step puts the next fire into Redis, keyed cron:<name>
            await worker.schedule()
            job = await queue.job(f"cron:{name}")
            assert job is not None and job.kwargs == {"region": "eu"} and job.timeout == plan.timeout
            expected = croniter(plan.cron, datetime.now(ZoneInfo(plan.cron_tz))).get_next()
            assert job.scheduled == int(expected)
            await queue.abort(job, "test done")
            # runs whose scheduled instant lies on a matching / non-matching day (both in the past → due now)
            match = int(datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc).timestamp())  # Mon 1 Jan 2024
            nomatch = int(datetime(2024, 1, 8, 9, 0, tzinfo=timezone.utc).timestamp())  # Mon 8 Jan 2024
            j1 = await queue.enqueue(
                Job(function=name, kwargs={"region": "eu"}, scheduled=match, key=f"{unique_name}-a")
            )
            j2 = await queue.enqueue(
                Job(function=name, kwargs={"region": "eu"}, scheduled=nomatch, key=f"{unique_name}-b")
            )
            worker.cron_jobs = []  # process only the two jobs above
            await queue.schedule()  # move the due scheduled jobs to the queue (the worker's 1 s tick does this too)
            await worker.start()
            await j1.refresh()
            await j2.refresh()
            return j1, j2
        finally:
            keys = [k async for k in queue.redis.scan_iter(match=f"*{unique_name}*")]
            if keys:
                await queue.redis.delete(*keys)
            await queue.disconnect()

    j1, j2 = asyncio.run(main())
    assert j1.status == Status.COMPLETE and j1.result == "ran"
    assert j2.status == Status.COMPLETE and j2.result is None  # guard: day 8 is not in 1-7
    assert ran == [datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc).timestamp()]
