"""Issue 18 acceptance, FastAPI: an app that returns task ids and polls them (fixtures/fastapi_app, the common
FastAPI + Celery layout: a settings dict in its own module, ``POST /tasks`` -> ``{"task_id"}``,
``GET /tasks/{task_id}`` built on ``AsyncResult(task_id)``) reports the same state sequence and value for
every task flipped to SAQ as on Celery, through pending -> success and pending -> failure, with and without
``track_started``. The project is rewritten by ``rewrite`` into a temporary copy; real Celery worker, real
SAQ worker from the generated settings; the endpoint is called through FastAPI's TestClient."""

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

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "fastapi_status_harness.py"

EXPECTED = {  # label -> (states the endpoint reports, in order; the final value)
    "add": (["PENDING", "SUCCESS"], 5),
    "add_countdown": (["PENDING", "SUCCESS"], 42),
    "add_fails": (["PENDING", "FAILURE"], "TypeError(\"unsupported operand type(s) for +: 'int' and 'str'\")"),
    "divide": (["PENDING", "STARTED", "SUCCESS"], 2.5),
    "divide_by_zero": (["PENDING", "STARTED", "FAILURE"], "ZeroDivisionError('division by zero')"),
    "word_count": (["PENDING", "STARTED", "SUCCESS"], {"words": 4, "longest": "quick"}),
}


def _own_db(url: str) -> str:
    base, _, last = url.rstrip("/").rpartition("/")
    return f"{base}/11" if last.isdigit() else f"{url.rstrip('/')}/11"


def test_fastapi_status_endpoint_reports_the_same_for_flipped_tasks(
    tmp_path: Path, redis_url: str, unique_name: str
) -> None:
    pytest.importorskip("fastapi")
    root = tmp_path / "fastapi_app"
    shutil.copytree(ROOT / "fixtures" / "fastapi_app", root)
    result = compute_changes(root, Config(), use_cache=False)
    assert apply_changes(root, result.changes) == []
    # the settings dict in fastapi_app/config.py reached the generated job options (timeout, ttl, queue)
    registry = (root / "fastapi_app" / "saq_worker" / "registry.py").read_text()
    assert registry.count('"timeout": 30') == 3 and registry.count('"ttl": 3600') == 3
    assert registry.count('"queue": "fastapi"') == 3
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAQMIGRATE_", "CELERY_", "SAQ_"))}
    proc = subprocess.run(
        [sys.executable, str(HARNESS), str(root), _own_db(redis_url), unique_name],
        capture_output=True,
        text=True,
        timeout=240,
        env={**env, "PYTHONPATH": os.pathsep.join([str(root), str(HARNESS.parent)])},
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for label, (states, value) in EXPECTED.items():
        cel, saq = out["celery"][label], out["saq"][label]
        assert not cel["on_saq"] and saq["on_saq"], label  # the flip was in force
        assert cel["states"] == states and cel["value"] == value, (label, cel)  # what Celery reports
        assert saq["states"] == cel["states"] and saq["value"] == cel["value"], (label, cel, saq)
