"""Runtime pieces that need no worker: import weight, celery_impl, the decorator contract,
exception-name resolution, the thread bridge and TaskSelf.retry's decisions on a real saq Job."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from celery import Celery, shared_task
from celery.app.task import Task
from celery.exceptions import MaxRetriesExceededError as CeleryMax
from celery.exceptions import Retry as CeleryRetry
from saq.job import Job

from saqmigrate.runtime import task as rt
from saqmigrate.runtime.task import TaskOptions, TaskSelf, celery_impl, job_options, run_sync, saq_task, task_self


def test_runtime_imports_light():
    code = (
        "import sys, saqmigrate.runtime.task as t\n"
        "heavy = [m for m in ('celery', 'kombu', 'libcst', 'click', 'rich', 'saqmigrate.index', "
        "'saqmigrate.translate', 'saqmigrate.classify') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


APP = Celery("unit", set_as_current=False)


@APP.task(bind=True)
def bound(self, x):
    return ("bound", self, x)


@APP.task(autoretry_for=(IOError,))
def plain(x):
    return ("plain", x)


@shared_task(bind=True)
def shared(self, x):
    return ("shared", self, x)


class ClassBased(Task):
    name = "unit.ClassBased"

    def run(self, x):
        return x


def test_celery_impl_returns_the_undecorated_function():
    assert celery_impl(plain)(1) == ("plain", 1)  # autoretry wrapper bypassed: no task.retry
    assert celery_impl(bound)("ME", 2) == ("bound", "ME", 2)
    assert celery_impl(shared)("ME", 3) == ("shared", "ME", 3)
    assert celery_impl(plain) is celery_impl(plain)
    with pytest.raises(TypeError, match="class-based"):
        celery_impl(APP.register_task(ClassBased()))


def test_saq_task_contract():
    opts = TaskOptions(retries=3, timeout=5, heartbeat=0)

    @saq_task("unit.tasks.contract", opts)
    async def contract(ctx, *, a, b=1):
        return a + b

    assert contract.__qualname__ == "unit.tasks.contract" and contract.__name__ == "contract"
    assert contract.registration == ("unit.tasks.contract", contract) and contract.saq_options is opts
    assert job_options("unit.tasks.contract") == {
        "retries": 3,
        "retry_delay": 180,
        "retry_backoff": False,
        "timeout": 5,
        "heartbeat": 0,
        "ttl": 86400,
    }
    assert asyncio.iscoroutinefunction(contract)
    with pytest.raises(KeyError, match="no SAQ task registered as 'nope'"):
        job_options("nope")
    with pytest.raises(TypeError, match="must be an async def"):
        saq_task("unit.sync")(lambda ctx: None)
    with pytest.raises(TypeError, match="expected TaskOptions"):
        saq_task("unit.bad", {"retries": 2})


def test_task_self_outside_saq_task():
    with pytest.raises(RuntimeError, match="inside a function decorated with @saq_task"):
        task_self({"job": Job("f")})


def test_exception_names_resolve_in_module_globals_builtins_and_imports():
    assert rt._resolve("IOError", None) is OSError
    assert rt._resolve("cf.TimeoutError", __name__) is cf.TimeoutError  # an alias in the task module
    assert rt._resolve("json.JSONDecodeError", None).__name__ == "JSONDecodeError"
    with pytest.raises(LookupError, match="not an exception class"):
        rt._resolve("nothing.Here", __name__)


def test_run_sync_thread_and_contextvars():
    var = contextvars.ContextVar("v", default="unset")

    def body(a, *, b):
        return a + b, var.get(), threading.current_thread().name

    async def main():
        var.set("from-loop")
        return await run_sync(body, 1, b=2)

    total, seen, thread = asyncio.run(main())
    assert (total, seen) == (3, "from-loop") and thread.startswith("saqmigrate-bridge")


def _self(attempts: int, **opts) -> tuple[TaskSelf, Job]:
    job = Job("unit.f", kwargs={"a": 1}, key="k1")
    job.attempts = attempts
    # no loop: retry() never touches it (only update_state does)
    return TaskSelf({"job": job, "worker": None}, "unit.f", TaskOptions(**opts), None, ("a", "b")), job


def test_retry_raises_celery_compatible_retry_with_countdown():
    me, _ = _self(1, retries=4, max_retries=3, default_retry_delay=42)
    with pytest.raises(CeleryRetry) as info:
        me.retry()
    assert info.value.countdown == 42
    with pytest.raises(CeleryRetry) as info:
        me.retry(countdown=5)
    assert info.value.countdown == 5
    eta = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=100)  # naive = UTC
    with pytest.raises(CeleryRetry) as info:
        me.retry(eta=eta)
    assert 98 <= info.value.countdown <= 100
    with pytest.raises(CeleryRetry) as info:
        me.retry(args=(7,), kwargs={"b": 2})
    assert info.value.new_kwargs == {"b": 2, "a": 7}


def test_retry_past_the_limit_raises_exc_or_max_retries():
    me, _ = _self(4, retries=4, max_retries=3)
    err = KeyError("orig")
    with pytest.raises(KeyError):
        me.retry(exc=err)
    with pytest.raises(CeleryMax):
        me.retry()
    with pytest.raises(me.MaxRetriesExceededError):
        me.retry()
    # a per-call override allows more
    with pytest.raises(CeleryRetry):
        me.retry(max_retries=10)
    me, _ = _self(2, retries=6, max_retries=5)
    with pytest.raises(KeyError):
        me.retry(exc=err, max_retries=1)


def test_retry_throw_false_is_refused():
    me, _ = _self(1)
    with pytest.raises(TypeError, match="SM165"):
        me.retry(throw=False)


def test_decide_schedules_exact_delay_and_blocks_other_errors():
    opts = TaskOptions(
        retries=4, max_retries=3, retry_delay=2, retry_backoff=5, retry_jitter=False, autoretry_for=("OSError",)
    )
    job = Job("f", **opts.job_kwargs())
    delays = []
    for attempt in (1, 2, 3):
        job.attempts = attempt
        rt._decide(job, opts, (), OSError())
        assert job.retryable and job.retry_backoff is False
        delays.append(job.retry_delay)
    assert delays == [2, 4, 5]  # min(5, 2 * 2**n)
    job.attempts = 4
    rt._decide(job, opts, (), OSError())
    assert not job.retryable
    job = Job("f", **opts.job_kwargs())
    job.attempts = 1
    rt._decide(job, opts, (), ValueError())
    assert not job.retryable
