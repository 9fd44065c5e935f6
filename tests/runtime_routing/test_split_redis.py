"""Issue 12 item 4: the flag store and SAQ's queues on two different real Redis servers.

``SAQMIGRATE_REDIS_URL`` points at the flag store, ``SAQ_REDIS_URL`` at SAQ's Redis. The router
(wired as the generated ``routing.install`` wires it: no ``saq_url``), ``route set``'s live-worker
check and ``dlq list`` must all use SAQ's Redis, resolved by one function (runtime/urls.py).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import textwrap
import time

import pytest
import redis
from click.testing import CliRunner

from saqmigrate.cli.commands.route import command as route
from saqmigrate.cli.main import cli
from saqmigrate.runtime import flags as F
from saqmigrate.runtime import urls
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router

from .conftest import SaqWorkerThread, wait_for

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis_server(*extra: str) -> tuple[str, int]:
    """A second real redis-server (no persistence); returns (url, port). Stop with stop_redis_server."""
    port = _free_port()
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    password = extra[extra.index("--requirepass") + 1] if "--requirepass" in extra else None
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    assert wait_for(lambda: _pings(client), timeout=10), "redis-server did not start"
    return url, port


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def stop_redis_server(port: int, password: str | None = None) -> None:
    try:
        redis.Redis(host="127.0.0.1", port=port, password=password).shutdown(nosave=True)
    except redis.RedisError:
        pass


@pytest.fixture
def saq_redis():
    url, port = start_redis_server()
    yield url
    stop_redis_server(port)


@pytest.fixture
def split_env(rt, saq_redis, monkeypatch):
    """Flag store = the suite's Redis; SAQ = the second server."""
    monkeypatch.setenv("SAQMIGRATE_REDIS_URL", rt.url)
    monkeypatch.setenv("SAQ_REDIS_URL", saq_redis)
    monkeypatch.delenv("REDIS_URL", raising=False)
    return rt.url, saq_redis


def test_one_resolution_for_every_component(monkeypatch):
    """Router, generated workers, route, dlq: the same SAQ Redis for every environment combination."""
    from saqmigrate.runtime import dlq, worker

    names = ("SAQMIGRATE_REDIS_URL", "SAQ_REDIS_URL", "REDIS_URL")
    for values in itertools.product([None, "set"], repeat=3):
        for name, v in zip(names, values):
            if v:
                monkeypatch.setenv(name, f"redis://{name.lower()}:6379/0")
            else:
                monkeypatch.delenv(name, raising=False)
        want = urls.saq_redis_url()
        assert "saqmigrate_redis_url" not in want, values
        assert Router(Registry.from_dicts({})).saq_url == want
        assert worker.redis_url() == want
        assert dlq.resolve_redis_url() == want
        from saqmigrate.cli.commands.route import Ctx

        assert Ctx(None, "ns", None, None, None, "pyproject.toml", "table").saq == want
    monkeypatch.setenv("SAQ_REDIS_URL", "redis://saq:6379/0")
    assert urls.saq_redis_url("redis://explicit:1/0") == "redis://explicit:1/0"


def test_saq_jobs_are_enqueued_on_saqs_redis_not_the_flag_store(rt, split_env):
    flag_url, saq_url = split_env
    registry = Registry.from_dicts({"t.split": {"saq_function": "t.split", "queue": rt.ns, "params": ["i"]}})
    rt.store.set_rule("t.split", "saq", reason="week 2")
    flags = F.FlagClient(namespace=rt.ns)  # as the generated routing.install: nothing passed
    router = Router(registry, flags)
    assert router.saq_url == saq_url and flags.url == flag_url
    ran = []

    async def split(ctx, *, i):
        ran.append(i)

    worker = SaqWorkerThread(saq_url, rt.ns, [("t.split", split)]).start()
    try:
        res = [router.dispatch("t.split", i) for i in range(3)]
        assert all(r.backend == "saq" for r in res)
        assert wait_for(lambda: sorted(ran) == [0, 1, 2], timeout=10), ran
        # nothing on the flag store's server
        assert not list(rt.redis.scan_iter(f"saq:{rt.ns}*"))
    finally:
        worker.stop()
        flags.close()


def test_route_set_checks_live_workers_on_saqs_redis(rt, split_env, tmp_path, monkeypatch):
    flag_url, saq_url = split_env
    mod = f"reg_{rt.ns}"
    (tmp_path / f"{mod}.py").write_text(
        textwrap.dedent(f"""
        TASKS = {{"proj.a": {{"saq_function": "proj.a", "queue": "{rt.ns}", "params": ["x"]}}}}
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)

    async def a(ctx, *, x):
        return x

    def set_saq():
        return CliRunner().invoke(
            route, ["--namespace", rt.ns, "--registry", mod, "set", "proj.a", "saq", "--reason", "week 2"]
        )

    # a worker on the flag store's Redis does not count: the router would not enqueue there
    wrong = SaqWorkerThread(flag_url, rt.ns, [("proj.a", a)]).start()
    try:
        time.sleep(1.2)
        r = set_saq()
        assert r.exit_code == 2 and "no live SAQ worker" in r.output, r.output
    finally:
        wrong.stop()
    right = SaqWorkerThread(saq_url, rt.ns, [("proj.a", a)]).start()
    try:
        assert wait_for(lambda: set_saq().exit_code == 0, timeout=5)
        assert rt.store.snapshot().rules["proj.a"]["target"] == "saq"
    finally:
        right.stop()


def test_dlq_list_looks_in_saqs_redis(rt, split_env, unique_name):
    from saq import Job

    from saqmigrate.runtime.dlq import DeadLetter, DeadLetterStore

    flag_url, saq_url = split_env
    prefix = f"saqmigrate:{{{unique_name}}}:v1:dlq"

    async def seed():
        from saq import Queue

        q = Queue.from_url(saq_url, name=unique_name)
        store = DeadLetterStore.from_url(saq_url, prefix)
        job = Job("send_email", kwargs={"n": 1}, retries=1, queue=q)
        job.attempts, job.started = 1, int(time.time() * 1000)
        await store.add(DeadLetter.from_job(job, status="failed", error="ValueError: x", reason="failed"))
        await store.close()
        await q.disconnect()

    asyncio.run(seed())
    r = CliRunner().invoke(cli, ["dlq", "--prefix", prefix, "list"])
    assert r.exit_code == 0 and "1 dead letter(s)" in r.output and "send_email" in r.output, r.output


def test_check_reports_a_router_and_workers_on_different_redis(tmp_path, monkeypatch):
    """SM636 from the code and this environment (no flag store needed)."""
    root = tmp_path / "proj"
    root.mkdir()
    # flag_store_env elsewhere: the routing check must not try the (fake) SAQMIGRATE_REDIS_URL as a flag store
    (root / "pyproject.toml").write_text('[tool.saqmigrate]\nflag_store_env = "SM636_TEST_NO_FLAG_STORE"\n')
    (root / "app.py").write_text(
        textwrap.dedent("""
        import os
        from celery import Celery
        from saqmigrate.runtime.router import Router

        app = Celery("proj")

        @app.task
        def add(x, y):
            return x + y

        router = Router(None, None, celery_app=app, saq_url=os.environ["SAQMIGRATE_REDIS_URL"])
    """)
    )
    (root / "worker.py").write_text(
        textwrap.dedent("""
        import os
        from saq import Queue

        queue = Queue.from_url(os.environ.get("SAQ_REDIS_URL", "redis://localhost:6379"), name="default")
    """)
    )
    for name in ("SAQMIGRATE_REDIS_URL", "SAQ_REDIS_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)

    def check():
        r = CliRunner().invoke(cli, ["check", str(root), "--only", "routing", "--format", "json", "--no-cache"])
        assert r.exit_code in (0, 1), r.output
        import json

        return r.exit_code, [f for f in json.loads(r.stdout)["findings"] if f["rule"] == "SM636"]

    code, found = check()
    assert code == 1 and len(found) == 1 and found[0]["file"] == "app.py", found
    assert "$SAQMIGRATE_REDIS_URL" in found[0]["message"] and "$SAQ_REDIS_URL" in found[0]["message"]
    # the same server in this environment: they agree
    monkeypatch.setenv("SAQMIGRATE_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("SAQ_REDIS_URL", "redis://redis:6379")
    assert check() == (0, [])
    monkeypatch.setenv("SAQ_REDIS_URL", "redis://other:6379/0")
    code, found = check()
    assert code == 1 and "redis://redis:6379/0 vs redis://other:6379/0" in found[0]["message"]
    # the fix the message gives: no saq_url
    (root / "app.py").write_text(
        (root / "app.py").read_text().replace(', saq_url=os.environ["SAQMIGRATE_REDIS_URL"]', "")
    )
    assert check() == (0, [])


def test_disagreement_logic():
    from saqmigrate.check.routing import DEFAULT_CHAIN, disagreement

    env = {}
    assert disagreement(DEFAULT_CHAIN, DEFAULT_CHAIN, env) is None
    assert disagreement((("env", "SAQMIGRATE_REDIS_URL"),), DEFAULT_CHAIN, env)
    assert disagreement((("lit", "redis://a:6379/0"),), (("lit", "redis://a:6379"),), env) is None
    assert disagreement((("lit", "redis://a:6379/0"),), (("lit", "redis://a:6379/1"),), env)
    # a literal vs a variable that is unset here: depends on the deployment, not reported
    assert disagreement((("lit", "redis://a:6379/0"),), DEFAULT_CHAIN, env) is None
    assert disagreement((("lit", "redis://a:6379/0"),), DEFAULT_CHAIN, {"SAQ_REDIS_URL": "redis://b"})
