"""Run-time helpers for migrated beat schedules (tiny, pure; imported by migrated apps).

* ``guard_allows`` / ``guarded``: Celery ANDs a restricted day_of_month with a restricted
  day_of_week; cron (croniter, as SAQ calls it) ORs them. saqmigrate emits a cron on one
  day field and a *guard* on the other: the wrapped function returns early (a no-op run)
  unless the run's scheduled instant, read in the schedule's time zone, also matches the
  guard.
* ``next_interval_run``: the next run of a self-rescheduling job (intervals that no cron
  can express, such as 7 minutes), anchored on the previous *scheduled* instant so runs
  do not drift by their own duration.

No third-party imports: this module must import in a production worker image.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from datetime import datetime, timezone, tzinfo
from typing import Any, Callable
from zoneinfo import ZoneInfo

GUARD_FIELDS = ("day_of_month", "day_of_week", "month_of_year")


def _tz(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return timezone.utc
    if isinstance(tz, str):
        return timezone.utc if tz.upper() == "UTC" else ZoneInfo(tz)
    return tz


def guard_allows(guard: dict | None, when: float | datetime, tz: str | tzinfo | None = "UTC") -> bool:
    """Does the instant ``when`` (epoch seconds, or an aware datetime) pass ``guard``?

    ``guard`` is ``{"field": "day_of_month"|"day_of_week"|"month_of_year", "values": [...]}``;
    ``day_of_week`` uses Celery's numbering (Sunday=0 … Saturday=6). ``None`` allows all.
    """
    if not guard:
        return True
    field = guard["field"]
    if field not in GUARD_FIELDS:
        raise ValueError(f"unknown guard field {field!r}; expected one of {', '.join(GUARD_FIELDS)}")
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("guard_allows needs an aware datetime (or epoch seconds)")
        local = when.astimezone(_tz(tz))
    else:
        local = datetime.fromtimestamp(when, _tz(tz))
    if field == "day_of_month":
        value = local.day
    elif field == "day_of_week":
        value = local.isoweekday() % 7
    else:
        value = local.month
    return value in set(guard["values"])


def _scheduled_instant(ctx: Any) -> float:
    """The instant the cron meant this run for: ``job.scheduled`` (epoch s) or now."""
    job = ctx.get("job") if isinstance(ctx, dict) else None
    scheduled = getattr(job, "scheduled", 0) or 0
    return float(scheduled) if scheduled else time.time()


def guarded(
    function: Callable, guard: dict | None, tz: str | tzinfo | None = "UTC", *, name: str | None = None
) -> Callable:
    """Wrap an SAQ job function ``function(ctx, **kwargs)`` so it runs only when the
    scheduled instant passes ``guard`` in ``tz`` (the worker's ``cron_tz``).

    ``name`` becomes the wrapper's ``__qualname__``: SAQ registers a CronJob's function
    under its ``__qualname__`` and dedups runs with the key ``cron:<qualname>``, so give
    each schedule entry its own name. A skipped run returns ``None``.
    """
    zone = _tz(tz)
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def wrapper(ctx: dict[str, Any], **kwargs: Any) -> Any:
            if not guard_allows(guard, _scheduled_instant(ctx), zone):
                return None
            return await function(ctx, **kwargs)

    else:

        @functools.wraps(function)
        def wrapper(ctx: dict[str, Any], **kwargs: Any) -> Any:
            if not guard_allows(guard, _scheduled_instant(ctx), zone):
                return None
            return function(ctx, **kwargs)

    wrapper.__qualname__ = name or function.__qualname__
    wrapper.__name__ = (name or function.__name__).rsplit(".", 1)[-1]
    wrapper.saqmigrate_guard = guard  # type: ignore[attr-defined]
    return wrapper


def next_interval_run(previous_scheduled: float, interval: float, now: float | None = None) -> float:
    """Next run of a self-rescheduling job: ``previous + k*interval``, the first one
    strictly after ``now`` (missed runs are skipped, like SAQ cron; Celery beat would
    run once late instead, then continue from that run)."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    now = time.time() if now is None else now
    k = max(1, math.floor((now - previous_scheduled) / interval) + 1)
    return previous_scheduled + k * interval
