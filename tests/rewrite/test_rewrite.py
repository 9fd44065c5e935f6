"""rewrite on the bundled fixtures: golden output, idempotence, untouched code, atomic writes."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from saqmigrate.cli.main import cli
from saqmigrate.config import Config
from saqmigrate.rewrite import apply_changes, compute_changes

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = ["pydotorg", "hard", "flask_app", "retries"]


def copy_fixture(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(ROOT / "fixtures" / name, dest)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".saqmigrate_cache" not in p.parts
    }


@pytest.mark.parametrize("name", FIXTURES)
def test_golden_output(name: str, tmp_path: Path) -> None:
    root = copy_fixture(name, tmp_path)
    result = compute_changes(root, Config(), use_cache=False)
    got = {c.rel: c.new for c in result.changes}
    golden = GOLDEN / name
    if os.environ.get("SAQMIGRATE_REGEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for rel, text in got.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_text(text or "", encoding="utf-8")
    expected = {
        p.relative_to(golden).as_posix(): p.read_text(encoding="utf-8") for p in golden.rglob("*") if p.is_file()
    }
    assert sorted(got) == sorted(expected), "generated file set differs (SAQMIGRATE_REGEN=1 to regenerate, then review)"
    for rel in expected:
        assert got[rel] == expected[rel], f"{rel} differs from tests/rewrite/golden/{name}/{rel}"


@pytest.mark.parametrize("name", FIXTURES)
def test_second_run_is_a_no_op_and_other_code_is_byte_identical(name: str, tmp_path: Path) -> None:
    root = copy_fixture(name, tmp_path)
    before = snapshot(root)
    result = compute_changes(root, Config(), use_cache=False)
    assert apply_changes(root, result.changes) == []
    after = snapshot(root)
    changed = {rel for rel in before if before[rel] != after.get(rel)}
    app_files = {c.rel for c in result.changes if c.old is not None}
    assert changed == app_files  # only the Celery app module is edited in place
    for rel in app_files:  # ... and only by added lines
        old, new = before[rel].decode().splitlines(), after[rel].decode().splitlines()
        removed = [line for line in old if line not in new]
        assert all("Celery(" in line for line in removed), removed  # at most task_cls added to the app call
    for c in result.changes:  # every written Python file parses
        ast.parse((root / c.rel).read_text(encoding="utf-8"))
    again = compute_changes(root, Config(), use_cache=False)
    assert again.changes == [], [c.rel for c in again.changes]


def test_check_exit_codes_and_diff(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["rewrite", str(root), "--check"])
    assert r.exit_code == 1 and "would create: downloads/tasks_saq.py" in r.output
    r = runner.invoke(cli, ["rewrite", str(root), "--diff", "--no-color"])
    assert r.exit_code == 1 and "+++ b/downloads/tasks_saq.py" in r.output  # changes pending, like ruff --diff
    r = runner.invoke(cli, ["rewrite", str(root), "--diff", "--write"])
    assert r.exit_code == 2 and "exclude each other" in r.output
    assert not (root / "downloads" / "tasks_saq.py").exists()  # --diff writes nothing
    r = runner.invoke(cli, ["rewrite", str(root), "--write"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(cli, ["rewrite", str(root), "--check"]).exit_code == 0
    assert runner.invoke(cli, ["rewrite", str(root), "--diff"]).exit_code == 0  # nothing pending


def test_deleted_task_removes_its_twin_module(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    apply_changes(root, compute_changes(root, Config(), use_cache=False).changes)
    (root / "cms" / "tasks.py").write_text("# tasks moved away\n", encoding="utf-8")
    result = compute_changes(root, Config(), use_cache=False)
    kinds = {c.rel: c.kind for c in result.changes}
    assert kinds.get("cms/tasks_saq.py") == "delete"
    assert kinds.get("pydotorg/saq_worker/queue_celery.py") == "update"


def test_unparsable_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    broken = root / "cms" / "broken.py"
    broken.write_text("from celery import shared_task\n@shared_task\ndef f(:\n", encoding="utf-8")
    result = compute_changes(root, Config(), use_cache=False)
    assert any(e.startswith("cms/broken.py: syntax error") for e in result.errors)
    apply_changes(root, result.changes)
    assert broken.read_text(encoding="utf-8").endswith("def f(:\n")


def test_handwritten_file_at_a_generated_path_is_never_overwritten(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    mine = root / "cms" / "tasks_saq.py"
    mine.write_text("# my own module\n", encoding="utf-8")
    result = compute_changes(root, Config(), use_cache=False)
    assert "cms/tasks_saq.py" not in {c.rel for c in result.changes}
    assert any("cms/tasks_saq.py: exists and was not generated" in e for e in result.errors)


def test_unwritable_path_is_one_line_error(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    result = compute_changes(root, Config(), use_cache=False)
    (root / "cms" / "tasks_saq.py").mkdir()  # a directory where a file must go
    errors = apply_changes(root, result.changes)
    assert len(errors) == 1 and errors[0].startswith("cms/tasks_saq.py: cannot write")
    assert not (root / "downloads" / "tasks_saq.py").exists()  # all or nothing: the rest is not written


def test_native_mode_ports_safe_bodies_only(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    result = compute_changes(root, Config(), mode="native", use_cache=False)
    files = {c.rel: c.new for c in result.changes}
    # every pydotorg body reaches blocking code through the project's helpers (core.effects.record appends
    # to a file under a threading.Lock): all keep the bridge, each with the chain to the first blocking call
    jobs, events = files["jobs/tasks_saq.py"], files["events/tasks_saq.py"]
    assert "native port of" not in jobs and "native port of" not in events and "run_sync(" in events
    messages = " ".join(result.messages)
    assert "SM113 jobs.tasks.expire_jobs" in messages and "jobs.tasks.expire_jobs → core.effects.record" in messages
    assert "events.tasks.import_events → events.helpers.import_calendar → events.helpers.fetch_ics → open()" in messages
    assert "SM113 blogs.tasks.update_blog_feeds" in messages and "blogs.helpers.fetch_feed → open()" in messages
    assert any(m.startswith("SM113 jobs.tasks.send_job_email") for m in result.messages)
    for c in result.changes:
        if c.new:
            ast.parse(c.new)


def test_only_adds_tasks_without_unregistering_earlier_ones(tmp_path: Path) -> None:
    root = copy_fixture("pydotorg", tmp_path)
    apply_changes(root, compute_changes(root, Config(), only="downloads/*", use_cache=False).changes)
    settings = (root / "pydotorg/saq_worker/queue_celery.py").read_text()
    assert "downloads.tasks.update_download_boxes" in settings and "events.tasks.import_events" not in settings
    apply_changes(root, compute_changes(root, Config(), only="events/*", use_cache=False).changes)
    settings = (root / "pydotorg/saq_worker/queue_celery.py").read_text()
    assert "downloads.tasks.update_download_boxes" in settings and "events.tasks.import_events" in settings
    assert not (root / "jobs/tasks_saq.py").exists()
