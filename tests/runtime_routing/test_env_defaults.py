"""A task whose generated options took an environment variable's default (SM116) is pinned to Celery in a
process that sets that variable, whatever its flag says; with the variable unset the flag decides.

Real router, real flag store, real SAQ worker and real Celery worker on the test Redis.
"""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, SaqResult, set_router

from .conftest import SaqWorkerThread, make_celery_app, wait_for

pytestmark = pytest.mark.slow


def test_flag_saq_goes_to_saq_unless_an_assumed_unset_variable_is_set(rt, monkeypatch, caplog):
    from celery.contrib.testing.worker import start_worker
    from kombu.asynchronous import set_event_loop

    set_event_loop(None)  # a fresh kombu loop for this worker (see test_dispatch_flips)
    task = f"tests.envpin.{rt.ns}.send"
    var = f"SAQMIGRATE_TEST_{rt.ns.upper()}_QUEUE"
    ran = f"{rt.ns}:ran"
    app = make_celery_app(rt.url, rt.ns)

    @app.task(name=task)
    def send(to):
        rt.redis.rpush(ran, f"celery:{to}")

    async def saq_send(ctx, *, to):
        rt.redis.rpush(ran, f"saq:{to}")

    registry = Registry.from_dicts(
        {
            task: {
                "saq_function": task,
                "queue": rt.ns,
                "params": ["to"],
                "job": {"timeout": 0, "retries": 1, "ttl": 600},
                "assumes_unset": [var],
            }
        }
    )
    rt.store.set_rule(task, "saq", None, reason="envpin test")
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.2)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url)
    set_router(router)
    monkeypatch.delenv(var, raising=False)
    saq_worker = SaqWorkerThread(rt.url, rt.ns, [(task, saq_send)]).start()
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"):
            with caplog.at_level(logging.WARNING, logger="saqmigrate.router"):
                unset = router.dispatch(task, "unset")
                assert isinstance(unset, SaqResult)
                assert unset.saqmigrate_route.backend == F.SAQ
                assert wait_for(lambda: "saq:unset" in rt.redis.lrange(ran, 0, -1))
                assert not [r for r in caplog.records if var in r.getMessage()]

                monkeypatch.setenv(var, "bulk")
                for to in ("set-1", "set-2"):
                    res = router.dispatch(task, to)
                    assert not isinstance(res, SaqResult)
                    d = res.saqmigrate_route
                    assert (d.backend, d.reason, d.unsupported) == (F.CELERY, F.R_UNSUPPORTED, (f"${var}",))
                assert wait_for(lambda: {"celery:set-1", "celery:set-2"} <= set(rt.redis.lrange(ran, 0, -1)))

                monkeypatch.setenv(var, "")  # set to an empty string: os.environ.get gives "", not the default
                assert router.plan(task, ("empty",)).decision.backend == F.CELERY
                monkeypatch.delenv(var)
                assert router.plan(task, ("again",)).decision.backend == F.SAQ
    finally:
        saq_worker.stop()
        flags.close()
        set_router(None)

    assert sorted(rt.redis.lrange(ran, 0, -1)) == ["celery:set-1", "celery:set-2", "saq:unset"]
    warnings = [r for r in caplog.records if var in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # once per task per process
    msg = warnings[0].getMessage()
    assert task in msg and f"${var}" in msg
    assert "regenerate with the variable set" in msg and "saqmigrate verify" in msg


def test_worker_refuses_twins_and_beat_keeps_their_entries_when_the_variable_is_set(
    tmp_path, monkeypatch, caplog, redis_url
):
    var, other = "SAQMIGRATE_TEST_ENVPIN_LIMIT", "SAQMIGRATE_TEST_ENVPIN_OTHER"
    pkg = tmp_path / "envpin_reg_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "registry.py").write_text(
        textwrap.dedent(f"""
        TASKS = {{
            "p.pinned": {{"saq_function": "p.pinned", "queue": "q", "assumes_unset": ["{var}"]}},
            "p.free": {{"saq_function": "p.free", "queue": "q", "assumes_unset": ["{other}"]}},
        }}
        SCHEDULES = {{
            "tick": {{"task": "p.pinned", "cron": "* * * * *", "cron_function": "beat:tick", "queue": "q"}},
            "tock": {{"task": "p.free", "cron": "* * * * *", "cron_function": "beat:tock", "queue": "q"}},
        }}
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SAQ_REDIS_URL", redis_url)
    for off in ("SAQMIGRATE_METRICS", "SAQMIGRATE_DLQ", "SAQMIGRATE_OUTCOMES"):
        monkeypatch.setenv(off, "0")
    monkeypatch.setenv(var, "120")
    monkeypatch.delenv(other, raising=False)
    monkeypatch.delitem(sys.modules, "envpin_reg_pkg.registry", raising=False)
    from saqmigrate.runtime.worker import worker_settings

    async def pinned(ctx):
        return 1

    async def free(ctx):
        return 2

    with caplog.at_level(logging.WARNING):
        settings = worker_settings("q", [("p.pinned", pinned), ("p.free", free)], registry="envpin_reg_pkg.registry")
    assert [f[0] for f in settings["functions"]] == ["p.free"]
    assert settings["metadata"]["saqmigrate"]["functions"] == ["p.free"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "p.pinned" in r.getMessage()]
    assert len(errors) == 1 and f"${var}" in errors[0].getMessage()

    reg = Registry.load("envpin_reg_pkg.registry")  # what beat's ownership reads: no SAQ cron for "tick"
    assert reg.schedules["tick"].cron_function is None
    assert reg.schedules["tock"].cron_function == "beat:tock"
