"""A slow log handler does not stall the SAQ worker's loop (runtime/logqueue.py).

Real SAQ worker from ``worker_settings`` on the real Redis; a task on the loop logs an error with a
traceback to a handler that takes 300 ms per record (after a first job, which pays the one-time imports) (an ``AdminEmailHandler`` on a slow SMTP server).
A heartbeat coroutine on the same loop measures the longest stall: under 50 ms with the log queue,
the handler's 300 ms without it (``SAQMIGRATE_LOG_QUEUE=0``: the control, so the test can fail). The
handler still receives the record with its ``exc_info`` once the worker has stopped.
"""

from __future__ import annotations

import asyncio
import io
import logging
import logging.handlers
import threading
import time

import pytest
from saq.job import Status

from saqmigrate.runtime import logqueue
from saqmigrate.runtime.worker import worker_settings

from tests.runtime_task.loopwatch import LoopGap, run_job, running_worker

SLOW = 0.3


class SlowHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.threads: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(SLOW)  # the SMTP round trip
        self.threads.add(threading.current_thread().name)
        self.records.append(record)


def _second_job_gap(unique_name: str, name: str, fn) -> tuple[float, Status]:
    """Run ``fn`` twice on a real worker (``n=0`` then ``n=7``); the longest loop stall during the second
    job (the first pays the one-time costs of the first run: imports) and that job's status."""

    async def main() -> tuple[float, Status]:
        settings = worker_settings(unique_name, [(name, fn)], dead_letters=False, metrics=False)
        async with running_worker(settings) as queue:
            await run_job(queue, name, n=0)
            async with LoopGap() as watch:
                job = await run_job(queue, name, n=7)
                await asyncio.sleep(0.05)
        return watch.gap, job.status

    return asyncio.run(main())


def _run_worker_with_slow_handler(unique_name: str) -> tuple[float, SlowHandler, Status]:
    log = logging.getLogger(f"tests.logqueue.{unique_name}")
    handler = SlowHandler()
    log.addHandler(handler)
    log.propagate = False

    async def noisy(ctx: dict, *, n: int) -> int:
        try:
            raise ValueError(f"bad {n}")
        except ValueError:
            log.error("job failed for %s", n, exc_info=True)
        return n

    try:
        gap, status = _second_job_gap(unique_name, "noisy", noisy)
    finally:
        log.removeHandler(handler)
        logqueue.uninstall()
    return gap, handler, status


@pytest.mark.slow
def test_a_slow_log_handler_does_not_stall_the_worker_loop(unique_name, monkeypatch):
    monkeypatch.delenv(logqueue.ENV, raising=False)
    gap, handler, status = _run_worker_with_slow_handler(unique_name)
    assert status == Status.COMPLETE
    assert gap < 0.05, f"the loop stalled {gap * 1000:.0f} ms"
    # written once the worker stopped (shutdown drains the queue), off the loop's thread, traceback intact
    assert [r.getMessage() for r in handler.records] == ["job failed for 0", "job failed for 7"]
    assert all(r.exc_info is not None and r.exc_info[0] is ValueError for r in handler.records)
    assert "MainThread" not in handler.threads


@pytest.mark.slow
def test_control_without_the_log_queue_the_handler_stalls_the_loop(unique_name, monkeypatch):
    monkeypatch.setenv(logqueue.ENV, "0")
    gap, handler, status = _run_worker_with_slow_handler(unique_name)
    assert status == Status.COMPLETE
    assert gap >= SLOW * 0.8, f"the control did not stall ({gap * 1000:.0f} ms): the test above proves nothing"
    assert handler.threads == {"MainThread"}


def test_install_moves_io_handlers_only_and_uninstall_restores_them(tmp_path):
    log = logging.getLogger("tests.logqueue.restore")
    memory = logging.StreamHandler(io.StringIO())
    null = logging.NullHandler()
    file = logging.FileHandler(tmp_path / "x.log")
    slow = SlowHandler()
    log.handlers = [memory, file, null, slow]
    try:
        assert logqueue.install() >= 1
        kinds = [type(h).__name__ for h in log.handlers]
        assert kinds == ["StreamHandler", "RecordQueueHandler", "NullHandler"]
        assert logqueue.install() == 0 or [type(h).__name__ for h in log.handlers] == kinds  # idempotent
        args = {"k": 1}
        log.warning("value %(k)s", args)
        args["k"] = 2  # changed after the call: the message was rendered at the call
        logqueue.uninstall()  # drains
        assert log.handlers == [memory, file, null, slow]
        assert [r.getMessage() for r in slow.records] == ["value 1"]
        assert "value 1" in (tmp_path / "x.log").read_text()
        assert "value 1" in memory.stream.getvalue()
    finally:
        logqueue.uninstall()
        file.close()
        log.handlers = []


def test_a_capture_handler_removed_meanwhile_is_not_put_back():
    log = logging.getLogger("tests.logqueue.capture")
    capture = logging.StreamHandler(io.StringIO())
    slow = SlowHandler()
    log.handlers = [capture, slow]
    try:
        logqueue.install()
        log.removeHandler(capture)  # a test's capture ends before the worker's shutdown
        extra = logging.NullHandler()
        log.addHandler(extra)
        logqueue.uninstall()
        assert log.handlers == [slow, extra]
    finally:
        log.handlers = []


@pytest.mark.parametrize(
    ("make", "memory"),
    [
        (logging.NullHandler, True),
        (lambda: logging.StreamHandler(io.StringIO()), True),
        (lambda: logging.handlers.MemoryHandler(10), True),
        (lambda: logging.handlers.MemoryHandler(10, target=logging.NullHandler()), False),
        (logging.StreamHandler, False),  # stderr: a pipe that can fill
        (lambda: logging.handlers.SysLogHandler(address=("127.0.0.1", 9)), False),
    ],
    ids=["null", "stringio", "memory-no-target", "memory-with-target", "stderr", "syslog"],
)
def test_in_memory_classification(make, memory):
    handler = make()  # built here: a handler built at collection could be closed before the test runs
    try:
        assert logqueue.in_memory(handler) is memory
    finally:
        handler.close()


class SlowStream(io.StringIO):
    """stdout on a pipe nobody is reading fast enough: each write waits for room."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def write(self, s: str) -> int:
        time.sleep(SLOW)
        self.threads.add(threading.current_thread().name)
        return super().write(s)


def _run_worker_printing(unique_name: str, monkeypatch) -> tuple[float, SlowStream, Status]:
    stream = SlowStream()
    monkeypatch.setattr("sys.stdout", stream)

    async def chatty(ctx: dict, *, n: int) -> int:
        print(f"line {n}")  # a ported body's print: the static prover lets it on the loop
        return n

    try:
        gap, status = _second_job_gap(unique_name, "chatty", chatty)
    finally:
        logqueue.uninstall_stdio()
        logqueue.uninstall()
    return gap, stream, status


@pytest.mark.slow
def test_print_to_a_slow_stdout_does_not_stall_the_worker_loop(unique_name, monkeypatch):
    monkeypatch.delenv(logqueue.ENV, raising=False)
    gap, stream, status = _run_worker_printing(unique_name, monkeypatch)
    assert status == Status.COMPLETE
    assert gap < 0.05, f"the loop stalled {gap * 1000:.0f} ms"
    import sys

    assert sys.stdout is stream  # put back at shutdown
    # every line written, in order, once the worker stopped; none from the loop's thread
    assert stream.getvalue() == "line 0\nline 7\n"
    assert "MainThread" not in stream.threads


@pytest.mark.slow
def test_control_without_the_queue_print_stalls_the_loop(unique_name, monkeypatch):
    monkeypatch.setenv(logqueue.ENV, "0")
    gap, stream, status = _run_worker_printing(unique_name, monkeypatch)
    assert status == Status.COMPLETE
    assert gap >= SLOW * 0.8, f"the control did not stall ({gap * 1000:.0f} ms): the test above proves nothing"
    assert stream.threads == {"MainThread"}


def test_queued_stream_delegates_what_a_task_reads_and_flush_does_not_wait():
    target = SlowStream()
    target.encoding_hint = "x"  # type: ignore[attr-defined]
    q = logqueue.QueuedStream(target, "test")
    try:
        started = time.monotonic()
        assert q.write("a") == 1
        q.writelines(["b", "c"])
        q.flush()
        assert time.monotonic() - started < SLOW / 2  # neither write nor flush waited for the stream
        assert q.writable() and not q.isatty()
        assert q.encoding_hint == "x"  # anything else is the real stream's
        with pytest.raises(TypeError):
            q.write(b"bytes")  # type: ignore[arg-type]
    finally:
        q.drain()
    assert target.getvalue() == "abc"


def test_a_full_stdio_queue_drops_the_loops_writes_and_says_so():
    """Past the limit, a write from the event loop's thread is dropped (counted, then said on the stream
    once it drains) rather than buffered without bound (a seventh attack grew a worker 70 -> 430 MB
    printing to a pipe nobody read)."""
    target = SlowStream()
    q = logqueue.QueuedStream(target, "test", limit=10)
    try:
        started = time.monotonic()
        for _ in range(20):
            q.write("0123456789")  # the thread that built the stream: the worker's loop
        assert time.monotonic() - started < SLOW, "the loop's writes waited"
        assert q.dropped > 0
    finally:
        assert q.drain(timeout=30)
    text = target.getvalue()
    assert text.startswith("0123456789")
    assert "characters of output dropped" in text


def test_a_full_stdio_queue_makes_another_thread_wait():
    """A bridge thread's write past the limit waits for room (backpressure, as print() under Celery)."""
    target = SlowStream()
    q = logqueue.QueuedStream(target, "test", limit=10)
    took: list[float] = []

    def writer() -> None:
        started = time.monotonic()
        q.write("0123456789")
        q.write("abcdefghij")  # waits until the first is written
        took.append(time.monotonic() - started)

    t = threading.Thread(target=writer)
    t.start()
    t.join(30)
    try:
        assert took and took[0] >= SLOW * 0.8, took
        assert q.dropped == 0
    finally:
        assert q.drain(timeout=30)
    assert target.getvalue() == "0123456789abcdefghij"


class StuckStream(io.StringIO):
    """A pipe nobody reads: a write never returns."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, s: str) -> int:
        self.release.wait()
        return super().write(s)


@pytest.mark.slow
def test_shutdown_does_not_wait_for_a_stream_nobody_reads(unique_name, monkeypatch):
    """The worker's shutdown drains the queues in a daemon thread with a deadline: before, a stdout pipe
    nobody read kept a stopped worker alive for good (seventh attack: over 4 minutes after SIGTERM)."""
    monkeypatch.delenv(logqueue.ENV, raising=False)
    monkeypatch.setattr(logqueue, "DRAIN_SECONDS", 0.5)
    stuck = StuckStream()
    monkeypatch.setattr("sys.stdout", stuck)

    async def chatty(ctx: dict) -> int:
        print("never written")
        return 1

    async def main() -> float:
        settings = worker_settings(unique_name, [("chatty", chatty)], dead_letters=False, metrics=False)
        stopping = time.monotonic()
        async with running_worker(settings) as queue:
            await run_job(queue, "chatty")
            stopping = time.monotonic()
        return time.monotonic() - stopping

    try:
        stopped = asyncio.run(main())
    finally:
        stuck.release.set()
        logqueue.uninstall_stdio(5)
        logqueue.uninstall()
    assert stopped < 5, f"the worker's stop waited {stopped:.1f}s for a stream nobody reads"


def test_a_full_record_queue_drops_the_loops_records_and_counts_them(caplog):
    import queue as queue_mod

    q: queue_mod.Queue = queue_mod.Queue(maxsize=2)
    handler = logqueue.RecordQueueHandler(q)
    handler.loop_thread = threading.current_thread()  # as install() sets it, on the worker's loop
    logqueue.RecordQueueHandler.dropped = 0
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    for _ in range(5):
        handler.enqueue(record)  # the event loop's thread: never waits
    assert q.qsize() == 2 and logqueue.RecordQueueHandler.dropped == 3
    with caplog.at_level(logging.WARNING, logger="saqmigrate.runtime.logqueue"):
        logqueue.uninstall()
    assert "3 log record(s) dropped" in caplog.text
    assert logqueue.RecordQueueHandler.dropped == 0


def test_a_write_after_the_drain_reaches_the_stream():
    """A print racing the worker's shutdown (a worker run in a thread, the process printing its result
    right after stopping it) went on the queue behind the drain's stop and was lost; it is written."""
    target = io.StringIO()
    q = logqueue.QueuedStream(target, "test")
    q.write("early\n")
    assert q.drain(timeout=10)
    q.write("late\n")
    assert target.getvalue() == "early\nlate\n"
