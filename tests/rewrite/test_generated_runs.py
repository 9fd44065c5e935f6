"""The generated code really runs: a real SAQ Worker on a real Redis executes every fixture task
from the generated settings, with the same result, outcome and side effects as the Celery task
run eagerly (Celery's own code path, retries included)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.rewrite import apply_changes, compute_changes

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness.py"

ICS = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:PyCon US\nDTSTART:20270514\nEND:VEVENT\nEND:VCALENDAR\n"
CASES = [
    {"task": "downloads.tasks.update_download_boxes", "task_object": "downloads.tasks.update_download_boxes"},
    {
        "task": "events.tasks.import_events",
        "task_object": "events.tasks.import_events",
        "kwargs": {"calendar_id": 1, "ics_text": ICS},
    },
    # not in self.retry's except clause: fails once on both sides, never retried
    {"task": "events.tasks.import_events", "task_object": "events.tasks.import_events", "kwargs": {"calendar_id": 99}},
    {
        "task": "blogs.tasks.update_blog_feeds",
        "task_object": "blogs.tasks.update_blog_feeds",
        "kwargs": {"feeds": ["file:///dev/null"]},
    },
    {
        "task": "jobs.tasks.expire_jobs",
        "task_object": "jobs.tasks.expire_jobs",
        "kwargs": {
            "postings": [{"id": 1, "posted": "2020-01-01"}, {"id": 2, "posted": "2026-11-20"}],
            "today": "2026-11-27",
        },
    },
    {"task": "jobs.tasks.send_job_email", "task_object": "jobs.tasks.send_job_email", "kwargs": {"job_id": 7}},
    {"task": "cms.tasks.refresh_cache", "task_object": "cms.tasks.refresh_cache", "kwargs": {"key": "homepage"}},
]


def run_both(root: Path, queue_module: str, cases: list[dict], redis_url: str) -> dict:
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        SAQ_REDIS_URL=redis_url,
        PYTHONPATH=str(root),
        SAQMIGRATE_ROUTING="0",
        SAQMIGRATE_DLQ="0",
    )
    proc = subprocess.run(
        [sys.executable, str(HARNESS), str(root), queue_module, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bridge", "native"])
def test_every_pydotorg_task_runs_under_saq_like_under_celery(tmp_path: Path, redis_url: str, mode: str) -> None:
    root = tmp_path / "pydotorg"
    shutil.copytree(ROOT / "fixtures" / "pydotorg", root)
    result = compute_changes(root, Config(), mode=mode, use_cache=False)
    assert apply_changes(root, result.changes) == []
    out = run_both(root, "pydotorg.saq_worker.queue_celery", CASES, redis_url)
    for case, cel, saq in zip(CASES, out["celery"], out["saq"]):
        label = f"{case['task']}({case.get('kwargs', {})})"
        if saq["state"] == "deleted":  # ignore_result=True -> ttl=-1: no record to read, like Celery's
            assert case["task"] == "blogs.tasks.update_blog_feeds" and cel["state"] == "SUCCESS"
        elif cel["state"] == "SUCCESS":
            assert saq["state"] == "complete", (label, saq)
            assert json.loads(json.dumps(cel["value"])) == saq["value"], label
        else:
            assert saq["state"] == "failed", (label, saq)
            assert saq["value"] == cel["value"], label  # the same exception type
            assert saq["attempts"] == 1, label  # no autoretry_for / self.retry path: not retried
        assert cel["effects"] == saq["effects"], label
    assert sum(1 for saq in out["saq"] if saq["effects"]) >= 4  # the comparison above compared something


RETRY_CASES = [
    {
        "task": "retries.tasks.always_retry",
        "task_object": "retries.tasks.always_retry",
        "kwargs": {"n": 1},
        "attempts": 3,
        "gaps": [1, 1],
    },
    {
        "task": "retries.tasks.succeed_on_third",
        "task_object": "retries.tasks.succeed_on_third",
        "kwargs": {"key": "k"},
        "attempts": 3,
        "gaps": [1, 1],
    },
    {
        "task": "retries.tasks.autoretry_backoff",
        "task_object": "retries.tasks.autoretry_backoff",
        "kwargs": {"tag": "b"},
        "attempts": 3,
        "gaps": [1, 2],
    },  # backoff 1 s, 2 s (jitter off)
    {
        "task": "retries.tasks.not_listed_exception",
        "task_object": "retries.tasks.not_listed_exception",
        "kwargs": {"tag": "v"},
        "attempts": 1,
        "gaps": [],
    },
    {
        "task": "retries.tasks.request_info",
        "task_object": "retries.tasks.request_info",
        "kwargs": {"x": 40},
        "attempts": 1,
        "gaps": [],
    },
]
TIME_LIMIT_CASE = {"task": "retries.tasks.too_slow", "task_object": "retries.tasks.too_slow", "kwargs": {"seconds": 3}}


@pytest.mark.slow
def test_retries_delays_and_bound_requests_match_celery(tmp_path: Path, redis_url: str) -> None:
    """self.retry, autoretry_for with backoff, exceptions outside autoretry_for and self.request, run by
    the generated bridge twins: same attempts, same request values, same outcome, Celery's delays."""
    root = tmp_path / "retries"
    shutil.copytree(ROOT / "fixtures" / "retries", root)
    result = compute_changes(root, Config(), use_cache=False)
    assert apply_changes(root, result.changes) == []
    cases = [{k: v for k, v in c.items() if k not in ("attempts", "gaps")} for c in RETRY_CASES]
    out = run_both(root, "saq_worker.queue_celery", cases + [TIME_LIMIT_CASE], redis_url)
    # time_limit: Celery's eager mode ignores it, so compare with what a Celery *worker* does: the task is
    # failed at the limit and not retried (autoretry_for does not cover TimeLimitExceeded)
    slow = out["saq"].pop()
    out["celery"].pop()
    assert slow["state"] == "failed" and slow["attempts"] == 1 and len(slow["effects"]) == 1, slow
    assert slow["run_ms"] is not None and slow["run_ms"] < 2500, slow  # failed at the 1 s limit, not after 3 s
    for case, cel, saq in zip(RETRY_CASES, out["celery"], out["saq"]):
        label = case["task"]
        strip = lambda effects: [{k: v for k, v in json.loads(e).items() if k != "t"} for e in effects]  # noqa: E731
        assert strip(cel["effects"]) == strip(saq["effects"]), label  # same attempts, same self.request values
        assert len(saq["effects"]) == case["attempts"], label
        if cel["state"] == "SUCCESS":
            assert saq["state"] == "complete" and saq["value"] == json.loads(json.dumps(cel["value"])), label
        else:
            assert saq["state"] == "failed" and saq["value"] == cel["value"], (label, saq, cel)
        times = [json.loads(e)["t"] for e in saq["effects"]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(gaps) == len(case["gaps"]) and all(g >= want - 0.05 for g, want in zip(gaps, case["gaps"])), (
            label,
            gaps,
        )
