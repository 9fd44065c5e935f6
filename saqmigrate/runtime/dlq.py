"""Dead-letter queue for SAQ: keep every job that failed for good until a person acts.

SAQ 0.26 has none: a job whose retries are exhausted is stored ``failed`` for ``ttl``
seconds (600 by default) and then deleted; a job the sweeper finds stuck with no retries
left is finished ``aborted`` with error ``"swept"``. This module captures both into a
durable Redis store (no TTL) and lets an operator list, show, requeue and purge them
(``saqmigrate dlq ...``).

Capture paths (both write the same entry id, first write wins, so a job is never stored
twice):

1. ``DeadLetterQueue.after_process`` -- the worker hook. It sees ``status == FAILED`` only
   on the final failure (a failure with retries left shows ``queued``).
2. A ``finish`` interceptor that ``DeadLetterQueue.startup`` installs on the worker's queue.
   Needed because ``RedisQueue.sweep`` (a worker *timer*, not ``Worker.process``) finishes a
   stuck, non-retryable job ``ABORTED`` through ``Queue.finish`` and never calls
   ``after_process``. Every terminal transition goes through ``Queue.finish``, so the
   interceptor sees swept jobs, and it writes the entry *before* SAQ stores the final
   status: a worker that dies in between leaves the job stuck (swept again later), not
   lost, and even jobs with ``ttl=-1`` (deleted on finish) are captured.

Jobs aborted on purpose (``job.abort("reason")``) are not dead letters unless
``capture_aborted=True``.

Redis layout (one hash tag, so it works on Redis Cluster; ``prefix`` defaults to
``saqmigrate:{saqmigrate}:v1:dlq``)::

    {prefix}:entries    HASH  id -> entry JSON (Celery-compatible JSON: kwargs keep types)
    {prefix}:index      ZSET  id -> failed_at (epoch seconds)
    {prefix}:q:{queue}  ZSET  id -> failed_at, per queue (DLQ size gauge)
    {prefix}:queues     SET   queue names seen
    {prefix}:requeue    HASH  id -> requeue marker JSON {new_key, state, at}
    {prefix}:log        STREAM audit of requeue/purge (MAXLEN ~ 10000)

Requeue is mark, enqueue, delete. Each step is idempotent and a retry resumes where a
failed attempt stopped: the marker fixes the new job key before anything is enqueued, SAQ
refuses a second enqueue of a key that is still incomplete, and the entry is deleted only
after the marker says the job is enqueued. A requeue that fails halfway therefore leaves
the entry (and its marker) in place, and running it again enqueues at most one job.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime import serializer
from saqmigrate.runtime.urls import saq_redis_url

logger = logging.getLogger("saqmigrate.runtime.dlq")

DEFAULT_PREFIX = "saqmigrate:{saqmigrate}:v1:dlq"
DEFAULT_REDIS_URL = "redis://localhost:6379"
LOG_MAXLEN = 10_000


# --------------------------------------------------------------------------- helpers


def resolve_redis_url(explicit: str | None = None) -> str:
    """Where dead letters live by default: SAQ's Redis (the worker queue's), resolved as the
    workers and the router do: ``explicit``, else ``SAQ_REDIS_URL``, else ``REDIS_URL``, else
    localhost (runtime/urls.py). Never ``SAQMIGRATE_REDIS_URL`` (the flag store)."""
    return saq_redis_url(explicit)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str | float | datetime | None, *, now: float | None = None) -> float | None:
    """Epoch seconds from ``30m`` / ``2h`` / ``7d`` / ``1w`` (ago), an ISO 8601 time
    (naive = UTC), an epoch number, or a datetime. ``None`` stays ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if m:
        base = time.time() if now is None else now
        return base - float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read --since {value!r}: use a duration like 30m, 2h, 7d or an ISO time like 2025-01-31T12:00"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else str(v)


def _exception_line(error: str | None) -> str | None:
    """The last non-blank line of a traceback: ``ValueError: boom``."""
    if not error:
        return None
    for line in reversed(error.strip().splitlines()):
        if line.strip():
            return line.strip()
    return None


def _status_name(status: Any) -> str:
    return getattr(status, "value", None) or str(status)


# --------------------------------------------------------------------------- entry


@dataclass
class DeadLetter:
    """One job that failed for good."""

    id: str
    function: str
    queue: str
    key: str
    kwargs: dict | None
    status: str  # "failed" | "aborted"
    reason: str  # "failed" | "swept" | "aborted"
    error: str | None  # the full traceback (or the abort/sweep message)
    exception: str | None  # last line of the traceback
    attempts: int
    retries: int
    failed_at: float  # epoch seconds
    queued: int = 0  # epoch ms (SAQ units)
    started: int = 0  # epoch ms
    completed: int = 0  # epoch ms
    scheduled: int = 0  # epoch s
    timeout: int | None = None
    heartbeat: int = 0
    ttl: int = 600
    retry_delay: float = 0.0
    retry_backoff: bool | float = False
    meta: dict = field(default_factory=dict)
    worker_id: str | None = None
    kwargs_error: str | None = None  # set when kwargs could not be stored

    @staticmethod
    def make_id(queue: str, key: str, started: int, completed: int = 0) -> str:
        return f"{queue}:{key}:{started or completed}"

    @classmethod
    def from_job(
        cls, job: Any, *, status: Any = None, error: str | None = None, reason: str, completed_ms: int | None = None
    ) -> DeadLetter:
        status = status if status is not None else job.status
        error = error if error is not None else job.error
        completed = completed_ms if completed_ms is not None else (job.completed or int(time.time() * 1000))
        queue_name = job.queue.name if getattr(job, "queue", None) is not None else ""
        kwargs: dict | None = dict(job.kwargs or {})
        kwargs_error = None
        try:
            serializer.dump(kwargs)
        except (TypeError, ValueError) as exc:
            kwargs_error = f"{type(exc).__name__}: {exc}; repr: {reprlib_repr(job.kwargs)}"
            kwargs = None
        meta = dict(job.meta or {})
        try:
            serializer.dump(meta)
        except (TypeError, ValueError):
            meta = {"repr": reprlib_repr(job.meta)}
        return cls(
            id=cls.make_id(queue_name, job.key, job.started, completed),
            function=job.function,
            queue=queue_name,
            key=job.key,
            kwargs=kwargs,
            status=_status_name(status),
            reason=reason,
            error=error,
            exception=_exception_line(error),
            attempts=job.attempts,
            retries=job.retries,
            failed_at=completed / 1000.0,
            queued=job.queued,
            started=job.started,
            completed=completed,
            scheduled=job.scheduled,
            timeout=job.timeout,
            heartbeat=job.heartbeat,
            ttl=job.ttl,
            retry_delay=job.retry_delay,
            retry_backoff=job.retry_backoff,
            meta=meta,
            worker_id=getattr(job, "worker_id", None),
            kwargs_error=kwargs_error,
        )

    def to_json(self) -> str:
        return serializer.dump(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeadLetter:
        """The stored entry; ValueError (one line) when it cannot be read."""
        try:
            data = serializer.load(raw)
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            known = {f for f in cls.__dataclass_fields__}
            entry = cls(**{k: v for k, v in data.items() if k in known})
            for name in ("id", "function", "queue", "key"):
                if not isinstance(getattr(entry, name), str):
                    raise ValueError(f"{name} is not a string")
            entry.failed_at = float(entry.failed_at)
            entry.attempts, entry.retries = int(entry.attempts), int(entry.retries)
            if entry.kwargs is not None and not isinstance(entry.kwargs, dict):
                raise ValueError("kwargs is not an object")
            if not isinstance(entry.meta, dict):
                entry.meta = {"repr": reprlib_repr(entry.meta)}
            return entry
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            msg = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise ValueError(msg) from None

    @classmethod
    def corrupt(cls, entry_id: str, why: str, failed_at: float = 0.0) -> DeadLetter:
        """A placeholder for a stored entry that cannot be read: listed (status ``corrupt``),
        shown and purgeable, never requeued."""
        parts = entry_id.rsplit(":", 2)
        return cls(
            id=entry_id,
            function="?",
            queue=parts[0] if len(parts) == 3 else "",
            key="",
            kwargs=None,
            status="corrupt",
            reason="corrupt",
            error=f"the stored entry cannot be read: {why}",
            exception=f"corrupt entry: {why}",
            attempts=0,
            retries=0,
            failed_at=float(failed_at or 0.0),
            kwargs_error=f"corrupt entry: {why}",
        )

    @property
    def is_corrupt(self) -> bool:
        return self.status == "corrupt"

    def summary(self) -> dict:
        """A JSON-safe dict for ``--format json`` (kwargs in the Celery JSON markers)."""
        return json.loads(self.to_json())


def reprlib_repr(v: Any) -> str:
    import reprlib

    return reprlib.repr(v)


@dataclass
class RequeueResult:
    id: str
    new_key: str
    queue: str
    enqueued: bool  # False when a previous attempt had already enqueued it


class DeadLetterError(SaqmigrateError, RuntimeError):
    pass


# --------------------------------------------------------------------------- store

_ADD_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
    redis.call('SADD', KEYS[4], ARGV[4])
    return 1
end
return 0
"""

_MARK_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return false end
local m = redis.call('HGET', KEYS[2], ARGV[1])
if m then return m end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return ARGV[2]
"""


class DeadLetterStore:
    """Durable dead letters in Redis (``redis.asyncio`` client, bytes or str responses)."""

    def __init__(self, redis: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self.k_entries = f"{prefix}:entries"
        self.k_index = f"{prefix}:index"
        self.k_queues = f"{prefix}:queues"
        self.k_requeue = f"{prefix}:requeue"
        self.k_log = f"{prefix}:log"
        self._owns_client = False
        self._add = redis.register_script(_ADD_LUA)
        self._mark_script = redis.register_script(_MARK_LUA)

    def k_queue(self, queue: str) -> str:
        return f"{self.prefix}:q:{queue}"

    @classmethod
    def from_url(cls, url: str | None = None, prefix: str = DEFAULT_PREFIX, **redis_kwargs: Any) -> DeadLetterStore:
        from redis import asyncio as aioredis

        redis_kwargs.setdefault("socket_connect_timeout", 3)
        store = cls(aioredis.from_url(resolve_redis_url(url), **redis_kwargs), prefix)
        store._owns_client = True
        return store

    async def close(self) -> None:
        if self._owns_client:  # aclose: redis-py 5.0.1+; close on older ones (as SAQ does)
            await (getattr(self.redis, "aclose", None) or self.redis.close)()

    # ---- write
    async def add(self, entry: DeadLetter) -> bool:
        """Store ``entry``; ``False`` if an entry with the same id exists (first write wins)."""
        added = await self._add(
            keys=[self.k_entries, self.k_index, self.k_queue(entry.queue), self.k_queues],
            args=[entry.id, entry.to_json(), entry.failed_at, entry.queue],
        )
        return bool(added)

    def _log(self, pipe: Any, action: str, entry_id: str, **extra: Any) -> None:
        fields = {
            "action": action,
            "id": entry_id,
            "at": f"{time.time():.3f}",
            "by": f"{os.environ.get('USER', '?')}@{socket.gethostname()}",
        }
        fields.update({k: str(v) for k, v in extra.items()})
        pipe.xadd(self.k_log, fields, maxlen=LOG_MAXLEN, approximate=True)

    async def delete(self, ids: Iterable[str], *, action: str = "purge") -> int:
        ids = list(ids)
        if not ids:
            return 0
        entries = await self.get_many(ids)
        queue_names = (
            [_text(q) for q in await self.redis.smembers(self.k_queues)]
            if any(e.is_corrupt for e in entries.values())
            else []
        )
        hdel_at = []
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id in ids:
                hdel_at.append(len(pipe.command_stack))
                pipe.hdel(self.k_entries, entry_id)
                pipe.zrem(self.k_index, entry_id)
                pipe.hdel(self.k_requeue, entry_id)
                entry = entries.get(entry_id)
                if entry is not None and entry.is_corrupt:
                    for q in queue_names:  # its queue is not known for sure: every per-queue index
                        pipe.zrem(self.k_queue(q), entry_id)
                    self._log(pipe, action, entry_id, function="?", queue=entry.queue, corrupt="1")
                elif entry is not None:
                    pipe.zrem(self.k_queue(entry.queue), entry_id)
                    self._log(pipe, action, entry_id, function=entry.function, queue=entry.queue)
            results = await pipe.execute()
        return sum(int(results[i] or 0) for i in hdel_at)

    # ---- read
    @staticmethod
    def _decode(entry_id: str, raw: Any, failed_at: float = 0.0) -> DeadLetter:
        try:
            return DeadLetter.from_json(raw)
        except ValueError as exc:
            logger.warning(
                "dead letter %s cannot be read (%s); purge it with `saqmigrate dlq purge %s`", entry_id, exc, entry_id
            )
            return DeadLetter.corrupt(entry_id, str(exc), failed_at)

    async def get(self, entry_id: str) -> DeadLetter | None:
        raw = await self.redis.hget(self.k_entries, entry_id)
        if not raw:
            return None
        return self._decode(entry_id, raw, await self.redis.zscore(self.k_index, entry_id) or 0.0)

    async def get_many(self, ids: list[str], scores: dict[str, float] | None = None) -> dict[str, DeadLetter]:
        out: dict[str, DeadLetter] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for entry_id, raw in zip(chunk, await self.redis.hmget(self.k_entries, chunk)):
                if raw:
                    out[entry_id] = self._decode(entry_id, raw, (scores or {}).get(entry_id, 0.0))
        return out

    async def list(
        self,
        *,
        task: str | None = None,
        queue: str | None = None,
        since: float | str | datetime | None = None,
        before: float | str | datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[DeadLetter]:
        """Entries matching every given filter. ``task`` is an exact name or a glob;
        ``since`` (inclusive) and ``before`` (exclusive) bound the failure time."""
        since_ts, before_ts = parse_since(since), parse_since(before)
        key = self.k_queue(queue) if queue else self.k_index
        lo = since_ts if since_ts is not None else "-inf"
        hi = f"({before_ts}" if before_ts is not None else "+inf"
        if newest_first:
            raw_ids = await self.redis.zrevrangebyscore(key, hi, lo, withscores=True)
        else:
            raw_ids = await self.redis.zrangebyscore(key, lo, hi, withscores=True)
        scores = {_text(i): float(sc) for i, sc in raw_ids}
        ids = list(scores)
        entries = await self.get_many(ids, scores)
        out = []
        for entry_id in ids:
            e = entries.get(entry_id)
            if e is None:
                continue
            if task and not (e.function == task or fnmatch.fnmatchcase(e.function, task)):
                continue
            out.append(e)
            if limit is not None and len(out) >= limit:
                break
        return out

    async def count(self, queue: str | None = None) -> int:
        return int(await self.redis.zcard(self.k_queue(queue) if queue else self.k_index))

    async def counts_by_queue(self) -> dict[str, int]:
        names = sorted(_text(q) for q in await self.redis.smembers(self.k_queues))
        if not names:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.zcard(self.k_queue(name))
            counts = await pipe.execute()
        return dict(zip(names, (int(c) for c in counts)))

    async def marker(self, entry_id: str) -> dict | None:
        raw = await self.redis.hget(self.k_requeue, entry_id)
        if not raw:
            return None
        try:
            marker = json.loads(raw)
        except (ValueError, RecursionError):
            marker = None
        if not isinstance(marker, dict) or "new_key" not in marker:
            return {"state": "corrupt", "new_key": "?"}
        return marker

    # ---- requeue: mark -> enqueue -> complete
    async def mark_requeue(self, entry_id: str) -> dict:
        """Step 1: fix the new job key (or return the marker a failed attempt left)."""
        proposed = json.dumps({"new_key": str(uuid.uuid4()), "state": "marked", "at": time.time()})
        raw = await self._mark_script(keys=[self.k_entries, self.k_requeue], args=[entry_id, proposed])
        if raw is None:
            raise DeadLetterError(f"no dead letter with id {entry_id!r} (already requeued or purged?)")
        return json.loads(raw)

    async def enqueue_marked(self, entry_id: str, marker: dict, queue: Any) -> bool:
        """Step 2: enqueue the job under ``marker['new_key']`` unless an earlier attempt
        did; then record ``state=enqueued``. Returns whether this call enqueued it."""
        from saq.job import Job

        if marker.get("state") == "enqueued":
            return False
        entry = await self.get(entry_id)
        if entry is None:
            raise DeadLetterError(f"no dead letter with id {entry_id!r}")
        if entry.is_corrupt:
            raise DeadLetterError(
                f"dead letter {entry_id} cannot be read ({entry.exception}); "
                f"purge it with `saqmigrate dlq purge {entry_id}`"
            )
        if entry.kwargs is None:
            raise DeadLetterError(
                f"dead letter {entry_id} has no stored kwargs ({entry.kwargs_error}); re-enqueue it by hand"
            )
        new_key = marker["new_key"]
        enqueued = False
        if await queue.job(new_key) is None:
            meta = dict(entry.meta or {})
            meta["saqmigrate_dlq"] = {"requeued_from": entry_id, "at": time.time()}
            job = Job(
                function=entry.function,
                kwargs=entry.kwargs,
                key=new_key,
                timeout=entry.timeout,  # type: ignore[arg-type]  # as the dead job had it (None: SAQ's default)
                heartbeat=entry.heartbeat,
                retries=entry.retries,
                ttl=entry.ttl,
                retry_delay=entry.retry_delay,
                retry_backoff=entry.retry_backoff,
                meta=meta,
            )
            # None means a job with this key is already incomplete: enqueued before.
            enqueued = await queue.enqueue(job) is not None
        marker = dict(marker, state="enqueued")
        await self.redis.hset(self.k_requeue, entry_id, json.dumps(marker))
        return enqueued

    async def complete_requeue(self, entry_id: str, marker: dict) -> None:
        """Step 3: drop the entry and its marker in one transaction (audit logged)."""
        entry = await self.get(entry_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.k_entries, entry_id)
            pipe.zrem(self.k_index, entry_id)
            pipe.hdel(self.k_requeue, entry_id)
            if entry is not None:
                pipe.zrem(self.k_queue(entry.queue), entry_id)
                self._log(
                    pipe, "requeue", entry_id, function=entry.function, queue=entry.queue, new_key=marker["new_key"]
                )
            await pipe.execute()

    async def requeue(self, entry_id: str, queue: Any | Callable[[str], Any]) -> RequeueResult:
        """Enqueue the dead job again under a new key with the same kwargs and options.

        ``queue`` is an SAQ queue or a ``name -> queue`` callable (given the entry's queue
        name). Safe to call again after any failure: it resumes.
        """
        entry = await self.get(entry_id)
        if entry is not None and entry.is_corrupt:
            raise DeadLetterError(
                f"dead letter {entry_id} cannot be read ({entry.exception}); "
                f"purge it with `saqmigrate dlq purge {entry_id}`"
            )
        marker = await self.mark_requeue(entry_id)
        entry = await self.get(entry_id)
        if entry is None:  # completed concurrently
            raise DeadLetterError(f"no dead letter with id {entry_id!r}")
        q = queue(entry.queue) if callable(queue) and not hasattr(queue, "enqueue") else queue
        enqueued = await self.enqueue_marked(entry_id, marker, q)
        await self.complete_requeue(entry_id, marker)
        return RequeueResult(entry_id, marker["new_key"], entry.queue, enqueued)


# --------------------------------------------------------------------------- worker hooks

_INSTALLED_ATTR = "_saqmigrate_dlq_finish"


class DeadLetterQueue:
    """Worker hooks that feed a :class:`DeadLetterStore`.

    ``store=None`` uses the worker queue's own Redis client (``RedisQueue.redis``) at
    startup; give a store (or ``redis_url``) for a Postgres queue or a separate Redis.
    Install with ``merge_hooks(settings, dlq.hooks())`` (see ``runtime/hooks.py``).
    """

    def __init__(
        self,
        store: DeadLetterStore | None = None,
        *,
        redis_url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        capture_aborted: bool = False,
    ) -> None:
        self.store = store
        self.redis_url = redis_url
        self.prefix = prefix
        self.capture_aborted = capture_aborted
        self._stores: dict[int, DeadLetterStore] = {}

    # -- which jobs are dead letters
    def reason(self, status: Any, error: str | None, queue: Any) -> str | None:
        s = _status_name(status)
        if s == "failed":
            return "failed"
        if s == "aborted":
            swept = getattr(queue, "swept_error_message", "swept") if queue is not None else "swept"
            if error == swept:
                return "swept"
            if self.capture_aborted:
                return "aborted"
        return None

    def store_for(self, queue: Any) -> DeadLetterStore:
        if self.store is not None:
            return self.store
        st = self._stores.get(id(queue))
        if st is None:
            client = getattr(queue, "redis", None)
            if client is not None and self.redis_url is None:
                st = DeadLetterStore(client, self.prefix)
            else:
                st = DeadLetterStore.from_url(self.redis_url, self.prefix)
            self._stores[id(queue)] = st
        return st

    async def capture(
        self,
        job: Any,
        *,
        status: Any = None,
        error: str | None = None,
        completed_ms: int | None = None,
        queue: Any = None,
    ) -> DeadLetter | None:
        """Store ``job`` if it is a dead letter. Never raises: a failure is logged with
        the job's function, key and error so the log still has it."""
        queue = queue if queue is not None else getattr(job, "queue", None)
        status = status if status is not None else job.status
        error = error if error is not None else job.error
        reason = self.reason(status, error, queue)
        if reason is None:
            return None
        try:
            entry = DeadLetter.from_job(job, status=status, error=error, reason=reason, completed_ms=completed_ms)
            await self.store_for(queue).add(entry)
            return entry
        except Exception:
            logger.exception(
                "could not store dead letter for %s key=%s (error: %s)",
                getattr(job, "function", "?"),
                getattr(job, "key", "?"),
                _exception_line(error),
            )
            return None

    def install(self, queue: Any) -> None:
        """Wrap ``queue.finish`` so every terminal transition (sweeps included) is seen."""
        if getattr(queue, _INSTALLED_ATTR, None) is not None:
            return
        original = queue.finish

        async def finish(job: Any, status: Any, *, result: Any = None, error: str | None = None, **kw: Any) -> None:
            if self.reason(status, error, queue) is not None:
                await self.capture(job, status=status, error=error, completed_ms=int(time.time() * 1000), queue=queue)
            await original(job, status, result=result, error=error, **kw)

        queue.finish = finish
        setattr(queue, _INSTALLED_ATTR, original)

    @staticmethod
    def uninstall(queue: Any) -> None:
        original = getattr(queue, _INSTALLED_ATTR, None)
        if original is not None:
            queue.finish = original
            setattr(queue, _INSTALLED_ATTR, None)

    # -- SAQ hooks
    async def startup(self, ctx: dict) -> None:
        worker = ctx.get("worker")
        if worker is not None:
            self.install(worker.queue)
            ctx["dead_letters"] = self.store_for(worker.queue)

    async def after_process(self, ctx: dict) -> None:
        job = ctx.get("job")
        if job is not None:
            await self.capture(job)

    async def shutdown(self, ctx: dict) -> None:
        worker = ctx.get("worker")
        if worker is not None:
            self.uninstall(worker.queue)
        for st in list(self._stores.values()):
            await st.close()
        self._stores.clear()

    def hooks(self) -> dict[str, Callable[[dict], Any]]:
        return {"startup": self.startup, "after_process": self.after_process, "shutdown": self.shutdown}

    # -- catch-up
    async def reconcile(self, queue: Any) -> int:
        """Copy failed / swept jobs still kept by SAQ (within their ``ttl``) into the store:
        for jobs that failed before the hooks were installed. Scans the queue's keys."""
        from saq.job import Status

        n = 0
        async for job in queue.iter_jobs(statuses=[Status.FAILED, Status.ABORTED]):
            entry = await self.capture(job, queue=queue)
            n += entry is not None
        return n
