"""What native ports call (``rewrite --mode native``, docs/native.md): blocking segments and ``time.sleep``.

Generated code reaches it as ``from saqmigrate.runtime import aio as _aio``:

* ``await _aio.run_segment(_blocking_1)`` runs a port's blocking segment (the statements the prover could
  not prove non-blocking, unchanged, in a nested ``def``) in the bridge's thread pool, the threads
  :func:`saqmigrate.runtime.task.run_sync` uses, with the same Django connection hygiene. Not asgiref's one
  thread per process: there every ported job's segments and Django's async ORM calls took turns, so one
  slow segment delayed every other job's queries, and a segment waiting for another job's query (polling
  for a row a concurrent job creates) could never see it. See :func:`run_segment` for cancellation and
  context variables.
* ``await _aio.sleep(x)`` is ``time.sleep(x)`` for the event loop when ``x`` is computed: it raises what
  ``time.sleep`` raises for the same argument, at once, with the same exception class and message
  (CPython 3.11 to 3.13: NaN, infinities, negative, too large, not a number, wrong arity), then awaits
  ``asyncio.sleep``. ``asyncio.sleep`` alone would return at once for a negative or NaN delay and sleep
  for ever for ``inf`` or ``1e20``, where a Celery worker's task fails immediately.

Imports only the standard library at module level (tests load it on other interpreters).
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import functools
import logging
import math
import operator
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("saqmigrate.runtime.aio")

R = TypeVar("R")

# --- time.sleep's argument checks (Modules/timemodule.c time_sleep, Python/pytime.c) -------------------------

_NS = 10**9
_TIME_MAX = 2**63 - 1  # _PyTime_t / PyTime_t: int64 nanoseconds
_TIME_MAX_DOUBLE = 2.0**63  # (double)_PyTime_MAX rounds up to 2**63: the comparison is d < 2**63
_SECONDS_MAX = _TIME_MAX // _NS  # _PyTime_check_mul_overflow: C division truncates toward zero
_TOO_LARGE = "timestamp too large to convert to C " + ("PyTime_t" if sys.version_info >= (3, 13) else "_PyTime_t")
_OUT_OF_RANGE = "timestamp out of range for platform time_t"
_NEGATIVE = "sleep length must be non-negative"
_NAN = "Invalid value NaN (not a number)"
# Linux: time.sleep waits with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until now + timeout; a deadline
# past the int64 nanosecond range wraps negative and the call fails with EINVAL (3.11 to 3.13, measured)
_ABSOLUTE_DEADLINE = sys.platform.startswith("linux")


def sleep_seconds(*args: Any, **kwargs: Any) -> float:
    """The delay ``time.sleep(*args, **kwargs)`` would sleep, in seconds, or the exception it raises before
    sleeping: ``TypeError`` (arity, keywords, an argument that is neither a float nor an integer),
    ``ValueError`` (NaN, negative), ``OverflowError`` (too large for its nanosecond clock) or, on Linux,
    ``OSError(EINVAL)`` (a deadline past the clock's range, about 292 years from boot)."""
    if kwargs:
        raise TypeError("time.sleep() takes no keyword arguments")
    if len(args) != 1:
        raise TypeError(f"time.sleep() takes exactly one argument ({len(args)} given)")
    (obj,) = args
    if isinstance(obj, float):  # PyFloat_Check: the stored double, whatever a subclass's __float__ says
        value = float.__float__(obj)
        if math.isnan(value):
            raise ValueError(_NAN)
        ns = value * 1e9  # one double multiplication, as pytime_from_double does
        if not -_TIME_MAX_DOUBLE <= ns < _TIME_MAX_DOUBLE:
            raise OverflowError(_OUT_OF_RANGE)
        timeout = math.ceil(ns) if ns >= 0.0 else math.floor(ns)  # _PyTime_ROUND_TIMEOUT: away from zero
    else:
        seconds = operator.index(obj)  # PyLong_AsLongLong: __index__, the same TypeError message
        if not -_SECONDS_MAX <= seconds <= _SECONDS_MAX:
            raise OverflowError(_TOO_LARGE)
        timeout = seconds * _NS
    if timeout < 0:
        raise ValueError(_NEGATIVE)
    if _ABSOLUTE_DEADLINE and time.monotonic_ns() + timeout > _TIME_MAX:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    return timeout / _NS


async def sleep(*args: Any, **kwargs: Any) -> None:
    """``time.sleep(...)`` on the event loop: the same checks and exceptions, then ``asyncio.sleep``."""
    await asyncio.sleep(sleep_seconds(*args, **kwargs))


# --- blocking segments ------------------------------------------------------------------------------------


def _restore(context: contextvars.Context) -> None:
    """Context variables the segment set, set in the caller's context too (as asgiref's sync_to_async does):
    ``translation.activate`` or a logging context in one segment is seen by the next, as in one thread."""
    for var, value in context.items():
        try:
            if var.get() is value:
                continue
        except LookupError:
            pass
        var.set(value)


async def run_segment(fn: Callable[[], R]) -> R:
    """``fn()`` in one of the bridge's threads (``SAQMIGRATE_BRIDGE_THREADS``, 64 by default, shared with
    bridged tasks), awaited: the port's blocking segment.

    * Each call may run on another thread, so on another Django connection (each thread has its own, closed
      when unusable or obsolete before and after the call, as for the bridge). A transaction never spans
      segments (the prover keeps ``atomic`` blocks inside one and bodies that drive the connection by hand
      bridged); session state set on the connection by one segment is not seen by the next.
    * The thread sees a copy of the caller's context variables, and what it sets is set in the caller's
      context afterwards (as ``asgiref.sync.sync_to_async`` does).
    * Exceptions raised by ``fn`` propagate unchanged.
    * Cancellation (SAQ timeout or abort): the thread cannot be stopped. The await does not return early:
      it waits for the thread to finish (cancelled again meanwhile, it keeps waiting), then raises
      ``CancelledError``, so the port's ``except``/``finally`` blocks run after the segment's statements,
      never alongside them, as they would in one thread. On a timeout SAQ gives a cancelled job
      ``cancellation_hard_deadline_s`` (1 s) before it records the failure, then lets it finish.
    """
    from saqmigrate.runtime import django_db  # noqa: PLC0415 - stdlib-only module level (see the docstring)
    from saqmigrate.runtime.task import _executor  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    future = loop.run_in_executor(_executor(), django_db.around(functools.partial(context.run, fn)))
    try:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                logger.warning(
                    "%s was cancelled; waiting for its thread to return before the job goes on",
                    getattr(fn, "__qualname__", fn),
                )
                while not future.done():
                    try:
                        await asyncio.wait([future])
                    except asyncio.CancelledError:
                        continue
            raise
    finally:
        _restore(context)
