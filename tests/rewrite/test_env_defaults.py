"""The registry names the environment variables whose defaults in the code gave a twin's options (SM116)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.rewrite import compute_changes


def _registry(root: Path) -> dict:
    result = compute_changes(root, Config(), use_cache=False)
    reg = next(c for c in result.changes if c.rel.endswith("saq_worker/registry.py"))
    tree = ast.parse(reg.new)
    return {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
    }


def test_registry_entry_lists_the_variables_a_twin_assumes_unset(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "celery.py").write_text(
        textwrap.dedent("""
        from celery import Celery

        app = Celery("proj")
    """)
    )
    (tmp_path / "proj" / "tasks.py").write_text(
        textwrap.dedent("""
        import os

        from proj.celery import app

        MAIL_QUEUE = os.environ.get("MAIL_QUEUE", "mail")
        LIMIT = int(os.getenv("SEND_LIMIT", "30"))


        @app.task(queue=MAIL_QUEUE, time_limit=LIMIT)
        def send(to):
            return to


        @app.task(queue=os.environ.get("ARCHIVE_QUEUE", "archive"))
        def archive(box):
            return box


        @app.task(queue="plain")
        def plain(x):
            return x
    """)
    )
    reg = _registry(tmp_path)
    tasks = reg["TASKS"]
    assert tasks["proj.tasks.send"]["queue"] == "mail"
    assert tasks["proj.tasks.send"]["assumes_unset"] == ["MAIL_QUEUE", "SEND_LIMIT"]
    assert tasks["proj.tasks.archive"]["assumes_unset"] == ["ARCHIVE_QUEUE"]
    assert "assumes_unset" not in tasks["proj.tasks.plain"]
    # the runtime registry accepts the key
    from saqmigrate.runtime.registry import Registry

    loaded = Registry.from_dicts(tasks)
    assert loaded.tasks["proj.tasks.send"].assumes_unset == ("MAIL_QUEUE", "SEND_LIMIT")
    assert loaded.tasks["proj.tasks.send"].env_set({"SEND_LIMIT": ""}) == ("SEND_LIMIT",)
    assert loaded.tasks["proj.tasks.plain"].env_set({"MAIL_QUEUE": "x"}) == ()
