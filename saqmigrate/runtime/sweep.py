"""A sweep for SAQ 0.26's Redis queue that does not race its own dequeue, and redelivers
``acks_late`` jobs whose worker died (issue 12 item 5).

Why SAQ's own ``RedisQueue.sweep`` aborts jobs that never ran (tobymao/saq#124, #277):
``Worker.process`` takes a job with ``BLMOVE queued -> active`` and only *then*, one or more
round trips later, writes ``status=active`` (``job.update(status=ACTIVE)``). The sweep, a
worker timer that runs once at start-up and then every ``timers["sweep"]`` seconds whenever
its Redis lock (``saq:<queue>:sweep``, TTL = the sweep interval) is free, reads every id in
the active list and aborts each one whose stored status is not ``active``. A job sitting in
that window — always the case for jobs waiting when a worker starts — is aborted as
``swept``; with ``retries=1`` it ends ``aborted`` and never runs.

Second, a job whose worker died (SIGKILL, OOM) is swept once its heartbeat or timeout has
elapsed; with no retries left it ends ``aborted``. Celery redelivers such a message for an
``acks_late`` task (the broker never got the ack), so a migrated ``acks_late`` /
``reject_on_worker_lost`` task must be re-run, not dead-lettered.

:func:`install` replaces ``queue.sweep`` (an instance attribute: ``Worker.upkeep`` reads it
when the worker starts) with :class:`SafeSweep`, which is SAQ's sweep with three changes:

1. **Dequeued, not yet marked active** (stored status ``queued``/``new`` while the id is in
   the active list): never aborted. If the same stored record is still there ``grace``
   seconds later (``SAQMIGRATE_SWEEP_GRACE``, default 60 s: its worker died between the
   ``BLMOVE`` and the status write), it is moved back to the queued list by one Lua script
   that first checks the record is byte-for-byte unchanged, so a worker that did mark it
   active in the meantime keeps it. It never ran, so it keeps its attempts.
2. **Stuck job of a redelivering task whose worker is gone** (no
   ``saq:<queue>:worker_info:<worker_id>`` key: the worker stopped reporting for longer
   than ``timers["worker_info"] + 1`` s): re-enqueued at once, with its attempt count given
   back (a redelivery is not a retry: Celery's ``request.retries`` is unchanged) and
   ``meta["saqmigrate_redelivered"]`` counting the losses. Once per loss: the sweep removes
   the id from the active list in the same step. ``SAQMIGRATE_MAX_REDELIVERIES`` (default 0:
   no limit, as Celery) caps it; over the cap SAQ's behaviour applies.
   A task redelivers when its Celery task (found by name in this process's Celery apps) has
   ``acks_late`` or ``reject_on_worker_lost`` set, or when its name matches
   ``SAQMIGRATE_REDELIVER`` / ``install(redeliver=...)`` (comma-separated globs; for
   workers that no longer import Celery).
3. A job that reached a terminal status while the sweep waited for its abort is left as it
   finished (SAQ would overwrite ``complete`` with ``aborted``). When the worker is known to
   be gone the sweep does not wait for an abort nobody will acknowledge.

Everything else (missing records, stuck jobs of other tasks, leftovers) is SAQ's code path.
Only installed on SAQ 0.26's ``RedisQueue`` (the internals used here were read from it);
anything else keeps its own sweep.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import logging
import os
import time
from typing import Any, Callable, Iterable

logger = logging.getLogger("saqmigrate.runtime.sweep")

SUPPORTED = ("0.26.",)
DEFAULT_GRACE = 60.0
META_KEY = "saqmigrate_redelivered"
REDELIVERED_ERROR = "redelivered: worker lost"

# saq/queue/redis.py RedisQueue.sweep's script: take the lock, read the active jobs
_CLEANUP_LUA = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""

# back to the queued list, only if the record is exactly what the sweep saw
_REQUEUE_LUA = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
if redis.call('LREM', KEYS[1], 1, KEYS[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], KEYS[3])
return 1
"""


def supported(queue: Any) -> bool:
    try:
        import saq
        from saq.queue.redis import RedisQueue
    except ImportError:
        return False
    return str(getattr(saq, "__version__", "")).startswith(SUPPORTED) and isinstance(queue, RedisQueue)


def _globs(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(v.strip() for v in value if v and v.strip())


def celery_redelivers(name: str) -> bool:
    """True when the Celery task ``name`` in this process has acks_late or reject_on_worker_lost."""
    try:
        from saqmigrate.runtime.task import _celery_task_by_name

        task = _celery_task_by_name(name)
    except Exception:  # noqa: BLE001 - no Celery, an app that cannot finalize: not known
        return False
    if task is None:
        return False
    try:
        return bool(getattr(task, "acks_late", False) or getattr(task, "reject_on_worker_lost", False))
    except Exception:  # noqa: BLE001
        return False


class SafeSweep:
    """Callable as ``queue.sweep(lock=60, abort=5.0)``; see the module docstring."""

    def __init__(
        self,
        queue: Any,
        *,
        grace: float | None = None,
        redeliver: str | Iterable[str] | None = None,
        max_redeliveries: int | None = None,
        abort_wait: float | None = None,
        is_redelivering: Callable[[str], bool] | None = None,
    ) -> None:
        self.queue = queue
        self.original = queue.sweep
        self.grace = float(os.environ.get("SAQMIGRATE_SWEEP_GRACE", DEFAULT_GRACE)) if grace is None else grace
        self.globs = _globs(redeliver if redeliver is not None else os.environ.get("SAQMIGRATE_REDELIVER"))
        self.max_redeliveries = (
            int(os.environ.get("SAQMIGRATE_MAX_REDELIVERIES", "0")) if max_redeliveries is None else max_redeliveries
        )
        self.abort_wait = abort_wait
        self._is_redelivering = is_redelivering or celery_redelivers
        self._known: dict[str, bool] = {}
        self._limbo = queue.namespace("saqmigrate_limbo")
        self._cleanup = queue.redis.register_script(_CLEANUP_LUA)
        self._requeue = queue.redis.register_script(_REQUEUE_LUA)
        self.requeued = self.redelivered = 0

    def redelivers(self, function: str) -> bool:
        known = self._known.get(function)
        if known is None:
            known = any(fnmatch.fnmatchcase(function, g) for g in self.globs) or self._is_redelivering(function)
            self._known[function] = known
        return known

    async def __call__(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        from saq.job import TERMINAL_STATUSES, Status

        q = self.queue
        if self.abort_wait is not None:
            abort = self.abort_wait
        id_jobs = await self._cleanup(keys=[q._sweep, q._active], args=[lock], client=q.redis)
        if not id_jobs:
            return []
        swept: list[bytes] = []
        seen: set[bytes] = set()
        for job_id, job_bytes in id_jobs:
            seen.add(job_id)
            job = q.deserialize(job_bytes)
            if job is None:  # SAQ's path: the record is gone
                swept.append(job_id)
                async with q.redis.pipeline(transaction=True) as pipe:
                    await pipe.lrem(q._active, 0, job_id).zrem(q._incomplete, job_id).execute()
                logger.info("Sweeping missing job %s", job_id)
                continue
            if job.status in (Status.QUEUED, Status.NEW):
                await self._in_limbo(job_id, job_bytes, job)
                continue
            if job.status == Status.ACTIVE and not job.stuck:
                continue
            swept.append(job_id)
            worker_gone = bool(job.worker_id) and not await q.redis.exists(q.namespace(f"worker_info:{job.worker_id}"))
            logger.info(
                "Sweeping job %s%s",
                job.info(logger.isEnabledFor(logging.DEBUG)),
                " (its worker is gone)" if worker_gone else "",
            )
            await q.abort(job, error=q.swept_error_message)
            if not worker_gone:
                try:
                    await job.refresh(abort)
                except asyncio.TimeoutError:
                    logger.info("Could not abort job %s", job_id)
                if job.status in TERMINAL_STATUSES:
                    continue  # it finished while we waited: keep how it finished
            if worker_gone and self.redelivers(job.function) and self._under_cap(job):
                await self._redeliver(job)
            elif job.retryable:
                await q.retry(job, error=q.swept_error_message)
            else:
                await q.finish(job, Status.ABORTED, error=q.swept_error_message)
        if seen:
            stale = [f for f in await q.redis.hkeys(self._limbo) if f not in seen]
            if stale:
                await q.redis.hdel(self._limbo, *stale)
        return [j.decode("utf-8") for j in swept]

    async def _in_limbo(self, job_id: bytes, job_bytes: bytes, job: Any) -> None:
        """Dequeued but not yet marked active: wait ``grace`` s for its worker, then requeue."""
        q = self.queue
        fp = hashlib.sha1(job_bytes).hexdigest()
        now = time.time()
        raw = await q.redis.hget(self._limbo, job_id)
        first = None
        if raw:
            try:
                rec = json.loads(raw)
                if rec.get("fp") == fp:
                    first = float(rec["t"])
            except (ValueError, KeyError, TypeError):
                first = None
        if first is None:
            await q.redis.hset(self._limbo, job_id, json.dumps({"fp": fp, "t": now}))
            logger.debug("job %s dequeued but not yet active; left to its worker", job_id)
            return
        if now - first < self.grace:
            return
        moved = await self._requeue(keys=[q._active, q._queued, job_id], args=[job_bytes], client=q.redis)
        await q.redis.hdel(self._limbo, job_id)
        if moved:
            self.requeued += 1
            logger.warning(
                "job %s was dequeued %.0f s ago by a worker that never started it; requeued "
                "(not aborted: it never ran)",
                job.key,
                now - first,
            )

    def _under_cap(self, job: Any) -> bool:
        n = int((job.meta or {}).get(META_KEY, 0) or 0)
        return self.max_redeliveries <= 0 or n < self.max_redeliveries

    async def _redeliver(self, job: Any) -> None:
        """Re-enqueue now, as the broker redelivers an unacked Celery message."""
        from saq.job import Status
        from saq.utils import now

        q = self.queue
        job.meta = dict(job.meta or {})
        job.meta[META_KEY] = int(job.meta.get(META_KEY, 0) or 0) + 1
        job.attempts = max(0, job.attempts - 1)
        job.status = Status.QUEUED
        job.error = REDELIVERED_ERROR
        job.started = job.completed = 0
        job.progress = 0
        job.touched = now()
        async with q.redis.pipeline(transaction=True) as pipe:
            await (
                pipe.lrem(q._active, 0, job.id)
                .lrem(q._queued, 0, job.id)
                .zadd(q._incomplete, {job.id: job.scheduled})
                .rpush(q._queued, job.id)
                .set(job.id, q.serialize(job))
                .delete(job.abort_id)
                .execute()
            )
        self.redelivered += 1
        logger.warning(
            "job %s (%s) redelivered: its worker was lost mid-run (loss %d)", job.key, job.function, job.meta[META_KEY]
        )


def install(queue: Any, **options: Any) -> SafeSweep | None:
    """Replace ``queue.sweep`` with a :class:`SafeSweep` (idempotent); None where unsupported."""
    current = getattr(queue, "sweep", None)
    if isinstance(current, SafeSweep):
        return current
    if os.environ.get("SAQMIGRATE_SAFE_SWEEP", "1") == "0" or not supported(queue):
        return None
    sweep = SafeSweep(queue, **options)
    queue.sweep = sweep
    return sweep
