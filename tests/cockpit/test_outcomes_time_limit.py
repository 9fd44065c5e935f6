"""A hard time limit on a real prefork Celery worker counts as a failure on the Celery side, once.

Celery kills the child that ran the task: neither ``task_failure`` nor ``task_postrun`` fire in it. The
worker's main process handles it (``Request.on_timeout``; Celery 5.7 also sends ``task_failure`` from
there, 5.4 does not): ``install_celery`` counts it there, exactly once whichever of the two it sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from saqmigrate.runtime import outcomes as O

pytestmark = pytest.mark.slow

APP = """
from celery import Celery
import time

from saqmigrate.runtime.outcomes import install_celery

app = Celery("tl", broker={url!r})
app.conf.update(task_default_queue={queue!r}, broker_connection_retry_on_startup=True, task_ignore_result=True,
                worker_hijack_root_logger=False, worker_prefetch_multiplier=1)
install_celery(app)


@app.task(name="tl.sleeps", time_limit=1)
def sleeps():
    time.sleep(30)


@app.task(name="tl.raises")
def raises():
    raise ValueError("an ordinary failure: counted by task_postrun in the child")


@app.task(name="tl.ok")
def ok():
    return 1
"""


def test_hard_time_limit_in_a_prefork_child_is_a_celery_failure(ns, tmp_path):
    from celery import Celery

    (tmp_path / "tlapp.py").write_text(textwrap.dedent(APP.format(url=ns.url, queue=ns.name)), encoding="utf-8")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.getcwd()]),
        SAQMIGRATE_REDIS_URL=ns.url,
        SAQMIGRATE_NAMESPACE=ns.name,
        SAQMIGRATE_OUTCOMES_BUCKET="1",
    )
    env.pop("SAQMIGRATE_OUTCOMES", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tlapp",
            "worker",
            "--pool",
            "prefork",
            "-c",
            "2",
            "-Q",
            ns.name,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = Celery("tl-client", broker=ns.url, set_as_current=False)
    client.conf.update(task_default_queue=ns.name)
    store = O.OutcomeStore(ns.url, ns.name, bucket_seconds=1)
    t0 = time.time() - 2
    try:
        for _ in range(2):
            client.send_task("tl.sleeps")
        client.send_task("tl.raises")
        client.send_task("tl.ok")
        end = time.monotonic() + 60
        w = {}
        while time.monotonic() < end:
            w = store.window(["tl.sleeps", "tl.raises", "tl.ok"], t0, backends=["celery"])
            if w[("tl.sleeps", "celery")].failures >= 2 and w[("tl.ok", "celery")].successes >= 1:
                break
            time.sleep(0.3)
        time.sleep(2.5)  # a second count (the signal after the wrapper) would have been flushed by now
        w = store.window(["tl.sleeps", "tl.raises", "tl.ok"], t0, backends=["celery"])
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    sleeps, raises, ok = w[("tl.sleeps", "celery")], w[("tl.raises", "celery")], w[("tl.ok", "celery")]
    assert "Hard time limit (1" in out, out[-3000:]
    # each hard time limit is one final failure, counted once, with the limit as its run time
    assert (sleeps.failures, sleeps.successes) == (2, 0), (sleeps, out[-3000:])
    assert sleeps.duration_q(0.5) == pytest.approx(1.0, rel=0.2)
    # one run-time sample per run (attack 16 M2: the child's interrupted postrun added a second one)
    assert sum(sleeps.duration.values()) == 2, sleeps
    # (queue wait is not judged here: the tasks are sent while the worker starts; test_outcomes_celery_wait.py)
    # an ordinary failure still counts once (the child's postrun; the main process adds nothing)
    assert (raises.failures, raises.successes) == (1, 0), raises
    assert (ok.successes, ok.failures) == (1, 0), ok
