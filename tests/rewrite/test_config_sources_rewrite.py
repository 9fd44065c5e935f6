"""What ``rewrite`` generates from settings given through a config source: the values Celery reads, in the
registry's job options and queues; nothing for tasks whose settings come from a source it cannot read.

The first project has the shape of the usual FastAPI + Celery layout (a settings module holding the Celery
dict, a worker module doing ``celery_app.conf.update(...)``); the second is Flask's documented factory.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.rewrite import compute_changes


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def registry(changes, rel: str) -> dict:
    text = next(c.new for c in changes if c.rel == rel)
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "TASKS":  # type: ignore[attr-defined]
            return ast.literal_eval(node.value)
    raise AssertionError("no TASKS in the registry")


FASTAPI_SHAPE = {
    "app/__init__.py": "",
    "app/core/__init__.py": "",
    "app/core/config.py": """
        import os

        REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")

        CELERY_BASE = {"broker_url": REDIS_URL, "result_backend": REDIS_URL, "task_serializer": "json"}
        CELERY_CONFIG = {
            **CELERY_BASE,
            "task_time_limit": 120,
            "result_expires": 3600,
            "task_routes": {"app.worker.render_report": {"queue": "reports"}},
        }
    """,
    "app/worker.py": """
        from celery import Celery

        from app.core.config import CELERY_CONFIG

        celery_app = Celery("worker")
        celery_app.conf.update(CELERY_CONFIG)


        @celery_app.task
        def send_email(to: str) -> str:
            return to


        @celery_app.task(time_limit=5, ignore_result=True)
        def ping() -> str:
            return "pong"


        @celery_app.task
        def render_report(report_id: int) -> int:
            return report_id
    """,
    "app/main.py": """
        from fastapi import FastAPI

        from app.worker import send_email

        api = FastAPI()


        @api.post("/mail")
        def mail(to: str) -> dict:
            return {"task_id": send_email.delay(to).id}
    """,
}


def test_a_settings_dict_from_another_module_reaches_the_generated_job_options(tmp_path: Path) -> None:
    root = project(tmp_path, FASTAPI_SHAPE)
    result = compute_changes(root, Config(), use_cache=False)
    tasks = registry(result.changes, "app/saq_worker/registry.py")
    assert tasks["app.worker.send_email"]["job"]["timeout"] == 120  # task_time_limit
    assert tasks["app.worker.send_email"]["job"]["ttl"] == 3600  # result_expires
    assert tasks["app.worker.send_email"]["queue"] == "celery"
    assert tasks["app.worker.ping"]["job"]["timeout"] == 5 and tasks["app.worker.ping"]["job"]["ttl"] == -1
    assert tasks["app.worker.render_report"]["queue"] == "reports"  # task_routes from the dict
    rels = {c.rel for c in result.changes}
    assert {"app/saq_worker/queue_celery.py", "app/saq_worker/queue_reports.py"} <= rels


def test_flask_documented_factory_gives_ignore_result_to_the_tasks_that_inherit_it(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "web/__init__.py": """
            from flask import Flask

            from web.celery_app import celery_init_app


            def create_app() -> Flask:
                app = Flask(__name__)
                app.config.from_mapping(
                    CELERY=dict(
                        broker_url="redis://localhost",
                        result_backend="redis://localhost",
                        task_ignore_result=True,
                    ),
                )
                celery_init_app(app)
                return app
        """,
            "web/celery_app.py": """
            from celery import Celery, Task
            from flask import Flask


            def celery_init_app(app: Flask) -> Celery:
                class FlaskTask(Task):
                    def __call__(self, *args: object, **kwargs: object) -> object:
                        with app.app_context():
                            return self.run(*args, **kwargs)

                celery_app = Celery(app.name, task_cls=FlaskTask)
                celery_app.config_from_object(app.config["CELERY"])
                celery_app.set_default()
                app.extensions["celery"] = celery_app
                return celery_app
        """,
            "web/tasks.py": """
            from celery import shared_task


            @shared_task
            def fire_and_forget(x: int) -> int:
                return x


            @shared_task(ignore_result=False)
            def add(a: int, b: int) -> int:
                return a + b
        """,
        },
    )
    result = compute_changes(root, Config(), use_cache=False)
    tasks = registry(result.changes, "web/saq_worker/registry.py")
    assert tasks["web.tasks.fire_and_forget"]["job"]["ttl"] == -1  # Celery ignores its result: SAQ drops the job
    assert tasks["web.tasks.add"]["job"]["ttl"] == 86400


def test_tasks_whose_settings_cannot_be_read_get_no_twin(tmp_path: Path) -> None:
    files = dict(FASTAPI_SHAPE)
    files["app/worker.py"] = (
        files["app/worker.py"]
        .replace("from app.core.config import CELERY_CONFIG", "from app.core.config import celery_settings")
        .replace("celery_app.conf.update(CELERY_CONFIG)", "celery_app.conf.update(celery_settings())")
    )
    files["app/core/config.py"] += "\n\ndef celery_settings():\n    return dict(CELERY_CONFIG)\n"
    root = project(tmp_path, files)
    result = compute_changes(root, Config(), use_cache=False)
    rels = {c.rel for c in result.changes}
    assert "app/worker_saq.py" not in rels  # no twin: every task takes its settings from the app
    assert not any(r.startswith("app/saq_worker/queue_") for r in rels)


def test_rewrite_live_fills_in_what_an_unreadable_source_left_unknown(tmp_path: Path) -> None:
    """`rewrite --live`'s run-time values (verify's probe document) clear the pins: None is Celery's answer
    for a limit (no limit), result_expires is the app's setting."""
    from saqmigrate.plan import build_plan
    from saqmigrate.scan import run_scan

    files = dict(FASTAPI_SHAPE)
    files["app/worker.py"] = (
        files["app/worker.py"]
        .replace("from app.core.config import CELERY_CONFIG", "from app.core.config import celery_settings")
        .replace("celery_app.conf.update(CELERY_CONFIG)", "celery_app.conf.update(celery_settings())")
    )
    root = project(tmp_path, files)
    options = {
        "time_limit": 120,
        "soft_time_limit": None,
        "rate_limit": None,
        "ignore_result": False,
        "serializer": "json",
        "acks_late": False,
    }
    doc = {
        "app": "celery.app.base.Celery 'worker'",
        "result_expires": 3600.0,
        "beat_schedule": {},
        "tasks": {
            name: {
                "options": dict(options),
                "route": {"queue": "reports" if name.endswith("render_report") else "celery"},
            }
            for name in ("app.worker.send_email", "app.worker.render_report")
        },
    }
    index, _ = run_scan(root, Config(), use_cache=False, live=doc)  # as `rewrite --live` does
    used = index.live
    assert used["tasks"]["app.worker.send_email"]["options"]["result_expires"] == 3600.0
    send = next(t for t in index.tasks if t.name == "app.worker.send_email")
    assert "unresolved" not in send.features and "soft_time_limit" not in send.options
    plan = build_plan(index)
    twins = {tw.celery_name: tw for m in plan.modules for tw in m.twins}
    assert set(twins) == {"app.worker.send_email", "app.worker.render_report"}  # ping: no run-time facts given
    assert twins["app.worker.send_email"].job["timeout"] == 120 and twins["app.worker.send_email"].job["ttl"] == 3600
    assert twins["app.worker.render_report"].queue == "reports" and not twins["app.worker.send_email"].pinned
