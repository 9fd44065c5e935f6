"""The pytest plugin: saq_eager in this suite, saq_worker with a real worker, and the plugin loaded as a plugin."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest


def test_saq_eager_fixture_runs_inline_and_records(eagerproj, saq_eager):
    from saqmigrate.runtime import testing

    assert testing.eager_enabled() and testing.eager_propagates() and saq_eager.propagate
    r = testing.enqueue("eagerproj.tasks.add", x=4)
    assert r.get() == 14 and saq_eager.names() == ["eagerproj.tasks.add"]
    with pytest.raises(KeyError):  # propagates: the enqueue raises, as CELERY_TASK_EAGER_PROPAGATES
        testing.enqueue("eagerproj.tasks.boom", tag="x")


@pytest.fixture
def saq_worker_settings(eagerproj, unique_name):
    """The settings rewrite generated for eagerproj (the fixture a project overrides, or sets by ini), on a
    queue of its own: the fixture clears its queue's keys, and this Redis may be shared."""
    settings = importlib.import_module("saq_worker.queue_celery").settings
    return {**settings, "queue": None, "queue_name": unique_name}


@pytest.mark.slow
def test_saq_worker_fixture_runs_the_generated_functions_on_a_real_worker(eagerproj, saq_worker):
    from saqmigrate.runtime import testing
    from saqmigrate.runtime.router import SaqResult

    assert not testing.eager_enabled()
    assert os.environ["SAQ_REDIS_URL"] == saq_worker.url
    ok = saq_worker.enqueue("eagerproj.tasks.add", x=5, y=1)
    bad = saq_worker.enqueue("eagerproj.tasks.not_listed", tag="w")
    assert isinstance(ok, SaqResult) and ok.get(timeout=20) == 6 and ok.state == "SUCCESS"
    with pytest.raises(ValueError, match="w"):  # not in autoretry_for: failed at once
        bad.get(timeout=20)
    assert bad.state == "FAILURE"


@pytest.fixture
def eager_test_settings(monkeypatch):
    """What most projects' test settings do (CELERY_TASK_ALWAYS_EAGER = True, finalized to SAQMIGRATE_EAGER)."""
    monkeypatch.setenv("SAQMIGRATE_EAGER", "1")


@pytest.mark.slow
def test_saq_worker_switches_the_test_settings_eager_mode_off(eagerproj, eager_test_settings, saq_worker):
    """attack 17 #12: with eager test settings the enqueues ran inline and the worker was never exercised."""
    from saqmigrate.runtime import testing

    assert testing.eager_enabled() is False  # the router's enqueues reach the worker (was True: inline)
    ok = saq_worker.enqueue("eagerproj.tasks.add", x=2, y=3)
    assert not isinstance(ok, testing.EagerSaqResult) and ok.get(timeout=20) == 5


PROJECT_TEST = """
import asyncio
from saq import Worker
from saqmigrate.runtime import testing
from saqmigrate.runtime.task import saq_task, run_sync

@saq_task("plug.tasks.mul")
async def mul(ctx, *, a, b):
    return await run_sync(lambda a, b: a * b, a, b)

SETTINGS = {"queue_name": "QUEUE", "functions": [("plug.tasks.mul", mul)]}

def test_eager(saq_eager):
    assert testing.enqueue("plug.tasks.mul", a=3, b=4).get() == 12 and saq_eager.names() == ["plug.tasks.mul"]

def test_worker(saq_worker):
    assert saq_worker.enqueue("plug.tasks.mul", a=6, b=7).get(timeout=20) == 42
"""


@pytest.mark.slow
def test_plugin_loads_as_a_plugin_with_the_ini_option(tmp_path, redis_url, unique_name):
    """Loaded by the pytest11 entry point (no ``-p``): fixtures, and ``saq_worker_settings`` from the ini."""
    (tmp_path / "test_project.py").write_text(textwrap.dedent(PROJECT_TEST).replace("QUEUE", unique_name))
    (tmp_path / "pytest.ini").write_text("[pytest]\nsaq_worker_settings = test_project.SETTINGS\n")
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(tmp_path)}
    env.pop("SAQ_REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "2 passed" in out.stdout, out.stdout + out.stderr


def test_saq_worker_without_settings_says_what_to_set(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_w(saq_worker):\n    pass\n")
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert (
        out.returncode != 0
        and "saq_worker needs worker settings: set `saq_worker_settings = " in out.stdout + out.stderr
    )
