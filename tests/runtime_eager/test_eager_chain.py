"""Eager mode for a finalized project's chains and results, against a real Celery eager run (attack 17
findings 1 and 2).

1. ``chain(...).enqueue()`` in eager mode ran every step inline but returned a result reading Redis, where
   nothing was written: PENDING for ever, ``.get()`` hung. Celery's eager ``chain.apply()`` returns the last
   step's ``EagerResult`` (its ``parent`` the step before), and a step before the last that fails stops the
   chain and raises its exception from the dispatch (the next step calls ``previous.get()``).
2. ``isinstance(task.delay(), celery.result.EagerResult)`` (cookiecutter-django's only task test) failed after
   finalize with Celery still installed: the eager result is a Celery ``EagerResult`` while Celery is
   importable, and an ``EagerSaqResult`` when it is not.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from saqmigrate.runtime import testing
from saqmigrate.runtime.jobs import chain, saq_job
from saqmigrate.runtime.task import TaskOptions

QUEUE = f"eagerchain-{uuid.uuid4().hex[:8]}"
CALLS: list[tuple] = []


def add_body(x, y):
    CALLS.append(("add", x, y))
    return x + y


def boom_body(x):
    CALLS.append(("boom", x))
    raise ValueError(x)


add = saq_job(f"{QUEUE}.add", TaskOptions(), queue=QUEUE)(add_body)
boom = saq_job(f"{QUEUE}.boom", TaskOptions(), queue=QUEUE)(boom_body)


@pytest.fixture
def celery_tasks():
    from celery import Celery
    from celery._state import _set_current_app, get_current_app

    previous = get_current_app()
    app = Celery("eagerchain", set_as_current=True)
    app.conf.update(task_always_eager=True, task_eager_propagates=False, result_backend=None)
    yield app, app.task(name="c.add")(add_body), app.task(name="c.boom")(boom_body)
    _set_current_app(previous)


def _outcome(run):
    CALLS.clear()
    try:
        r = run()
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__, exc.args, list(CALLS))
    parents = []
    p = r.parent
    while p is not None:
        parents.append((p.state, p.get(propagate=False) if p.successful() else type(p.result).__name__))
        p = p.parent
    value = r.get(propagate=False)
    return (r.state, value if r.successful() else type(value).__name__, r.ready(), parents, list(CALLS))


# (Celery canvas, the runtime's canvas as finalize writes it)
CASES = {
    "two_steps": (lambda a, b: a.s(1, 2) | a.s(3), lambda: chain(add.step(x=1, y=2), add.step(y=3).taking_result("x"))),
    "three_steps": (
        lambda a, b: a.s(1, 2) | a.s(3) | a.si(10, 20),
        lambda: chain(add.step(x=1, y=2), add.step(y=3).taking_result("x"), add.step(x=10, y=20)),
    ),
    "last_fails": (lambda a, b: a.s(1, 2) | b.s(), lambda: chain(add.step(x=1, y=2), boom.step().taking_result("x"))),
    "middle_fails": (
        lambda a, b: a.s(1, 2) | b.s() | a.s(3),
        lambda: chain(add.step(x=1, y=2), boom.step().taking_result("x"), add.step(y=3).taking_result("x")),
    ),
    "first_fails": (lambda a, b: b.s(5) | a.s(3), lambda: chain(boom.step(x=5), add.step(y=3).taking_result("x"))),
}


@pytest.mark.parametrize("propagate", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_eager_chain_as_celery(case, propagate, celery_tasks):
    app, c_add, c_boom = celery_tasks
    celery_canvas, saq_canvas = CASES[case]
    app.conf.task_eager_propagates = propagate
    expected = _outcome(lambda: celery_canvas(c_add, c_boom).delay())
    with testing.eager(propagate=propagate):
        got_sync = _outcome(lambda: saq_canvas().enqueue())
        got_async = _outcome(lambda: asyncio.run(saq_canvas().aenqueue()))
    assert got_sync == expected
    assert got_async == expected
    assert expected[0] != "PENDING"


def test_eager_chain_get_without_timeout_returns():
    """The attack's reproduction: ``.get()`` without a timeout hung for ever."""
    with testing.eager(propagate=True):
        r = chain(add.step(x=1, y=2), add.step(y=3).taking_result("x")).enqueue()
    assert isinstance(r, testing.EagerSaqResult)
    assert (r.state, r.get(), r.parent.get()) == ("SUCCESS", 6, 3)


def test_eager_result_is_celerys_eager_result_while_celery_is_importable():
    from celery.result import EagerResult

    with testing.eager():
        ok = add.enqueue(x=20, y=22)
        failed = boom.enqueue(x=1)
    assert isinstance(ok, EagerResult) and isinstance(ok, testing.EagerSaqResult)
    assert (ok.result, ok.state, ok.get(), ok.args, ok.kwargs) == (42, "SUCCESS", 42, None, None)
    assert isinstance(failed, EagerResult) and failed.failed() and isinstance(failed.result, ValueError)
    assert ok.queue == QUEUE and ok.name == f"{QUEUE}.add"


SCRIPT = f"""
import sys
for name in ("celery", "kombu", "billiard"):
    sys.modules[name] = None
sys.path.insert(0, {str(__import__("pathlib").Path(__file__).resolve().parents[2])!r})
from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions
from saqmigrate.runtime.testing import EagerSaqResult as EagerResult, eager

@saq_job("nocelery.add", TaskOptions(), queue="nocelery-{uuid.uuid4().hex[:6]}")
def add(x, y):
    return x + y

with eager():
    r = add.enqueue(x=1, y=2)
assert isinstance(r, EagerResult), type(r).__mro__
print(type(r).__mro__[1].__name__, r.get())
"""


def test_eager_result_without_celery():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["SaqResult", "3"]
