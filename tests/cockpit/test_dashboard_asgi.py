"""The dashboard as an ASGI app: reads without a token, writes only with the token, a reason, JSON and
a same-origin request; mounted in Litestar."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.dashboard import Dashboard, chart_svg, render
from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.registry import Registry

TOKEN = "s3cret-token"
TASK = "shop.tasks.send_receipt"


def call(app, method, path, *, headers=None, body=None, root=""):
    async def go():
        transport = httpx.ASGITransport(app=app, root_path=root)
        async with httpx.AsyncClient(transport=transport, base_url="http://cockpit.test") as client:
            return await client.request(
                method,
                root + path,
                headers=headers or {},
                content=json.dumps(body).encode() if body is not None else None,
            )

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _cockpit_host(monkeypatch):
    monkeypatch.setenv("SAQMIGRATE_DASHBOARD_HOSTS", "cockpit.test,testserver.local")  # these clients' Host names


def auth(token=TOKEN, **extra):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **extra}


@pytest.fixture
def app(ns):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=60, flush_interval=0, metrics=None)
    now = time.time()
    for i in range(120):
        rec.record(TASK, "celery", O.SUCCESS, duration=0.05, wait=0.01, now=now - 600)
        rec.record(TASK, "saq", O.FAILURE if i < 36 else O.SUCCESS, duration=0.05, now=now - 30, dead=i < 36)
    assert rec.flush()
    reg = Registry.from_dicts(
        {
            TASK: {"saq_function": TASK, "queue": "q", "params": [], "job": {}},
            "shop.tasks.other": {"saq_function": "shop.tasks.other", "queue": "q", "params": [], "job": {}},
        }
    )
    return Dashboard(ns.store, registry=reg, thresholds=Thresholds(min_runs=50), token=TOKEN)


def test_page_and_state_without_a_token(app):
    r = call(app, "GET", "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    assert TASK in page and "shop.tasks.other" in page and "<svg" in page and "verdict-fail" in page
    assert "http://" not in page.replace("http://cockpit.test", "") and "https://" not in page  # nothing external
    state = call(app, "GET", "/api/state").json()
    row = next(t for t in state["tasks"] if t["task"] == TASK)
    assert row["comparison"]["verdict"] == "fail" and row["comparison"]["saq"]["dead_letters"] == 36
    assert row["route"] == "celery (default)" and state["mode"] == "normal" and state["writable"] is True
    assert sum(p["runs"] for p in row["chart"]["saq"]) == 120


@pytest.mark.parametrize(
    "headers,status",
    [
        ({"Content-Type": "application/json"}, 401),
        (auth("wrong"), 401),
        (auth(TOKEN, **{"Content-Type": "application/x-www-form-urlencoded"}), 415),
        (auth(TOKEN, Origin="http://evil.example"), 403),
    ],
)
def test_writes_are_refused_without_token_json_or_same_origin(app, ns, headers, status):
    r = call(app, "POST", "/api/kill", headers=headers, body={"reason": "x"})
    assert r.status_code == status and r.json()["ok"] is False
    assert ns.store.snapshot().mode == "normal" and ns.store.history(5) == []


def test_a_read_only_dashboard_refuses_every_write(ns):
    app = Dashboard(ns.store, token="")
    r = call(app, "POST", "/api/kill", headers=auth(), body={"reason": "x"})
    assert r.status_code == 403 and "read-only" in r.json()["error"]


def test_kill_needs_a_reason_and_is_audited(app, ns):
    r = call(app, "POST", "/api/kill", headers=auth(), body={"reason": " "})
    assert r.status_code == 400 and "reason is required" in r.json()["error"]
    R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    r = call(app, "POST", "/api/kill", headers=auth(Origin="http://cockpit.test"), body={"reason": "pager at 3am"})
    assert r.status_code == 200 and r.json()["ok"], r.text
    assert ns.store.snapshot().mode == "force-celery"
    h = ns.store.history(2)
    assert h[1]["target"] == "mode" and h[1]["reason"] == "pager at 3am" and h[1]["actor"].startswith("dashboard@")
    assert h[0]["target"] == f"ramp:{TASK}" and R.load_plans(ns.store)[TASK].state == R.PAUSED
    assert "KILL SWITCH ON" in call(app, "GET", "/").text
    r = call(app, "POST", "/api/unkill", headers=auth(), body={"reason": "fixed"})
    assert r.json()["ok"] and ns.store.snapshot().mode == "normal"


def test_pause_resume_and_set_route(app, ns):
    R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    assert call(app, "POST", "/api/ramp/pause", headers=auth(), body={"task": TASK, "reason": "wait"}).json()["ok"]
    assert R.load_plans(ns.store)[TASK].state == R.PAUSED
    # resuming routes to SAQ again: refused while no live SAQ worker serves it (the check `route ramp --resume` makes)
    r = call(app, "POST", "/api/ramp/resume", headers=auth(), body={"task": TASK, "reason": "go"})
    assert r.status_code == 400 and "refusing to resume the ramp to SAQ: no live SAQ worker" in r.json()["error"]
    assert R.load_plans(ns.store)[TASK].state == R.PAUSED
    r = call(app, "POST", "/api/ramp/pause", headers=auth(), body={"task": "nope", "reason": "x"})
    assert r.status_code == 400 and "no ramp plan" in r.json()["error"]
    r = call(app, "POST", "/api/route", headers=auth(), body={"task": TASK, "backend": "celery", "reason": "back"})
    assert r.json()["ok"] and ns.store.snapshot().rules[TASK]["target"] == "celery"
    # to SAQ: refused while no SAQ worker serves it (the check `route set` makes)
    r = call(
        app,
        "POST",
        "/api/route",
        headers=auth(),
        body={"task": TASK, "backend": "saq", "percent": "5", "reason": "try"},
    )
    assert r.status_code == 400 and "refusing to route to SAQ" in r.json()["error"]
    r = call(app, "POST", "/api/route", headers=auth(), body={"task": TASK, "backend": "mars", "reason": "x"})
    assert r.status_code == 400
    assert call(app, "GET", "/api/kill").status_code == 405
    assert call(app, "GET", "/nope").status_code == 404


def test_resume_needs_a_live_saq_worker_serving_the_task(ns):
    """The page's resume button makes the live-worker check of `route ramp --resume` (a real SAQ worker)."""
    from saqmigrate.runtime.registry import Registry

    from .harness import SaqWorker, recorder

    async def fn(ctx):
        return None

    reg = Registry.from_dicts(
        {
            TASK: {"saq_function": TASK, "queue": ns.name, "params": [], "job": {}},
            "shop.tasks.unserved": {"saq_function": "shop.tasks.unserved", "queue": ns.name, "params": [], "job": {}},
        }
    )
    dash = Dashboard(ns.store, registry=reg, token=TOKEN, saq_url=ns.url)
    for task in (TASK, "shop.tasks.unserved"):
        R.start(ns.store, task, "10,100", 60, reason="ramp")
        R.pause(ns.store, task, reason="wait")
    r = call(dash, "POST", "/api/ramp/resume", headers=auth(), body={"task": TASK, "reason": "go"})
    assert r.status_code == 400 and f"no live SAQ worker on queue {ns.name!r}" in r.json()["error"]
    rec = recorder(ns.url, ns.name)
    worker = SaqWorker(ns.url, ns.name, [(TASK, fn)], rec).start()
    try:
        time.sleep(1.5)  # the worker's info is written on its first worker_info timer
        r = call(dash, "POST", "/api/ramp/resume", headers=auth(), body={"task": TASK, "reason": "go"})
        assert r.status_code == 200 and r.json()["ok"], r.json()
        assert R.load_plans(ns.store)[TASK].state == R.ACTIVE
        # a worker on the queue that does not serve the task is not enough
        r = call(dash, "POST", "/api/ramp/resume", headers=auth(), body={"task": "shop.tasks.unserved", "reason": "go"})
        assert r.status_code == 400 and "serves 'shop.tasks.unserved'" in r.json()["error"]
        assert R.load_plans(ns.store)["shop.tasks.unserved"].state == R.PAUSED
    finally:
        worker.stop()
        rec.close()
        O.set_default_recorder(None)


def test_mounted_in_litestar(app, ns):
    from litestar import Litestar, get
    from litestar.testing import TestClient

    from saqmigrate.cockpit.dashboard import litestar_route

    @get("/")
    async def home() -> str:
        return "the app"

    with TestClient(Litestar([home, litestar_route(app, "/cockpit")])) as client:
        assert client.get("/").text == "the app"
        page = client.get("/cockpit/")
        assert page.status_code == 200 and TASK in page.text and 'data-root="/cockpit"' in page.text
        assert client.get("/cockpit/api/state").json()["namespace"] == ns.name
        r = client.post("/cockpit/api/kill", headers=auth(), content=json.dumps({"reason": "from litestar"}))
        assert r.status_code == 200, r.text
    assert ns.store.snapshot().mode == "force-celery"


def test_render_escapes_names_and_reasons():
    state = {
        "namespace": "<ns>",
        "version": 1,
        "mode": "normal",
        "since": "1h",
        "window": None,
        "thresholds": Thresholds().to_json(),
        "dead_letters": None,
        "writable": False,
        "tasks": [
            {
                "task": "<script>alert(1)</script>",
                "route": "celery",
                "last_change": {"reason": "<b>"},
                "plan": None,
                "comparison": None,
                "chart": {},
            }
        ],
    }
    page = render(state)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page
    # attack 16 m2: the dead-letter store's error (its URL comes from --saq-url) was not escaped
    page = render({**state, "dead_letters": {"error": "bad url <img src=x onerror=alert(1)>"}})
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_chart_svg_marks_failures():
    svg = chart_svg(
        {
            "celery": [{"t": 0, "runs": 5, "failures": 0}, {"t": 60, "runs": 7, "failures": 0}],
            "saq": [{"t": 0, "runs": 2, "failures": 1}, {"t": 60, "runs": 3, "failures": 0}],
        }
    )
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 1 and "saq: 1 failed" in svg


def test_an_unknown_host_gets_nothing_and_origin_null_or_another_scheme_cannot_write(app, monkeypatch):
    """DNS rebinding (a hostile name resolving to 127.0.0.1) reads nothing; a write whose Origin is "null" or
    https:// on the plain-http page is refused even with the token (found by the cockpit attack)."""

    async def go(host, **headers):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return await client.get("/api/state", headers=headers)

    assert asyncio.run(go("evil.example")).status_code == 400
    assert asyncio.run(go("cockpit.test")).status_code == 200
    for origin in ("null", "https://cockpit.test"):
        r = call(app, "POST", "/api/kill", headers=auth(Origin=origin), body={"reason": "x"})
        assert r.status_code == 403, origin
