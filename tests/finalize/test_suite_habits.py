"""Issue 17, stage 3: test habits attack 17 found on cookiecutter-django keep passing after finalize.

Our own Django project, modelled on the attack's trees (cookiecutter-django's shipped task test and its
additions), run with pytest before finalize (Celery's eager mode) and after ``finalize --force --write`` with
Celery not importable:

* #2 ``from celery.result import EagerResult`` + ``isinstance(task.delay(), EagerResult)`` (cookiecutter's
  ``test_user_count``) and ``from celery.exceptions import Retry``: the imports take the runtime's classes;
* #3 ``mock.patch("proj.callers.tasks")`` / ``patch.object(callers, "tasks")``, the module holding the task,
  imported as a module by the caller: ``tasks.notify.delay(...)`` keeps its spelling, so the mock's
  ``notify.delay`` assertions keep meaning something (``assert_not_called`` passed vacuously);
* #4 the test settings' ``CELERY_TASK_EAGER_PROPAGATES`` overridden by its name in a string
  (``monkeypatch.setattr(settings, "...")``, ``setattr``, ``override_settings(**{...})``, a dict splatted into
  ``override_settings``): the setting keeps Celery's name (eager mode honours it), where finalize renamed it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

HERE = Path(__file__).resolve().parent

FILES = {
    "proj/__init__.py": """
        from .celery import app as celery_app

        __all__ = ("celery_app",)
    """,
    "proj/celery.py": """
        import os

        from celery import Celery

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        app = Celery("proj")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.autodiscover_tasks()
    """,
    "proj/settings.py": """
        SECRET_KEY = "x"
        CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        CELERY_TASK_ALWAYS_EAGER = True
        CELERY_TASK_EAGER_PROPAGATES = True
    """,
    "proj/tasks.py": """
        from celery import shared_task

        CALLS = []


        @shared_task
        def count():
            return 3


        @shared_task
        def notify(user_id, flag=False):
            CALLS.append((user_id, flag))


        @shared_task
        def boom():
            raise ValueError("boom")


        @shared_task(bind=True, max_retries=2)
        def flaky(self):
            raise self.retry(exc=OSError("down"), countdown=5)
    """,
    "proj/callers.py": """
        from proj import tasks


        def go(uid):
            tasks.notify.delay(uid, flag=True)


        def later(uid):
            tasks.notify.apply_async((uid,), countdown=3)
    """,
    "proj/views.py": """
        from proj.tasks import notify


        def ping(uid):
            return notify.delay(uid)
    """,
    "conftest.py": """
        import django
        from django.conf import settings

        from proj import settings as project_settings

        settings.configure(**{k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()})
        django.setup()
        import proj  # noqa: E402,F401 - the Celery app, as Django's wsgi/manage.py import it
    """,
    "tests/__init__.py": "",
    "tests/test_habits.py": """
        import pytest
        from celery.exceptions import Retry
        from celery.result import EagerResult
        from django.conf import settings
        from django.test import override_settings
        from unittest import mock

        from proj import callers, tasks, views


        def test_user_count():
            task_result = tasks.count.delay()
            assert isinstance(task_result, EagerResult)
            assert task_result.result == 3


        def test_retry_propagates():
            with pytest.raises(Retry):
                tasks.flaky.delay()


        def test_view_dispatches_for_real():
            tasks.CALLS.clear()
            views.ping(4)
            assert tasks.CALLS == [(4, False)]


        def test_module_mock_intercepts():
            with mock.patch("proj.callers.tasks") as m:
                callers.go(7)
                callers.later(7)
            m.notify.delay.assert_called_once_with(7, flag=True)
            m.notify.apply_async.assert_called_once_with((7,), countdown=3)


        def test_module_mock_by_object():
            with mock.patch.object(callers, "tasks") as m:
                callers.go(8)
            assert m.notify.delay.called


        def test_propagation_off_by_monkeypatch(monkeypatch):
            monkeypatch.setattr(settings, "CELERY_TASK_EAGER_PROPAGATES", False)
            assert tasks.boom.delay().failed()


        def test_propagation_off_by_setattr():
            old = settings.CELERY_TASK_EAGER_PROPAGATES
            setattr(settings, "CELERY_TASK_EAGER_PROPAGATES", False)
            try:
                assert tasks.boom.delay().failed()
            finally:
                settings.CELERY_TASK_EAGER_PROPAGATES = old


        @override_settings(**{"CELERY_TASK_EAGER_PROPAGATES": False})
        def test_propagation_off_by_override_dict():
            assert tasks.boom.delay().failed()


        def test_propagation_off_by_splat():
            opts = {"CELERY_TASK_EAGER_PROPAGATES": False}
            with override_settings(**opts):
                assert tasks.boom.delay().failed()


        def test_propagation_on():
            with pytest.raises(ValueError):
                tasks.boom.delay()
    """,
}

BLOCKED = (
    "import importlib.abc, sys\n"
    "class B(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('celery', 'kombu', 'billiard'):\n"
    "            raise ModuleNotFoundError(name)\n"
    "sys.meta_path.insert(0, B())\n"
)
RUN = "import pytest, sys\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_habits.py']))\n"
N_TESTS = 10


def _pytest(root: Path, *, celery: bool) -> str:
    code = (BLOCKED if not celery else "") + RUN
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{root}:{HERE.parents[1]}",
            "PYTEST_ADDOPTS": "-p no:django -p no:xdist",
        },
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout


def test_the_suite_passes_before_and_after_finalize_without_celery(tmp_path: Path) -> None:
    root = tmp_path / "p"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert f"{N_TESTS} passed" in _pytest(root, celery=True)  # stage 1: Celery's eager mode
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert [b.text() for b in result.blockers] == []
    assert apply_changes(root, result.changes) == []
    assert not (root / "proj/celery.py").exists()
    callers = (root / "proj/callers.py").read_text()
    assert "tasks.notify.delay(uid, flag=True)" in callers  # #3: reached through the mocked module
    assert "tasks.notify.apply_async((uid,), countdown=3)" in callers
    assert "notify.enqueue(user_id=uid)" in (root / "proj/views.py").read_text()  # not mocked: converted
    settings = (root / "proj/settings.py").read_text()
    assert "CELERY_TASK_EAGER_PROPAGATES = True" in settings  # #4: the tests override it by name
    assert "SAQMIGRATE_EAGER = True" in settings  # nobody names CELERY_TASK_ALWAYS_EAGER elsewhere
    test = (root / "tests/test_habits.py").read_text()
    assert "from saqmigrate.runtime.testing import EagerSaqResult as EagerResult" in test  # #2
    assert "from saqmigrate.runtime.task import Retry" in test
    assert "celery" not in test.replace("CELERY_", "")
    assert f"{N_TESTS} passed" in _pytest(root, celery=False)  # stage 3: Celery gone
    again = compute_finalize(root, Config())
    assert again.changes == [] and again.blockers == []


def test_the_splatted_dict_alone_keeps_the_name(tmp_path: Path) -> None:
    """The name only in a dict literal splatted elsewhere (``self.settings(**OPTS)``) is a use too."""
    root = tmp_path / "p"
    files = {k: v for k, v in FILES.items() if not k.startswith("tests/")}
    files["tests/__init__.py"] = ""
    files["tests/opts.py"] = 'OPTS = {"CELERY_TASK_EAGER_PROPAGATES": False}\n'
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == [] and apply_changes(root, result.changes) == []
    settings = (root / "proj/settings.py").read_text()
    assert "CELERY_TASK_EAGER_PROPAGATES = True" in settings and "SAQMIGRATE_EAGER = True" in settings


def _celery_django_project(tmp_path: Path, settings: str) -> Path:
    root = tmp_path / "p"
    files = {k: v for k, v in FILES.items() if not k.startswith("tests/") and k != "proj/settings.py"}
    files["proj/settings.py"] = settings
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    return root


def test_a_database_beat_scheduler_is_reported_and_kept(tmp_path: Path) -> None:
    """cookiecutter-django (attack 17 #5): ``CELERY_BEAT_SCHEDULER = DatabaseScheduler`` was deleted with no
    finding (every PeriodicTask row an admin made stops), ``django_celery_beat`` stayed in THIRD_PARTY_APPS."""
    root = _celery_django_project(
        tmp_path,
        """
        SECRET_KEY = "x"
        DJANGO_APPS = ["django.contrib.contenttypes"]
        THIRD_PARTY_APPS = [
            "django_celery_beat",
            "rest_framework",
        ]
        INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS
        CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
    """,
    )
    result = compute_finalize(root, Config())
    sm806 = [b for b in result.blockers if b.code == "SM806"]
    assert [(b.file, b.line) for b in sm806] == [("proj/settings.py", 9)] and "PeriodicTask" in sm806[0].message
    # the rest is what keeping Celery for beat means: its app module still imports Celery
    assert {b.code for b in result.blockers} == {"SM806", "SM803"}
    assert apply_changes(root, result.changes) == []
    settings = (root / "proj/settings.py").read_text()  # beat stays on Celery: its scheduler and app stay
    assert "CELERY_BEAT_SCHEDULER" in settings and '"django_celery_beat",' in settings


def test_celery_s_django_apps_leave_every_apps_list(tmp_path: Path) -> None:
    root = _celery_django_project(
        tmp_path,
        """
        SECRET_KEY = "x"
        THIRD_PARTY_APPS = [
            "django_celery_beat",
            "rest_framework",
        ]
        LOCAL_APPS = ("proj",)
        LOCAL_APPS += ("django_celery_results",)
        INSTALLED_APPS = THIRD_PARTY_APPS + list(LOCAL_APPS) + ["django_celery_results"][:0]
        CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    """,
    )
    result = compute_finalize(root, Config())
    assert apply_changes(root, result.changes) == []
    settings = (root / "proj/settings.py").read_text()
    assert 'THIRD_PARTY_APPS = [\n    "rest_framework",\n]' in settings
    assert "LOCAL_APPS +=" not in settings
    # an apps list finalize cannot edit is reported, not left silently
    assert [(b.code, b.file) for b in result.blockers] == [("SM803", "proj/settings.py")]
    assert "still lists django_celery_results" in result.blockers[0].message


def test_a_setting_read_only_by_a_setting_finalize_removes_goes_in_one_run(tmp_path: Path) -> None:
    """cookiecutter-django's base.py (attack 17 #9): the second run removed what the first kept."""
    root = _celery_django_project(
        tmp_path,
        """
        import ssl

        SECRET_KEY = "x"
        REDIS_SSL = False
        CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_NONE} if REDIS_SSL else None
        CELERY_REDIS_BACKEND_USE_SSL = CELERY_BROKER_USE_SSL
    """,
    )
    result = compute_finalize(root, Config())
    assert result.errors == [] and result.blockers == []
    assert apply_changes(root, result.changes) == []
    assert (root / "proj/settings.py").read_text() == 'SECRET_KEY = "x"\nREDIS_SSL = False\n'
    again = compute_finalize(root, Config())
    assert again.changes == [] and again.blockers == []


def test_a_celery_import_left_is_reported_beside_another_finding(tmp_path: Path) -> None:
    """attack 17 #10: the file had an SM802 (``link=``), so its unconverted ``from celery import ...`` went
    unmentioned and the file failed to import once Celery left."""
    root = _celery_django_project(tmp_path, FILES["proj/settings.py"])
    (root / "tests").mkdir()
    (root / "tests/test_link.py").write_text(
        textwrap.dedent("""
        from celery.exceptions import SoftTimeLimitExceeded

        from proj.tasks import count


        def test_link():
            assert SoftTimeLimitExceeded
            count.apply_async(link=count.s())
    """).lstrip()
    )
    result = compute_finalize(root, Config())
    found = {(b.code, b.file) for b in result.blockers}
    assert ("SM802", "tests/test_link.py") in found and ("SM803", "tests/test_link.py") in found
    assert any(
        "still imports Celery (from celery.exceptions import SoftTimeLimitExceeded)" in b.message
        for b in result.blockers
    )


def test_a_second_run_still_knows_the_project_is_django(tmp_path: Path) -> None:
    """attack 17 #11: once the Celery app (the scan's Django signal) was gone, a second run called the test
    settings "outside Django settings" (SM807) and kept Celery in the requirements."""
    root = _celery_django_project(
        tmp_path,
        """
        SECRET_KEY = "x"
        CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        CELERY_TASK_ALWAYS_EAGER = True
    """,
    )
    (root / "conftest.py").unlink()  # (it imports django: a signal cookiecutter's suite does not give)
    (root / "manage.py").write_text(  # as cookiecutter-django's: in main()
        'import os\n\n\ndef main():\n    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")\n'
    )
    (root / "tests").mkdir()
    (root / "tests/test_flip.py").write_text(
        "def test_flip(settings):\n    settings.CELERY_TASK_ALWAYS_EAGER = False\n"
    )
    (root / "requirements.txt").write_text("celery==5.4.0\ndjango\n")
    first = compute_finalize(root, Config())
    assert first.errors == [] and first.blockers == [] and apply_changes(root, first.changes) == []
    assert not (root / "proj/celery.py").exists()
    assert "CELERY_TASK_ALWAYS_EAGER = True" in (root / "proj/settings.py").read_text()  # the test sets it
    assert (root / "requirements.txt").read_text() == "django\nsaqmigrate\n"
    again = compute_finalize(root, Config())
    assert [b.text() for b in again.blockers] == [] and again.changes == []
