"""finalize --rename: a task Celery knew under a custom name is registered as module.function, and the workers
still run jobs queued under the Celery name (an alias) — checked with a real SAQ worker from the finalized settings."""

from __future__ import annotations

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
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from saq import Job
from saqmigrate.runtime.jobs import send_job
from saqmigrate.runtime.worker import make_queue
from proj.tasks import send_receipt

new = send_receipt.enqueue(order_id=1)                      # under the new name
old = send_job("send-receipt", {"order_id": 2}, queue="celery")  # as a job queued before the rename
print(json.dumps([new.get(timeout=20), old.get(timeout=20), send_receipt.name, list(send_receipt.aliases)]))
"""


@pytest.mark.slow
def test_rename_registers_module_function_and_keeps_the_celery_name(tmp_path: Path, redis_url: str) -> None:
    root = tmp_path / "p"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "tasks.py").write_text(
        textwrap.dedent("""
        from celery import shared_task


        @shared_task(name="send-receipt")
        def send_receipt(order_id):
            return f"receipt {order_id}"
    """)
    )
    (root / "proj" / "views.py").write_text(
        textwrap.dedent("""
        from celery import current_app


        def resend(order_id):
            return current_app.send_task("send-receipt", args=[order_id])
    """)
    )
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config(), rename=True)
    assert apply_changes(root, result.changes) == []
    tasks = (root / "proj" / "tasks.py").read_text()
    assert '"proj.tasks.send_receipt", TaskOptions(), queue="celery", aliases=("send-receipt",)' in tasks
    assert (
        'send_job("proj.tasks.send_receipt", {"order_id": order_id}, queue="celery")'
        in (root / "proj" / "views.py").read_text()
    )
    settings = (root / "saq_worker" / "queue_celery.py").read_text()  # no app module: the package at the top
    assert "('proj.tasks.send_receipt', _t0.send_receipt.saq)" in settings.replace('"', "'")
    assert '("send-receipt", _t0.send_receipt.saq),' in settings  # the Celery name, kept as an alias

    url = redis_url.rsplit("/", 1)[0] + "/13" if redis_url.count("/") > 2 else redis_url + "/13"
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
    import json

    new, old, name, aliases = json.loads(proc.stdout.splitlines()[-1])
    assert (
        (new, old) == ("receipt 1", "receipt 2") and name == "proj.tasks.send_receipt" and aliases == ["send-receipt"]
    )
