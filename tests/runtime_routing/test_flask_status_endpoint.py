"""Issue 18 acceptance: the Flask factory fixture's own status endpoint (``AsyncResult(id)``) reports
the same states and values for a task flipped to SAQ as for the same task on Celery, through
pending -> success and pending -> failure, and a task needing the Flask app context (FlaskTask's
``__call__``) gives the same result. Real Celery worker, real SAQ worker from the generated settings,
the project rewritten by ``rewrite --write``."""

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
HARNESS = Path(__file__).resolve().parent / "flask_status_harness.py"
FINAL = {"SUCCESS", "FAILURE"}


def _own_db(url: str) -> str:
    base, _, last = url.rstrip("/").rpartition("/")
    return f"{base}/13" if last.isdigit() else f"{url.rstrip('/')}/13"


def test_status_endpoint_reports_the_same_for_flipped_tasks(tmp_path: Path, redis_url: str, unique_name: str):
    root = tmp_path / "flask_app"
    shutil.copytree(ROOT / "fixtures" / "flask_app", root)
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAQMIGRATE_", "FLASK_"))}
    proc = subprocess.run(
        [sys.executable, str(HARNESS), str(root), _own_db(redis_url), unique_name],
        capture_output=True,
        text=True,
        timeout=180,
        env={**env, "PYTHONPATH": str(root)},
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for label in ("add", "add_fails", "greet"):
        cel, saq = out["celery"][label], out["saq"][label]
        assert not cel["on_saq"] and saq["on_saq"], label  # the flip was in force
        assert cel["states"][-1] == saq["states"][-1] and cel["value"] == saq["value"], (label, cel, saq)
        for run in (cel, saq):  # pending -> final, nothing else (no custom or unknown state)
            assert set(run["states"][:-1]) <= {"PENDING", "STARTED"} and run["states"][-1] in FINAL, (label, run)
    assert out["saq"]["add"]["value"] == 5 and out["saq"]["greet"]["value"] == "Hello, bob"
    assert out["saq"]["add_fails"]["states"][-1] == "FAILURE"
    assert "unsupported operand" in out["saq"]["add_fails"]["value"]
