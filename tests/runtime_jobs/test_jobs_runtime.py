"""saqmigrate.runtime.jobs (what finalized projects import) on a real Redis with a real SAQ worker:
enqueue / enqueue_with / send_job, chains and groups, and eager mode."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from saqmigrate.runtime import jobs as J

HERE = Path(__file__).resolve().parent
QUEUE = os.environ.setdefault("JOBS_QUEUE", f"jobs-{uuid.uuid4().hex[:10]}")  # before jobs_tasks is imported
sys.path.insert(0, str(HERE))
from jobs_tasks import add, boom, bound, double, note  # noqa: E402


@pytest.fixture
def worker(redis_url, tmp_path, monkeypatch):
    """A real SAQ worker process (the `saq` command) on the finalized-style tasks."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("SAQ_REDIS_URL", redis_url)
    monkeypatch.setenv("JOBS_LOG", str(log))
    J.reset()
    env = dict(os.environ, JOBS_WORKER="1", PYTHONPATH=str(HERE), SAQMIGRATE_METRICS="0", SAQMIGRATE_DLQ="0")
    proc = subprocess.Popen(
        [shutil.which("saq") or "saq", "jobs_tasks.settings"],
        env=env,
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)

    def calls() -> list:
        return [tuple(json.loads(line)) for line in log.read_text().splitlines()] if log.exists() else []

    yield calls
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    J.reset()


@pytest.mark.slow
def test_enqueue_enqueue_with_and_send_job(worker):
    assert add(1) == 3  # called directly: the body, inline (logged here, not by the worker)
    assert add.enqueue(x=5).get(timeout=10) == 7
    assert add.enqueue_with(args=(1, 1), countdown=1).get(timeout=10) == 2
    assert add.delay(2, y=3).get(timeout=10) == 5  # Celery's spelling still works
    assert J.send_job("tjobs.add", {"x": 10}, queue=QUEUE).get(timeout=10) == 12
    assert bound.enqueue(n=2).get(timeout=10) == 2
    with pytest.raises(J.JobOptionError, match="queue"):
        add.enqueue_with({"x": 1}, queue="elsewhere")
    with pytest.raises(J.JobOptionError, match="priority"):
        add.apply_async((1,), priority=3)


@pytest.mark.slow
def test_chain_passes_results_and_returns_the_last_result(worker):
    res = J.chain(add.step(x=1, y=2), double.step(label="x").taking_result("total"), note.step(text="done")).enqueue()
    assert res.get(timeout=15) == "DONE"
    assert worker()[-3:] == [("add", 1, 2), ("double", 3, "x"), ("note", "done")]  # in order, result passed on


@pytest.mark.slow
def test_a_failing_step_stops_the_chain(worker):
    res = J.chain(add.step(x=1), boom.step(n=1), note.step(text="never")).enqueue()
    with pytest.raises(Exception):  # noqa: B017 - the last step never runs: the wait times out
        res.get(timeout=3)
    assert ("note", "never") not in worker() and ("boom", 1) in worker()


@pytest.mark.slow
def test_group_runs_every_step(worker):
    res = J.group(add.step(x=n) for n in range(4)).enqueue()
    assert res.get(timeout=15) == [2, 3, 4, 5]
    assert res.ready() and res.successful() and len(res) == 4


@pytest.mark.slow
def test_async_enqueue_and_chain(worker):
    async def main():
        r1 = await note.aenqueue(text="hi")
        r2 = await J.chain(add.step(x=2), double.step().taking_result("total")).aenqueue()
        return r1, r2

    r1, r2 = asyncio.run(main())
    assert r1.get(timeout=10) == "HI" and r2.get(timeout=10) == 8


def test_eager_mode_runs_chains_inline(tmp_path, monkeypatch):
    from saqmigrate.runtime.testing import eager

    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("JOBS_LOG", str(log))
    with eager():
        assert add.enqueue(x=1).get() == 3
        J.chain(add.step(x=1, y=1), double.step().taking_result("total")).enqueue()
    ran = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    assert ran == [("add", 1, 2), ("add", 1, 1), ("double", 2, "d")]
