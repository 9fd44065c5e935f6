"""Sync enqueue without an event loop: SAQ's own enqueue script and job format on a sync client.

Django views are sync and SAQ's API is async; going through an event loop costs a loop turn
per dispatch (bridge.py). For SAQ 0.26's Redis queue this module runs the exact Lua script
``RedisQueue._enqueue`` runs, with the job serialised by SAQ's own ``Job.to_dict`` and the
queue's ``dump``, on a redis-py sync client — the same keys, the same record, the same
dedup-by-key rule. ``tests/runtime_routing/test_direct_enqueue.py`` is the contract: a job
enqueued here is stored byte-for-byte like one from ``await queue.enqueue`` and a real SAQ
worker runs it. It is used only for the SAQ minor version that contract was run against
(``SUPPORTED``); anything else falls back to the loop bridge.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

SUPPORTED = ("0.26.",)


class NotSent(ConnectionError):
    """The connection to SAQ's Redis could not be made: nothing of the enqueue was sent."""


# saq/queue/redis.py RedisQueue._enqueue, verbatim
ENQUEUE_LUA = """
                if not redis.call('ZSCORE', KEYS[1], KEYS[2]) and redis.call('EXISTS', KEYS[4]) == 0 then
                    redis.call('SET', KEYS[2], ARGV[1])
                    redis.call('ZADD', KEYS[1], ARGV[2], KEYS[2])
                    if ARGV[2] == '0' then redis.call('RPUSH', KEYS[3], KEYS[2]) end
                    return 1
                else
                    return nil
                end
                """


def supported() -> bool:
    try:
        import saq
    except ImportError:
        return False
    return str(getattr(saq, "__version__", "")).startswith(SUPPORTED)


class DirectEnqueuer:
    """Thread-safe; one sync Redis connection pool per process (reset after fork by redis-py)."""

    def __init__(self, url: str, *, dump: Callable[[Any], Any] | None = None, socket_timeout: float = 5.0) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self.script = self.client.register_script(ENQUEUE_LUA)
        self.dump = dump
        self._queues: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _queue(self, name: str) -> Any:
        q = self._queues.get(name)
        if q is None:
            from saq.queue.redis import RedisQueue

            with self._lock:
                q = self._queues.get(name)
                if q is None:
                    # only used for names, keys and serialisation; never does I/O
                    kw = {"dump": self.dump} if self.dump is not None else {}
                    q = self._queues[name] = RedisQueue(self.client, name=name, **kw)  # type: ignore[arg-type]
        return q

    def enqueue(self, queue_name: str, job: Any) -> Any | None:
        """Enqueue ``job`` (a ``saq.Job``) on ``queue_name``; None if its key is still incomplete.

        One attempt on one connection, so a failure is classified exactly: :class:`NotSent`
        when no connection could be made (refused, unreachable: nothing was written); a
        timeout, and any error after the command was handed to the socket, is re-raised as it
        is (the job may or may not be stored). redis-py's own retry is not used here: a retry
        after a read timeout would hide that the first attempt may have landed.
        """
        import redis
        from saq.job import Status
        from saq.utils import now

        q = self._queue(queue_name)
        job.queue = q
        job.queued = now()
        job.status = Status.QUEUED
        args = (4, q._incomplete, job.id, q._queued, job.abort_id, q.serialize(job), job.scheduled)
        pool = self.client.connection_pool
        try:
            try:
                conn = pool.get_connection()
            except TypeError:  # redis-py < 5.1 requires a command name
                conn = pool.get_connection("EVALSHA")
        except (redis.TimeoutError, TimeoutError):
            raise  # no answer in time: treated as ambiguous by the router (conservative)
        except (redis.ConnectionError, OSError) as exc:
            raise NotSent(f"cannot connect to SAQ's Redis: {exc}") from exc
        try:
            try:
                conn.send_command("EVALSHA", self.script.sha, *args)
                ok = conn.read_response()
            except redis.exceptions.NoScriptError:  # answered: the script was not run; send it
                conn.send_command("EVAL", ENQUEUE_LUA, *args)
                ok = conn.read_response()
        except redis.exceptions.ResponseError:
            raise
        except BaseException:
            conn.disconnect()  # a half-read reply must not be handed to the next caller
            raise
        finally:
            pool.release(conn)
        return job if ok else None

    def close(self) -> None:
        self.client.close()
