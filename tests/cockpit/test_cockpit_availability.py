"""Availability (found by the cockpit's fresh attack): readers share one computation of the outcomes and can
never hold up a write; the built-in server bounds slow clients and connections; a window longer than the
outcomes are kept is clamped, and said so. Real Redis, real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.dashboard import Dashboard
from saqmigrate.cockpit.server import serve
from saqmigrate.cockpit.service import clamp_window, compare_report
from saqmigrate.runtime import outcomes as O

TOKEN = "availability-token"
TASK = "shop.tasks.t"


class Server:
    def __init__(self, app, **kw):
        self.app, self.kw, self.port, self.ready = app, kw, None, threading.Event()
        self.loop = self.stop_event = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        async def main():
            self.loop, self.stop_event = asyncio.get_running_loop(), asyncio.Event()
            await serve(self.app, "127.0.0.1", 0, ready=self._ready, stop=self.stop_event, **self.kw)

        asyncio.run(main())

    def _ready(self, port):
        self.port = port
        self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


def request(port, method="GET", path="/", body=None, headers=None, timeout=20.0):
    """One raw HTTP/1.1 request; (status, body)."""
    data = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(data)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    raw = b"".join(chunks)
    status = int(raw.split(b" ", 2)[1]) if raw else 0
    return status, raw.partition(b"\r\n\r\n")[2]


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_slow_clients_are_cut_off_and_connections_are_capped():
    with Server(hello, max_connections=2, read_timeout=0.5) as srv:
        slow = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(2)]
        for s in slow:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its head
        time.sleep(0.1)
        # the cap of connections still sending their request: a complete request is served, and the oldest
        # slow sender is closed to make room for it (attack 16 M3: it was answered 503)
        assert request(srv.port) == (200, b"hello")
        assert slow[0].recv(100) == b""
        t0 = time.monotonic()
        assert slow[1].recv(100) == b""  # closed by the server after read_timeout
        for s in slow:
            s.close()
        assert time.monotonic() - t0 < 3
        assert request(srv.port) == (200, b"hello")
        # a body announced but never sent is cut off too
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            t0 = time.monotonic()
            assert s.recv(100) == b"" and time.monotonic() - t0 < 3
        status, _ = request(srv.port, "POST", headers={"Content-Length": str(10 * 1024 * 1024)})
        assert status == 400


def test_requests_being_served_are_capped_with_slots_kept_for_writes():
    gate = threading.Event()

    async def blocking(scope, receive, send):
        if scope["method"] == "GET":
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 10)
        await hello(scope, receive, send)

    with Server(blocking, max_connections=2) as srv:
        held = [threading.Thread(target=request, args=(srv.port,)) for _ in range(2)]
        for t in held:
            t.start()
        time.sleep(0.3)
        status, body = request(srv.port)
        assert status == 503 and b"too many connections" in body  # answered at once, not queued
        assert request(srv.port, "POST") == (200, b"hello")  # a write still gets a reserved slot
        gate.set()
        for t in held:
            t.join(10)
        assert request(srv.port) == (200, b"hello")


def test_idle_connections_do_not_lock_out_the_kill_switch(dash, ns):
    """Attack 16 M3: 64 sockets sending half a request head; the page's kill with the token answered 503."""
    with Server(dash) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(64)]
        try:
            for s in idle:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            time.sleep(0.3)
            status, body = request(
                srv.port,
                "POST",
                "/api/kill",
                {"reason": "incident"},
                {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            assert status == 200 and json.loads(body)["ok"], body
            assert ns.store.snapshot().mode == "force-celery"
        finally:
            for s in idle:
                s.close()


@pytest.fixture
def dash(ns, monkeypatch):
    monkeypatch.setenv("SAQMIGRATE_DASHBOARD_HOSTS", "127.0.0.1")
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=60, flush_interval=0, metrics=None)
    now = time.time()
    for i in range(50):
        rec.record(TASK, "celery", O.SUCCESS, duration=0.05, now=now - 600)
        rec.record(TASK, "saq", O.SUCCESS, duration=0.05, now=now - 30)
    assert rec.flush()
    return Dashboard(ns.store, thresholds=Thresholds(min_runs=10), token=TOKEN, since=3600, cache_seconds=30)


def test_readers_share_one_computation_and_a_kill_is_not_held_up(dash, ns):
    calls = []
    real = dash.outcomes.series

    def slow_series(*a, **kw):  # the real read, made slow: a big namespace, or a slow Redis
        calls.append(time.monotonic())
        time.sleep(1.5)
        return real(*a, **kw)

    dash.outcomes.series = slow_series
    with Server(dash) as srv:
        results = []
        readers = [
            threading.Thread(target=lambda: results.append(request(srv.port, "GET", "/api/state"))) for _ in range(12)
        ]
        for t in readers:
            t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        status, body = request(
            srv.port,
            "POST",
            "/api/kill",
            {"reason": "incident"},
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        kill_took = time.monotonic() - t0
        assert status == 200 and json.loads(body)["ok"], body
        assert ns.store.snapshot().mode == "force-celery"
        assert kill_took < 1.0, kill_took  # not behind twelve slow reads
        for t in readers:
            t.join(30)
    assert len(results) == 12 and all(s == 200 for s, _ in results)
    # twelve readers, one computation (two series reads: the comparison's SAQ side and the chart) before the
    # kill invalidated the view
    assert len(calls) <= 4, len(calls)
    states = [json.loads(b) for _s, b in results]
    assert {s["outcomes_at"] for s in states} and all(s["tasks"][0]["comparison"]["saq"]["runs"] == 50 for s in states)


def test_a_window_longer_than_the_retention_is_clamped_and_said_so(ns):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=60, retention=3600, flush_interval=0, metrics=None)
    now = time.time()
    for _ in range(30):
        rec.record(TASK, "celery", O.SUCCESS, duration=0.05, now=now - 60)
        rec.record(TASK, "saq", O.SUCCESS, duration=0.05, now=now - 60)
    assert rec.flush()
    store = O.OutcomeStore(ns.url, ns.name)
    assert store.retention == 3600
    w = clamp_window(store, 7 * 86400, 366 * 86400)
    assert (w.since, w.baseline) == (3600, 3600)
    assert w.clamped == {"--since": {"asked": "7d", "used": "1h"}, "--baseline": {"asked": "366d", "used": "1h"}}
    report = compare_report(store, [], since=7 * 86400, thresholds=Thresholds(min_runs=10), now=now)
    data = report.to_json()
    assert data["since"] == "1h" and data["clamped"]["--since"] == {"asked": "7d", "used": "1h"}
    assert [t["task"] for t in data["tasks"]] == [TASK] and data["tasks"][0]["saq"]["runs"] == 30
    assert report.text().startswith("note: --since 7d is longer than the outcomes are kept (1h")
    within = compare_report(store, [], since=1800, thresholds=Thresholds(min_runs=10), now=now).to_json()
    assert within["clamped"] is None and within["notes"] == [] and within["since"] == "30m"
    # a longer-lived writer raises the stored retention; a shorter one never lowers it
    O.OutcomeRecorder(ns.url, ns.name, retention=7200, flush_interval=0, metrics=None)._resolve()
    O.OutcomeRecorder(ns.url, ns.name, retention=60, flush_interval=0, metrics=None)._resolve()
    assert store.retention == 7200
    # the dashboard: the same clamp, in its JSON and on its page
    dash = Dashboard(ns.store, thresholds=Thresholds(min_runs=10), since=30 * 86400)
    state = dash.state()
    assert state["since"] == "2h" and state["clamped"]["--since"]["asked"] == "30d"
    assert "note: --since 30d is longer than the outcomes are kept" in dash.render_page()
