"""Eager mode itself: the switches, where the body runs, the async paths, EagerQueue, the result API."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import threading
from decimal import Decimal

import pytest

from saqmigrate.runtime import testing
from saqmigrate.runtime.task import TaskOptions, run_sync, saq_task, task_self

SEEN: list = []


def _body(label, value=None):
    SEEN.append((label, threading.get_ident(), asyncio_running(), value))
    return {"label": label, "value": value}


def asyncio_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@saq_task("eagermode.where")
async def where(ctx, *, label, value=None):
    return await run_sync(_body, label, value)


def _progress(self, n):
    self.update_state(state="PROGRESS", meta={"current": n, "total": 10})
    return self.request.id


@saq_task("eagermode.progress")
async def progress(ctx, *, n):
    return await run_sync(_progress, task_self(ctx), n)


def _nested(label):
    inner = testing.enqueue("eagermode.where", label=f"inner-{label}")
    SEEN.append(("outer", threading.get_ident(), asyncio_running(), inner.get()))
    return inner.get()["label"]


@saq_task("eagermode.nested")
async def nested(ctx, *, label):
    return await run_sync(_nested, label)


@saq_task(
    "eagermode.native",
    TaskOptions(retries=3, max_retries=2, autoretry_for=(ValueError,), retry_delay=5, default_retry_delay=5),
)
async def native(ctx, *, fail_times):
    job = ctx["job"]
    if job.attempts <= fail_times:
        raise ValueError(f"attempt {job.attempts}")
    return job.attempts


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv(testing.ENV_EAGER, raising=False)
    monkeypatch.delenv(testing.ENV_PROPAGATES, raising=False)
    SEEN.clear()
    previous = testing.set_eager(None)
    yield
    testing.set_eager(*(previous or (None,)))


# --- the switches ------------------------------------------------------------------------------


def test_off_by_default_and_switched_by_env(monkeypatch):
    assert not testing.eager_enabled() and not testing.eager_propagates()
    monkeypatch.setenv("SAQMIGRATE_EAGER", "1")
    monkeypatch.setenv("SAQMIGRATE_EAGER_PROPAGATES", "true")
    assert testing.eager_enabled() and testing.eager_propagates()
    monkeypatch.setenv("SAQMIGRATE_EAGER", "0")
    assert not testing.eager_enabled()


def test_context_manager_and_decorator_nest_and_restore(monkeypatch):
    monkeypatch.setenv("SAQMIGRATE_EAGER", "1")
    with testing.eager(False):
        assert not testing.eager_enabled()
        with testing.eager(propagate=True):
            assert testing.eager_enabled() and testing.eager_propagates()
        assert not testing.eager_enabled()
    assert testing.eager_enabled() and not testing.eager_propagates()  # the environment again

    @testing.eager(propagate=True)
    def sync_fn():
        return testing.eager_enabled(), testing.eager_propagates()

    @testing.eager(False)
    async def async_fn():
        await asyncio.sleep(0)
        return testing.eager_enabled()

    assert sync_fn() == (True, True)
    assert asyncio.run(async_fn()) is False
    previous = testing.set_eager(False)
    assert not testing.eager_enabled()
    testing.set_eager(*(previous or (None,)))
    assert testing.eager_enabled()


def test_django_setting_and_override_settings():
    code = """
import django
from django.conf import settings
settings.configure(SAQMIGRATE_EAGER=False)
django.setup()
from django.test.utils import override_settings
from saqmigrate.runtime import testing
assert not testing.eager_enabled()
with override_settings(SAQMIGRATE_EAGER=True, SAQMIGRATE_EAGER_PROPAGATES=True):
    assert testing.eager_enabled() and testing.eager_propagates()
assert not testing.eager_enabled() and not testing.eager_propagates()
print("ok")
"""
    pytest.importorskip("django")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SAQMIGRATE_EAGER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.strip() == "ok", out.stderr


def test_testing_module_imports_without_celery_libcst_click_rich():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'celery', 'kombu', 'billiard', 'libcst', 'click', 'rich'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
from saqmigrate.runtime import testing
from saqmigrate.runtime.task import saq_task, run_sync, task_self
@saq_task("slim.t")
async def t(ctx, *, n):
    return await run_sync(lambda n: n + 1, n)
def retrying(self):
    raise self.retry(countdown=9)
@saq_task("slim.r")
async def r(ctx):
    return await run_sync(retrying, task_self(ctx))
with testing.eager(propagate=False):
    assert testing.enqueue("slim.t", n=1).get() == 2
    res = testing.enqueue("slim.r")
    assert res.state == "FAILURE" and type(res.result).__name__ == "MaxRetriesExceededError" and res.attempts == 4
assert not [m for m in sys.modules if m.split('.')[0] in ('celery', 'libcst', 'click', 'rich')]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


# --- where the body runs ---------------------------------------------------------------------


def test_sync_caller_runs_the_body_in_its_own_thread_without_a_loop():
    with testing.eager():
        r = testing.enqueue("eagermode.where", label="a")
    assert r.get() == {"label": "a", "value": None}
    assert SEEN == [("a", threading.get_ident(), False, None)]


def test_sync_call_from_inside_a_running_loop_does_not_nest_loops():
    async def main():
        with testing.eager():
            return testing.enqueue("eagermode.where", label="in-loop"), threading.get_ident()

    r, ident = asyncio.run(main())
    assert r.successful() and SEEN[0][:2] == ("in-loop", ident)


def test_async_caller_runs_on_its_loop_and_the_body_in_a_worker_thread():
    async def main():
        with testing.eager():
            return await testing.aenqueue("eagermode.where", label="async")

    r = asyncio.run(main())
    assert r.get()["label"] == "async"
    assert SEEN[0][1] != threading.get_ident() and SEEN[0][2] is False


def test_a_task_enqueuing_another_runs_both_inline():
    with testing.eager(), testing.record() as results:
        r = testing.enqueue("eagermode.nested", label="x")
    assert r.get() == "inner-x"
    assert [res.name for res in results] == ["eagermode.where", "eagermode.nested"]
    assert {s[1] for s in SEEN} == {threading.get_ident()}


def test_native_async_task_retries_inline_with_its_limit():
    with testing.eager(propagate=False):
        ok = testing.enqueue("eagermode.native", fail_times=2)
        bad = testing.enqueue("eagermode.native", fail_times=5)
    assert ok.get() == 3 and ok.attempts == 3
    assert bad.failed() and isinstance(bad.result, ValueError) and bad.result.args == ("attempt 3",)
    assert "ValueError: attempt 3" in bad.traceback and bad.attempts == 3


# --- what the function gets and returns ------------------------------------------------------


def test_kwargs_are_what_a_worker_gets():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    with testing.eager():
        testing.enqueue("eagermode.where", label="k", value={"when": when, "price": Decimal("1.10"), "t": (1, 2)})
    assert SEEN[0][3] == {"when": when, "price": Decimal("1.10"), "t": [1, 2]}  # tuple -> list, as JSON
    with testing.eager(), pytest.raises(TypeError):
        testing.enqueue("eagermode.where", label="k", value={1, 2})  # a set cannot be sent to a worker


def test_update_state_reaches_the_job():
    with testing.eager():
        r = testing.enqueue("eagermode.progress", n=4, _key="fixed-key")
    assert r.get() == "fixed-key" and r.id == r.task_id == "fixed-key"
    assert r.job.meta["state"] == "PROGRESS" and r.job.meta["info"] == {"current": 4, "total": 10}


def test_result_api_like_eager_result():
    with testing.eager(propagate=False):
        ok = testing.enqueue("eagermode.where", label="r")
        bad = testing.enqueue("eagermode.native", fail_times=9)
    assert (ok.state, ok.status, ok.ready(), ok.successful(), ok.failed()) == ("SUCCESS", "SUCCESS", True, True, False)
    assert ok.result == ok.info == ok.wait() == {"label": "r", "value": None} and ok.traceback is None
    assert ok.date_done is None and ok.name == "eagermode.where" and repr(ok) == f"<EagerSaqResult: {ok.id}>"
    assert ok.then(lambda res: res.id) == ok.id and ok == ok.id
    assert (bad.state, bad.ready(), bad.successful(), bad.failed()) == ("FAILURE", True, False, True)
    with pytest.raises(ValueError, match="attempt 3"):
        bad.get()
    assert bad.get(propagate=False) is bad.result
    from celery.exceptions import TaskRevokedError

    ok.revoke()
    assert ok.state == "REVOKED" and isinstance(ok.result, TaskRevokedError)
    with pytest.raises(TaskRevokedError):
        ok.get()


# --- EagerQueue: code that holds a SAQ queue itself -------------------------------------------


def test_eager_queue_enqueue_apply_and_job_lookup():
    async def main():
        q = testing.EagerQueue("q1", [where], propagate=False)
        job = await q.enqueue("eagermode.where", label="q", value=1)
        assert job.status == "complete" and job.result == {"label": "q", "value": 1} and job.attempts == 1
        assert await q.job(job.key) is job and q.results[job.key].get()["value"] == 1
        assert await q.apply("eagermode.where", label="applied") == {"label": "applied", "value": None}
        failed = await q.enqueue("eagermode.native", fail_times=9)
        assert failed.status == "failed" and "ValueError" in failed.error and failed.attempts == 3
        strict = testing.EagerQueue("q2", propagate=True)
        from celery.exceptions import Retry

        with pytest.raises(Retry) as info:  # as Celery eager with task_eager_propagates: not retried
            await strict.enqueue("eagermode.native", fail_times=9)
        assert isinstance(info.value.exc, ValueError) and info.value.when == 5
        return True

    assert asyncio.run(main())


def test_unknown_function_names_the_fix():
    with testing.eager(), pytest.raises(LookupError, match="register"):
        testing.enqueue("nowhere.tasks.missing")
