"""The registry records where each task is used in a canvas (route set warns; docs/routing.md)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.rewrite import compute_changes


def _registry_tasks(root: Path) -> dict:
    result = compute_changes(root, Config(), use_cache=False)
    reg = next(c for c in result.changes if c.rel.endswith("saq_worker/registry.py"))
    tree = ast.parse(reg.new)
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "TASKS")
    return ast.literal_eval(node.value)


def test_signatures_links_and_canvases_are_recorded_but_beat_signatures_are_not(tmp_path: Path) -> None:
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
        from celery import chain, chord

        from proj.celery import app


        @app.task
        def fetch(url):
            return url


        @app.task
        def parse(page):
            return page


        @app.task
        def notify(result):
            return result


        @app.task
        def tick():
            return 1


        @app.on_after_configure.connect
        def setup(sender, **kwargs):
            sender.add_periodic_task(
                60.0,
                tick.s(),
            )


        def pipeline(url):
            fetch.delay(url)
            chain(fetch.s(url), parse.s()).apply_async()
            fetch.apply_async((url,), link=notify.si(None))
            chord([parse.s(1)], notify.s()).delay()
    """)
    )
    lines = (tmp_path / "proj" / "tasks.py").read_text().splitlines()

    def at(text: str) -> str:
        return f"proj/tasks.py:{next(i for i, line in enumerate(lines, 1) if text in line)}"

    tasks = _registry_tasks(tmp_path)
    assert tasks["proj.tasks.fetch"]["canvas"] == [at("chain("), at("link=")]
    assert tasks["proj.tasks.parse"]["canvas"] == [at("chain("), at("chord(")]
    assert tasks["proj.tasks.notify"]["canvas"] == [at("link="), at("chord(")]
    assert "canvas" not in tasks["proj.tasks.tick"]  # a signature given to add_periodic_task is a beat entry
