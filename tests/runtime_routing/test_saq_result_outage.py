"""A hanging SAQ Redis costs a status endpoint one lookup timeout per outage window, not one per
attribute access of every AsyncResult (issue 18 attack: ~16 s per request)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.celery_integration import install_result_lookup
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, SaqLookupUnavailable, set_router

from .conftest import make_celery_app

pytestmark = pytest.mark.slow


def _silent_server():
    """Accepts connections and never answers: a Redis stopped with SIGSTOP, as seen from a client."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []

    def accept():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return srv, held


def test_a_hanging_saq_redis_is_asked_once_per_backoff_window(rt):
    srv, held = _silent_server()
    port = srv.getsockname()[1]
    app = make_celery_app(rt.url, rt.ns)
    app.conf.update(result_backend=f"{rt.url}", task_ignore_result=False)
    registry = Registry.from_dicts({"t.x": {"saq_function": "t.x", "queue": rt.ns, "params": ["x"]}})
    router = Router(
        registry, F.FlagClient(rt.url, namespace=rt.ns), celery_app=app, saq_url=f"redis://127.0.0.1:{port}/0"
    )
    router.lookup_backoff = 1.5
    install_result_lookup(app, router)
    set_router(router)
    try:
        t0 = time.monotonic()
        first = app.AsyncResult("id-1")
        assert first.state == "PENDING"  # answered by Celery after one timeout
        waited = time.monotonic() - t0
        assert waited >= 1.5, waited  # it did ask the hanging server
        t1 = time.monotonic()
        for i in range(20):  # a status endpoint's worth of results and attributes
            r = app.AsyncResult(f"id-{i}")
            assert (r.state, r.ready(), r.result) == ("PENDING", False, None)
        assert time.monotonic() - t1 < 1.0
        try:
            router.saq_result("id-x")
        except SaqLookupUnavailable:
            pass
        else:
            raise AssertionError("a lookup inside the backoff window reached SAQ")
        time.sleep(1.6)  # the window is over: SAQ is asked again (and times out again)
        t2 = time.monotonic()
        assert app.AsyncResult("id-late").state == "PENDING"
        assert time.monotonic() - t2 >= 1.5
    finally:
        set_router(None)
        router.close()
        srv.close()
        for c in held:
            c.close()
