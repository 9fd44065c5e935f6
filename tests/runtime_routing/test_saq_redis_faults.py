"""Issue 12 item 6: SAQ's Redis killed or frozen while the router dispatches (real servers).

SAQ's Redis is a redis-server this test starts (AOF, fsync always, so a SIGKILL loses no
acknowledged write and a restart on the same port and directory brings the jobs back); the
flag store and Celery's broker are the suite's Redis. Every dispatch is accounted for from
the stores themselves: a SAQ job record in SAQ's Redis, or a Celery message in the broker list.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter

import pytest
import redis

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import R_SAQ_UNAVAILABLE, EnqueueTimeout, Router, SaqResult, SaqUnavailable

from .conftest import make_celery_app, wait_for

pytestmark = pytest.mark.slow

TASK = "faults.add"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SaqRedis:
    """SAQ's Redis as a process we can SIGKILL, restart, SIGSTOP and SIGCONT."""

    def __init__(self, tmp_path):
        self.port, self.dir = _free_port(), tmp_path
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.dir),
                "--daemonize",
                "yes",
            ],
            check=True,
            capture_output=True,
        )
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        assert wait_for(self._pings, timeout=10), "redis-server did not start"
        self.pid = int(self.client.info("server")["process_id"])

    def _pings(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        # dead when its port refuses (its sockets close together when the last thread exits)
        assert wait_for(lambda: _refused(self.port), timeout=5)

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGCONT)
            redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2).shutdown(nosave=True)
        except (redis.RedisError, ProcessLookupError):
            pass

    def job_exists(self, queue: str, key: str) -> bool:
        return bool(self.client.exists(f"saq:job:{queue}:{key}"))


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:  # reset or timed out by a server that is still going down: not refused yet, ask again
        return False


@pytest.fixture
def saq_server(tmp_path):
    s = SaqRedis(tmp_path)
    yield s
    s.stop()


def make_router(rt, saq_server, **kw) -> Router:
    queue = f"q{rt.ns}"
    registry = Registry.from_dicts({TASK: {"saq_function": TASK, "queue": queue, "params": ["x"]}})
    rt.store.set_rule(TASK, "saq", reason="fault test")
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.2)
    app = make_celery_app(rt.url, rt.ns, name=f"faults-{rt.ns}")
    router = Router(registry, flags, celery_app=app, saq_url=saq_server.url, **kw)
    assert router.decide(TASK, (1,)).backend == F.SAQ
    return router


def celery_ids(rt) -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in rt.redis.lrange(rt.ns, 0, -1)]


def dispatch_all(router, mode: str, xs) -> list:
    out = []
    if mode == "async":

        async def go():
            for x in xs:
                try:
                    out.append(await router.adispatch(TASK, x))
                except Exception as exc:  # noqa: BLE001 - counted as raised
                    out.append(exc)

        asyncio.run(go())
        return out
    for x in xs:
        try:
            out.append(router.dispatch(TASK, x))
        except Exception as exc:  # noqa: BLE001 - counted as raised
            out.append(exc)
    return out


@pytest.mark.parametrize("mode", ["direct", "bridge", "async"])
def test_saq_redis_killed_falls_back_to_celery_none_lost_none_doubled(rt, saq_server, monkeypatch, caplog, mode):
    monkeypatch.setenv("SAQMIGRATE_SYNC_ENQUEUE", "direct" if mode == "direct" else "loop")
    monkeypatch.delenv("SAQMIGRATE_FALLBACK", raising=False)
    router = make_router(rt, saq_server, enqueue_timeout=2.0)
    queue = router.registry.get(TASK).queue
    n = 100
    try:
        up = dispatch_all(router, mode, range(0, n))
        saq_server.kill()
        t0 = time.perf_counter()
        down = dispatch_all(router, mode, range(n, 2 * n))
        down_ms = (time.perf_counter() - t0) * 1000 / n
        saq_server.start()  # same port, same AOF: the jobs stored before the kill are back
        again = dispatch_all(router, mode, range(2 * n, 3 * n))
    finally:
        router.close()
    results = up + down + again
    raised = [r for r in results if isinstance(r, Exception)]
    assert not raised, [(str(e), repr(e.__cause__), results.index(e)) for e in raised[:3]]
    on_saq = {r.id for r in results if isinstance(r, SaqResult)}
    on_celery = {r.id for r in results if not isinstance(r, SaqResult)}
    stored_saq = {k for k in on_saq | on_celery if saq_server.job_exists(queue, k)}
    published = Counter(celery_ids(rt))
    lost = [r.id for r in results if r.id not in stored_saq and r.id not in published]
    doubled = [k for k in published if published[k] > 1 or k in stored_saq]
    misrouted = [r for r in up + again if not isinstance(r, SaqResult)] + [
        r for r in down if isinstance(r, SaqResult) or r.saqmigrate_route.reason != R_SAQ_UNAVAILABLE
    ]
    assert (len(results), len(raised), len(lost), len(doubled), len(misrouted)) == (3 * n, 0, 0, 0, 0)
    assert len(on_saq) == 2 * n and len(on_celery) == n
    assert sum("saqmigrate fallback" in r.getMessage() for r in caplog.records) == n
    print(
        f"\n[{mode}] SAQ Redis SIGKILLed: {3 * n} dispatches, raised 0, lost 0, doubled 0, misrouted 0; "
        f"{n} fell back to Celery at {down_ms:.2f} ms each; SAQ again right after the restart"
    )


def test_fallback_off_raises_saq_unavailable_with_the_key(rt, saq_server, monkeypatch):
    monkeypatch.setenv("SAQMIGRATE_FALLBACK", "0")
    router = make_router(rt, saq_server, enqueue_timeout=2.0)
    try:
        saq_server.kill()
        with pytest.raises(SaqUnavailable) as ei:
            router.dispatch(TASK, 1)
    finally:
        router.close()
    assert ei.value.key and ei.value.queue == router.registry.get(TASK).queue and "nothing was sent" in str(ei.value)
    assert celery_ids(rt) == []


@pytest.mark.parametrize("mode", ["direct", "bridge"])
def test_saq_redis_frozen_raises_an_ambiguous_error_carrying_the_key(rt, saq_server, monkeypatch, mode):
    """SIGSTOP: the kernel still accepts connections and buffers what is written, so a write may
    land when the server resumes. Every dispatch times out (after its write on the live
    connection; in redis-py's handshake on new ones): EnqueueTimeout with the key, never a
    Celery fallback (timeouts are treated as ambiguous). Afterwards every key reconciles."""
    monkeypatch.setenv("SAQMIGRATE_SYNC_ENQUEUE", "direct" if mode == "direct" else "loop")
    monkeypatch.delenv("SAQMIGRATE_FALLBACK", raising=False)
    router = make_router(rt, saq_server, enqueue_timeout=0.5)
    queue = router.registry.get(TASK).queue
    try:
        first = router.dispatch(TASK, 0)  # a warm connection, as in a running web process
        os.kill(saq_server.pid, signal.SIGSTOP)
        results = dispatch_all(router, "sync", range(1, 6))
    finally:
        os.kill(saq_server.pid, signal.SIGCONT)
        router.close()
    assert isinstance(first, SaqResult)
    ambiguous = [r for r in results if isinstance(r, EnqueueTimeout)]
    fell_back = [r for r in results if not isinstance(r, Exception) and not isinstance(r, SaqResult)]
    assert len(ambiguous) == 5 and not fell_back, results
    for e in ambiguous:
        assert e.key and e.queue == queue and e.key in str(e) and e.task == TASK
    for r in fell_back:
        assert r.saqmigrate_route.reason == R_SAQ_UNAVAILABLE
    # reconcile: after SIGCONT the caller asks, per key, whether the job is stored
    assert wait_for(saq_server._pings, timeout=5)
    time.sleep(0.3)
    exists = [e.job_exists() for e in ambiguous]
    assert exists == [saq_server.job_exists(queue, e.key) for e in ambiguous]
    published = Counter(celery_ids(rt))
    assert not {e.key for e in ambiguous} & set(published)  # an ambiguous failure never falls back
    assert all(published[r.id] == 1 and not saq_server.job_exists(queue, r.id) for r in fell_back)
    print(
        f"\n[{mode}] SAQ Redis SIGSTOPped: 5 dispatches: {len(ambiguous)} EnqueueTimeout with their key "
        f"({sum(exists)} stored after SIGCONT, found by job_exists), 0 fell back; lost 0, doubled 0"
    )
