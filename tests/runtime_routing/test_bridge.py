"""The sync bridge: fork safety, bounded timeouts, clear errors (real Redis / real sockets)."""

from __future__ import annotations

import multiprocessing
import socket

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.bridge import BridgeTimeout, SyncBridge
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router

pytestmark = pytest.mark.slow


def _child(router, q):
    try:
        res = router.dispatch("t.fork", "child")
        q.put(("ok", res.saqmigrate_route.backend, res.job is not None))
    except BaseException as exc:  # reported to the parent
        q.put(("error", repr(exc), False))


@pytest.mark.parametrize("mode", ["auto", "thread"])
def test_dispatch_works_in_parent_and_forked_child(rt, mode):
    registry = Registry.from_dicts({"t.fork": {"saq_function": "t.fork", "queue": rt.ns, "params": ["who"]}})
    v = rt.store.set_rule("t.fork", "saq", reason="fork test")
    flags = F.FlagClient(rt.url, namespace=rt.ns)
    router = Router(registry, flags, saq_url=rt.url, bridge=SyncBridge(mode=mode))
    try:
        assert router.snapshot().version == v
        assert router.dispatch("t.fork", "parent-before").job is not None  # loop + sockets exist pre-fork
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(router, q))
        p.start()
        status = q.get(timeout=20)
        p.join(10)
        assert status == ("ok", "saq", True), status
        assert router.dispatch("t.fork", "parent-after").job is not None  # parent's connection intact
        assert rt.redis.zcard(f"saq:{rt.ns}:incomplete") == 3
    finally:
        flags.close()


@pytest.mark.parametrize("mode", ["auto", "thread"])
def test_a_redis_that_never_answers_gives_a_bounded_clear_error(rt, mode):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)  # accepts connections (kernel backlog) but never replies
    port = srv.getsockname()[1]
    registry = Registry.from_dicts({"t.hang": {"saq_function": "t.hang", "queue": rt.ns, "params": []}})
    flags = F.FlagClient(rt.url, namespace=rt.ns)
    rt.store.set_rule("t.hang", "saq", reason="hang test")
    flags.refresh_now()
    router = Router(
        registry, flags, saq_url=f"redis://127.0.0.1:{port}/0", bridge=SyncBridge(mode=mode), enqueue_timeout=0.5
    )
    try:
        import time

        t0 = time.monotonic()
        with pytest.raises(BridgeTimeout) as ei:
            router.dispatch("t.hang")
        assert time.monotonic() - t0 < 2.0
        msg = str(ei.value)
        assert "t.hang" in msg and "0.5 s" in msg and "may or may not" in msg and "\n" not in msg
    finally:
        flags.close()
        srv.close()
