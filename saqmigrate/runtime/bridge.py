"""Sync -> async bridge for SAQ (SAQ's Queue API is async only).

Two ways to run SAQ's coroutines for a sync caller, both with bounded timeouts:

* ``thread`` - one event loop per process in a daemon thread, started lazily; callers hand
  coroutines over and wait (measured ~55 us of hand-off per call on 2 cores);
* ``local`` - a persistent event loop (and SAQ Queue) per calling thread, run with
  ``run_until_complete``: no hand-off, so a sync enqueue costs about what a raw async
  ``await queue.enqueue`` costs. Threads that already run a loop (async code calling the
  sync API) always use the ``thread`` mode.

``mode="auto"`` (the default; env ``SAQMIGRATE_BRIDGE=thread|local|auto``) uses ``local``
where it can. Use ``thread`` for servers that start a new thread per request (each new
thread would open its own Redis connection) and under gevent/eventlet.

After ``fork()`` the child drops the parent's loops and queues (their sockets belong to the
parent; they are abandoned, never closed, so the parent's connections stay intact) and
starts its own on first use. Only SAQ's public API is used.

Never create a loop per call (``asyncio.run`` / ``async_to_sync`` per enqueue): redis-py
clients are bound to the loop they were first used on.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from saq import Queue

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0


class BridgeError(RuntimeError):
    """The sync bridge could not run the call; the message says why and what to do."""


class BridgeTimeout(BridgeError, TimeoutError):
    pass


_BRIDGES: "weakref.WeakSet[SyncBridge]" = weakref.WeakSet()
# After fork the child keeps the parent's loops/queues referenced forever: if they were
# garbage-collected, redis-py's asyncio connections would close the sockets the parent
# still uses (found by tests/runtime_routing/test_bridge.py).
_ABANDONED: list = []


def _after_fork_in_child() -> None:
    for b in list(_BRIDGES):
        b._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def make_queue(url: str, name: str, **queue_kwargs: Any) -> Queue:
    """A SAQ Queue with short Redis timeouts (redis-py's defaults would block for seconds)."""
    from saq import Queue

    if url.startswith("redis"):
        import redis.asyncio as aredis
        from saq.queue.redis import RedisQueue

        client = aredis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        return RedisQueue(client, name=name, **queue_kwargs)
    return Queue.from_url(url, name=name, **queue_kwargs)


class SyncBridge:
    def __init__(
        self, name: str = "saqmigrate-bridge", default_timeout: float = DEFAULT_TIMEOUT, mode: str | None = None
    ):
        mode = mode or os.environ.get("SAQMIGRATE_BRIDGE") or "auto"
        if mode not in ("auto", "thread", "local"):
            raise BridgeError(f"SAQMIGRATE_BRIDGE must be auto, thread or local, got {mode!r}")
        self.mode = mode
        self._local = threading.local()
        self.name = name
        self.default_timeout = default_timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._queues: dict[tuple, Any] = {}
        _BRIDGES.add(self)

    # -- lifecycle ----------------------------------------------------------------

    def _forget_after_fork(self) -> None:
        _ABANDONED.append((self._local, self._loop, self._thread, self._queues))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._pid = None
        self._queues = {}

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid() and loop.is_running():
            return loop
        with self._lock:
            if self._loop is not None and self._pid == os.getpid() and self._loop.is_running():
                return self._loop
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            t = threading.Thread(target=run, name=self.name, daemon=True)
            t.start()
            if not started.wait(5.0):
                raise BridgeError("saqmigrate sync bridge: event-loop thread did not start within 5 s")
            self._loop, self._thread, self._pid, self._queues = loop, t, os.getpid(), {}
            return loop

    def close(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or self._pid != os.getpid():
            self._forget_after_fork()
            return
        queues = list(self._queues.values())

        async def _disconnect() -> None:
            for q in queues:
                try:
                    await q.disconnect()
                except Exception:
                    pass

        try:
            asyncio.run_coroutine_threadsafe(_disconnect(), loop).result(timeout)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)
        if not loop.is_running():
            loop.close()
        self._local = threading.local()
        self._loop = self._thread = self._pid = None
        self._queues = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._ensure()

    # -- calls --------------------------------------------------------------------

    def _use_local(self) -> bool:
        if self.mode == "thread":
            return False
        if threading.current_thread() is self._thread:
            return False
        return asyncio._get_running_loop() is None

    def _thread_state(self) -> Any:
        st = self._local
        if getattr(st, "pid", None) != os.getpid():
            st.loop = asyncio.new_event_loop()
            st.queues = {}
            st.pid = os.getpid()
        return st

    def run_on_queue(
        self,
        url: str,
        name: str,
        fn: Callable[[Any], Coroutine[Any, Any, T]],
        *,
        timeout: float | None = None,
        what: Any = "SAQ call",
        **queue_kwargs: Any,
    ) -> T:
        """Run ``await fn(queue)`` for the SAQ queue (url, name), bounded by ``timeout``.

        ``what`` names the call in error messages: a string, or a zero-argument callable that
        builds one (so the hot path does not format a message it almost never shows).
        """
        timeout = self.default_timeout if timeout is None else timeout
        if not self._use_local():
            q = self.queue(url, name, **queue_kwargs)
            return self.run(fn, q, timeout=timeout, what=what() if callable(what) else what)
        st = self._thread_state()
        key = (
            (url, name, tuple(sorted((k, id(v)) for k, v in queue_kwargs.items()))) if queue_kwargs else (url, name, ())
        )
        q = st.queues.get(key)
        if q is None:
            q = st.queues[key] = make_queue(url, name, **queue_kwargs)

        loop = st.loop
        task = loop.create_task(fn(q))
        timer = loop.call_later(timeout, task.cancel)  # cheaper than asyncio.timeout on the hot path
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            what = what() if callable(what) else what
            raise BridgeTimeout(
                f"{what} did not finish within {timeout:g} s (it may or may not have been enqueued); "
                "check that SAQ's Redis answers, or raise the bridge timeout"
            ) from None
        finally:
            timer.cancel()

    def queue(self, url: str, name: str, **queue_kwargs: Any) -> Queue:
        """The Queue for (url, name) owned by this bridge's loop (created once per process)."""
        key = (url, name, tuple(sorted((k, id(v)) for k, v in queue_kwargs.items())))
        q = self._queues.get(key) if self._pid == os.getpid() else None
        if q is None:
            self._ensure()
            q = make_queue(url, name, **queue_kwargs)
            self._queues[key] = q
        return q

    def run(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        timeout: float | None = None,
        what: str = "SAQ call",
    ) -> T:
        """Run ``await fn(*args)`` on the bridge loop and wait at most ``timeout`` seconds."""
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            raise BridgeError(
                f"{what}: called synchronously from the bridge's own loop thread; use the async API (adispatch)"
            )
        timeout = self.default_timeout if timeout is None else timeout
        w = _Waiter()

        def start() -> None:
            try:
                task = w.task = loop.create_task(fn(*args))
            except BaseException as exc:  # the coroutine could not even be created
                w.exc = exc
                w.lock.release()
                return
            task.add_done_callback(w.done)

        loop.call_soon_threadsafe(start)
        if not w.lock.acquire(timeout=timeout):
            loop.call_soon_threadsafe(w.cancel)
            raise BridgeTimeout(
                f"{what} did not finish within {timeout:g} s (it may or may not have been enqueued); "
                "check that SAQ's Redis answers, or raise the bridge timeout"
            )
        if w.exc is not None:
            raise w.exc
        result: T = w.result
        return result


class _Waiter:
    """A one-shot result slot; lighter than concurrent.futures.Future chaining (hot path)."""

    __slots__ = ("lock", "task", "result", "exc")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.task: asyncio.Task[Any] | None = None
        self.result: Any = None
        self.exc: BaseException | None = None

    def done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.exc = BridgeError("SAQ call was cancelled (bridge shutting down?)")
        else:
            self.exc = task.exception()
            if self.exc is None:
                self.result = task.result()
        self.lock.release()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


_default_bridge: SyncBridge | None = None
_default_lock = threading.Lock()


def default_bridge() -> SyncBridge:
    global _default_bridge
    if _default_bridge is None:
        with _default_lock:
            if _default_bridge is None:
                _default_bridge = SyncBridge()
    return _default_bridge


class LoopQueues:
    """Queues for async callers, one set per running event loop (clients are loop-bound)."""

    def __init__(self, url: str, **queue_kwargs: Any):
        self.url = url
        self.queue_kwargs = queue_kwargs
        self._by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]]" = (
            weakref.WeakKeyDictionary()
        )

    def get(self, name: str) -> Any:
        loop = asyncio.get_running_loop()
        per = self._by_loop.get(loop)
        if per is None:
            per = self._by_loop[loop] = {}
        q = per.get(name)
        if q is None:
            q = per[name] = make_queue(self.url, name, **self.queue_kwargs)
        return q
