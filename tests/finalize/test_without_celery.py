"""Acceptance: the finalized python.org-like fixture runs with Celery uninstalled (imports of celery, kombu,
billiard blocked in the interpreter): the former call sites (signal handlers, a sync view with send_job, an
async view, a management command, a task enqueueing another) enqueue, a real SAQ worker from the finalized
settings runs the tasks, and the side effects are those of the Celery originals (recorded first, under
Celery's own code path)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CALLS = [  # what the call sites dispatch, run first by Celery (eagerly, the task objects themselves)
    {"task": "downloads.tasks.update_download_boxes", "task_object": "downloads.tasks.update_download_boxes"},
    {
        "task": "cms.tasks.refresh_cache",
        "task_object": "cms.tasks.refresh_cache",
        "kwargs": {"key": "homepage", "timeout": 600},
    },
    {"task": "downloads.tasks.update_download_boxes", "task_object": "downloads.tasks.update_download_boxes"},
    {"task": "events.tasks.import_all_calendars", "task_object": "events.tasks.import_all_calendars"},
    # ... whose .delay() calls publish (Celery's eager apply() does not run them inline): the two calendars
    {"task": "events.tasks.import_events", "task_object": "events.tasks.import_events", "kwargs": {"calendar_id": 1}},
    {"task": "events.tasks.import_events", "task_object": "events.tasks.import_events", "kwargs": {"calendar_id": 2}},
    # the async view and the management command
    {"task": "downloads.tasks.update_download_boxes", "task_object": "downloads.tasks.update_download_boxes"},
    {"task": "downloads.tasks.update_download_boxes", "task_object": "downloads.tasks.update_download_boxes"},
    # the other tasks, enqueued directly
    {"task": "jobs.tasks.send_job_email", "task_object": "jobs.tasks.send_job_email", "kwargs": {"job_id": 7}},
    {"task": "pydotorg.celery.debug_task", "task_object": "pydotorg.celery.debug_task"},
]


def _db(url: str, n: int) -> str:
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{n}"


@pytest.mark.slow
def test_finalized_pydotorg_runs_without_celery(tmp_path: Path, redis_url: str) -> None:
    root = tmp_path / "pydotorg"
    shutil.copytree(ROOT / "fixtures" / "pydotorg", root)
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    url = _db(redis_url, 11)  # a database of its own: the finalized queue keeps its real name, "celery"
    env = dict(
        os.environ, REDIS_URL=url, SAQ_REDIS_URL=url, PYTHONPATH=str(root), SAQMIGRATE_ROUTING="0", SAQMIGRATE_DLQ="0"
    )
    celery = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests/rewrite/harness.py"),
            str(root),
            "pydotorg.saq_worker.queue_celery",
            json.dumps(CALLS),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )
    assert celery.returncode == 0, celery.stderr[-3000:]
    recorded = sorted(line for case in json.loads(celery.stdout.splitlines()[-1])["celery"] for line in case["effects"])

    window_crons = re.findall(r'cron="([^"]+)"', (root / "pydotorg/saq_worker/queue_celery.py").read_text())
    result = compute_finalize(root, Config())
    assert apply_changes(root, result.changes) == []
    # the finalized settings keep the window's cron strings, proven against Celery's crontab (`saqmigrate schedules`)
    assert re.findall(r'cron="([^"]+)"', (root / "pydotorg/saq_worker/queue_celery.py").read_text()) == window_crons
    proc = subprocess.run(
        [sys.executable, str(HERE / "nocelery_harness.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["celery_imported"] is False
    assert ["view", 202, True] in out["results"]
    assert ["inline", 2] in out["results"]  # import_all_calendars called directly: the body, inline
    assert ["async_view", 202, True] in out["results"] and ["command", True] in out["results"]
    assert ["timeout", True] in out["results"]
    assert ["mail", True] in out["results"] and ["debug", True] in out[
        "results"
    ]  # SaqResult.get(timeout=) without Celery: the builtin TimeoutError
    uuid = re.compile(r'"request_id": "[0-9a-f-]{36}"')  # a task id is new on each run: that it is one is what counts
    assert [uuid.sub('"request_id": "<id>"', e) for e in out["effects"]] == [
        uuid.sub('"request_id": "<id>"', e) for e in recorded
    ]
    assert len(out["crons"]) == len(window_crons) >= 4
    assert all(fired for _, _, fired in out["crons"]), out["crons"]  # each ran its task: no flag store, no beat
    assert len(recorded) == 9  # boxes four times, the page cache, both calendars, the mail, debug_task


@pytest.mark.slow
def test_finalized_midmigration_fixture_runs_without_celery(tmp_path: Path, redis_url: str) -> None:
    """The mid-migration fixture (twins, registry, routing hook checked in) finalized: its views' apply_async
    with countdown and .delay calls become enqueues a real SAQ worker runs, with the values Celery's task
    bodies return for the same calls (run eagerly by Celery first)."""
    root = tmp_path / "mm"
    shutil.copytree(ROOT / "fixtures" / "check_midmigration", root, ignore=shutil.ignore_patterns(".saqmigrate_cache"))
    url = _db(redis_url, 12)
    env = dict(
        os.environ,
        REDIS_URL=url,
        SAQ_REDIS_URL=url,
        PYTHONPATH=f"{root}{os.pathsep}{HERE}",
        SAQMIGRATE_ROUTING="0",
        SAQMIGRATE_DLQ="0",
        SAQMIGRATE_METRICS="0",
    )
    cases = [
        {
            "task": "shop.orders.tasks.charge_card",
            "task_object": "shop.orders.tasks.charge_card",
            "kwargs": {"order_id": 1, "amount": 9.5},
        },
        {
            "task": "shop.orders.tasks.send_receipt",
            "task_object": "shop.orders.tasks.send_receipt",
            "kwargs": {"order_id": 1, "email": "a@example.com"},
        },
        {
            "task": "shop.orders.tasks.send_receipt",
            "task_object": "shop.orders.tasks.send_receipt",
            "kwargs": {"order_id": 2, "email": "b@example.com"},
        },
    ]
    celery = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests/rewrite/harness.py"),
            str(root),
            "shop.saq_worker.queue_celery",
            json.dumps(cases),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )
    assert celery.returncode == 0, celery.stderr[-3000:]
    want: dict = {}
    for case, res in zip(cases, json.loads(celery.stdout.splitlines()[-1])["celery"]):
        assert res["state"] == "SUCCESS"
        want.setdefault(case["task"], []).append(res["value"])
    want = {k: sorted(v, key=json.dumps) for k, v in want.items()}

    assert apply_changes(root, compute_finalize(root, Config()).changes) == []
    proc = subprocess.run(
        [sys.executable, str(HERE / "nocelery_midmigration.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["celery_imported"] is False
    assert out["results"] == json.loads(json.dumps(want))
