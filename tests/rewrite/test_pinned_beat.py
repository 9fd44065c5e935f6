"""A beat entry whose task is pinned to Celery (an option SAQ cannot honour, SM115) gets no SAQ CronJob: the
router keeps the task's dispatches on Celery, and a SAQ cron would run the twin anyway once the schedule's
owner flips to SAQ. A beat entry of a task that is not pinned keeps its CronJob (the control)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.rewrite import compute_changes

TASKS = """
import random

from proj.celery import app


def limit():
    return random.choice([30, 60])


@app.task(queue="q", time_limit=limit())
def pinned():
    return 1


@app.task(queue="q")
def free():
    return 2
"""
CELERY = """
from celery import Celery
from celery.schedules import crontab

app = Celery("proj")
app.conf.beat_schedule = {
    "pinned-nightly": {"task": "proj.tasks.pinned", "schedule": crontab(minute=0, hour=3)},
    "free-nightly": {"task": "proj.tasks.free", "schedule": crontab(minute=0, hour=4)},
}
"""


def test_a_pinned_tasks_beat_entry_gets_no_saq_cron(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj/__init__.py").write_text("")
    (tmp_path / "proj/celery.py").write_text(textwrap.dedent(CELERY))
    (tmp_path / "proj/tasks.py").write_text(textwrap.dedent(TASKS))
    result = compute_changes(tmp_path, Config(), use_cache=False)
    reg = next(c for c in result.changes if c.rel.endswith("saq_worker/registry.py"))
    values = {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in ast.parse(reg.new).body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
    }
    assert "time_limit" in values["TASKS"]["proj.tasks.pinned"]["unsupported"]
    schedules = values.get("SCHEDULES", {})
    assert schedules.get("pinned-nightly", {}).get("cron_function") is None
    assert schedules["free-nightly"]["cron_function"]
    assert any("pinned-nightly" in m and "pinned to Celery (time_limit" in m for m in result.messages), result.messages
