"""The routing hook goes after the app's attribute docstring, never between the assignment and it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from saqmigrate.transform.app_wiring import wire_app
from tests.check.helpers import check, invoke, rewrite

APP = """from celery import Celery

app = Celery("proj", broker="redis://")
{doc}

app.conf.task_default_queue = "main"
"""
TASKS = "from proj.celery_app import app\n\n\n@app.task\ndef add(x, y):\n    return x + y\n"
DOCS = [
    '"""Celery application object."""',
    "'Celery application object.'",
    '"""Celery application object,\n\nused by every task module."""',
    '("Celery " "application object.")',
]


def _attribute_docs(source: str) -> dict[str, str]:
    """name -> the docstring Sphinx attaches to it (a string statement right after the assignment)."""
    body = ast.parse(source).body
    out = {}
    for stmt, nxt in zip(body, body[1:]):
        if isinstance(stmt, ast.Assign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = nxt.value.value
    return out


@pytest.mark.parametrize("doc", DOCS, ids=["triple", "single", "multiline", "parenthesized"])
def test_hook_follows_the_attribute_docstring(doc: str) -> None:
    source = APP.format(doc=doc)
    wired = wire_app(source, "app", "proj.saq_worker.routing")
    assert wired.changed
    assert _attribute_docs(wired.code)["app"] == _attribute_docs(source)["app"]
    lines = wired.code.splitlines()
    assert lines.index("_saqmigrate_routing.install(app)") < lines.index('app.conf.task_default_queue = "main"')
    assert wire_app(wired.code, "app", "proj.saq_worker.routing").changed is False  # idempotent


def test_without_a_docstring_the_hook_follows_the_assignment() -> None:
    source = 'from celery import Celery\n\napp = Celery("proj")\napp.conf.x = 1\n'
    code = wire_app(source, "app", "proj.saq_worker.routing").code
    lines = code.splitlines()
    assert lines[lines.index('app = Celery("proj")') + 1].startswith("from proj.saq_worker import routing")


def test_a_string_that_is_not_next_to_the_assignment_is_not_moved_over() -> None:
    source = 'from celery import Celery\n\napp = Celery("proj")\nx = 1\n"""x\'s doc."""\n'
    code = wire_app(source, "app", "proj.saq_worker.routing").code
    assert _attribute_docs(code) == {"x": "x's doc."}
    lines = code.splitlines()
    assert lines[lines.index('app = Celery("proj")') + 1].startswith("from proj.saq_worker import routing")


def test_rewritten_project_keeps_the_docstring_and_check_drift_accepts_the_hook(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "celery_app.py").write_text(APP.format(doc=DOCS[0]))
    (root / "proj" / "tasks.py").write_text(TASKS)
    rewrite(root)
    text = (root / "proj" / "celery_app.py").read_text()
    assert _attribute_docs(text)["app"] == "Celery application object."
    assert "_saqmigrate_routing.install(app)" in text
    assert invoke("baseline", root).exit_code == 0
    code, rep = check(root, "--only", "drift")
    assert code == 0 and rep["findings"] == [], rep
