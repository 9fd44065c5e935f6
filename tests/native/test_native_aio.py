"""saqmigrate/runtime/aio.py: what native ports call.

``sleep``: whatever ``time.sleep`` rejects, the port's sleep rejects at once with the same exception class and
message (attack 13b #9: ``time.sleep(1e20)`` fails at once under Celery where ``asyncio.sleep`` hung until the
job timeout), checked against the interpreter's own ``time.sleep`` (and against CPython 3.12 / 3.13 when they
are installed). ``run_segment``: the bridge's threads, context variables carried back, exceptions unchanged,
and a cancelled segment's thread finishing before the port's ``finally`` runs."""

from __future__ import annotations

import asyncio
import contextvars
import decimal
import fractions
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import missing
from hypothesis import given, settings
from hypothesis import strategies as st

from saqmigrate.runtime import aio

AIO = Path(aio.__file__)


def _real(value) -> tuple:
    """What time.sleep does with it: ('ok',) when it returns, ('sleeps',) when it is still sleeping after 1 s
    (a daemon thread: never joined), else the exception's class name and message."""
    box: dict = {}

    def run() -> None:
        try:
            time.sleep(value)
            box["r"] = ("ok",)
        except BaseException as exc:  # noqa: BLE001 - compared
            box["r"] = (type(exc).__name__, str(exc))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(1.0)
    return box.get("r", ("sleeps",))


def _ours(*args, **kwargs) -> tuple:
    try:
        return ("ok", aio.sleep_seconds(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - compared
        return (type(exc).__name__, str(exc))


def _same(value) -> None:
    ours = _ours(value)
    if ours[0] == "ok" and ours[1] > 0.05:
        return  # a long valid sleep: not run here (see the boundaries below)
    real = _real(value)
    if ours[0] == "ok":
        assert real == ("ok",), (value, ours, real)
    else:
        assert ours == real, value


EDGES = [
    float("nan"),
    float("-nan"),
    float("inf"),
    float("-inf"),
    1e20,
    -1e20,
    2**63,
    2**63 - 1,
    -(2**63),
    2**70,
    -1,
    -1e-10,
    -5e-10,
    -1e-300,
    -0.0,
    0,
    0.0,
    1e-300,
    5e-324,
    1e-9,
    9223372036.854776,
    9223372036.854775,
    9223372037,
    9223372036,
    -9223372036,
    -9223372037,
    -9223372036.854776,
    -9.3e9,
    True,
    False,
    "1",
    None,
    [],
    decimal.Decimal("1"),
    decimal.Decimal("nan"),
    fractions.Fraction(1, 2),
    1j,
    b"1",
    object(),
]


@pytest.mark.parametrize("value", EDGES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(EDGES)])
def test_sleep_raises_what_time_sleep_raises(value) -> None:
    _same(value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-1e-6, max_value=0.05),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.integers(min_value=-9223372040, max_value=-9223372030),
        st.integers(min_value=9223372030, max_value=9223372040),
        st.floats(min_value=9.2233720e9, max_value=9.2233721e9),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
        st.decimals(allow_nan=True),
        st.fractions(),
    )
)
def test_sleep_raises_what_time_sleep_raises_for_any_value(value) -> None:
    _same(value)


@pytest.mark.parametrize("args,kwargs", [((), {}), ((1, 2), {}), ((), {"secs": 1}), ((0,), {"seconds": 1})])
def test_sleep_rejects_the_calls_time_sleep_rejects(args, kwargs) -> None:
    with pytest.raises(TypeError) as real:  # each raises before sleeping
        time.sleep(*args, **kwargs)
    assert _ours(*args, **kwargs) == ("TypeError", str(real.value))


class Index:
    def __index__(self) -> int:
        return 0


class BadIndex:
    def __index__(self):
        return "x"


class Sub(float):
    def __float__(self) -> float:  # time.sleep reads the stored double, not this
        return -1.0


@pytest.mark.parametrize(
    "value",
    [Index(), BadIndex(), Sub(0.0), Sub(float("nan"))],
    ids=["index", "bad-index", "float-sub", "float-sub-nan"],
)
def test_sleep_follows_time_sleep_through_dunder_methods(value) -> None:
    _same(value)


def test_sleep_accepts_long_sleeps_time_sleep_accepts() -> None:
    """Values just inside the limits sleep under time.sleep (still sleeping after 1 s); ours says so too."""
    edge = (2**63 - time.monotonic_ns()) / 1e9  # Linux: the deadline of clock_nanosleep must fit in int64 ns
    for value in (1e9, int(edge) - 5, 9223372036.0 if edge > 9223372036.0 else 1e8):
        assert _ours(value)[0] == "ok" and _real(value) == ("sleeps",), value
    assert _ours(int(edge) + 5) == _real(int(edge) + 5) == ("OSError", "[Errno 22] Invalid argument")


def test_the_awaited_sleep_raises_at_once_and_sleeps_otherwise() -> None:
    async def run(value) -> tuple:
        started = time.monotonic()
        try:
            await aio.sleep(value)
            return "ok", time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - compared
            return type(exc).__name__, time.monotonic() - started

    for value, kind in (
        (1e20, "OverflowError"),
        (float("inf"), "OverflowError"),
        (float("nan"), "ValueError"),
        (-1, "ValueError"),
        ("1", "TypeError"),
    ):
        got, took = asyncio.run(run(value))
        assert got == kind and took < 0.1, (value, got, took)
    got, took = asyncio.run(run(0.2))
    assert got == "ok" and 0.19 < took < 0.5


SCRIPT = r"""
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("aio_copy", sys.argv[1])
aio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aio)
values = [float("nan"), float("inf"), 1e20, 2**63, 9223372037, -9223372037, -1, -1e-10, "x", None, 1.5j, 0, 0.0]
out = []
for v in values:
    row = []
    for f in (time.sleep, aio.sleep_seconds):
        try:
            f(v)
            row.append("ok")
        except BaseException as exc:
            row.append(f"{type(exc).__name__}: {exc}")
    out.append(row)
print(json.dumps(out))
"""


@pytest.mark.parametrize("python", ["python3.12", "python3.13"])
def test_sleep_matches_other_interpreters(python: str) -> None:
    """3.13 renamed _PyTime_t to PyTime_t in the overflow message: each interpreter's own wording."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(root.glob(f"{python[6:]}*/bin/{python}")) if root.is_dir() else []
    exe = str(found[-1]) if found else shutil.which(python)  # pyenv's shims refuse versions not selected
    if exe is None:
        missing(f"{python} is not installed (pyenv has 3.12 and 3.13 on this project's machines)")
    proc = subprocess.run([exe, "-c", SCRIPT, str(AIO)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{python} failed: {proc.stderr.strip()[-500:]}"
    rows = json.loads(proc.stdout)
    assert rows and all(real == ours for real, ours in rows), rows
    assert any("PyTime_t" in real for real, _ in rows)


# --- run_segment ------------------------------------------------------------------------------------------


def test_a_segment_runs_in_the_bridges_threads_and_carries_context_back() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("lang", default="en")

    def first() -> str:
        var.set("fr")  # as translation.activate does (asgiref Local: context variables)
        return threading.current_thread().name

    def second() -> str:
        return var.get()

    async def port() -> tuple:
        loop_thread = threading.current_thread().name
        name = await aio.run_segment(first)
        return loop_thread, name, var.get(), await aio.run_segment(second)

    loop_thread, name, seen, seen_by_next = asyncio.run(port())
    assert name.startswith("saqmigrate-bridge") and name != loop_thread
    assert seen == "fr" and seen_by_next == "fr"


def test_a_segment_raises_the_exception_unchanged() -> None:
    class Boom(Exception):
        pass

    def fail() -> None:
        raise Boom("x")

    async def port() -> str:
        try:
            await aio.run_segment(fail)
        except Boom as exc:
            return f"caught {exc}"
        return "not raised"

    assert asyncio.run(port()) == "caught x"


def test_two_segments_of_two_jobs_run_at_the_same_time() -> None:
    """Not one shared thread (attack 13b #8): a segment waiting for another job's segment sees it."""
    flag = threading.Event()

    def waiter() -> bool:
        return flag.wait(2)

    def setter() -> None:
        time.sleep(0.1)
        flag.set()

    async def both() -> list:
        return await asyncio.gather(aio.run_segment(waiter), aio.run_segment(setter))

    started = time.monotonic()
    assert asyncio.run(both()) == [True, None]
    assert time.monotonic() - started < 1


def test_a_cancelled_segment_finishes_before_the_ports_finally() -> None:
    """SAQ's timeout cancels the port: the segment's thread cannot stop, so the port waits for it (cancelled
    again meanwhile, it keeps waiting) and its finally runs after it, as in one thread; then it is cancelled."""
    events: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        events.append("segment done")

    def cleanup() -> None:
        events.append("cleanup")

    async def port() -> None:
        try:
            await aio.run_segment(slow)
            events.append("after segment")  # never: the await raises CancelledError
        finally:
            await aio.run_segment(cleanup)

    async def main() -> tuple:
        task = asyncio.create_task(port())
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()  # SAQ's cancel_tasks may cancel again
        started = time.monotonic()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled", time.monotonic() - started
        return "finished", time.monotonic() - started

    outcome, waited = asyncio.run(main())
    assert outcome == "cancelled" and events == ["segment done", "cleanup"], (outcome, events)
    assert waited > 0.1  # it did wait for the thread
