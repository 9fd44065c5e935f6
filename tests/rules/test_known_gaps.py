"""Regression tests for scanner gaps found while writing the rule examples (all fixed)."""

from __future__ import annotations

from pathlib import Path


from saqmigrate.config import Config
from saqmigrate.scan import run_scan


def _rules(root: Path, filename: str, source: str) -> list[str]:
    (root / filename).write_text(source, encoding="utf-8")
    index, _ = run_scan(root, Config(), use_cache=False)
    return [f.rule for f in index.findings]


def test_uppercase_celery_settings_file_is_scanned(tmp_path: Path):
    src = "from .settings import *  # noqa\n\nCELERY_TASK_ALWAYS_EAGER = True\n"
    assert "SM401" in _rules(tmp_path, "test_settings.py", src)


def test_enable_utc_false_with_explicit_timezone_is_not_flagged(tmp_path: Path):
    src = (
        'from celery import Celery\n\napp = Celery("proj")\napp.conf.enable_utc = False\n'
        'app.conf.timezone = "Europe/Berlin"\n'
    )
    assert "SM404" not in _rules(tmp_path, "tasks.py", src)


def test_two_class_based_tasks_do_not_collide(tmp_path: Path):
    src = (
        "from celery import Task\n\n\nclass Resize(Task):\n    name = 'media.resize'\n\n"
        "    def run(self, path):\n        return path\n\n\nclass Crop(Task):\n    name = 'media.crop'\n\n"
        "    def run(self, path):\n        return path\n"
    )
    assert "SM110" not in _rules(tmp_path, "tasks.py", src)


def test_canvas_delay_is_not_an_unresolved_dispatch(tmp_path: Path):
    src = (
        "from celery import chain, shared_task\n\n\n@shared_task\ndef a(x):\n    return x\n\n\n"
        "@shared_task\ndef b(x):\n    return x\n\n\ndef run(x):\n    return chain(a.s(x), b.s()).delay()\n"
    )
    rules = _rules(tmp_path, "tasks.py", src)
    assert "SM300" in rules and "SM302" not in rules
