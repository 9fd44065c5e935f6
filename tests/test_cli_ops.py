"""Operations live in saqmigrate/ops (a public API), the route command only parses options and prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import saqmigrate
from saqmigrate.errors import SaqmigrateError
from saqmigrate.markers import GENERATED
from saqmigrate.ops.registry import find_registry, load_registry

PKG = Path(saqmigrate.__file__).resolve().parent


def _registry(root: Path, rel: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"{GENERATED}\nTASKS = {{}}\nSCHEDULES = {{}}\n", encoding="utf-8")


def test_find_registry_package_and_src_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    _registry(tmp_path / "flat", "shop/saq_worker/registry.py")
    assert find_registry(tmp_path / "flat") == "shop.saq_worker.registry"
    assert str(tmp_path / "flat") in sys.path
    _registry(tmp_path / "src_layout", "src/shop/saq_worker/registry.py")
    assert find_registry(tmp_path / "src_layout") == "shop.saq_worker.registry"
    assert str(tmp_path / "src_layout" / "src") in sys.path


def test_find_registry_needs_exactly_one_generated_file(tmp_path: Path):
    (tmp_path / "shop/saq_worker").mkdir(parents=True)
    (tmp_path / "shop/saq_worker/registry.py").write_text("TASKS = {}\n", encoding="utf-8")  # not generated
    assert find_registry(tmp_path) is None
    _registry(tmp_path, "a/saq_worker/registry.py")
    _registry(tmp_path, "b/saq_worker/registry.py")
    assert find_registry(tmp_path) is None


def test_load_registry_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    (tmp_path / "broken_registry_mod.py").write_text("raise RuntimeError('settings missing')\n", encoding="utf-8")
    with pytest.raises(SaqmigrateError, match="broken_registry_mod.*RuntimeError: settings missing"):
        load_registry("broken_registry_mod")
    with pytest.raises(SaqmigrateError):
        load_registry("no_such_module_for_saqmigrate_test")


def test_route_command_reads_no_broker_or_saq_itself():
    """Broker keys, kombu payloads, SAQ queue info and the registry glob are in ops/ and runtime/drain.py."""
    text = (PKG / "cli" / "commands" / "route.py").read_text(encoding="utf-8")
    for needle in ("scan_iter", "lrange", "hvals", "iter_jobs", ".info()", ".glob(", "make_queue", "asyncio"):
        assert needle not in text, f"route.py still does {needle!r}: move it to saqmigrate/ops"
    drain = (PKG / "ops" / "drain.py").read_text(encoding="utf-8")
    assert "celery_waiting" in drain and "lrange" not in drain, "ops/drain.py must reuse runtime/drain.py's reading"


def test_route_set_says_which_matched_tasks_stay_on_celery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A rule that cannot move a task (options SAQ cannot honour pin it to Celery) is never silent: `route set`
    warns with the tasks and their options (attack 17 #6: a global soft time limit pinned every task)."""
    from saqmigrate.ops.routes import pinned_warnings

    (tmp_path / "pinned_registry_mod.py").write_text(
        "TASKS = {\n"
        '    "shop.tasks.a": {"saq_function": "shop.tasks.a", "queue": "default", "params": [],'
        ' "unsupported": ["soft_time_limit"]},\n'
        '    "shop.tasks.b": {"saq_function": "shop.tasks.b", "queue": "default", "params": []},\n'
        "}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry("pinned_registry_mod")
    (line,) = pinned_warnings(registry, "shop.tasks.*")
    assert "1 of 2 task(s)" in line and "shop.tasks.a (soft_time_limit)" in line and "shop.tasks.b" not in line
    assert pinned_warnings(registry, "shop.tasks.b") == []
    assert pinned_warnings(None, "*") == []


def test_route_set_says_which_matched_tasks_stay_on_celery_where_a_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A task whose options came from an environment variable's default (SM116) stays on Celery in any
    process that sets it, whatever the rule: `route set` says so, whatever the operator's own shell holds."""
    from saqmigrate.ops.routes import pinned_warnings

    (tmp_path / "env_registry_mod.py").write_text(
        "TASKS = {\n"
        '    "shop.tasks.mail": {"saq_function": "shop.tasks.mail", "queue": "mail", "params": [],'
        ' "assumes_unset": ["MAIL_QUEUE"]},\n'
        '    "shop.tasks.b": {"saq_function": "shop.tasks.b", "queue": "default", "params": []},\n'
        "}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("MAIL_QUEUE", raising=False)
    registry = load_registry("env_registry_mod")
    (line,) = pinned_warnings(registry, "shop.tasks.*")
    assert "1 of 2 task(s)" in line and "shop.tasks.mail ($MAIL_QUEUE)" in line and "SM116" in line
    assert pinned_warnings(registry, "shop.tasks.b") == []
