"""ADR-002's acceptance example end to end: update_download_boxes and its beat entry.

`saqmigrate rewrite` on the python.org fixture, then the real `saq` CLI starts a worker from the
generated settings. The worker schedules the beat entry with the faithful cron ('* */6 * * *',
not ADR-002's '0 */6 * * *'), runs it when SAQ owns the entry, and skips it when Celery does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis
from croniter import croniter

from saqmigrate.config import Config
from saqmigrate.rewrite import apply_changes, compute_changes

ROOT = Path(__file__).resolve().parents[2]
ENTRY, TASK = "update-boxes", "downloads.tasks.update_download_boxes"


def _db_url(url: str, db: int) -> str:
    base = url.rsplit("/", 1)[0] if url.count("/") >= 3 else url
    return f"{base}/{db}"


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.slow
def test_adr002_task_and_cron_run_under_the_generated_worker(tmp_path: Path, redis_url: str) -> None:
    from saqmigrate.runtime.flags import FlagStore

    url = _db_url(redis_url, 7)  # a database of its own: the flag store uses its default namespace here
    client = redis.Redis.from_url(url)
    client.flushdb()
    root = tmp_path / "pydotorg"
    shutil.copytree(ROOT / "fixtures" / "pydotorg", root)
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    settings = (root / "pydotorg" / "saq_worker" / "queue_celery.py").read_text()
    assert (
        'cron_function("update-boxes", _t2.update_download_boxes, cron_tz="UTC"),\n        cron="* */6 * * *"'
        in settings
    )

    store = FlagStore(url)
    store.set_rule(TASK, "saq", reason="ADR-002 week 3: scheduled tasks")
    effects = tmp_path / "effects.jsonl"
    env = dict(
        os.environ,
        REDIS_URL=url,
        SAQ_REDIS_URL=url,
        SAQMIGRATE_REDIS_URL=url,
        PYTHONPATH=str(root),
        SAQMIGRATE_EFFECTS=str(effects),
        SAQMIGRATE_METRICS="0",
    )
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "saq", "pydotorg.saq_worker.queue_celery.settings"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        key = b"saq:job:celery:cron:beat:update-boxes"
        _wait(lambda: client.exists(key), 30, f"the worker to schedule {key!r} (log: {log.name})")
        import json

        job = json.loads(client.get(key))
        expected = croniter("* */6 * * *", datetime.now(timezone.utc)).get_next()
        assert abs(job["scheduled"] - expected) <= 60  # the next fire of the faithful cron

        async def enqueue(job_key: str) -> None:
            from saq import Job

            from saqmigrate.runtime.worker import make_queue

            q = make_queue("celery", url)
            # each fire has its own nominal instant, which is what the ownership claim is keyed on
            await q.enqueue(Job(function="beat:update-boxes", key=job_key, timeout=60, scheduled=int(time.time())))
            await q.disconnect()

        import asyncio

        asyncio.run(enqueue("run-now-1"))  # what the cron fires, now rather than at the next 6th hour
        _wait(
            lambda: effects.exists() and "downloads.update_boxes" in effects.read_text(),
            30,
            "the SAQ worker to run update_download_boxes",
        )
        runs = effects.read_text().count("downloads.update_boxes")

        store.set_rule(TASK, "celery", reason="roll back")  # Celery owns the entry again
        time.sleep(2.5)  # the worker's snapshot refreshes within 2 s
        asyncio.run(enqueue("run-now-2"))
        _wait(lambda: _status(client, "run-now-2") == "complete", 30, "the second cron job to finish")
        assert effects.read_text().count("downloads.update_boxes") == runs  # skipped: beat owns it now
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        client.flushdb()


def _status(client, key: str) -> str | None:
    import json

    raw = client.get(f"saq:job:celery:{key}")
    return json.loads(raw).get("status") if raw else None
