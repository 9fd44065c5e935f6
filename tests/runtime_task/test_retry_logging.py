"""A planned retry logs one INFO line, as Celery does; only the final failure logs ERROR with its traceback.

Real SAQ worker, real Redis (DB 4), the runtime's tasks; the records are what the ``saq`` and
``saqmigrate`` loggers emit (caplog at the root). Celery's line is
``Task <name>[<id>] retry: Retry in 10s: ValueError('boom')`` (celery/app/trace.py LOG_RETRY).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit, urlunsplit

import pytest
from saq.job import Job, Status

from runtime_task_harness import running_worker, wait_done
from saqmigrate.runtime.task import saq_task, task_self
from saqmigrate.translate.options import translate_task_options

pytestmark = pytest.mark.slow

SAQ_ERROR = "Error processing job %s"  # saq/worker.py: every job error, with its traceback


def _db4(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/4", parts.query, parts.fragment))


def _run(redis_url: str, queue_name: str, fn, kwargs: dict) -> Job:
    async def main() -> Job:
        async with running_worker(_db4(redis_url), queue_name, [fn.registration]) as (queue, _):
            job = await queue.enqueue(fn.saq_name, key=f"{queue_name}-job", **kwargs)
            done = await wait_done(job)
            assert done is not None
            return done

    return asyncio.run(main())


def _records(caplog, key: str) -> tuple[list[logging.LogRecord], list[logging.LogRecord]]:
    """(Celery-style retry lines, SAQ's job-error records) for the job ``key``."""
    retries = [
        r
        for r in caplog.records
        if r.name == "saqmigrate.runtime.task" and " retry: " in r.getMessage() and f"[{key}]" in r.getMessage()
    ]
    errors = [r for r in caplog.records if r.name == "saq" and r.msg == SAQ_ERROR and key in r.getMessage()]
    return retries, errors


def test_autoretry_within_limit_logs_info_then_one_error_with_traceback(redis_url, unique_name, caplog):
    caplog.set_level(logging.INFO)
    name = f"proj.tasks.{unique_name}"
    calls: list[int] = []
    opts = translate_task_options(
        {"autoretry_for": ["IOError"], "max_retries": 2, "default_retry_delay": 0.1}, uses_self_retry=False
    ).task

    @saq_task(name, opts)
    async def flaky(ctx, *, n):
        calls.append(n)
        raise OSError(f"boom {len(calls)}")

    job = _run(redis_url, unique_name, flaky, {"n": 1})
    assert job.status == Status.FAILED and len(calls) == 3
    retries, errors = _records(caplog, job.key)
    assert [r.getMessage() for r in retries] == [
        f"Task {name}[{job.key}] retry: Retry in 0.1s: OSError('boom 1') (attempt 1 of 3)",
        f"Task {name}[{job.key}] retry: Retry in 0.1s: OSError('boom 2') (attempt 2 of 3)",
    ]
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in retries)
    # the final failure: SAQ's own ERROR record, once, with the traceback of the last attempt
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    assert errors[0].exc_info and str(errors[0].exc_info[1]) == "boom 3"
    # the traceback once: SAQ's job text no longer carries the previous attempt's (attack 41 #14)
    text = logging.Formatter().format(errors[0])
    assert text.count("Traceback (most recent call last)") == 1 and "boom 2" not in text, text
    assert job.error and "boom 3" in job.error  # the stored job keeps its (last) error


def test_self_retry_that_recovers_logs_no_error(redis_url, unique_name, caplog):
    caplog.set_level(logging.INFO)
    name = f"proj.tasks.{unique_name}"
    calls: list[int] = []
    opts = translate_task_options({"max_retries": 3}, uses_self_retry=True).task

    @saq_task(name, opts)
    async def bound(ctx, *, n):
        calls.append(n)
        if len(calls) == 1:
            raise task_self(ctx).retry(exc=ValueError("not yet"), countdown=0.2)
        return "done"

    job = _run(redis_url, unique_name, bound, {"n": 1})
    assert job.status == Status.COMPLETE and job.result == "done"
    retries, errors = _records(caplog, job.key)
    assert [r.getMessage() for r in retries] == [
        f"Task {name}[{job.key}] retry: Retry in 0.2s: ValueError('not yet') (attempt 1 of 4)"
    ]
    assert retries[0].levelno == logging.INFO
    assert errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_unplanned_error_after_a_retry_keeps_error_and_traceback(redis_url, unique_name, caplog):
    caplog.set_level(logging.INFO)
    name = f"proj.tasks.{unique_name}"
    calls: list[int] = []
    opts = translate_task_options({"max_retries": 3}, uses_self_retry=True).task

    @saq_task(name, opts)
    async def bound(ctx, *, n):
        calls.append(n)
        if len(calls) == 1:
            raise task_self(ctx).retry(countdown=0.1)  # no exc: Celery's "Retry in 0.1s"
        raise KeyError("missing")  # not retried: the task fails here

    job = _run(redis_url, unique_name, bound, {"n": 1})
    assert job.status == Status.FAILED and len(calls) == 2
    retries, errors = _records(caplog, job.key)
    assert [r.getMessage() for r in retries] == [f"Task {name}[{job.key}] retry: Retry in 0.1s (attempt 1 of 4)"]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    assert isinstance(errors[0].exc_info[1], KeyError)


def test_a_failure_without_retry_is_logged_by_saq_as_before(redis_url, unique_name, caplog):
    caplog.set_level(logging.INFO)
    name = f"proj.tasks.{unique_name}"
    opts = translate_task_options({}, uses_self_retry=False).task

    @saq_task(name, opts)
    async def broken(ctx, *, n):
        raise ValueError("bad input")

    job = _run(redis_url, unique_name, broken, {"n": 1})
    assert job.status == Status.FAILED
    retries, errors = _records(caplog, job.key)
    assert retries == []
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR and errors[0].exc_info is not None


def test_a_celery_task_body_retrying_through_self_retry(redis_url, unique_name, caplog):
    """The unchanged Celery body (bridge mode: celery_impl + run_sync), bound, calling self.retry(exc=...)."""
    from celery import Celery

    from saqmigrate.runtime.task import celery_impl, run_sync

    caplog.set_level(logging.INFO)
    app = Celery(f"rt{unique_name}", broker=_db4(redis_url), backend=None, set_as_current=False)
    name = f"proj.tasks.{unique_name}"
    calls: list[int] = []

    @app.task(name=name, bind=True, max_retries=1)
    def celery_task(self, n):
        calls.append(n)
        raise self.retry(exc=ConnectionError("down"), countdown=0.1)

    opts = translate_task_options({"max_retries": 1}, uses_self_retry=True).task

    @saq_task(name, opts)
    async def twin(ctx, *, n):
        return await run_sync(celery_impl(celery_task), task_self(ctx), n)

    job = _run(redis_url, unique_name, twin, {"n": 1})
    assert job.status == Status.FAILED and len(calls) == 2  # one retry, then past max_retries
    retries, errors = _records(caplog, job.key)
    assert [r.getMessage() for r in retries] == [
        f"Task {name}[{job.key}] retry: Retry in 0.1s: ConnectionError('down') (attempt 1 of 2)"
    ]
    assert len(errors) == 1 and isinstance(errors[0].exc_info[1], ConnectionError)
