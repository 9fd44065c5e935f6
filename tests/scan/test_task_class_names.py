"""The app's Task class is found however the module's names collide (issue 18, item 1)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.scan import run_scan

# flask-celery-example's layout: the module is app.py and binds `app` (the Flask app) and `celery`
APP_PY = textwrap.dedent("""
    from celery import Celery
    from flask import Flask, current_app

    app = Flask(__name__)
    celery = Celery(app.name)


    class ContextTask(celery.Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)


    celery.Task = ContextTask


    @celery.task
    def config_value():
        return current_app.config["X"]
""")


def test_a_task_class_in_a_module_named_like_one_of_its_variables(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP_PY)
    index, _ = run_scan(tmp_path, Config(), use_cache=False)
    (task,) = index.tasks
    assert task.hooks == ["__call__"]


def test_native_mode_keeps_such_a_task_bridged(tmp_path: Path) -> None:
    from saqmigrate.rewrite import compute_changes

    (tmp_path / "app.py").write_text(APP_PY)
    result = compute_changes(tmp_path, Config(), mode="native", use_cache=False)
    assert any("app.config_value" in m and "overrides __call__" in m for m in result.messages)
