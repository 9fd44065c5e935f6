"""finalize after `rewrite --mode native`: a ported body becomes the task itself (`async def`, its module-level
imports added), runs on a real SAQ worker with Celery blocked, and a direct call from sync code still returns
the value as calling the Celery task did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

RUN = """
import json, sys
sys.modules["celery"] = None  # Celery uninstalled
sys.path.insert(0, sys.argv[1])
from proj.tasks import add, pause, words
direct = [pause(0.01), add(1), words("a b")]  # called directly from sync code: values, as Celery's did
queued = [pause.enqueue(seconds=0.05).get(timeout=20), add.enqueue(x=2, y=3).get(timeout=20),
          words.enqueue(text="x y z").get(timeout=20)]
print(json.dumps([direct, queued]))
"""


@pytest.mark.slow
def test_native_ports_become_the_tasks_and_run_without_celery(tmp_path: Path, redis_url: str) -> None:
    root = tmp_path / "p"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "tasks.py").write_text(
        textwrap.dedent("""
        import time

        from celery import shared_task


        @shared_task
        def pause(seconds):
            time.sleep(seconds)
            return seconds


        @shared_task
        def add(x, y=2):
            return x + y


        @shared_task
        def words(text):
            return len(text.split())
    """).lstrip()
    )
    assert apply_changes(root, compute_changes(root, Config(), mode="native", use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.blockers == [] and apply_changes(root, result.changes) == []
    tasks = (root / "proj" / "tasks.py").read_text()
    assert tasks.startswith("from saqmigrate.runtime import aio as _aio\nfrom saqmigrate.runtime.jobs import saq_job\n")
    assert "async def pause(seconds):\n    await _aio.sleep(seconds)" in tasks and "import time" not in tasks
    compile(tasks, "tasks.py", "exec")

    url = redis_url.rsplit("/", 1)[0] + "/14" if redis_url.count("/") > 2 else redis_url + "/14"
    env = dict(
        os.environ, SAQ_REDIS_URL=url, REDIS_URL=url, PYTHONPATH=str(root), SAQMIGRATE_METRICS="0", SAQMIGRATE_DLQ="0"
    )
    subprocess.run(
        [sys.executable, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()", url],
        check=True,
        env=env,
    )
    worker = subprocess.Popen(
        [shutil.which("saq") or "saq", "saq_worker.queue_celery.settings"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        proc = subprocess.run(
            [sys.executable, "-c", RUN, str(root)], capture_output=True, text=True, timeout=60, env=env, cwd=root
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        worker.terminate()
        worker.wait(10)
    direct, queued = json.loads(proc.stdout.splitlines()[-1])
    assert direct == [0.01, 3, 2] and queued == [0.05, 5, 3]
