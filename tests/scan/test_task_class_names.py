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


def test_a_task_calling_self_replace_is_pinned_to_celery(tmp_path: Path) -> None:
    import ast

    from saqmigrate.rewrite import compute_changes
    from saqmigrate.runtime import flags as F
    from saqmigrate.runtime.registry import Registry
    from saqmigrate.runtime.router import plan_dispatch

    (tmp_path / "tasks.py").write_text(
        textwrap.dedent("""
        from celery import shared_task


        @shared_task
        def big(n):
            return n


        @shared_task(bind=True)
        def maybe(self, n):
            if n > 1:
                raise self.replace(big.s(n))
            return n
    """)
    )
    result = compute_changes(tmp_path, Config(), use_cache=False)
    reg = next(c.new for c in result.changes if c.rel.endswith("registry.py"))
    tasks = ast.literal_eval(
        next(n for n in ast.parse(reg).body if isinstance(n, ast.Assign) and n.targets[0].id == "TASKS").value
    )
    assert tasks["tasks.maybe"]["unsupported"] == ["replace"] and "unsupported" not in tasks["tasks.big"]
    registry = Registry.from_dicts(tasks)
    all_saq = F.Snapshot.from_json(
        {"version": 1, "mode": "normal", "rules": {"tasks.*": {"target": "saq", "percent_bp": 10000}}}, "redis"
    )
    assert plan_dispatch(registry, all_saq, "tasks.maybe", (3,), None, {}).decision.backend == "celery"
    assert plan_dispatch(registry, all_saq, "tasks.big", (3,), None, {}).decision.backend == "saq"
