"""A task's outcome is made plain off the loop (runtime/offloop.py): SAQ serialises the result and formats
the traceback on the event loop, which ran the application's code there (a dict subclass's ``items()``, an
exception's ``__str__``, a model given to an exception) even for a task bridged to a thread.

Real SAQ worker from ``worker_settings`` on the real Redis, a heartbeat coroutine on its loop. Each task's
slow code takes 300 ms. Through ``saq_task`` the loop never stalls 50 ms and SAQ stores what it stored
before (the same result, the same error text); the control registers the same functions with SAQ directly
(no runtime), so the test can fail.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from saq.job import Status

from saqmigrate.runtime import offloop
from saqmigrate.runtime.task import TaskOptions, saq_task
from saqmigrate.runtime.worker import worker_settings

from tests.runtime_task.loopwatch import LoopGap, run_job, running_worker

SLOW = 0.3


class ItemsDict(dict):
    def items(self):
        time.sleep(SLOW)
        return super().items()


class SlowStr(Exception):
    def __str__(self) -> str:
        time.sleep(SLOW)
        return "slow text"


class Book:
    def __str__(self) -> str:
        time.sleep(SLOW)  # a model's __str__ reading a foreign key
        return "T1 by Ann"


async def returns_dict_subclass(ctx):
    return ItemsDict(a=1, b=[1, 2])


async def raises_slow_str(ctx):
    raise SlowStr()


async def raises_with_model(ctx):
    try:
        raise KeyError("inner")
    except KeyError as exc:
        raise ValueError(Book()) from exc


async def warm(ctx):
    return None


FUNCTIONS = {f.__name__: f for f in (returns_dict_subclass, raises_slow_str, raises_with_model)}


def _run(unique_name: str, through_runtime: bool) -> dict[str, tuple[float, Status, object, str]]:
    every = {**FUNCTIONS, "warm": warm}
    if through_runtime:
        functions = [saq_task(f"t.{n}", TaskOptions(retries=1))(f).registration for n, f in every.items()]
    else:
        functions = [(f"t.{n}", f) for n, f in every.items()]

    async def main() -> dict[str, tuple[float, Status, object, str]]:
        settings = worker_settings(unique_name, functions, dead_letters=False, metrics=False)
        out = {}
        async with running_worker(settings) as queue:
            # the worker's start-up hooks run on the loop while its first job starts: not what is measured
            await run_job(queue, "t.warm")
            for name in FUNCTIONS:
                async with LoopGap() as watch:
                    job = await run_job(queue, f"t.{name}", retries=1)
                    await asyncio.sleep(0.05)
                out[name] = (watch.gap, job.status, job.result, job.error or "")
        return out

    return asyncio.run(main())


@pytest.mark.slow
def test_results_and_errors_are_made_plain_off_the_loop(unique_name):
    out = _run(unique_name, through_runtime=True)
    for name, (gap, *_rest) in out.items():
        assert gap < 0.05, f"{name}: the loop stalled {gap * 1000:.0f} ms"
    assert out["returns_dict_subclass"][1:3] == (Status.COMPLETE, {"a": 1, "b": [1, 2]})
    gap, status, _result, error = out["raises_slow_str"]
    assert status == Status.FAILED
    assert error.rstrip().endswith("SlowStr: slow text"), error
    gap, status, _result, error = out["raises_with_model"]
    assert status == Status.FAILED
    assert error.rstrip().endswith("ValueError: T1 by Ann"), error
    assert "KeyError: 'inner'" in error  # the chain is kept


@pytest.mark.slow
def test_control_saq_alone_runs_that_code_on_the_loop(unique_name):
    out = _run(unique_name + "c", through_runtime=False)
    for name, (gap, *_rest) in out.items():
        assert gap >= SLOW * 0.8, f"{name}: the control did not stall ({gap * 1000:.0f} ms): the test proves nothing"
    assert out["returns_dict_subclass"][1:3] == (Status.COMPLETE, {"a": 1, "b": [1, 2]})  # the same value stored
    assert out["raises_with_model"][3].rstrip().endswith("ValueError: T1 by Ann")  # the same error text


def test_plain_accepts_json_data_only_and_freeze_keeps_type_and_isinstance():
    assert offloop.plain({"a": [1, 2.0, "x", None, True, (1, 2)]})
    assert not offloop.plain({1: "int key"})
    assert not offloop.plain(ItemsDict())
    assert not offloop.plain([object()])
    exc = SlowStr()
    assert offloop.freeze(exc, "frozen") and str(exc) == "frozen"
    assert isinstance(exc, SlowStr) and type(exc).__name__ == "SlowStr" and type(exc).__module__ == __name__
    key = KeyError(Book())
    assert offloop.needs_text(key) == [key]
    assert not offloop.freeze(key, "x")  # a builtin class with its own __str__: left as it is
