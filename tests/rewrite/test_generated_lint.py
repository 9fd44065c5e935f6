"""Generated modules pass E,W,F at the project's lint length, flake8's 79 included, with no
unused ``noqa``; their comments say the whole message, wrapped, never cut with "..."."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.emit.generate import MARKER
from saqmigrate.emit.style import Style, fit_lines
from saqmigrate.rewrite import apply_changes, compute_changes

LONG = "proj.pipeline.orchestration._unpack_arguments_and_send_the_preliminary_alert_downstream"
TASKS = textwrap.dedent(f"""
    from datetime import timedelta

    from proj.celery_app import app


    @app.task(name={LONG!r}, serializer="pickle")
    def unpack(event_identifier_with_a_long_name, another_long_parameter_name=None):
        return event_identifier_with_a_long_name


    @app.task(serializer="pickle", run_every=timedelta(minutes=10))
    def upload_event_every_hour_to_the_archive_with_a_long_function_name():
        return None


    @app.on_after_configure.connect
    def setup_periodic_tasks(sender, **kwargs):
        sender.add_periodic_task(3600, upload_event_every_hour_to_the_archive_with_a_long_function_name.s())
""")
APP = 'from celery import Celery\n\napp = Celery("proj", broker="redis://")\n"""The app."""\n'
CONFIGS = {
    "flake8-default": ("setup.cfg", "[flake8]\nignore = W503,W504\n", 79),
    "flake8-100": (".flake8", "[flake8]\nmax-line-length = 100\n", 100),
    "tox-pycodestyle": ("tox.ini", "[pycodestyle]\nmax_line_length = 72\n", 72),
    "black-default": (None, "", 88),
}


def _project(tmp_path: Path, config: str) -> tuple[Path, int]:
    name, text, limit = CONFIGS[config]
    root = tmp_path / "repo"
    # a deep package: long import lines, whose E402 pragma pushes them over the limit
    pkg = root / "proj" / "pipeline"
    pkg.mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (root / "proj" / "celery_app.py").write_text(APP)
    (pkg / "orchestration_for_the_low_latency_alerts.py").write_text(TASKS)
    if name:
        (root / name).write_text(text)
    return root, limit


def _ruff(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=root, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_generated_modules_are_lint_clean_at_the_projects_lint_length(config: str, tmp_path: Path) -> None:
    root, limit = _project(tmp_path, config)
    result = compute_changes(root, Config(), use_cache=False)
    assert apply_changes(root, result.changes) == []
    generated = [c.rel for c in result.changes if c.new is not None and MARKER in c.new]
    assert any(rel.endswith("registry.py") for rel in generated)
    texts = {rel: (root / rel).read_text() for rel in generated}
    assert max(len(line) for text in texts.values() for line in text.splitlines()) > limit  # noqa is needed
    for select in ("E,W,F", "RUF100,E,W,F", "I"):
        lint = _ruff(root, "check", "--isolated", "--select", select, "--line-length", str(limit), *generated)
        assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = _ruff(root, "format", "--isolated", "--check", "--line-length", str(limit), *generated)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", "-l", str(limit), *generated],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert black.returncode == 0, black.stderr
    # what ruff forgives and pycodestyle does not: a line longer than the limit without its own noqa (but a
    # name longer than the line, as long in the project's own code, is one word neither tool can be told of)
    for rel, text in texts.items():
        for line in text.splitlines():
            if len(line) <= limit or len(line.split()) == 1 and not line.strip().startswith(("'", '"')):
                continue
            assert "# noqa: " in line and "E501" in line.split("# noqa: ")[-1], (rel, line)
    app = (root / "proj" / "celery_app.py").read_text()
    assert all(len(line) <= limit for line in app.splitlines()) or "E501" in app


def test_comments_are_whole_and_wrapped(tmp_path: Path) -> None:
    root, limit = _project(tmp_path, "flake8-default")
    files = {c.rel: c.new or "" for c in compute_changes(root, Config(), use_cache=False).changes}
    twins = files["proj/pipeline/orchestration_for_the_low_latency_alerts_saq.py"]
    comments = [ln.strip() for text in files.values() for ln in text.splitlines() if ln.strip().startswith("#")]
    assert not [c for c in comments if c.endswith("...")], comments
    for text in files.values():
        for ln in text.splitlines():
            if ln.strip().startswith("#") and len(ln) > limit:  # only a word too long to wrap: a dotted name
                assert len(ln.split("  # noqa: E501")[0].split()) == 2, ln
    todo = " ".join(
        ln.lstrip("# ").strip() for ln in twins.split("TODO(saqmigrate SM156)", 1)[1].split("\n\n")[0].splitlines()
    )
    assert "SAQ serializes with the queue's dump/load" in todo and todo.endswith("(saqmigrate rule SM156)"), todo


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, Style(88, True, None)),
        ({"setup.cfg": "[flake8]\nignore = E126\n"}, Style(79, True, None)),
        ({"tox.ini": "[flake8]\nmax-line-length = 120\n"}, Style(120, True, None)),
        ({"pyproject.toml": "[tool.black]\nline-length = 88\n", ".flake8": "[flake8]\n"}, Style(88, True, 79)),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n", "setup.cfg": "[metadata]\nname = x\n"}, Style(100)),
        ({"pyproject.toml": "[tool.flake8]\nmax-line-length = 99\n"}, Style(99, True, None)),
    ],
)
def test_style_reads_flake8s_line_length(files: dict[str, str], expected: Style, tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    style = Style.from_project(tmp_path)
    assert style == expected
    assert style.limit == min(expected.line_length, expected.lint_length or 1000)


def test_fit_lines_keeps_the_code() -> None:
    source = textwrap.dedent("""\
        from pkg.sub_package_with_a_long_name import module_with_a_long_name as _t0  # noqa: E402

        TASKS = {
            "pkg.sub_package_with_a_long_name.module_with_a_long_name.the_task": {
                "saq_function": "pkg.sub_package_with_a_long_name.module_with_a_long_name.the_task",
                "queue": "celery",  # noqa: E712
            },
        }
        CALL = f(
            "pkg.sub_package_with_a_long_name.module_with_a_long_name.the_task@pkg/file.py:12",
            x,
        )
        LONG_NAME_WITH_A_NOQA = "pkg.sub_package_with_a_long_name.module_with_a_long_name"  # noqa: F401
    """)
    out = fit_lines(source, 60)
    assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(source))
    lines = out.splitlines()
    assert "from pkg.sub_package_with_a_long_name import (  # noqa: E402" in lines
    assert "        # noqa: E501" not in out
    assert lines.count('    "pkg.sub_package_with_a_long_name.module_with_a_long_name.the_task": {  # noqa: E501') == 1
    assert any(ln.endswith("# noqa: F401, E501") for ln in lines)
    call = out.split("CALL = f(\n", 1)[1].split("    x,", 1)[0].splitlines()
    assert len(call) > 1 and all(len(ln) <= 60 for ln in call), call
    assert fit_lines(out, 60) == out  # a second pass changes nothing
