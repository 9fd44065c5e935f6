"""Shapes found on public projects (hypothesis/h, mozilla/treeherder, LAION-AI/Open-Assistant),
rewritten here in small projects of our own."""

from __future__ import annotations

import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.plan import build_plan
from saqmigrate.rewrite import compute_changes
from saqmigrate.scan import run_scan


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def test_the_app_tasks_are_bound_to_is_wired_not_a_throwaway_app_in_a_function(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/aaa_svc/__init__.py": "",
            "proj/aaa_svc/forward.py": """
            from celery import Celery


            def forward(name):
                tmp = Celery(name)
                return tmp.send_task("proj.jobs.work.run")
        """,
            "proj/jobs/__init__.py": "",
            "proj/jobs/app.py": """
            from celery import Celery

            worker_app = Celery("proj")
            worker_app.conf.update(imports=("proj.jobs.work",))
        """,
            "proj/jobs/work.py": """
            from proj.jobs.app import worker_app


            @worker_app.task
            def run():
                return 1
        """,
        },
    )
    result = compute_changes(root, Config())
    rels = {c.rel for c in result.changes}
    assert "proj/jobs/saq_worker/routing.py" in rels and "proj/jobs/app.py" in rels
    assert not any(r.startswith("proj/aaa_svc/saq_worker") for r in rels)


def test_tasks_in_test_modules_get_no_twin(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": 'from celery import Celery\n\napp = Celery("proj")\n',
            "proj/tasks.py": "from proj.celery import app\n\n\n@app.task\ndef real():\n    return 1\n",
            "tests/test_smoke.py": """
            import only_in_test_env  # noqa: F401
            from celery import current_app


            @current_app.task
            def echo(x):
                return x
        """,
        },
    )
    index, _ = run_scan(root, Config(), use_cache=False)
    assert [f.subject for f in index.findings if f.rule == "SM117"] == ["test_smoke.echo"]  # tests/ has no __init__
    plan = build_plan(index)
    assert [tw.celery_name for m in plan.modules for tw in m.twins] == ["proj.tasks.real"]


def test_a_beat_schedule_written_as_arithmetic_is_an_interval(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": """
            from celery import Celery

            app = Celery("proj")
            app.conf.beat_schedule = {
                "reset": {"task": "proj.tasks.reset", "schedule": 60.0 * 20.0},
                "plain": {"task": "proj.tasks.reset", "schedule": 1200.0},
            }
        """,
            "proj/tasks.py": "from proj.celery import app\n\n\n@app.task\ndef reset():\n    return 1\n",
        },
    )
    plan = build_plan(run_scan(root, Config(), use_cache=False)[0])
    crons = {c.entry: c.cron for q in plan.queues for c in q.crons}
    assert crons == {"reset": "*/20 * * * *", "plain": "*/20 * * * *"}


def test_a_partial_of_app_task_is_a_decorator_alias(tmp_path: Path) -> None:
    """celery-director: `task = partial(cel.task, acks_late=True)` in a package __init__."""
    root = project(
        tmp_path,
        {
            "pkg/__init__.py": """
            from functools import partial

            from celery import Celery

            app = Celery("pkg")
            task = partial(app.task, acks_late=True)
        """,
            "pkg/jobs.py": """
            from pkg import task


            @task(name="X")
            def f():
                return 1


            @task
            def g():
                return 2
        """,
        },
    )
    index, _ = run_scan(root, Config(), use_cache=False)
    assert {t.name: t.options.get("acks_late") for t in index.tasks} == {"X": True, "pkg.jobs.g": True}


def test_settings_in_a_config_class_decide_the_queue(tmp_path: Path) -> None:
    """flask-celery-project: config_from_object(app.config / a class, namespace="CELERY") with
    CELERY_TASK_DEFAULT_QUEUE in a config class; a router function in task_routes pins the tasks."""
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery_app.py": """
            from celery import Celery


            class Config:
                CELERY_TASK_DEFAULT_QUEUE = "default"


            app = Celery("proj")
            app.config_from_object(Config, namespace="CELERY")


            @app.task
            def add(x, y):
                return x + y
        """,
        },
    )
    plan = build_plan(run_scan(root, Config(), use_cache=False)[0])
    assert {tw.celery_name: tw.queue for m in plan.modules for tw in m.twins} == {"proj.celery_app.add": "default"}
    routed = root / "proj" / "celery_app.py"
    routed.write_text(
        routed.read_text(encoding="utf-8").replace(
            'CELERY_TASK_DEFAULT_QUEUE = "default"',
            'CELERY_TASK_DEFAULT_QUEUE = "default"\n    CELERY_TASK_ROUTES = (route_task,)',
        ),
        encoding="utf-8",
    )
    index, _ = run_scan(root, Config(), use_cache=False)
    assert [f.subject for f in index.findings if f.rule == "SM115"] == ["proj.celery_app.add"]
    assert build_plan(index).modules == []  # pinned to Celery: no twin, never a guessed queue


def test_a_flask_factory_app_is_wired_before_its_return(tmp_path: Path) -> None:
    """Flask's celery_init_app / make_celery(app) (lemur, flaskbb): the app exists only inside a factory."""
    root = project(
        tmp_path,
        {
            "web/__init__.py": "",
            "web/celery_utils.py": """
            from celery import Celery, Task


            def celery_init_app(app):
                class FlaskTask(Task):
                    def __call__(self, *args, **kwargs):
                        with app.app_context():
                            return self.run(*args, **kwargs)

                celery_app = Celery(app.name, task_cls=FlaskTask)
                celery_app.config_from_object(app.config["CELERY"])
                celery_app.set_default()
                return celery_app
        """,
            "web/tasks.py": "from celery import shared_task\n\n\n@shared_task\ndef ping():\n    return 'pong'\n",
            # the settings celery_init_app reads (without them the tasks stay on Celery: SM122)
            "web/app.py": """
            from flask import Flask

            from web.celery_utils import celery_init_app


            def create_app():
                app = Flask(__name__)
                app.config.from_mapping(CELERY=dict(broker_url="redis://localhost:6379/0"))
                celery_init_app(app)
                return app
        """,
        },
    )
    result = compute_changes(root, Config())
    edited = next(c.new for c in result.changes if c.rel == "web/celery_utils.py")
    assert (
        "    from web.saq_worker import routing as _saqmigrate_routing\n\n"
        "    _saqmigrate_routing.install(celery_app)\n    return celery_app\n"
    ) in edited
    assert not any("no module-level" in m for m in result.messages)
    from click.testing import CliRunner

    from saqmigrate.cli.main import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["rewrite", str(root), "--write"]).exit_code == 0
    r = runner.invoke(cli, ["check", str(root), "--only", "drift"])
    assert r.exit_code == 0, r.output  # wired: no SM617


def test_an_async_body_under_an_overridden_call_stays_on_celery(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": """
            from celery import Celery, Task

            app = Celery("proj")


            class ContextTask(Task):
                def __call__(self, *args, **kwargs):
                    return self.run(*args, **kwargs)


            app.Task = ContextTask


            @app.task
            async def refresh(key):
                return key


            @app.task
            def other(x):
                return x
        """,
        },
    )
    index, _ = run_scan(root, Config(), use_cache=False)
    assert [f.subject for f in index.findings if f.rule == "SM119"] == ["proj.celery.refresh"]
    assert [tw.celery_name for m in build_plan(index).modules for tw in m.twins] == ["proj.celery.other"]


def test_two_functions_under_one_celery_name_both_stay_on_celery(tmp_path: Path) -> None:
    """Celery keeps whichever registration it imports last; SAQ's worker would keep whichever its list has
    last: neither is guessed (SM124, attack 41 #16). A test module reusing the name does not count."""
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/daily.py": """
            from celery import shared_task


            @shared_task(name="reports.build")
            def build_daily():
                return "daily"


            @shared_task
            def other():
                return 1
        """,
            "proj/weekly.py": """
            from celery import shared_task


            @shared_task(name="reports.build")
            def build_weekly():
                return "weekly"
        """,
            "proj/tests/test_reports.py": """
            from celery import shared_task


            @shared_task(name="proj.daily.other")
            def fake_other():
                return 0
        """,
        },
    )
    index, _ = run_scan(root, Config())
    found = [f for f in index.findings if f.rule == "SM124"]
    assert sorted((f.file, f.line) for f in found) == [("proj/daily.py", 5), ("proj/weekly.py", 5)]
    assert "registered 2 times (proj/daily.py:5, proj/weekly.py:5)" in found[0].message
    result = compute_changes(root, Config())
    twins = "".join(c.new or "" for c in result.changes if c.rel.endswith("_saq.py"))
    assert '"reports.build"' not in twins and '"proj.daily.other"' in twins
    assert any(what == "reports.build" and why.startswith("SM124") for what, why in result.plan.skipped)


def test_a_task_class_with_a_custom_worker_request_stays_on_celery(tmp_path: Path) -> None:
    """`Request = LoggedRequest` on a base Task class (IntelOwl's FailureLoggedTask pattern, attack 42 G):
    its hooks run only in Celery's worker, so the registry pins the task (the router keeps it on Celery)
    and the scan says why (SM164)."""
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/base.py": """
            from celery import Task
            from celery.worker.request import Request


            class LoggedRequest(Request):
                def on_timeout(self, soft, timeout):
                    super().on_timeout(soft, timeout)


            class LoggedTask(Task):
                Request = LoggedRequest
        """,
            "proj/tasks.py": """
            from celery import shared_task

            from proj.base import LoggedTask


            @shared_task(base=LoggedTask)
            def ingest(x):
                return x


            @shared_task
            def plain(x):
                return x
        """,
        },
    )
    index, _ = run_scan(root, Config())
    assert [(f.rule, f.subject) for f in index.findings if f.rule == "SM164"] == [("SM164", "proj.tasks.ingest")]
    registry = next(c.new for c in compute_changes(root, Config()).changes if c.rel.endswith("registry.py"))
    assert '"unsupported": ["Request"]' in registry and registry.count('"unsupported"') == 1


def test_a_beat_entry_without_a_queue_shows_the_task_queue_not_default(tmp_path: Path) -> None:
    """The schedule translator says "default" when the entry sets no queue; the scan showed that as the
    entry's queue while the registry said the task's (attack 41 #23). Now both say the task's queue."""
    root = project(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": """
            from celery import Celery

            app = Celery("proj")
            app.conf.task_default_queue = "work"


            @app.on_after_configure.connect
            def setup(sender, **kwargs):
                sender.add_periodic_task(3600.0, tick.s())


            @app.task
            def tick():
                return 1
        """,
        },
    )
    index, _ = run_scan(root, Config())
    [entry] = index.schedules
    assert entry.translation["queue"] == "work", entry.translation
