"""Every generated worker settings module imports and builds a ``saq.Worker`` — on every fixture,
in a fresh interpreter with nothing in the environment the project itself does not set up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.plan import build_plan
from saqmigrate.rewrite import apply_changes, compute_changes
from saqmigrate.scan import run_scan

ROOT = Path(__file__).resolve().parents[2]
# check_midmigration is already migrated; hard's proj/legacy.py imports celery.task, which Celery 5
# removed (SM112): that module does not import under Celery either, so neither does its twin
FIXTURES = sorted(
    p.name for p in (ROOT / "fixtures").iterdir() if p.is_dir() and p.name not in ("check_midmigration", "hard")
)

BUILD = """
import importlib, json, sys
from saq import Worker
out = {}
for name in sys.argv[1:]:
    mod = importlib.import_module(name)
    settings = dict(mod.settings)
    worker = Worker(**settings)
    out[name] = sorted(worker.functions)
print(json.dumps(out))
"""


def _env(root: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        PYTHONPATH=str(root),
        SAQ_REDIS_URL=redis_url,
        REDIS_URL=redis_url,
        SAQMIGRATE_ROUTING="0",
        SAQMIGRATE_METRICS="0",
    )
    return env


@pytest.mark.parametrize("name", FIXTURES)
def test_every_generated_worker_builds(name: str, tmp_path: Path, redis_url: str) -> None:
    if name.startswith("django"):
        pytest.importorskip("django")
    root = tmp_path / name
    shutil.copytree(ROOT / "fixtures" / name, root)
    result = compute_changes(root, Config())
    assert not result.blocking, result.blocking
    assert apply_changes(root, result.changes) == []
    plan = build_plan(run_scan(root, Config(), use_cache=False)[0])
    modules = [q.module for q in plan.queues]
    assert modules, "no worker generated"
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, *modules],
        cwd=root,
        env=_env(root, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    for q in plan.queues:
        for tw in q.twins:
            assert tw.celery_name in built[q.module]


RUN_JOB = """
import asyncio, importlib, sys, uuid
from saq import Worker
mod = importlib.import_module(sys.argv[1])
settings = dict(mod.settings)
settings["cron_jobs"] = []
from saqmigrate.runtime.worker import make_queue
queue = make_queue(settings["queue"].name + "-" + uuid.uuid4().hex[:8])  # its own Redis keys

async def main():
    from saqmigrate.runtime.task import job_options
    job = await queue.enqueue(sys.argv[2], **job_options(sys.argv[2]), number="A-1")
    worker = Worker(**{**settings, "queue": queue, "burst": True, "dequeue_timeout": 1})
    await worker.start()
    await job.refresh()
    print(job.status, job.result)
    await queue.disconnect()

asyncio.run(main())
"""


def test_django_project_worker_runs_a_task_importing_models(tmp_path: Path, redis_url: str) -> None:
    """Detected as Django by its settings object and DJANGO_SETTINGS_MODULE default (no string
    'django.conf:settings'); the worker sets the same default and calls django.setup() before the
    task package (tasks/__init__.py, importing models) is imported."""
    pytest.importorskip("django")
    root = tmp_path / "shop"
    shutil.copytree(ROOT / "fixtures" / "django_shop", root)
    assert apply_changes(root, compute_changes(root, Config()).changes) == []
    settings = (root / "shop" / "saq_worker" / "queue_mail.py").read_text(encoding="utf-8")
    assert 'setup_django("shop.settings")' in settings
    assert (root / "orders" / "tasks_saq.py").is_file()  # the package's twin, importable as orders.tasks_saq
    proc = subprocess.run(
        [sys.executable, "-c", RUN_JOB, "shop.saq_worker.queue_mail", "orders.tasks.send_receipt"],
        cwd=root,
        env=_env(root, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "Status.COMPLETE receipt A-1 (orders.Order)"


def test_django_shop_queues_follow_celerys_router() -> None:
    index, _ = run_scan(ROOT / "fixtures" / "django_shop", Config(), use_cache=False)
    plan = build_plan(index)
    queues = {tw.celery_name: tw.queue for m in plan.modules for tw in m.twins}
    assert queues == {
        "orders.tasks.send_receipt": "mail",  # constant imported from orders.constants
        "orders.tasks.refresh_feed": "feeds",  # settings.CELERY_FEEDS_QUEUE
        "orders.tasks.reports.nightly": "reports",  # task_routes glob
        "orders.tasks.reports.audit": "audit",  # task_routes exact name beats the earlier glob
        "orders.jobs.cleanup": "default",  # task_default_queue; found through the project_task alias
    }
    cleanup = next(t for t in index.tasks if t.name == "orders.jobs.cleanup")
    assert cleanup.options["autoretry_for"] == ["requests.exceptions.ConnectionError"]
