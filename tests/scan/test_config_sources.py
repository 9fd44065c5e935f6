"""Settings given through a config source (``config_from_object``, ``conf.update``, ``Celery(config_source=,
changes=, **settings)``, a Flask ``app.config["CELERY"]`` mapping) are read as Celery reads them, or reported
(SM122) with the tasks that depend on them kept on Celery (SM115) — never replaced by Celery's defaults.

Each readable case is checked against Celery itself: the small project written here (our own code) is
imported in a child process and the task's ``ignore_result``/``time_limit``/``rate_limit`` and the queue
Celery's router gives it are compared with what the scan derives (the task's options over the app's
defaults, and the plan's queue).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.index.model import is_dynamic
from saqmigrate.plan import build_plan, task_queue
from saqmigrate.scan import run_scan
from saqmigrate.translate.routing import RouteUnknown

TASKS = """
    from celery import shared_task


    @shared_task
    def add(x, y):
        return x + y
"""

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
ns = {}
exec(sys.argv[2], ns)
app = ns["app"]
import importlib
importlib.import_module("proj.tasks")
app.finalize()
t = app.tasks["proj.tasks.add"]
route = app.amqp.router.route({}, "proj.tasks.add")
print(json.dumps({"ignore_result": bool(t.ignore_result), "time_limit": t.time_limit, "rate_limit": t.rate_limit,
                  "queue": route["queue"].name}))
"""


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"proj/__init__.py": "", "proj/tasks.py": TASKS, **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def scan(root: Path):
    index, _ = run_scan(root, Config(), use_cache=False)
    return index


def celery_view(root: Path, get_app: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), get_app], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scan_view(root: Path) -> dict:
    index = scan(root)
    t = next(t for t in index.tasks if t.name == "proj.tasks.add")
    merged = {**t.inherited_options, **t.options}
    assert not any(is_dynamic(v) for v in merged.values()), merged
    return {
        "ignore_result": bool(merged.get("ignore_result", False)),
        "time_limit": merged.get("time_limit"),
        "rate_limit": merged.get("rate_limit"),
        "queue": task_queue(t, index),
    }


CELERY_PY = "proj/celery.py"

READABLE = {
    "literal dict": (
        {
            CELERY_PY: """
        from celery import Celery

        app = Celery("proj")
        app.config_from_object({"task_ignore_result": True, "task_time_limit": 30, "task_default_queue": "lit"})
    """
        },
        "from proj.celery import app",
    ),
    "dict() with namespace: prefixed, bare and old keys": (
        {
            CELERY_PY: """
        from celery import Celery

        app = Celery("proj")
        app.config_from_object(
            dict(CELERY_TASK_IGNORE_RESULT=True, task_time_limit=5, CELERY_DEFAULT_QUEUE="old"), namespace="CELERY"
        )
    """
        },
        "from proj.celery import app",
    ),
    "no namespace: a CELERY_ key that is not an old name is not read": (
        {
            CELERY_PY: """
        from celery import Celery

        app = Celery("proj")
        app.config_from_object({"CELERY_TASK_IGNORE_RESULT": True, "CELERY_TASK_TIME_LIMIT": 9,
                                "CELERY_DEFAULT_RATE_LIMIT": "5/s"})
    """
        },
        "from proj.celery import app",
    ),
    "imported module constant built with ** and |": (
        {
            "proj/settings.py": """
            BASE = {"task_ignore_result": True, "task_time_limit": 10}
            CELERY = {**BASE, "task_time_limit": 20} | {"task_default_queue": "merged"}
        """,
            CELERY_PY: """
            from celery import Celery

            from proj.settings import CELERY

            app = Celery("proj")
            app.config_from_object(CELERY)
        """,
        },
        "from proj.celery import app",
    ),
    "conf.update over the config source, whatever the order": (
        {
            "proj/settings.py": 'SOURCE = {"task_ignore_result": True, "task_time_limit": 7}\n'
            'CHANGES = {"task_ignore_result": False}\n',
            CELERY_PY: """
            from celery import Celery

            from proj import settings

            app = Celery("proj")
            app.conf.update(settings.CHANGES)
            app.config_from_object(settings.SOURCE)
        """,
        },
        "from proj.celery import app",
    ),
    "the last config_from_object replaces the source": (
        {
            CELERY_PY: """
        from celery import Celery

        app = Celery("proj")
        app.config_from_object({"task_time_limit": 30, "task_ignore_result": True})
        app.config_from_object({"task_default_rate_limit": "10/m"})
    """
        },
        "from proj.celery import app",
    ),
    "conf.update(**mapping) and Celery(**settings)": (
        {
            CELERY_PY: """
        from celery import Celery

        EXTRA = dict(task_time_limit=12)

        app = Celery("proj", task_ignore_result=True, config_source={"task_default_queue": "ctor"})
        app.conf.update(**EXTRA)
    """
        },
        "from proj.celery import app",
    ),
    "a local dict in a factory, assigned once": (
        {
            CELERY_PY: """
        from celery import Celery


        def make_celery():
            celery = Celery("proj")
            settings = {"task_ignore_result": True, "task_default_queue": "factory"}
            celery.conf.update(settings)
            return celery


        app = make_celery()
    """
        },
        "from proj.celery import app",
    ),
    "a class, as in Celery's docs, with an inherited attribute; and an import path to it": (
        {
            "proj/celeryconfig.py": """
            class Base:
                task_ignore_result = True
                task_default_queue = "from-base"


            class Config(Base):
                task_time_limit = 45
                task_default_queue = "from-class"

                def helper(self):
                    return 1
        """,
            CELERY_PY: """
            from celery import Celery

            app = Celery("proj")
            app.config_from_object("proj.celeryconfig:Config")
        """,
        },
        "from proj.celery import app",
    ),
    "Flask's documented pattern: from_mapping(CELERY=dict(...)) then config_from_object(app.config['CELERY'])": (
        {
            "proj/__init__.py": """
            from flask import Flask

            from proj.celery_app import celery_init_app


            def create_app():
                app = Flask(__name__)
                app.config.from_mapping(
                    CELERY=dict(broker_url="memory://", task_ignore_result=True, task_time_limit=15),
                )
                celery_init_app(app)
                return app
        """,
            "proj/celery_app.py": """
            from celery import Celery, Task


            def celery_init_app(app):
                class FlaskTask(Task):
                    def __call__(self, *args, **kwargs):
                        with app.app_context():
                            return self.run(*args, **kwargs)

                celery_app = Celery(app.name, task_cls=FlaskTask)
                celery_app.config_from_object(app.config["CELERY"])
                celery_app.set_default()
                app.extensions["celery"] = celery_app
                return celery_app
        """,
        },
        "from proj import create_app\napp = create_app().extensions['celery']",
    ),
}


@pytest.mark.parametrize("case", sorted(READABLE))
def test_readable_sources_give_what_celery_gives(tmp_path: Path, case: str) -> None:
    files, get_app = READABLE[case]
    root = project(tmp_path, files)
    celery = celery_view(root, get_app)
    assert scan_view(root) == celery, case
    assert not [f for f in scan(root).findings if f.rule in ("SM122", "SM115")]


def test_the_values_seen_are_the_expected_ones(tmp_path: Path) -> None:
    """The oracle cases above are not vacuous: the sources do change the values."""
    expected = {
        "literal dict": (True, 30, None, "lit"),
        "dict() with namespace: prefixed, bare and old keys": (True, 5, None, "old"),
        "no namespace: a CELERY_ key that is not an old name is not read": (False, None, "5/s", "celery"),
        "imported module constant built with ** and |": (True, 20, None, "merged"),
        "conf.update over the config source, whatever the order": (False, 7, None, "celery"),
        "the last config_from_object replaces the source": (False, None, "10/m", "celery"),
        "conf.update(**mapping) and Celery(**settings)": (True, 12, None, "ctor"),
        "a local dict in a factory, assigned once": (True, None, None, "factory"),
        "a class, as in Celery's docs, with an inherited attribute; and an import path to it": (
            True,
            45,
            None,
            "from-class",
        ),
        "Flask's documented pattern: from_mapping(CELERY=dict(...)) then config_from_object(app.config['CELERY'])": (
            True,
            15,
            None,
            "celery",
        ),
    }
    assert set(expected) == set(READABLE)
    for i, (case, want) in enumerate(sorted(expected.items())):
        root = project(tmp_path / str(i), READABLE[case][0])
        v = scan_view(root)
        assert (v["ignore_result"], v["time_limit"], v["rate_limit"], v["queue"]) == want, case


def _task(index):
    return next(t for t in index.tasks if t.name == "proj.tasks.add")


UNREADABLE = {
    "the result of a call": (
        {
            CELERY_PY: """
        from celery import Celery

        from proj.conf import load

        app = Celery("proj")
        app.config_from_object(load())
    """,
            "proj/conf.py": "def load():\n    return {'task_ignore_result': True}\n",
        },
        "load()",
        "is a call",
    ),
    "a parameter of the factory": (
        {
            CELERY_PY: """
        from celery import Celery


        def make_celery(config):
            celery = Celery("proj")
            celery.conf.update(config)
            return celery
    """
        },
        "config",
        "local variable of make_celery()",
    ),
    "a Flask config a file loader may replace": (
        {
            "proj/__init__.py": """
            from flask import Flask

            from proj.celery_app import celery_init_app


            def create_app():
                app = Flask(__name__, instance_relative_config=True)
                app.config.from_mapping(CELERY=dict(task_ignore_result=True))
                app.config.from_pyfile("config.py", silent=True)
                celery_init_app(app)
                return app
        """,
            "proj/celery_app.py": """
            from celery import Celery


            def celery_init_app(app):
                celery_app = Celery(app.name)
                celery_app.config_from_object(app.config["CELERY"])
                return celery_app
        """,
        },
        'app.config["CELERY"]',
        "from_pyfile",
    ),
    "a Flask config nobody in the project sets": (
        {
            "proj/celery_app.py": """
            from celery import Celery


            def celery_init_app(app):
                celery_app = Celery(app.name)
                celery_app.config_from_object(app.config["CELERY"])
                return celery_app
        """
        },
        'app.config["CELERY"]',
        "nothing in the scanned project sets",
    ),
    "a class whose base is a library's (settings read from the environment)": (
        {
            CELERY_PY: """
        from celery import Celery
        from pydantic_settings import BaseSettings


        class CelerySettings(BaseSettings):
            task_ignore_result: bool = True


        app = Celery("proj")
        app.config_from_object(CelerySettings)
    """
        },
        "CelerySettings",
        "inherits from `BaseSettings`",
    ),
    "a dict changed in place elsewhere": (
        {
            "proj/__init__.py": """
            from flask import Flask

            from proj.celery_app import celery_init_app


            def create_app():
                app = Flask(__name__)
                app.config.from_mapping(CELERY=dict(task_ignore_result=True))
                app.config["CELERY"]["task_time_limit"] = 60
                celery_init_app(app)
                return app
        """,
            "proj/celery_app.py": """
            from celery import Celery


            def celery_init_app(app):
                celery_app = Celery(app.name)
                celery_app.config_from_object(app.config["CELERY"])
                return celery_app
        """,
        },
        'app.config["CELERY"]',
        "changes app.config['CELERY'] in place",
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_source_is_reported_and_its_tasks_stay_on_celery(tmp_path: Path, case: str) -> None:
    files, src, why = UNREADABLE[case]
    root = project(tmp_path, files)
    index = scan(root)
    sm122 = [f for f in index.findings if f.rule == "SM122"]
    assert len(sm122) == 1 and src in sm122[0].message and why in sm122[0].message, [f.message for f in sm122]
    t = _task(index)
    # every setting that changes the twin is unknown: pinned (SM115), never Celery's default
    assert {"ignore_result", "time_limit", "soft_time_limit", "rate_limit", "serializer", "result_expires"} <= set(
        t.features["unresolved"]
    )
    with pytest.raises(RouteUnknown):
        task_queue(t, index)
    plan = build_plan(index)
    assert not [tw for m in plan.modules for tw in m.twins]
    assert any(what == "proj.tasks.add" and "SM115" in why for what, why in plan.skipped)


def test_an_explicit_option_is_not_pinned_by_an_unreadable_source(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            CELERY_PY: """
        from celery import Celery

        from proj.conf import load

        app = Celery("proj")
        app.config_from_object(load())
    """,
            "proj/conf.py": "def load():\n    return {}\n",
            "proj/tasks.py": """
        from celery import shared_task


        @shared_task(ignore_result=True, time_limit=5, queue="q")
        def add(x, y):
            return x + y
    """,
        },
    )
    t = _task(scan(root))
    assert "ignore_result" not in t.features["unresolved"] and "time_limit" not in t.features["unresolved"]
    assert "rate_limit" in t.features["unresolved"]


def test_a_later_literal_change_wins_over_an_unreadable_update_in_the_same_module(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            CELERY_PY: """
        from celery import Celery

        from proj.conf import load

        app = Celery("proj")
        app.conf.update(load())
        app.conf.task_ignore_result = True
    """,
            "proj/conf.py": "def load():\n    return {}\n",
        },
    )
    index = scan(root)
    t = _task(index)
    assert t.inherited_options["ignore_result"] is True and "ignore_result" not in t.features["unresolved"]
    assert "time_limit" in t.features["unresolved"]


def test_settings_set_differently_in_two_modules_pin_the_tasks(tmp_path: Path) -> None:
    """Which one Celery uses depends on the environment (a settings module per deployment): not chosen."""
    root = project(
        tmp_path,
        {
            CELERY_PY: 'from celery import Celery\n\napp = Celery("proj")\napp.config_from_object("proj.settings")\n',
            "proj/settings.py": "CELERY_TASK_TIME_LIMIT = 30\n",
            "proj/settings_prod.py": "CELERY_TASK_TIME_LIMIT = 300\n",
        },
    )
    t = _task(scan(root))
    assert "time_limit" in t.features["unresolved"] and "differently" in t.features["unresolved"]["time_limit"]


def test_an_environment_default_in_a_dict_source_is_reported(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            CELERY_PY: """
        import os

        from celery import Celery

        app = Celery("proj")
        app.config_from_object({"task_time_limit": int(os.environ.get("TASK_LIMIT", "40"))})
    """
        },
    )
    index = scan(root)
    t = _task(index)
    assert t.inherited_options["time_limit"] == 40
    assert t.features["resolved"]["time_limit"]["env"] == ["TASK_LIMIT"]
    assert [f.subject for f in index.findings if f.rule == "SM116"] == ["proj.tasks.add"]


def test_flask_prefixed_environment_overrides_are_reported(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "proj/__init__.py": """
            from celery import Celery
            from flask import Flask


            def create_app():
                app = Flask(__name__)
                app.config.from_mapping(CELERY={"task_ignore_result": True})
                app.config.from_prefixed_env()
                celery_app = Celery(app.name)
                celery_app.config_from_object(app.config["CELERY"])
                app.extensions["celery"] = celery_app
                return app
        """
        },
    )
    index = scan(root)
    t = _task(index)
    assert t.inherited_options["ignore_result"] is True
    assert t.features["resolved"]["ignore_result"]["env"] == ["FLASK_CELERY", "FLASK_CELERY__task_ignore_result"]
    assert any(f.rule == "SM116" and "FLASK_CELERY__task_ignore_result" in f.message for f in index.findings)


def test_recorded_real_world_config_sources() -> None:
    """tests/realworld/<name>.json ``config_sources``: what the scan must say about a public project's config
    source (the tree is fetched into /tmp/realworld/<name>, tests/realworld/README.md)."""
    from tests.conftest import missing
    from tests.realworld.compare import CORPUS, HERE, load

    names = [p.stem for p in sorted(HERE.glob("*.json")) if "config_sources" in load(p.stem)]
    assert names
    for name in names:
        if not (CORPUS / name).is_dir():
            missing(
                f"/tmp/realworld/{name} absent; see tests/realworld/README.md to fetch it", "SAQMIGRATE_REQUIRE_CORPUS"
            )
        want = load(name)["config_sources"]
        index = scan(CORPUS / name)
        got = [
            {"file": f.file, "line": f.line, "rule": f.rule, "source": f.subject}
            for f in index.findings
            if f.rule == "SM122"
        ]
        assert got == [{k: u[k] for k in ("file", "line", "rule", "source")} for u in want["unreadable"]], name
        assert all(
            u["why"] in f.message for u, f in zip(want["unreadable"], [f for f in index.findings if f.rule == "SM122"])
        )
        for t in index.tasks:
            assert set(want["pinned_options"]) <= set((t.features.get("unresolved") or {})), (name, t.name)
        assert sum(len(m.twins) for m in build_plan(index).modules) == want["static_twins"], name
