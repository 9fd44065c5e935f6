"""Module names as Celery sees them: the outermost package folder starts the name, except that the folder
holding Django's ``manage.py`` (and any folder above it) is where the project runs from, so it is not a
package even with an ``__init__.py`` (Kanomble/celery_blast: ``celery_blast/__init__.py`` beside
``celery_blast/manage.py``; a sixth attack found every task named ``celery_blast.blast_project.tasks.X``
where Celery says ``blast_project.tasks.X``)."""

from __future__ import annotations

import pytest

from saqmigrate.discover import module_name, package_dirs

from tests.scan.helpers import scan, tasks_by_name, write_tree

MANAGE = """
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""
TASKS = """
from celery import shared_task


@shared_task
def add(a, b):
    return a + b
"""


@pytest.mark.parametrize(
    ("manage", "expected"),
    [
        (MANAGE, "proj.tasks.add"),  # Django's manage.py: its folder is on sys.path
        ("print('not Django')\n", "site.proj.tasks.add"),  # the control: a file that happens to be named so
        (None, "site.proj.tasks.add"),
    ],
    ids=["django-manage", "other-manage", "no-manage"],
)
def test_the_folder_of_manage_py_is_not_a_package(tmp_path, manage, expected):
    files = {
        "site/__init__.py": "",
        "site/proj/__init__.py": "",
        "site/proj/settings.py": "SECRET_KEY = 'x'\n",
        "site/proj/tasks.py": TASKS,
    }
    if manage is not None:
        files["site/manage.py"] = manage
    root = write_tree(tmp_path, files)
    assert sorted(tasks_by_name(scan(root))) == [expected]


def test_package_dirs_drops_the_manage_folder_and_its_ancestors(tmp_path):
    files = ["__init__.py", "a/__init__.py", "a/b/__init__.py", "a/b/manage.py", "a/b/c/__init__.py", "a/b/c/m.py"]
    write_tree(tmp_path, {f: (MANAGE if f.endswith("manage.py") else "") for f in files})
    dirs = package_dirs(tmp_path, files)
    assert dirs == {"a/b/c"}
    assert module_name("a/b/c/m.py", dirs) == "c.m"
