"""Generated code passes the project's own tooling: ruff (pyflakes + pycodestyle), black and
``ruff format`` find nothing to change, the app-module edit adds no lint error, and a formatter run
on generated files is never drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from saqmigrate.cli.main import cli
from saqmigrate.config import Config
from saqmigrate.emit.generate import MARKER
from saqmigrate.rewrite import apply_changes, compute_changes
from saqmigrate.transform.app_wiring import wire_app

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ["pydotorg", "hard", "flask_app", "retries", "django_shop", "verify_plugins", "verify_settings"]


def _write(name: str, tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    root = tmp_path / name
    shutil.copytree(ROOT / "fixtures" / name, root)
    result = compute_changes(root, Config())
    assert apply_changes(root, result.changes) == []
    generated = [c.rel for c in result.changes if c.new is not None and MARKER in c.new]
    edited = [c.rel for c in result.changes if c.old is not None and MARKER not in c.old]
    return root, generated, edited


def _ruff(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=root, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", FIXTURES)
def test_generated_code_is_lint_clean_and_formatter_stable(name: str, tmp_path: Path) -> None:
    root, generated, _ = _write(name, tmp_path)
    lint = _ruff(root, "check", "--isolated", "--select", "E,W,F", "--line-length", "88", *generated)
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = _ruff(root, "format", "--isolated", "--check", *generated)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", *generated],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert black.returncode == 0, black.stderr


@pytest.mark.parametrize("name", ["pydotorg", "hard", "django_shop"])
def test_the_app_module_edit_adds_no_lint_error(name: str, tmp_path: Path) -> None:
    original = ROOT / "fixtures" / name
    root, _, edited = _write(name, tmp_path)
    assert edited
    for rel in edited:
        before = _ruff(
            original,
            "check",
            "--isolated",
            "--select",
            "E,W,F",
            "--line-length",
            "88",
            "--output-format",
            "concise",
            rel,
        )
        after = _ruff(
            root, "check", "--isolated", "--select", "E,W,F", "--line-length", "88", "--output-format", "concise", rel
        )

        def count(out: str, rel: str = rel) -> int:
            return len([ln for ln in out.splitlines() if f"{rel}:" in ln])

        assert count(after.stdout) <= count(before.stdout), after.stdout


@pytest.mark.parametrize(
    "source",
    [
        'app = Celery(\n    "proj",\n    broker="redis://",\n)\n',
        'app = Celery(\n    "tasks", broker="redis://", backend="redis://"\n)\n',
        'app = Celery("proj")\n',
    ],
)
def test_the_celery_call_is_left_as_it_is(source: str) -> None:
    """The router is mixed into the app's own task class at run time (install(app)), so the
    Celery(...) call keeps its layout and its task class (DjangoTask, task_cls=...)."""
    out = wire_app("from celery import Celery\n\n" + source, "app", "proj.saq_worker.routing").code
    assert out == (
        "from celery import Celery\n\n"
        + source
        + "from proj.saq_worker import routing as _saqmigrate_routing  # noqa: E402\n\n"
        + "_saqmigrate_routing.install(app)\n"
    )


@pytest.mark.parametrize(
    "formatter",
    [["-m", "black", "-q", "--line-length", "100"], ["-m", "ruff", "format", "--isolated", "--line-length", "79"]],
)
def test_a_formatter_run_on_generated_files_is_not_drift(formatter: list[str], tmp_path: Path) -> None:
    root, generated, _ = _write("pydotorg", tmp_path)
    before = {rel: (root / rel).read_text(encoding="utf-8") for rel in generated}
    subprocess.run([sys.executable, *formatter, *generated], cwd=root, check=True, timeout=120)
    assert any((root / rel).read_text(encoding="utf-8") != text for rel, text in before.items())
    runner = CliRunner()
    r = runner.invoke(cli, ["rewrite", str(root), "--check"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["check", str(root), "--only", "drift"])
    assert r.exit_code == 0, r.output


def test_a_hand_edit_is_still_drift(tmp_path: Path) -> None:
    root, _, _ = _write("pydotorg", tmp_path)
    q = root / "pydotorg/saq_worker/queue_celery.py"
    q.write_text(q.read_text(encoding="utf-8").replace('cron="15 0 * * *"', 'cron="15 1 * * *"'), encoding="utf-8")
    assert CliRunner().invoke(cli, ["rewrite", str(root), "--check"]).exit_code == 1


def test_project_line_length_is_used(tmp_path: Path) -> None:
    root = tmp_path / "pydotorg"
    shutil.copytree(ROOT / "fixtures" / "pydotorg", root)
    (root / "pyproject.toml").write_text("[tool.ruff]\nline-length = 120\n", encoding="utf-8")
    files = {c.rel: c.new for c in compute_changes(root, Config()).changes}
    text = files["events/tasks_saq.py"]
    assert max(len(line) for line in text.splitlines()) > 88  # wrapped at 120, not 88
    assert max(len(line) for line in text.splitlines()) <= 120
