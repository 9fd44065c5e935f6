"""``django.conf.settings.X`` is plain data only when no settings module of the project assigns X from
code (a lazy object's ``__str__`` may query). The settings modules are found by name (``settings.py``, a
``settings`` package), from ``DJANGO_SETTINGS_MODULE`` as the project sets it (``manage.py``, a Celery
module, ``pytest.ini``), and through the star imports those make (``from .common import *``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saqmigrate.transform.blocking import Prover

from tests.scan.helpers import write_tree

TASKS = """from celery import shared_task
from django.conf import settings


@shared_task
def lazy_setting():
    return str(settings.SITE_URL)


@shared_task
def plain_setting():
    return settings.PAGE_SIZE
"""
COMMON = """from django.urls import reverse_lazy

PAGE_SIZE = 20
SITE_URL = reverse_lazy("home")
"""
DECLARATIONS = {
    "manage.py": 'import os\n\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.conf.production")\n',
    "proj/celery.py": 'import os\n\nos.environ["DJANGO_SETTINGS_MODULE"] = "proj.conf.production"\n',
    "pytest.ini": "[pytest]\nDJANGO_SETTINGS_MODULE = proj.conf.production\n",
}


def _project(root: Path, declared_in: str | None) -> Prover:
    files = {
        "proj/__init__.py": "",
        "proj/tasks.py": TASKS,
        "proj/conf/__init__.py": "",
        "proj/conf/common.py": COMMON,
        "proj/conf/production.py": "from .common import *  # noqa: F403\n\nDEBUG = False\n",
    }
    if declared_in is not None:
        files[declared_in] = DECLARATIONS[declared_in]
    write_tree(root, files)
    return Prover(root)


@pytest.mark.parametrize("declared_in", sorted(DECLARATIONS))
def test_a_lazy_setting_in_the_declared_settings_chain_is_not_ported(tmp_path: Path, declared_in: str) -> None:
    prover = _project(tmp_path, declared_in)
    plan = prover.plan_task("proj.tasks", "lazy_setting", bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert "settings.SITE_URL = reverse_lazy('home') in proj/conf/common.py" in plan.reason(), plan.reason()
    assert prover.plan_task("proj.tasks", "plain_setting", bind=False).verdict == "ported"


def test_without_a_declaration_the_conf_package_is_not_read_as_settings(tmp_path: Path) -> None:
    """The control: nothing names proj.conf.production, so the prover has no settings module to read (the
    test above fails without the declared-settings lookup)."""
    plan = _project(tmp_path, None).plan_task("proj.tasks", "lazy_setting", bind=False)
    assert "proj/conf/common.py" not in plan.reason()
