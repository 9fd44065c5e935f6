"""The run-time net under native ports (runtime/loopguard.py), on a real SAQ worker and Redis.

A body that a static proof wrongly ported (here: ``time.sleep`` on the loop, a synchronous ORM call)
is caught on its first job: one ERROR line names the task and the line, and its next jobs run the Celery
task's body in the bridge's threads, so a heartbeat coroutine on the worker's loop no longer stalls.
The control (``SAQMIGRATE_LOOP_GUARD=0``) stalls on every job, so the test can fail.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

import pytest
from celery import Celery
from saq.job import Status

from saqmigrate.runtime import loopguard
from saqmigrate.runtime.task import saq_task
from saqmigrate.runtime.worker import worker_settings

from tests.runtime_task.loopwatch import LoopGap, run_job, running_worker

pytestmark = pytest.mark.slow

SLOW = 0.3


def _worker_run(queue_name: str, task, jobs: list[dict]) -> list[tuple[float, Status, object]]:
    """Run ``jobs`` one after the other on a real worker; per job: (longest loop stall, status, result)."""

    async def main() -> list[tuple[float, Status, object]]:
        settings = worker_settings(queue_name, [task.registration], dead_letters=False, metrics=False)
        out = []
        async with running_worker(settings) as queue:
            await asyncio.sleep(0.2)
            for kwargs in jobs:
                async with LoopGap() as watch:
                    job = await run_job(queue, task.saq_name, **kwargs)
                out.append((watch.gap, job.status, job.result))
        return out

    return asyncio.run(main())


@pytest.fixture
def celery_app(unique_name):
    app = Celery(f"loopguard_{unique_name}", set_as_current=True)
    yield app
    loopguard.reset()


def test_a_port_that_blocks_the_loop_is_named_and_bridged_from_its_next_job(
    celery_app, unique_name, caplog, monkeypatch
):
    monkeypatch.delenv(loopguard.ENV, raising=False)
    name = f"proj.tasks.slow_{unique_name}"

    @celery_app.task(name=name)
    def slow(n):  # the Celery body: blocking is fine in a thread
        time.sleep(SLOW)
        return n * 2

    @saq_task(name)
    async def slow_port(ctx, *, n):  # what a wrong proof would generate
        time.sleep(SLOW)  # the blocking call on the loop
        return n * 2

    caplog.set_level(logging.WARNING, logger="saqmigrate.runtime.loopguard")
    (first, second, third) = _worker_run(unique_name, slow_port, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert first[1:] == (Status.COMPLETE, 2) and first[0] >= SLOW * 0.8  # caught in the act: it did stall
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and name in errors[0] and "held the event loop" in errors[0], errors
    assert f"test_loop_guard.py:{slow_port.__wrapped__.__code__.co_firstlineno + 2}" in errors[0], errors[0]
    for gap, status, result in (second, third):  # the Celery body, in a bridge thread: same result
        assert status == Status.COMPLETE and gap < 0.05, (gap, status)
    assert (second[2], third[2]) == (4, 6)


def test_control_without_the_guard_every_job_stalls(celery_app, unique_name, monkeypatch):
    monkeypatch.setenv(loopguard.ENV, "0")
    name = f"proj.tasks.slow_{unique_name}"

    @celery_app.task(name=name)
    def slow(n):
        time.sleep(SLOW)
        return n

    @saq_task(name)
    async def slow_port(ctx, *, n):
        time.sleep(SLOW)
        return n

    runs = _worker_run(unique_name, slow_port, [{"n": 1}, {"n": 2}])
    assert all(gap >= SLOW * 0.8 for gap, _, _ in runs), runs


def test_a_synchronous_orm_call_demotes_the_port(celery_app, unique_name, caplog):
    from django.core.exceptions import SynchronousOnlyOperation

    name = f"proj.tasks.orm_{unique_name}"

    @celery_app.task(name=name, bind=True)
    def count(self, n):  # bind=True: the bridge passes the task's self, as a bridged twin does
        return (self.request.id is not None, n)

    @saq_task(name)
    async def count_port(ctx, *, n):
        raise SynchronousOnlyOperation("You cannot call this from an async context - use a thread or sync_to_async.")

    caplog.set_level(logging.ERROR, logger="saqmigrate.runtime.loopguard")
    first, second = _worker_run(unique_name, count_port, [{"n": 1}, {"n": 2}])
    assert first[1] == Status.FAILED  # that attempt fails, as it did before the net
    assert second[1:] == (Status.COMPLETE, [True, 2]) or second[1:] == (Status.COMPLETE, (True, 2)), second
    assert any("synchronous Django ORM call" in r.getMessage() and name in r.getMessage() for r in caplog.records)


def test_a_stall_while_importing_a_module_is_a_warning_not_a_demotion(
    celery_app, unique_name, tmp_path, caplog, monkeypatch
):
    module = f"heavy_{unique_name}"
    (tmp_path / f"{module}.py").write_text(f"import time\n\ntime.sleep({SLOW})\nTABLE = {{'x': 7}}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"proj.tasks.imports_{unique_name}"

    @celery_app.task(name=name)
    def reads():
        return 0  # never used: no demotion

    @saq_task(name)
    async def reads_port(ctx):
        heavy = __import__(module)
        return heavy.TABLE["x"]

    caplog.set_level(logging.WARNING, logger="saqmigrate.runtime.loopguard")
    try:
        first, second = _worker_run(unique_name, reads_port, [{}, {}])
    finally:
        sys.modules.pop(module, None)
    assert (first[2], second[2]) == (7, 7)  # the port kept running: not demoted
    assert not loopguard.demoted(name)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("importing a module" in w and name in w for w in warnings), warnings


def _calibrated_sum_size(seconds: float) -> int:
    """How many numbers ``sum(range(n))`` adds in about ``seconds`` here: one C call, no GIL release."""
    n = 2_000_000
    took = []
    for _ in range(3):  # the fastest of three: a slow sample (a busy core) would size the call too small
        start = time.perf_counter()
        sum(range(n))
        took.append(time.perf_counter() - start)
    return max(n, int(n * seconds / max(min(took), 1e-6)))


def test_one_long_c_call_is_named_though_the_watchdog_cannot_sample_it(celery_app, unique_name, caplog, monkeypatch):
    """`sum(range(n))` holds the GIL for the whole call: the watchdog thread only runs after it returned
    (attack 46 #1: no ERROR, no demotion, the stall on every job). Timing each step of the body names it."""
    monkeypatch.delenv(loopguard.ENV, raising=False)
    name = f"proj.tasks.csum_{unique_name}"
    size = _calibrated_sum_size(0.3)

    @celery_app.task(name=name)
    def csum(n):
        return n

    @saq_task(name)
    async def csum_port(ctx, *, n):
        return sum(range(size)) and n  # one C call on the loop

    caplog.set_level(logging.WARNING, logger="saqmigrate.runtime.loopguard")
    first, second = _worker_run(unique_name, csum_port, [{"n": 1}, {"n": 2}])
    assert first[1:] == (Status.COMPLETE, 1) and first[0] >= 0.2  # it did hold the loop
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and name in errors[0] and "held the event loop" in errors[0], errors
    assert loopguard.demoted(name) and second[1:] == (Status.COMPLETE, 2)  # then the Celery body (bridge)


def test_control_a_step_under_the_threshold_is_not_a_stall(celery_app, unique_name, caplog, monkeypatch):
    monkeypatch.delenv(loopguard.ENV, raising=False)
    name = f"proj.tasks.quick_{unique_name}"
    size = _calibrated_sum_size(0.02)

    @celery_app.task(name=name)
    def quick(n):
        return n

    @saq_task(name)
    async def quick_port(ctx, *, n):
        await asyncio.sleep(0.05)  # suspends: not a stall
        return sum(range(size)) and n

    caplog.set_level(logging.WARNING, logger="saqmigrate.runtime.loopguard")
    runs = _worker_run(unique_name, quick_port, [{"n": 1}, {"n": 2}])
    assert [r[1:] for r in runs] == [(Status.COMPLETE, 1), (Status.COMPLETE, 2)]
    guard = [r for r in caplog.records if r.name == "saqmigrate.runtime.loopguard" and r.levelno >= logging.WARNING]
    assert not loopguard.demoted(name) and not guard, [r.getMessage() for r in guard]
