"""Defects a fresh reviewer found by attacking finalize (taiga-back plus hostile projects of our own): each is
a small project of ours, finalized, then checked for meaning — never only for "it compiles"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "p"
    for rel, text in {"proj/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def finalize(root: Path):
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert apply_changes(root, result.changes) == []
    return result


TASKS = """
    from celery import shared_task


    @shared_task
    def send(to, body):
        return to


    @shared_task
    def u(self, x):
        return x


    @shared_task
    def pos(a, /, b):
        return a + b


    @shared_task
    def star(first, *args, **kw):
        return first
"""


def test_a_rebound_name_is_not_converted_with_another_task_s_parameters(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "proj/b.py": """
        from celery import shared_task


        @shared_task
        def send(payload, retries):
            return payload
    """,
            "proj/calls.py": """
        from proj.a import send
        from proj.b import send as b_send


        def f():
            send = b_send
            send.delay("p", 3)


        def g(items):
            for send in items:
                send.delay(1)


        def h():
            send.delay("x", "y")
    """,
        },
    )
    result = finalize(root)
    calls = (root / "proj/calls.py").read_text()
    assert 'send.delay("p", 3)' in calls and "send.delay(1)" in calls  # left, and reported
    assert 'send.enqueue(to="x", body="y")' in calls  # the import is the task: converted
    assert sum(1 for b in result.blockers if b.file == "proj/calls.py" and b.code == "SM803") == 2


def test_await_binds_to_the_enqueue_and_never_lands_in_class_bodies_or_generators(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "proj/calls.py": """
        from proj.a import send


        async def h(xs):
            r = send.delay(1, 2).id
            gen = (send.delay(i, 0) for i in xs)
            done = [send.delay(i, 1) for i in xs]

            class C:
                z = send.delay(5, 5)

            return r, gen, done, C
    """,
        },
    )
    finalize(root)
    calls = (root / "proj/calls.py").read_text()
    assert "r = (await send.aenqueue(to=1, body=2)).id" in calls
    assert "gen = (send.enqueue(to=i, body=0) for i in xs)" in calls
    assert "done = [await send.aenqueue(to=i, body=1) for i in xs]" in calls
    assert "z = send.enqueue(to=5, body=5)" in calls
    compile(calls, "calls.py", "exec")


def test_parameter_shapes_self_positional_only_varargs_and_duplicates(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "proj/celery.py": """
        from celery import Celery

        app = Celery("proj")
    """,
            "proj/calls.py": """
        from proj.a import pos, star, u
        from proj.celery import app


        def g():
            u.delay(1, 2)
            pos.delay(1, 2)
            star.delay(1, 2, 3, k=4)
            app.send_task("proj.a.send", args=[1], kwargs={"to": 5})
    """,
        },
    )
    result = finalize(root)
    calls = (root / "proj/calls.py").read_text()
    assert 'u.enqueue_with({"self": 1, "x": 2})' in calls  # `self` is enqueue's own parameter
    assert "pos.enqueue(a=1, b=2)" in calls  # the runtime passes `a` by position (tests/runtime_jobs)
    assert "star.delay(1, 2, 3, k=4)" in calls  # *args overflow: left, SM802
    assert any(b.code == "SM802" and b.file == "proj/calls.py" for b in result.blockers)
    assert 'send_job("proj.a.send", {"to": 5}, args=[1], queue="celery")' in calls  # `to` twice: an error, as in Celery


def test_kept_app_module_loses_the_routing_hook_and_settings_the_project_reads_stay(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/celery.py": """
        import os

        from celery import Celery

        app = Celery("proj")
        app.conf.beat_schedule = {"tick": {"task": "proj.tasks.tick", "schedule": float(os.environ.get("T", "60"))}}


        @app.task(name="proj.tasks.tick")
        def tick():
            return 1
    """,
            "proj/settings.py": """
        CELERY_ENABLED = True
        CELERY_BROKER_URL = "redis://localhost:6379/0"
        CELERY_TIMEZONE = "UTC"
        USE_CELERY = CELERY_ENABLED
        if not CELERY_BROKER_URL:
            raise RuntimeError("no broker")
    """,
        },
    )
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []  # the window
    assert "_saqmigrate_routing.install(app)" in (root / "proj/celery.py").read_text()
    result = finalize(root)
    app = (root / "proj/celery.py").read_text()
    assert "_saqmigrate_routing" not in app  # its module is deleted: the hook goes with it
    settings = (root / "proj/settings.py").read_text()
    assert "CELERY_TIMEZONE" in settings  # a beat entry stays on Celery (SM806): Celery keeps its settings
    assert any(b.code == "SM806" for b in result.blockers)  # the dynamic beat entry keeps the app
    for rel in ("proj/celery.py", "proj/settings.py"):
        compile((root / rel).read_text(), rel, "exec")


def test_an_app_still_used_by_code_finalize_leaves_is_kept(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/celery.py": """
        from celery import Celery

        app = Celery("proj")
    """,
            "proj/a.py": TASKS,
            "proj/views.py": """
        from proj.celery import app


        def status():
            return app.conf.broker_url
    """,
        },
    )
    finalize(root)
    assert (root / "proj/celery.py").exists() and "app = Celery" in (root / "proj/celery.py").read_text()
    assert "from proj.celery import app" in (root / "proj/views.py").read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821", "proj"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_a_pep263_file_is_reported_not_fatal(tmp_path):
    root = project(tmp_path, {"proj/a.py": TASKS})
    (root / "proj/legacy.py").write_bytes(
        "# -*- coding: latin-1 -*-\nfrom proj.a import send\n\n\ndef f():\n    send.delay('caf\xe9', 1)\n".encode(
            "latin-1"
        )
    )
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert any(
        b.file == "proj/legacy.py" and b.code == "SM803" and "iso-8859-1 encoding" in b.message for b in result.blockers
    )


@pytest.mark.parametrize("serializer", ["pickle"])
def test_a_non_json_serializer_task_is_not_converted(tmp_path, serializer):
    root = project(
        tmp_path,
        {
            "proj/a.py": f"""
        from celery import shared_task


        @shared_task(serializer="{serializer}")
        def export(project):
            return project
    """
        },
    )
    result = compute_finalize(root, Config())
    assert any(b.code == "SM804" and "serializer" in b.message for b in result.blockers)


def test_canvases_of_known_tasks_become_runtime_chains_groups_and_enqueues(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "proj/flows.py": """
        from celery import chain, chord, group

        from proj.a import send, star


        def run(xs):
            chain(send.si(1, 2), send.s(3)).apply_async()
            job = group(send.s(x, 0) for x in xs)
            job.delay()
            (send.s(1, 1) | send.s(2)).delay()
            send.s(7, 7).delay()
            chord([send.s(1, 1)])(star.s())


        async def arun():
            return chain(send.si(1, 2), send.s(3)).apply_async().id
    """,
        },
    )
    result = finalize(root)
    flows = (root / "proj/flows.py").read_text()
    assert "from saqmigrate.runtime.jobs import chain, group" in flows and "from celery import chord" in flows
    assert 'chain(send.step(to=1, body=2), send.step(body=3).taking_result("to")).enqueue()' in flows
    assert "job = group(send.step(to=x, body=0) for x in xs)" in flows and "job.enqueue()" in flows
    assert 'chain(send.step(to=1, body=1), send.step(body=2).taking_result("to")).enqueue()' in flows
    assert "send.enqueue(to=7, body=7)" in flows
    assert '(await chain(send.step(to=1, body=2), send.step(body=3).taking_result("to")).aenqueue()).id' in flows
    assert [b.code for b in result.blockers if b.file == "proj/flows.py"] and all(
        b.code == "SM801" and b.line == 12 for b in result.blockers if b.file == "proj/flows.py"
    )  # the chord only


def test_celery_settings_go_unless_the_project_still_reads_them(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "proj/celery.py": """
        from celery import Celery

        app = Celery("proj")
        app.config_from_object("proj.settings", namespace="CELERY")
    """,
            "proj/settings.py": """
        CELERY_ENABLED = True
        CELERY_BROKER_URL = "redis://localhost:6379/0"
        CELERY_TIMEZONE = "UTC"
        USE_CELERY = CELERY_ENABLED
        if not CELERY_BROKER_URL:
            raise RuntimeError("no broker")
    """,
        },
    )
    result = finalize(root)
    assert not [b for b in result.blockers if b.code in ("SM804", "SM806")]
    settings = (root / "proj/settings.py").read_text()
    assert "CELERY_ENABLED = True" in settings  # the project's own flag
    assert 'CELERY_BROKER_URL = "redis://localhost:6379/0"' in settings  # Celery's, but read below: kept
    assert "CELERY_TIMEZONE" not in settings  # Celery's and read nowhere: gone
    compile(settings, "settings.py", "exec")


def test_tasks_left_on_celery_keep_the_app_settings_and_are_not_in_the_worker_settings(tmp_path):
    root = project(
        tmp_path,
        {
            "proj/celery.py": """
        from celery import Celery

        app = Celery("proj")
        app.config_from_object("proj.settings", namespace="CELERY")
    """,
            "proj/settings.py": """
        CELERY_TIMEZONE = "UTC"
    """,
            "proj/a.py": """
        from celery import shared_task


        @shared_task(serializer="pickle")
        def export(project):
            return project


        @shared_task
        def ping():
            return "pong"
    """,
        },
    )
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    finalize(root)
    assert "app = Celery" in (root / "proj/celery.py").read_text()  # export still runs on Celery
    assert "CELERY_TIMEZONE" in (root / "proj/settings.py").read_text()
    worker = (root / "proj/saq_worker/queue_celery.py").read_text()
    assert "ping.saq" in worker and "export" not in worker  # only what finalize converted
    assert compute_finalize(root, Config()).changes == []  # and a second run changes nothing


def test_the_project_s_test_habits_found_by_running_pretalx_s_suite(tmp_path):
    """From the issue-17 acceptance on pretalx: an eager switch the project reads elsewhere stays as it is
    (eager mode honours Celery's name), a test mocking `.apply_async` keeps intercepting (the mocked method
    keeps its name at its call sites: test_mocked_dispatch.py), and `task.apply()`,
    `task.MaxRetriesExceededError` and `patch.object(task, "retry")` keep working on a finalized task."""
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "proj/settings.py": """
        import os

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        CELERY_TASK_ALWAYS_EAGER = True
    """,
            "proj/checks.py": """
        from django.conf import settings


        def eager():
            return settings.CELERY_TASK_ALWAYS_EAGER
    """,
            "proj/test_calls.py": """
        from unittest.mock import patch

        from proj.a import send


        def test_it():
            with patch.object(send, "apply_async") as m:
                send.apply_async((1, 2))
            assert m.called
    """,
        },
    )
    result = finalize(root)
    assert "CELERY_TASK_ALWAYS_EAGER = True" in (root / "proj/settings.py").read_text()
    assert not any(b.code == "SM807" for b in result.blockers)
    assert "send.apply_async((1, 2))" in (root / "proj/test_calls.py").read_text()


def test_a_finalized_task_keeps_what_tests_use_of_the_task_object():
    from unittest.mock import patch

    from saqmigrate.runtime.jobs import saq_job
    from saqmigrate.runtime.task import TaskOptions

    @saq_job("tattack.flaky", TaskOptions(retries=3, max_retries=2), queue="tattack", bind=True)
    def flaky(self, n):
        try:
            raise OSError(n)
        except OSError as exc:
            raise self.retry(exc=exc)  # noqa: B904 - Celery's idiom

    assert issubclass(flaky.MaxRetriesExceededError, Exception)
    with patch.object(flaky, "retry", side_effect=ValueError("patched")) as m:  # self.retry is the task's
        with pytest.raises(ValueError, match="patched"):
            flaky(1)
    assert m.called
    res = flaky.apply(args=(1,))  # Celery's .apply(): inline, through the worker's code path
    assert res.state == "FAILURE" and isinstance(res.result, OSError)


def test_eager_mode_honours_celery_s_switch_names_in_django_settings():
    code = """
import django
from django.conf import settings
settings.configure(CELERY_TASK_ALWAYS_EAGER=True, CELERY_TASK_EAGER_PROPAGATES=False)
django.setup()
from saqmigrate.runtime import testing
a = (testing.eager_enabled(), testing.eager_propagates())
settings.CELERY_TASK_ALWAYS_EAGER = False  # what pytest-django's `settings` fixture does in a test
settings.SAQMIGRATE_EAGER_PROPAGATES = True  # saqmigrate's own name wins
print(a, (testing.eager_enabled(), testing.eager_propagates()))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "(True, False) (False, True)"


def test_a_test_file_that_only_mocks_a_dispatch_method_is_read(tmp_path):
    """From pretalx's suite: the mock is in a file finalize has no other reason to read (helper repro). A mock of
    a task's apply_async keeps intercepting (its call sites keep the name); a mock of send_task is reported."""
    root = project(
        tmp_path,
        {
            "proj/a.py": TASKS,
            "tests/test_send.py": """
        from unittest.mock import patch

        from proj import a


        def test_go():
            with patch.object(a.send, "apply_async") as m:
                a.send.apply_async((1, 2))
            m.assert_called_once()


        def test_named():
            with patch("proj.celery.app.send_task") as m:
                pass
    """,
        },
    )
    result = compute_finalize(root, Config())
    sm807 = [b for b in result.blockers if b.code == "SM807"]
    assert [(b.file, b.line) for b in sm807] == [("tests/test_send.py", 13)]
