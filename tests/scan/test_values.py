"""Option values resolved the way Python binds names, or reported and pinned — never a silent default.

Each case is a small project written here (patterns seen in public Celery projects: queue constants
modules, package re-exports, Django settings chains, environment defaults, exception classes that
shadow builtins, decorator aliases)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.plan import build_plan
from saqmigrate.rewrite import compute_changes
from saqmigrate.scan import run_scan
from saqmigrate.translate.routing import RouteUnknown, routed_queue, task_queue


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


APP = {
    "proj/__init__.py": "",
    "proj/celery.py": """
        from celery import Celery

        app = Celery("proj")
    """,
}


def scan(root: Path):
    index, _ = run_scan(root, Config(), use_cache=False)
    return index


def plan_queues(root: Path) -> dict[str, str]:
    plan = build_plan(scan(root))
    return {tw.celery_name: tw.queue for m in plan.modules for tw in m.twins}


def findings(root: Path, rule: str) -> list[str]:
    return [f.subject for f in scan(root).findings if f.rule == rule]


def test_queue_from_constants_same_module_import_reexport_star_and_class(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            **APP,
            "proj/constants/__init__.py": "from .queues import *\nfrom .queues import Queues\n",
            "proj/constants/queues.py": """
            PREFIX = "prio"
            MAIL = "mail"
            FEEDS = f"{PREFIX}-feeds"
            BULK = PREFIX + "-bulk"

            class Queues:
                REPORTS = "reports"
        """,
            "proj/tasks.py": """
            from celery import shared_task

            from proj import constants
            from proj.constants import MAIL, Queues
            from proj.constants.queues import BULK

            LOCAL = "local"


            @shared_task(queue=MAIL)
            def a(): ...


            @shared_task(queue=LOCAL)
            def b(): ...


            @shared_task(queue=constants.FEEDS)
            def c(): ...


            @shared_task(queue=Queues.REPORTS)
            def d(): ...


            @shared_task(queue=BULK)
            def e(): ...
        """,
        },
    )
    assert plan_queues(root) == {
        "proj.tasks.a": "mail",
        "proj.tasks.b": "local",
        "proj.tasks.c": "prio-feeds",
        "proj.tasks.d": "reports",
        "proj.tasks.e": "prio-bulk",
    }
    assert findings(root, "SM115") == []


def test_django_settings_through_star_imports_and_environment_defaults(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            **APP,
            "proj/celery.py": """
            import os

            from celery import Celery

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings.prod")
            app = Celery("proj")
            app.config_from_object("django.conf:settings", namespace="CELERY")
        """,
            "proj/settings/__init__.py": "",
            "proj/settings/base.py": """
            import os

            CELERY_FEEDS_QUEUE = "feeds"
            CELERY_MAIL_QUEUE = os.environ.get("MAIL_QUEUE", "mail")
        """,
            "proj/settings/prod.py": """
            from .base import *  # noqa

            CELERY_FEEDS_QUEUE = "feeds-prod"
            try:
                from .local import *  # noqa: a file that is not in the tree
            except ImportError:
                pass
        """,
            "proj/tasks.py": """
            from celery import shared_task
            from django.conf import settings


            @shared_task(queue=settings.CELERY_FEEDS_QUEUE)
            def feeds(): ...


            @shared_task(queue=settings.CELERY_MAIL_QUEUE)
            def mail(): ...
        """,
        },
    )
    index = scan(root)
    assert index.django["settings_module"] == "proj.settings.prod"
    assert plan_queues(root) == {"proj.tasks.feeds": "feeds-prod", "proj.tasks.mail": "mail"}
    assert findings(root, "SM116") == ["proj.tasks.mail"]  # environment-driven: said, not hidden
    assert findings(root, "SM115") == []


@pytest.mark.parametrize(
    "setup, expr, why",
    [
        ("import random\nQ = random.choice(['a', 'b'])\n", "Q", "call"),
        ("import sys\nif sys.platform == 'linux':\n    Q = 'a'\nelse:\n    Q = 'b'\n", "Q", "`if`"),
        ("from enum import Enum\nclass Q(str, Enum):\n    MAIL = 'mail'\n", "Q.MAIL", "Enum"),
        ("Q = 'a'\nQ += '-x'\n", "Q", "augmented"),
        ("", "UNDEFINED", "not defined"),
        ("from somelib.queues import MAIL as Q\n", "Q", "outside the scanned tree"),
    ],
)
def test_unresolvable_queue_pins_the_task_with_a_finding(tmp_path: Path, setup: str, expr: str, why: str) -> None:
    root = project(
        tmp_path,
        {
            **APP,
            "proj/tasks.py": (
                "from celery import shared_task\n" + setup + f"\n\n@shared_task(queue={expr})\ndef t(): ...\n"
            ),
        },
    )
    index = scan(root)
    [f] = [f for f in index.findings if f.rule == "SM115"]
    assert why in f.message and "stays on Celery" in f.message
    result = compute_changes(root, Config())
    assert not any(c.rel.endswith("tasks_saq.py") for c in result.changes)  # no twin, so no route to SAQ
    assert any("SM115" in m and "proj.tasks.t" in m for m in result.messages)


def test_unresolvable_retry_option_keeps_the_twin_but_pins_it_in_the_registry(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            **APP,
            "proj/tasks.py": """
        from celery import shared_task

        from proj.conf import retries


        @shared_task(queue="work", max_retries=retries())
        def t(): ...
    """,
            "proj/conf.py": "def retries():\n    return 3\n",
        },
    )
    files = {c.rel: c.new for c in compute_changes(root, Config()).changes}
    assert '"unsupported": ["max_retries"]' in files["proj/saq_worker/registry.py"]
    assert "# TODO(saqmigrate SM115): max_retries=retries() is not resolvable" in files["proj/tasks_saq.py"]


def test_exception_classes_are_qualified_from_the_modules_imports(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            **APP,
            "proj/errors.py": "class Flaky(Exception):\n    pass\n",
            "proj/exc/__init__.py": "from proj.errors import Flaky as Transient\n",
            "proj/tasks.py": """
            from celery import shared_task
            from requests.exceptions import ConnectionError, Timeout

            from proj.exc import Transient

            RETRY_ON = (ConnectionError, Timeout)


            class Local(Exception):
                pass


            @shared_task(autoretry_for=(ConnectionError,))
            def a(): ...


            @shared_task(autoretry_for=RETRY_ON, dont_autoretry_for=(Local,))
            def b(): ...


            @shared_task(autoretry_for=(Transient, KeyError, OSError))
            def c(): ...
        """,
        },
    )
    got = {t.name: (t.options.get("autoretry_for"), t.options.get("dont_autoretry_for")) for t in scan(root).tasks}
    assert got == {
        "proj.tasks.a": (["requests.exceptions.ConnectionError"], None),
        "proj.tasks.b": (["requests.exceptions.ConnectionError", "requests.exceptions.Timeout"], ["proj.tasks.Local"]),
        "proj.tasks.c": (["proj.errors.Flaky", "KeyError", "OSError"], None),
    }


def test_decorator_alias_by_assignment_reexported_from_a_package(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            **APP,
            "proj/utils/__init__.py": "from .tasks import project_task  # noqa\n",
            "proj/utils/tasks.py": "from celery import shared_task\n\nproject_task = shared_task\n",
            "proj/jobs.py": """
            from proj.utils import project_task


            @project_task
            def one(): ...


            @project_task(queue="slow")
            def two(): ...
        """,
        },
    )
    assert plan_queues(root) == {"proj.jobs.one": "celery", "proj.jobs.two": "slow"}


# --- Celery's router, as pure logic (celery/app/routes.py) -----------------------------------------


def test_exact_name_wins_over_an_earlier_glob() -> None:
    routes = {"proj.*": "a", "proj.tasks.x": {"queue": "b"}}
    assert routed_queue("proj.tasks.x", routes) == "b"
    assert routed_queue("proj.tasks.y", routes) == "a"
    assert routed_queue("other.y", routes) is None


def test_globs_are_anchored_and_routers_tried_in_order() -> None:
    routes = [{"*.mail": "m"}, [["proj.*", {"queue": "p"}]], {"*": "all"}]
    assert routed_queue("a.mail", routes) == "m"
    assert routed_queue("a.mail_digest", routes) == "all"  # fnmatch.translate anchors the end too
    assert routed_queue("proj.mail_x", routes) == "p"


def test_task_option_beats_routes_and_default() -> None:
    assert task_queue("t", "own", {"t": "routed"}, "dflt") == "own"
    assert task_queue("t", None, {"t": "routed"}, "dflt") == "routed"
    assert task_queue("t", None, {"x": "routed"}, "dflt") == "dflt"
    assert task_queue("t", None, None, None) == "celery"


@pytest.mark.parametrize(
    "routes",
    [
        "proj.routers.route_task",
        [{"x": "a"}, "proj.routers.route_task"],
        {"dynamic": "build_routes()"},
        {"t": {"routing_key": "k"}},
    ],
)
def test_routes_known_only_at_run_time_are_unknown_not_defaulted(routes) -> None:
    with pytest.raises(RouteUnknown):
        task_queue("t", None, routes, None)


def test_an_earlier_static_router_still_decides_before_a_router_function() -> None:
    assert task_queue("x", None, [{"x": "a"}, "proj.routers.route_task"], None) == "a"
