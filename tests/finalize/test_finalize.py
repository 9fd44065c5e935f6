"""saqmigrate finalize on our fixtures: golden end states, idempotence, code that compiles and is lint-clean,
what it refuses, and the rule examples of SM80x (kind = "finalize") run through it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from saqmigrate import rules as rulebook
from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = ["pydotorg", "django_shop", "flask_app", "retries", "check_midmigration"]


def migrated(tmp_path: Path, name: str) -> Path:
    """The fixture as it is during the window: rewrite --write applied."""
    root = tmp_path / name
    shutil.copytree(ROOT / "fixtures" / name, root, ignore=shutil.ignore_patterns(".saqmigrate_cache", "__pycache__"))
    if name == "check_midmigration":
        return root  # already mid-migration: its generated code is checked in
    result = compute_changes(root, Config(), use_cache=False)
    assert apply_changes(root, result.changes) == []
    return root


def finalized(root: Path) -> None:
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert apply_changes(root, result.changes) == []


@pytest.mark.parametrize("name", FIXTURES)
def test_finalize_matches_golden_tree(tmp_path: Path, name: str) -> None:
    """The end state, file by file (created/updated files' text; deleted files listed in DELETED)."""
    root = migrated(tmp_path, name)
    result = compute_finalize(root, Config())
    assert result.errors == []
    got = {c.rel: c.new for c in result.changes}
    golden = GOLDEN / name
    if os.environ.get("SAQMIGRATE_REGEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for rel, text in got.items():
            if text is not None:
                (golden / rel).parent.mkdir(parents=True, exist_ok=True)
                (golden / rel).write_text(text, encoding="utf-8")
        golden.mkdir(parents=True, exist_ok=True)
        (golden / "DELETED").write_text("".join(f"{r}\n" for r, t in sorted(got.items()) if t is None))
        blockers = "".join(f"{b.text()}\n" for b in result.blockers)
        (golden / "BLOCKERS").write_text(blockers)
    want_deleted = (golden / "DELETED").read_text().split()
    assert sorted(r for r, t in got.items() if t is None) == sorted(want_deleted)
    for rel, text in got.items():
        if text is not None:
            assert text == (golden / rel).read_text(encoding="utf-8"), f"{name}/{rel} differs from the golden file"
    assert "".join(f"{b.text()}\n" for b in result.blockers) == (golden / "BLOCKERS").read_text()


@pytest.mark.parametrize("name", FIXTURES)
def test_finalize_is_idempotent_compiles_and_is_lint_clean(tmp_path: Path, name: str) -> None:
    root = migrated(tmp_path, name)
    first = compute_finalize(root, Config())
    blocked_files = {b.file for b in first.blockers}
    finalized(root)
    again = compute_finalize(root, Config())
    assert again.changes == [], [c.rel for c in again.changes]
    changed = [c.rel for c in first.changes if c.new is not None and c.rel.endswith(".py")]
    for rel in changed:
        compile((root / rel).read_text(encoding="utf-8"), rel, "exec")
    # no unused import, no undefined name in what finalize wrote (F401/F811/F821)
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F401,F811,F821,F841", *changed],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout
    # Celery is gone except where a finding says why
    for rel in (p.relative_to(root).as_posix() for p in root.rglob("*.py")):
        text = (root / rel).read_text(encoding="utf-8")
        if re.search(r"^\s*(import celery\b|from celery\b)", text, re.M):
            assert rel in blocked_files, f"{rel} still imports celery and no finding says why"


def test_pydotorg_end_state_is_what_a_maintainer_expects(tmp_path: Path) -> None:
    root = migrated(tmp_path, "pydotorg")
    finalized(root)
    tasks = (root / "events" / "tasks.py").read_text()
    assert "from celery" not in tasks and "@saq_job(" in tasks and "bind=True" in tasks
    assert "import_events.enqueue(calendar_id=calendar_id)" in tasks  # the positional argument, named
    assert (
        "transaction.on_commit(lambda: send_job_email.enqueue(job_id=job.pk))" in (root / "jobs/views.py").read_text()
    )
    views = (root / "downloads/views.py").read_text()
    assert 'send_job("downloads.tasks.update_download_boxes", queue="celery")' in views
    assert "pydotorg.celery" not in views
    assert not (root / "pydotorg/__init__.py").read_text().strip()  # the Celery app import and its __all__ went
    settings = (root / "pydotorg/settings/base.py").read_text()
    assert "CELERY_" not in settings and "crontab" not in settings
    assert not list(root.rglob("*_saq.py")) and not (root / "pydotorg/saq_worker/registry.py").exists()
    test_settings = (root / "pydotorg/settings/test.py").read_text()  # eager mode: the same switch, saqmigrate's
    assert "SAQMIGRATE_EAGER = True" in test_settings and "SAQMIGRATE_EAGER_PROPAGATES = True" in test_settings
    worker = (root / "pydotorg/saq_worker/queue_celery.py").read_text()
    assert "shared=False" in worker and "registry=" not in worker and "import_celery_app" not in worker


@pytest.mark.parametrize("name", ["pydotorg"])
def test_write_refuses_until_safe_and_force_says_what_it_skipped(tmp_path: Path, name: str) -> None:
    root = migrated(tmp_path, name)
    env = dict(os.environ, SAQMIGRATE_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens: routing unproven
    env.pop("CELERY_BROKER_URL", None)

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "saqmigrate", "finalize", str(root), *a],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    refused = run("--write")
    assert refused.returncode == 2, refused.stderr
    assert (
        "refused: the flag store" in refused.stderr
        and "refused: Celery's queues are not proven drained" in refused.stderr
    )
    assert (root / "events/tasks_saq.py").exists()  # nothing written
    diff = run("--diff")
    assert diff.returncode == 1 and "+++ b/events/tasks.py" in diff.stdout
    forced = run("--write", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "skipped (--force): the flag store" in forced.stderr
    assert not (root / "events/tasks_saq.py").exists()


FINALIZE_RULES = [r for r in rulebook.all_rules().values() if r.example_kind == "finalize"]


@pytest.mark.parametrize("rule", FINALIZE_RULES, ids=[r.code for r in FINALIZE_RULES])
def test_rule_example_before_is_reported_and_after_is_not(tmp_path: Path, rule) -> None:
    for which, source, expect in (("before", rule.before, True), ("after", rule.after, False)):
        root = tmp_path / which
        (root / "proj").mkdir(parents=True)
        (root / "proj" / "__init__.py").write_text("")
        (root / "proj" / "tasks.py").write_text(source)
        codes = {b.code for b in compute_finalize(root, Config()).blockers}
        assert (rule.code in codes) is expect, (which, codes)


def test_settled_days_is_read_from_the_window_table() -> None:
    from saqmigrate.finalize import settled_days

    assert settled_days(Config()) == 7
    cfg = Config()
    cfg.window = tomllib.loads("settled_days = 14")
    assert settled_days(cfg) == 14
    cfg.window = {"settled_days": "soon"}
    with pytest.raises(ValueError, match="settled_days"):
        settled_days(cfg)


def test_check_after_finalize_passes_and_reports_new_celery_usage(tmp_path: Path) -> None:
    from saqmigrate.check import run_checks

    root = migrated(tmp_path, "retries")
    finalized(root)
    report = run_checks(root, Config())
    assert report.passed, [(f.rule, f.message) for f in report.findings]
    assert {r.name: r.status for r in report.results}["finalized"] == "pass"
    (root / "newtasks.py").write_text("from celery import shared_task\n\n\n@shared_task\ndef again():\n    return 1\n")
    report = run_checks(root, Config())
    assert not report.passed
    assert [f.rule for f in report.findings if f.file == "newtasks.py"] == ["SM805"]


def test_requirements_lose_celery_and_the_window_extra(tmp_path: Path) -> None:
    root = migrated(tmp_path, "retries")
    (root / "requirements.txt").write_text(
        "celery[redis]==5.4.0  # the queue\ndjango-celery-beat>=2.5\nsaqmigrate[celery,cli]>=0.1\nrequests\n"
    )
    (root / "requirements").mkdir()
    (root / "requirements" / "base.txt").write_text("Celery>=5\nflower\nredis\n")
    finalized(root)
    assert (root / "requirements.txt").read_text() == "saqmigrate[cli]>=0.1\nrequests\n"
    assert (root / "requirements" / "base.txt").read_text() == "redis\nsaqmigrate\n"


def test_package_metadata_loses_celery_in_dependency_sections_only(tmp_path: Path) -> None:
    root = migrated(tmp_path, "retries")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = [\n  "celery[redis]>=5.4",\n  "saqmigrate[celery]>=0.1",\n'
        '  "requests",\n]\n\n[project.optional-dependencies]\nmonitor = [\n  "flower>=2",\n]\n\n'
        '[tool.poetry.dependencies]\ncelery = {version = "^5.4", extras = ["redis"]}\n\n'
        "[tool.other]\ncelery = true\n"
    )
    (root / "setup.py").write_text(
        "from setuptools import setup\n\nsetup(\n    install_requires=[\n"
        '        "celery>=5",\n        "django",\n    ],\n    extras_require={"x": ["celery", "y"]},\n)\n'
    )
    result = compute_finalize(root, Config())
    assert apply_changes(root, result.changes) == []
    assert (root / "pyproject.toml").read_text() == (
        '[project]\nname = "x"\ndependencies = [\n  "saqmigrate>=0.1",\n  "requests",\n]\n\n'
        "[project.optional-dependencies]\nmonitor = [\n]\n\n[tool.poetry.dependencies]\n\n[tool.other]\ncelery = true\n"
    )
    assert '"celery>=5"' not in (root / "setup.py").read_text() and '"django"' in (root / "setup.py").read_text()
    assert any(m.startswith("setup.py:") and "by hand" in m for m in result.messages)  # ["celery", "y"] on one line


def test_requirements_continuations_compiled_files_and_in_files(tmp_path: Path) -> None:
    root = migrated(tmp_path, "retries")
    (root / "requirements.in").write_text("celery[redis]>=5.4\ncelery-redbeat\nrequests\n")
    compiled = (
        "celery[redis]==5.4.0 \\\\\n    --hash=sha256:aaaa\n    # via -r requirements.in\n"
        "requests==2.32.0 \\\\\n    --hash=sha256:bbbb\n"
    )
    (root / "requirements.txt").write_text(compiled)
    (root / "requirements-dev.txt").write_text(
        'pytest\npytest-celery==1.0 ; python_version > "3" \\\\\n    --no-binary pytest-celery\nruff\n'
    )
    result = compute_finalize(root, Config())
    assert apply_changes(root, result.changes) == []
    assert (root / "requirements.in").read_text() == "requests\nsaqmigrate\n"
    assert (root / "requirements.txt").read_text() == compiled  # compiled: regenerate it, never hand-edited
    assert any(m.startswith("requirements.txt: compiled") for m in result.messages)
    assert (root / "requirements-dev.txt").read_text() == "pytest\nruff\nsaqmigrate\n"


def test_the_gate_counts_celery_messages_per_task_on_the_broker(redis_url: str) -> None:
    """finalize's drain check and `route drain-status` read the broker through one function (runtime/drain.py)."""
    import json as _json

    import redis

    from saqmigrate.finalize import _celery_waiting

    url = redis_url.rsplit("/", 1)[0] + "/10" if redis_url.count("/") > 2 else redis_url + "/10"
    r = redis.Redis.from_url(url)
    r.flushdb()
    try:
        msg = {"headers": {"task": "proj.tasks.t", "eta": "2026-12-01T00:00:00"}, "body": ""}
        r.lpush("celery", _json.dumps(msg), _json.dumps({"headers": {"task": "other.task"}}))
        r.hset("unacked", "tag", _json.dumps([msg, "", "celery"]))
        assert _celery_waiting(url, {"proj.tasks.t"}) == {"proj.tasks.t": 2}
        assert _celery_waiting("redis://127.0.0.1:1/0", {"proj.tasks.t"}) is None  # unreadable: not drained
    finally:
        r.flushdb()
