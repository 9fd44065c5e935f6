"""Log handlers' I/O off the SAQ worker's event loop.

A SAQ worker runs ported task bodies, SAQ itself and the runtime's own lines (retries, dead letters)
on one asyncio loop. Python's logging calls every handler synchronously in the thread that logs, so a
handler that does I/O -- Django's ``AdminEmailHandler`` sending mail on an error, a syslog or HTTP
handler, a file on a slow disk -- stalls every job of the worker for as long as it takes (measured: a
slow SMTP server held the loop 545 ms per error). Celery's prefork worker never noticed: each task had
its own process.

:func:`install` puts each logger's I/O handlers behind a :class:`logging.handlers.QueueHandler` and runs
them in one :class:`~logging.handlers.QueueListener` thread per logger (``respect_handler_level``), so
the loop only formats the message and puts the record on a queue. What stays the same: which handlers
see a record (each logger keeps its own handlers, propagation is unchanged), their levels, filters and
formatters, and ``exc_info`` (the queue is in-process, so ``AdminEmailHandler`` still gets the
traceback). What changes: the handlers write shortly after the call instead of during it; the message
is rendered at the call (``%`` arguments are not read again later, when a task may have changed them).
Handlers that keep records in memory stay where they are (``NullHandler``, a ``StreamHandler`` on an
``io.StringIO`` such as pytest's capture), so nothing is delayed that cannot block.

``print()`` and ``sys.stdout.write`` are the same hazard without a handler: a write to a pipe whose
reader is slow (a log shipper, a container runtime under load) blocks once the pipe's 64 KiB are full.
:func:`install_stdio` puts :class:`QueuedStream` in place of ``sys.stdout`` and ``sys.stderr``: a write
is put on a queue and one thread per stream writes it to the real stream, in order, flushing when its
queue is empty. ``flush()`` asks the thread to flush and returns (it does not wait: a task that needs
the bytes written before it goes on cannot have them on the loop anyway). What a task reads back
(``encoding``, ``isatty()``, ``fileno()``, ``buffer`` ...) is the real stream's; writes through
``sys.stdout.buffer`` or the file descriptor go straight to it, unqueued, as before.

The worker settings (:func:`saqmigrate.runtime.worker.worker_settings`) install both at start-up and
uninstall them at shutdown, which drains the queues (every record and line is written before the worker
exits). ``SAQMIGRATE_LOG_QUEUE=0`` turns both off. Loggers given handlers after start-up are not moved.

Imports nothing but the standard library: the runtime (what a production app imports) may use it.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import io
import logging
import logging.handlers
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from saqmigrate.runtime.envvars import env_number

ENV = "SAQMIGRATE_LOG_QUEUE"
#: records waiting for their handlers, per logger, and characters waiting for a stream: beyond these, a
#: write from the event loop is dropped (counted, and said on the stream) and one from another thread waits
RECORD_LIMIT = 10_000
STDIO_LIMIT = int(env_number("SAQMIGRATE_STDIO_BUFFER", 16 * 1024 * 1024))
#: how long the worker's shutdown waits for the queues to be written (a stream nobody reads never drains)
DRAIN_SECONDS = env_number("SAQMIGRATE_DRAIN_SECONDS", 10.0)


class RecordQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler for an in-process queue: the message is rendered now, ``exc_info`` travels as is.

    The standard ``prepare`` formats the record with this handler's own formatter and drops
    ``exc_info`` (it is written for queues that pickle), which would leave the real handlers a flat
    string: an error mail without its traceback page, a JSON formatter without its fields.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        return record

    dropped = 0
    #: the event loop's thread: install() runs in the worker's start-up hook, on it
    loop_thread: threading.Thread | None = None

    def enqueue(self, record: logging.LogRecord) -> None:
        """A full queue (its handlers cannot keep up) drops the record when the event loop logs it, and
        waits for room when another thread does (backpressure, as the handler itself would give)."""
        q: Any = self.queue
        if threading.current_thread() is self.loop_thread:
            try:
                q.put_nowait(record)
            except queue.Full:
                RecordQueueHandler.dropped += 1
        else:
            q.put(record)


def in_memory(handler: logging.Handler) -> bool:
    """True for handlers that cannot block: they keep records in memory (or drop them)."""
    if isinstance(handler, (logging.NullHandler, logging.handlers.QueueHandler)):
        return True
    if isinstance(handler, logging.handlers.MemoryHandler):
        return handler.target is None
    if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
        return isinstance(handler.stream, (io.StringIO, io.BytesIO))
    return False


@dataclass
class _Moved:
    logger: logging.Logger
    original: list[logging.Handler]
    queue_handler: RecordQueueHandler
    listener: logging.handlers.QueueListener


_moved: list[_Moved] = []


def _loggers() -> list[logging.Logger]:
    manager = logging.Logger.manager
    named = [lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    return [logging.getLogger(), *named]


def install() -> int:
    """Move every configured logger's I/O handlers behind a queue; returns how many loggers moved.

    Idempotent: a logger already moved (its handlers include our queue handler) is left alone.
    """
    count = 0
    for lg in _loggers():
        handlers = list(lg.handlers)
        blocking = [h for h in handlers if not in_memory(h)]
        if not blocking:
            continue
        records: queue.Queue[Any] = queue.Queue(maxsize=RECORD_LIMIT)
        qh = RecordQueueHandler(records)
        qh.loop_thread = threading.current_thread()
        listener = logging.handlers.QueueListener(records, *blocking, respect_handler_level=True)
        listener.start()
        first = handlers.index(blocking[0])
        kept = [h for h in handlers if in_memory(h)]
        kept.insert(min(first, len(kept)), qh)
        lg.handlers = kept  # one assignment: a thread logging meanwhile sees the old or the new list
        _moved.append(_Moved(lg, handlers, qh, listener))
        count += 1
    return count


def uninstall() -> None:
    """Give each moved logger its handlers back, then write what is still queued (the listeners stop
    after draining their queue). Records dropped meanwhile (their handlers could not keep up) are counted
    in one WARNING."""
    if RecordQueueHandler.dropped:
        dropped, RecordQueueHandler.dropped = RecordQueueHandler.dropped, 0
        logging.getLogger(__name__).warning(
            "%d log record(s) dropped: their handlers could not keep up and the event loop does not wait", dropped
        )
    while _moved:
        moved = _moved.pop()
        current = moved.logger.handlers
        if moved.queue_handler in current:
            added = [h for h in current if h is not moved.queue_handler and h not in moved.original]
            # in-memory handlers removed meanwhile (a test's capture) stay removed
            kept = [h for h in moved.original if not in_memory(h) or h in current]
            moved.logger.handlers = [*kept, *added]
        moved.listener.stop()


_FLUSH = object()
_STOP = object()


class QueuedStream(io.TextIOBase):
    """A text stream whose writes go on a queue that one thread writes to ``target`` (see the module)."""

    def __init__(self, target: Any, name: str, limit: int | None = None) -> None:
        super().__init__()
        self.target = target
        self.limit = STDIO_LIMIT if limit is None else limit
        self.pending = 0  # characters queued, not yet written
        self.dropped = 0  # characters dropped since the last notice (the event loop wrote past the limit)
        self.closed_queue = False  # drained: later writes go straight to the target
        self.loop_thread = threading.current_thread()  # built by the worker's start-up hook, on its loop
        self._room = threading.Condition()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"saqmigrate-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    self._notice()
                    self.target.flush()
                    return
                if item is not _FLUSH:
                    self.target.write(item)
                if self._queue.empty():
                    self._notice()
                    self.target.flush()
            except Exception:  # a closed or broken stream: the line is lost, as print() would have raised
                pass
            finally:
                if isinstance(item, str):
                    with self._room:
                        self.pending -= len(item)
                        self._room.notify_all()

    def _notice(self) -> None:
        with self._room:
            dropped, self.dropped = self.dropped, 0
        if dropped:
            self.target.write(
                f"[saqmigrate] {dropped} characters of output dropped: this stream's reader was too slow "
                f"and the event loop does not wait (SAQMIGRATE_STDIO_BUFFER={self.limit})\n"
            )

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        with self._room:
            while not self.closed_queue and self.pending and self.pending + len(s) > self.limit:
                if threading.current_thread() is self.loop_thread:  # the event loop: never waits
                    self.dropped += len(s)
                    return len(s)
                self._room.wait()  # a bridge thread waits, as print() does under Celery
            if self.closed_queue:  # after the drain (a write racing the worker's shutdown): not lost
                self.target.write(s)
                return len(s)
            self.pending += len(s)
            self._queue.put(s)  # under the lock: nothing lands behind the drain's stop
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._queue.put(_FLUSH)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self.target.isatty())

    def fileno(self) -> int:
        return int(self.target.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.target, "encoding", "utf-8"))

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.target, "errors", None)

    def __getattr__(self, name: str) -> Any:  # buffer, mode, line_buffering ...: the real stream's
        return getattr(self.target, name)

    def drain(self, timeout: float | None = None) -> bool:
        """Write everything queued, then stop the thread; False when ``timeout`` passed first (a stream
        nobody reads: the thread is left to the process's exit)."""
        with self._room:
            if not self.closed_queue:
                self.closed_queue = True
                self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()


def install_stdio() -> int:
    """Put a :class:`QueuedStream` in place of ``sys.stdout`` and ``sys.stderr``; returns how many.

    A stream that is already one, or that is missing (``pythonw``), is left alone."""
    count = 0
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if current is None or isinstance(current, QueuedStream):
            continue
        stream = QueuedStream(current, name)
        setattr(sys, name, stream)
        _streams.append((name, stream))
        count += 1
    if count and not _at_exit:
        _at_exit.append(True)
        # a process that ends without the worker's shutdown hook (a worker in a thread, an exit from a
        # task) still writes what is queued: atexit runs before daemon threads are stopped
        atexit.register(uninstall_stdio, DRAIN_SECONDS)
    return count


_at_exit: list[bool] = []


_streams: list[tuple[str, QueuedStream]] = []


def uninstall_stdio(timeout: float | None = None) -> None:
    """Put the real streams back (where ours is still in place: a stream replaced meanwhile stays
    replaced) and write what is queued (each stream waits at most ``timeout``)."""
    while _streams:
        name, stream = _streams.pop()
        if getattr(sys, name) is stream:
            setattr(sys, name, stream.target)
        stream.drain(timeout)


def hooks() -> dict[str, Callable[[dict], Any]]:
    """``startup`` / ``shutdown`` hooks for the worker settings."""

    async def startup(ctx: dict) -> None:
        install()
        install_stdio()

    async def shutdown(ctx: dict) -> None:
        # in a thread, with a deadline: a stream or handler nobody reads (a full pipe) never drains, and
        # the worker's other shutdown hooks and its exit must not wait for it
        def drain() -> None:
            uninstall_stdio(DRAIN_SECONDS)
            uninstall()

        done = asyncio.get_running_loop().create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        def run() -> None:  # a daemon thread: a drain stuck on a full pipe does not hold the process's exit
            try:
                drain()
            finally:
                try:
                    done.get_loop().call_soon_threadsafe(finish)
                except RuntimeError:  # the loop closed meanwhile
                    pass

        threading.Thread(target=run, name="saqmigrate-drain", daemon=True).start()
        try:
            await asyncio.wait_for(done, DRAIN_SECONDS + 1)
        except asyncio.TimeoutError:
            logging.getLogger(__name__).warning(
                "log and stdio queues not written within %ss at shutdown: their reader is too slow", DRAIN_SECONDS
            )

    startup.__qualname__ = "saqmigrate_log_queue_startup"
    shutdown.__qualname__ = "saqmigrate_log_queue_shutdown"
    return {"startup": startup, "shutdown": shutdown}
