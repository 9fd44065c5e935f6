"""finalize never deletes the window's SAQ side for nothing: when every task stays on Celery (SM804 pickle
serializer ...), --write refuses, --force included, and writes nothing; when some stay, they are named."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from saqmigrate.cli.main import cli

APP = 'from celery import Celery\n\napp = Celery("proj", broker="redis://")\n'
TASKS = textwrap.dedent("""
    from proj.celery_app import app


    @app.task(serializer="pickle")
    def export(project):
        return project


    @app.task(serializer="pickle")
    def archive(project):
        return project
""")
JSON_TASK = '\n\n@app.task\ndef ping():\n    return "pong"\n'


def _project(tmp_path: Path, tasks: str) -> Path:
    root = tmp_path / "repo"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "celery_app.py").write_text(APP)
    (root / "proj" / "tasks.py").write_text(tasks)
    res = CliRunner().invoke(cli, ["rewrite", str(root), "--write"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".saqmigrate_cache" not in p.parts and "__pycache__" not in p.parts
    }


def test_every_task_left_on_celery_is_refused_even_with_force(tmp_path: Path) -> None:
    root = _project(tmp_path, TASKS)
    assert (root / "proj" / "tasks_saq.py").exists() and (root / "proj" / "saq_worker" / "registry.py").exists()
    before = _snapshot(root)
    for args in (["--write", "--force"], ["--write"], ["--check"]):
        res = CliRunner().invoke(cli, ["finalize", str(root), *args], catch_exceptions=False)
        assert res.exit_code != 0, res.output
        errors = [ln for ln in res.stderr.splitlines() if "nothing to convert" in ln]
        assert len(errors) == 1 and errors[0].startswith("saqmigrate: error: "), res.stderr
        assert "proj.tasks.archive, proj.tasks.export" in errors[0]
        assert "done" not in res.stderr
        assert _snapshot(root) == before  # twins, workers, registry, routing hook: all kept


def test_tasks_left_on_celery_are_named_when_others_convert(tmp_path: Path) -> None:
    root = _project(tmp_path, TASKS + JSON_TASK)
    res = CliRunner().invoke(cli, ["finalize", str(root), "--write", "--force"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "2 task(s) stay on Celery (proj.tasks.archive, proj.tasks.export)" in res.stderr
    assert "def ping" in (root / "proj" / "tasks.py").read_text()
