"""Eager-mode tests: a small Celery project (eagerproj/) copied to a temp folder and migrated with the
real ``saqmigrate rewrite --write``, so the SAQ twins under test are exactly what rewrite generates.

The plugin is loaded the way a project loads it without the entry point: its fixtures imported here
(``pytest_plugins`` is refused by pytest outside the rootdir conftest).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.runtime.pytest_plugin import (  # noqa: F401 - fixtures
    saq_eager,
    saq_eager_propagates,
    saq_redis_url,
    saq_worker,
    saq_worker_settings,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def eagerproj(tmp_path_factory):
    """The migrated project on sys.path: ``eagerproj.tasks`` (Celery), ``eagerproj.tasks_saq`` (twins),
    ``saq_worker.registry`` / ``saq_worker.queue_celery`` (generated)."""
    root = tmp_path_factory.mktemp("eagerproj")
    shutil.copytree(HERE / "eagerproj", root / "eagerproj", ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run(
        [sys.executable, "-m", "saqmigrate", "rewrite", ".", "--write"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (root / "eagerproj" / "tasks_saq.py").is_file(), out.stdout + out.stderr
    for name in [m for m in sys.modules if m.split(".")[0] in ("eagerproj", "saq_worker")]:
        del sys.modules[name]  # another generated project's saq_worker imported in this process
    sys.path.insert(0, str(root))
    import eagerproj.tasks_saq  # noqa: F401
    from eagerproj import tasks

    yield tasks
    sys.path.remove(str(root))


@pytest.fixture
def celery_eager_app(eagerproj):
    """A Celery app, current, with Celery's eager mode on (propagation set by the test)."""
    from celery import Celery
    from celery._state import _set_current_app, get_current_app

    previous = get_current_app()
    app = Celery("eagerproj-tests", set_as_current=True)
    app.conf.update(task_always_eager=True, task_eager_propagates=False, result_backend=None)
    yield app
    _set_current_app(previous)
