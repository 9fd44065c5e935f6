"""A run-time net under ``rewrite --mode native``: a SAQ task that blocks the event loop is caught in the
act, named, and runs through the thread bridge from then on.

``rewrite --mode native`` ports a body to ``async def`` only when a static proof says nothing in it blocks
(docs/native.md). Python is dynamic enough that such a proof has holes (a property that queries the
database behind a plain-looking attribute, a module ``__getattr__``, a quadratic loop over a large input),
and a hole stalls every job of the worker. This module bounds the damage to one occurrence per task and
worker process, and says where it happened:

* a watchdog thread asks the worker's loop to run a no-op every ``interval`` and measures how late it
  runs. When the loop is late by more than ``SAQMIGRATE_LOOP_STALL_MS`` (default 100 ms), it reads the
  loop thread's stack (``sys._current_frames``) and looks for the frame of a SAQ task function
  (:func:`saqmigrate.runtime.task.saq_task` registers their code objects). That task is *demoted*: one
  ERROR line names it, how long the loop was held (so far), where (the port's line and the innermost
  frame: the blocking call) and what happens next;
* a port that raises Django's ``SynchronousOnlyOperation`` (a synchronous ORM call on the loop) is demoted
  the same way; that attempt fails as it would have, with SAQ's retry rules;
* the next jobs of a demoted task run the Celery task's own body in the bridge's threads (as a plain
  ``rewrite`` twin does), when the Celery task is registered in this process; otherwise its port keeps
  running and each stall is logged again.

The runtime also times each step of a task's coroutine (:class:`TimedSteps`): a step longer than the
threshold is a stall even when the watchdog could not sample it (one long C call holds the GIL). Note that
the bridge does not help such a body either (a C call in a thread holds the GIL too): the value is that it
is named and counted. A stall inside an ``import`` (a module's top-level code running the first time a body imports it) is
logged as a warning and not demoted: it happens once per process. What it cannot do: undo the stall it caught (the first job already held the loop), or see a stall
shorter than the threshold. ``SAQMIGRATE_LOOP_GUARD=0`` turns it off. The worker settings install it
(:func:`saqmigrate.runtime.worker.worker_settings`); the metric ``saq_loop_stalls_total{function}`` counts
the stalls it saw per task when the runtime's metrics are on.

Imports nothing but the standard library at module level: the runtime (what a production app imports)
may use it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any

ENV = "SAQMIGRATE_LOOP_GUARD"
THRESHOLD_ENV = "SAQMIGRATE_LOOP_STALL_MS"
DEFAULT_THRESHOLD_MS = 100.0

logger = logging.getLogger("saqmigrate.runtime.loopguard")

# code object of each saq_task function -> its Celery task name (written at import, read by the watchdog)
_TASK_CODE: dict[types.CodeType, str] = {}
# task name -> why it was demoted (one line)
_DEMOTED: dict[str, str] = {}
_LOCK = threading.Lock()


def register(fn: Callable[..., Any], name: str) -> None:
    """Remember ``fn``'s code object as the body of SAQ task ``name`` (saq_task calls this)."""
    code = getattr(fn, "__code__", None)
    if isinstance(code, types.CodeType):
        _TASK_CODE[code] = name


def demoted(name: str) -> bool:
    return name in _DEMOTED


def demote(name: str, why: str) -> None:
    """Run ``name`` through the bridge from its next job on, saying why once."""
    with _LOCK:
        if name in _DEMOTED:
            return
        _DEMOTED[name] = why
    logger.error(
        "SAQ task %s %s; its next runs in this worker use the Celery task's body in a thread (the bridge), "
        "when it is registered here. Keep it bridged (plain `saqmigrate rewrite`, or report the case: "
        "docs/native.md, 'Run-time net')",
        name,
        why,
    )
    _count(name)


def reset() -> None:
    """Forget every demotion (tests; a new worker process starts empty anyway)."""
    with _LOCK:
        _DEMOTED.clear()


def _count(name: str) -> None:
    try:
        from saqmigrate.runtime.metrics import default_metrics

        default_metrics().loop_stall(name)
    except Exception:  # noqa: BLE001 - metrics are optional (prometheus-client, SAQMIGRATE_METRICS=0)
        pass


def fallback(name: str) -> Callable[[dict, dict], Awaitable[Any]] | None:
    """How to run demoted task ``name`` without its port: the Celery task's body in a bridge thread,
    called as the bridged twin calls it (``self`` first for ``bind=True``), or None when the Celery task
    is not registered in this process."""
    import inspect

    from saqmigrate.runtime.task import _celery_task_by_name, celery_impl, run_sync, task_self

    task = _celery_task_by_name(name)
    if task is None:
        return None
    obj = task._get_current_object() if hasattr(task, "_get_current_object") else task
    bound = not isinstance(inspect.getattr_static(type(obj), "run", None), staticmethod)

    async def run(ctx: dict, kwargs: dict) -> Any:
        impl = celery_impl(task)
        if bound:
            return await run_sync(impl, task_self(ctx), **kwargs)
        return await run_sync(impl, **kwargs)

    return run


def sync_only_error(exc: BaseException) -> bool:
    """Django's ``SynchronousOnlyOperation``: a synchronous ORM call made on the loop."""
    return any(c.__name__ == "SynchronousOnlyOperation" for c in type(exc).__mro__)


def _where(frames: list[types.FrameType]) -> str:
    def at(f: types.FrameType) -> str:
        return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"

    inner = frames[0]
    task_frame = next((f for f in frames if f.f_code in _TASK_CODE), None)
    if task_frame is None or task_frame is inner:
        return at(inner)
    return f"{at(task_frame)}, blocked in {at(inner)}"


class LoopGuard:
    """The watchdog of one event loop (start it on the loop's thread)."""

    def __init__(self, threshold_ms: float | None = None, interval: float = 0.02) -> None:
        env = os.environ.get(THRESHOLD_ENV)
        self.threshold = (threshold_ms if threshold_ms is not None else float(env or DEFAULT_THRESHOLD_MS)) / 1000
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.stalls: list[tuple[str, float, str]] = []  # (task, seconds held when seen, where)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, name="saqmigrate-loopguard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _watch(self) -> None:
        loop = self._loop
        assert loop is not None
        while not self._stop.is_set():
            answered = threading.Event()
            sent = time.monotonic()
            try:
                loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop closed
                return
            if answered.wait(self.threshold):
                self._stop.wait(self.interval)
                continue
            self._caught(time.monotonic() - sent)
            while not answered.wait(self.interval) and not self._stop.is_set():
                pass  # one report per stall: wait for the loop to come back

    def _caught(self, held: float) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        frames = []
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        name = next((_TASK_CODE[f.f_code] for f in frames if f.f_code in _TASK_CODE), None)
        if name is None or not frames:
            return  # the loop was held by something that is not a task body (SAQ, a hook, the GC)
        where = _where(frames)
        self.stalls.append((name, held, where))
        importing = next((f for f in frames if f.f_code.co_filename.startswith("<frozen importlib")), None)
        if importing is not None:
            # the first run importing a module (its top-level code): once per process, not the body's doing
            logger.warning(
                "SAQ task %s held the event loop more than %.0f ms importing a module at %s (once per process)",
                name,
                held * 1000,
                where,
            )
            return
        if demoted(name):
            logger.error("SAQ task %s held the event loop %.0f ms at %s (no bridge fallback)", name, held * 1000, where)
            _count(name)
            return
        demote(name, f"held the event loop more than {held * 1000:.0f} ms at {where}")


def step_limit() -> float | None:
    """The stall threshold in seconds, or None when the guard is off (``SAQMIGRATE_LOOP_GUARD=0``)."""
    if os.environ.get(ENV, "1") == "0":
        return None
    return float(os.environ.get(THRESHOLD_ENV) or DEFAULT_THRESHOLD_MS) / 1000


class TimedSteps:
    """Await ``coro`` timing each of its steps (from a resume to its next suspension): a step longer than
    ``limit`` held the event loop for that long. The watchdog cannot see a stall made of one long C call
    (``len(set(x))``, ``math.prod``, a huge ``f"{d:f}"``): its thread needs the GIL to sample the stack and
    gets it only after the call returned. Timing the steps needs no sampling: the task is named when the
    step ends. A step during which modules were imported (the first run of a body importing them) only
    warns, as in the watchdog."""

    __slots__ = ("coro", "name", "limit")

    def __init__(self, coro: Any, name: str, limit: float) -> None:
        self.coro, self.name, self.limit = coro, name, limit

    def __await__(self) -> Any:
        coro = self.coro
        value: Any = None
        error: BaseException | None = None
        while True:
            start, modules = time.perf_counter(), len(sys.modules)
            try:
                step = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                self._check(start, modules)
                return stop.value
            except BaseException:
                self._check(start, modules)
                raise
            self._check(start, modules)
            try:
                value, error = (yield step), None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown into the awaiting task (a cancel): pass it on
                value, error = None, exc

    def _check(self, start: float, modules: int) -> None:
        held = time.perf_counter() - start
        if held <= self.limit:
            return
        if len(sys.modules) != modules:
            logger.warning(
                "SAQ task %s held the event loop %.0f ms in one step while importing modules (once per process)",
                self.name,
                held * 1000,
            )
            return
        if demoted(self.name):
            _count(self.name)
            return
        demote(self.name, f"held the event loop {held * 1000:.0f} ms in one step of its body")


def hooks() -> dict[str, Callable[[dict], Any]]:
    """``startup`` / ``shutdown`` hooks for the worker settings."""
    guard: dict[str, LoopGuard] = {}

    async def startup(ctx: dict) -> None:
        guard["g"] = LoopGuard()
        guard["g"].start()

    async def shutdown(ctx: dict) -> None:
        g = guard.pop("g", None)
        if g is not None:
            g.stop()

    startup.__qualname__ = "saqmigrate_loop_guard_startup"
    shutdown.__qualname__ = "saqmigrate_loop_guard_shutdown"
    return {"startup": startup, "shutdown": shutdown}
