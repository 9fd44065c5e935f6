"""One owner per schedule entry: Celery beat or SAQ cron, never both.

Both schedulers ask the same question for a due entry: *who owns it now?* (the kill switch,
else an explicit owner from ``saqmigrate route schedules ENTRY --owner ...``, else the
task's route for routing key ``schedule:{entry}``). The owner then *claims* the fire,
``SET NX`` on ``P:claim:{entry}:{due}`` where ``due`` is the nominal fire time (epoch seconds,
computed from the entry's cron): the first side to ask records the owner it read live from
the store and both sides obey that record, so a due time fires once even when a flip
lands between the two checks. If the flag store is unreachable the owner from the last
snapshot fires without a record (availability over exactly-once; see docs/routing.md).

The generated SAQ cron function starts with::

    async def cron_refresh_boxes(ctx):
        if not await saq_cron_guard(ctx, "refresh-boxes"):
            return None
        ...

A flip back to Celery also aborts the SAQ cron job already scheduled under
``cron:{qualname}`` (``abort_pending_cron``); the guard covers the one SAQ's scheduler
re-enqueues a second later.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import math
import os
import socket
from typing import Any

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry, ScheduleEntry

log = logging.getLogger("saqmigrate.ownership")

TERMINAL = {"complete", "failed", "aborted", "aborting"}


def nominal_due(cron: str, now: _dt.datetime, tz: _dt.tzinfo | None = None) -> int:
    """The latest cron fire time <= now, in epoch seconds (what SAQ puts in ``job.scheduled``)."""
    from croniter import croniter

    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    if tz is not None:
        now = now.astimezone(tz)
    prev = croniter(cron, now + _dt.timedelta(microseconds=1)).get_prev(_dt.datetime)
    return int(prev.timestamp())


def interval_due(interval: float, now: _dt.datetime | float) -> int:
    """The latest slot <= now of an interval entry, in epoch seconds.

    Slots are the ones ``saqmigrate.runtime.worker.IntervalJob`` runs at (``k * interval``,
    rounded up for fractional intervals), so beat and SAQ claim the same ``due``.
    """
    t = now.timestamp() if isinstance(now, _dt.datetime) else float(now)
    interval = float(interval)

    def slot(k: int) -> int:
        return k * int(interval) if interval.is_integer() else int(math.ceil(k * interval))

    k = math.floor(t / interval)
    s = slot(k)
    return s if s <= t else slot(k - 1)


class Ownership:
    def __init__(
        self,
        registry: Registry,
        flags: F.FlagClient,
        *,
        cron_tz: _dt.tzinfo | None = None,
        holder: str | None = None,
        metrics: Any = None,
    ):
        self.registry = registry
        self.flags = flags
        self.cron_tz = cron_tz or _dt.timezone.utc
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.metrics = metrics

    def owner(self, entry: str, task: str | None = None) -> tuple[str, str]:
        sched = self.registry.schedules.get(entry)
        task = task or (sched.task if sched else None)
        if sched is None or not sched.cron_function or task is None:
            return F.CELERY, F.R_NOT_REGISTERED  # no SAQ cron exists for it: beat keeps it
        return F.schedule_owner(self.flags.snapshot(), entry, task)

    def should_fire(self, side: str, entry: str, due: int, task: str | None = None) -> bool:
        """``side`` (celery|saq) asks whether to fire ``entry`` for nominal time ``due``.

        The first side to ask for (entry, due) records the owner read *live* from the store
        (``SET claim owner NX``); both sides then obey that record, so each due time fires
        exactly once even if a flip lands between the two checks. Store unreachable: the
        owner from the last snapshot decides, without a record.
        """
        sched = self.registry.schedules.get(entry)
        task = task or (sched.task if sched else None)
        if sched is None or not sched.cron_function or task is None:
            return side == F.CELERY
        client = self.flags._client()
        try:
            if client is None:
                raise F.StoreUnavailable("no flag store configured")
            live = F._load(client, self.flags.keys)
            owner = F.schedule_owner(live, entry, task)[0]
            key = self.flags.keys.claim(entry, due)
            if not client.set(key, owner, nx=True, ex=7 * 24 * 3600):
                owner = client.get(key) or owner
        except Exception as exc:
            self.flags._error("claim", exc)
            owner = self.owner(entry, task)[0]
        return owner == side

    def beat_should_fire(self, entry: str, task: str, now: _dt.datetime) -> bool:
        sched = self.registry.schedules.get(entry)
        interval = getattr(sched, "interval", None) if sched is not None else None
        if sched is not None and sched.cron:
            due = nominal_due(sched.cron, now, self.cron_tz)
        elif sched is not None and interval:
            due = interval_due(interval, now)  # the IntervalJob slot this fire stands for
        else:
            owner, _ = self.owner(entry, task)
            return owner == F.CELERY  # entries without a SAQ cron are beat's alone
        return self.should_fire(F.CELERY, entry, due, task)

    def saq_should_fire(self, entry: str, scheduled: int | float | None) -> bool:
        sched = self.registry.schedules.get(entry)
        if sched is None:
            log.warning("saqmigrate: SAQ cron guard for unknown schedule entry %r: not firing", entry)
            return False
        now = _dt.datetime.now(_dt.timezone.utc)
        if scheduled:
            due = int(scheduled)
        elif sched.cron:
            due = nominal_due(sched.cron, now, self.cron_tz)
        elif interval := getattr(sched, "interval", None):
            due = interval_due(interval, now)
        else:
            return False
        return self.should_fire(F.SAQ, entry, due)


_OWNERSHIP: Ownership | None = None


def set_ownership(o: Ownership | None) -> None:
    global _OWNERSHIP
    _OWNERSHIP = o


_FROM_ROUTER: tuple[Any, Any, Ownership] | None = None


def get_ownership(cron_tz: _dt.tzinfo | None = None) -> Ownership | None:
    """The process's ``Ownership``: the one ``set_ownership`` installed, else one built on the
    router's registry and flag client (crons read in ``cron_tz``, default UTC; beat passes the
    app's time zone). None when neither exists (beat then fires everything)."""
    global _FROM_ROUTER
    if _OWNERSHIP is not None:
        return _OWNERSHIP
    from saqmigrate.runtime.router import get_router

    r = get_router()
    if r is not None and r.flags is not None:
        cached = _FROM_ROUTER
        if cached is not None and cached[0] is r and cached[1] == cron_tz:
            return cached[2]
        o = Ownership(r.registry, r.flags, cron_tz=cron_tz)
        _FROM_ROUTER = (r, cron_tz, o)
        return o
    return None


async def saq_cron_guard(ctx: dict, entry: str) -> bool:
    """Call first in a generated SAQ cron function; False means "Celery owns it, return"."""
    o = get_ownership()
    if o is None:
        log.warning("saqmigrate: no router/ownership installed; SAQ cron %r not fired (Celery keeps it)", entry)
        return False
    job = ctx.get("job") if isinstance(ctx, dict) else None
    scheduled = getattr(job, "scheduled", None)
    return await asyncio.to_thread(o.saq_should_fire, entry, scheduled)


async def abort_pending_cron(queue: Any, sched: ScheduleEntry, reason: str = "schedule owner moved to celery") -> bool:
    """Abort the SAQ cron job already scheduled for ``sched`` (``cron:{qualname}``), if any.

    On Redis a *scheduled* job is taken out of ``incomplete`` and left with status
    ``aborting`` (saq 0.26.4 RedisQueue.abort only finishes jobs it removed from ``queued``);
    SAQ's scheduler enqueues the next ``cron:`` job once the 5 s abort marker expires, and the
    guard makes that one a no-op while Celery owns the entry.
    """
    key = sched.cron_key
    if not key:
        return False
    job = await queue.job(key)
    if job is None or str(job.status) in TERMINAL or getattr(job.status, "value", None) in TERMINAL:
        return False
    await queue.abort(job, reason)
    return True
