"""Which module the SAQ worker imports to create a factory-built Celery app (index/entry.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.index.entry import find_app_entry
from saqmigrate.rewrite import compute_changes

FACTORY = textwrap.dedent("""
    from celery import Celery
    from flask import Flask


    def celery_init_app(app):
        celery_app = Celery(app.name)
        celery_app.set_default()
        return celery_app


    def create_app():
        app = Flask(__name__)
        celery_init_app(app)
        return app
""")
TASKS = "from celery import shared_task\n\n\n@shared_task\ndef add(a, b):\n    return a + b\n"


def project(tmp_path: Path, **modules: str) -> Path:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "__init__.py").write_text(FACTORY)
    (tmp_path / "web" / "tasks.py").write_text(TASKS)
    for rel, text in modules.items():
        (tmp_path / rel.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel.replace("__", "/")).write_text(textwrap.dedent(text))
    return tmp_path


def settings_text(root: Path) -> str:
    result = compute_changes(root, Config(), use_cache=False)
    return next(c.new for c in result.changes if "/queue_" in c.rel), result.messages


def test_the_module_calling_the_factory_at_import_is_what_the_worker_imports(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        **{
            "make_celery.py": """
        from web import create_app

        flask_app = create_app()
        celery_app = flask_app.extensions["celery"]
    """,
            "run.py": """
        from web import create_app

        if __name__ == "__main__":
            create_app().run()
    """,
            "tests__test_app.py": "from web import create_app\n\napp = create_app()\n",
        },
    )
    found = find_app_entry(root, "web/__init__.py", 7)
    assert (found.module, found.candidates) == ("make_celery", ["make_celery"])  # not run.py's __main__, not tests
    text, _ = settings_text(root)
    assert 'import_celery_app("make_celery")' in text


def test_no_creator_is_reported_with_the_variable_to_set(tmp_path: Path) -> None:
    root = project(tmp_path)
    found = find_app_entry(root, "web/__init__.py", 7)
    assert found.module is None and found.candidates == [] and "no module calls celery_init_app()" in found.why
    text, messages = settings_text(root)
    assert "import_celery_app" not in text
    assert any(m.startswith("SM120:") and "SAQMIGRATE_CELERY_APP" in m for m in messages)


def test_several_creators_are_reported_and_a_worker_named_one_is_chosen_out_loud(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        **{
            "wsgi.py": "from web import create_app\n\napp = create_app()\n",
            "asgi.py": "from web import create_app\n\napp = create_app()\n",
        },
    )
    found = find_app_entry(root, "web/__init__.py", 7)
    assert found.module is None and found.candidates == ["asgi", "wsgi"] and "several" in found.why
    text, messages = settings_text(root)
    assert "import_celery_app" not in text
    assert any(m.startswith("SM120:") and "asgi, wsgi" in m for m in messages)
    # a name that says "celery" or "worker" settles it, as for the people running `celery -A`, and says so
    (root / "celery_worker.py").write_text("from web import create_app\n\napp = create_app()\n")
    assert find_app_entry(root, "web/__init__.py", 7).module == "celery_worker"
    text, messages = settings_text(root)
    assert 'import_celery_app("celery_worker")' in text
    assert any(m.startswith("SM120:") and "celery_worker is named for the worker" in m for m in messages)


def test_any_factory_name_and_the_scans_module_names(tmp_path: Path) -> None:
    # build_app() (not create_app) calls the factory; the entry module sits in a folder without
    # __init__.py above the package, so its module name starts at the package, as the scan names it
    (tmp_path / "backend" / "web").mkdir(parents=True)
    (tmp_path / "backend" / "web" / "__init__.py").write_text(FACTORY.replace("create_app", "build_app"))
    (tmp_path / "backend" / "web" / "tasks.py").write_text(TASKS)
    (tmp_path / "backend" / "web" / "wsgi.py").write_text("from web import build_app\n\napplication = build_app()\n")
    found = find_app_entry(tmp_path, "backend/web/__init__.py", 7)
    assert found.module == "web.wsgi", found


def test_a_module_level_app_is_imported_as_itself(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "celery.py").write_text("from celery import Celery\n\napp = Celery('proj')\n")
    (tmp_path / "proj" / "tasks.py").write_text(TASKS)
    text, messages = settings_text(tmp_path)
    assert 'import_celery_app("proj.celery")' in text and not any("SM120" in m for m in messages)


def test_the_answer_is_cached_under_every_files_stamp_and_follows_a_change(tmp_path: Path) -> None:
    """The search reads every file; with the scan's cache an unchanged tree is answered from it, and a new
    module (even one without a Celery word) changes the answer on the next scan."""
    import os

    from saqmigrate.scan import run_scan

    root = project(tmp_path)
    store: dict[str, dict] = {}
    calls = {"get": 0, "hit": 0}

    def get(key: str) -> dict | None:
        calls["get"] += 1
        calls["hit"] += key in store
        return store.get(key)

    cache = (get, store.__setitem__)
    first = find_app_entry(root, "web/__init__.py", 7, cache=cache)
    again = find_app_entry(root, "web/__init__.py", 7, cache=cache)
    assert first == again and first.module is None and calls == {"get": 2, "hit": 1}
    (root / "wsgi.py").write_text("from web import create_app\n\napplication = create_app()\n")
    os.utime(root / "wsgi.py", ns=(1, 1))
    changed = find_app_entry(root, "web/__init__.py", 7, cache=cache)
    assert changed.module == "wsgi" and calls["hit"] == 1
    # through the scan's own cache (SM120 disappears once a module creates the app)
    (root / "wsgi.py").unlink()
    codes = lambda: {f.rule for f in run_scan(root, Config())[0].findings}  # noqa: E731
    assert "SM120" in codes() and "SM120" in codes()
    (root / "wsgi.py").write_text("from web import create_app\n\napplication = create_app()\n")
    assert "SM120" not in codes()
