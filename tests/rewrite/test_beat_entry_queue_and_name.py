"""An unnamed beat entry (``sender.add_periodic_task(3600, t.s())``) goes by ``<task>@<file>:<line>`` in the
generated code and in the reports; a beat entry's CronJob runs on its task's queue unless the entry's own
options name one, "default" included."""

from __future__ import annotations

from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.emit.formats import to_markdown
from saqmigrate.rewrite import compute_changes
from saqmigrate.scan import run_scan

TASKS = """from celery import Celery

app = Celery("proj")
app.conf.beat_schedule = {
    "to-default": {"task": "proj.tasks.tick", "schedule": 60.0, "options": {"queue": "default"}},
    "own": {"task": "proj.tasks.tick", "schedule": 120.0},
}


@app.on_after_finalize.connect
def setup_periodic_tasks(sender, **kwargs):
    sender.add_periodic_task(3600.0, upload_event)


@app.task(ignore_result=True, shared=False)
def upload_event():
    return 1


@app.task
def tick():
    return 1
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "tasks.py").write_text(TASKS)
    return tmp_path


def test_cronjobs_run_on_the_tasks_queue_unless_the_entry_names_one(tmp_path: Path) -> None:
    plan = compute_changes(_project(tmp_path), Config()).plan
    queues = {c.entry: q.name for q in plan.queues for c in q.crons}
    assert queues == {"own": "celery", "proj.tasks.upload_event@proj/tasks.py:12": "celery", "to-default": "default"}


def test_the_markdown_report_names_an_unnamed_entry_as_the_generated_code_does(tmp_path: Path) -> None:
    index, _ = run_scan(_project(tmp_path), Config(), use_cache=False)
    rows = [ln for ln in to_markdown(index).splitlines() if "`every 3600s`" in ln]
    assert rows and rows[0].startswith("| proj.tasks.upload_event@proj/tasks.py:12 |"), rows
