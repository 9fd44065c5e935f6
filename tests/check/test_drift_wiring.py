"""SM617 when rewrite found no Celery app to wire (tasks from ``shared_task`` only): check looks for the
router's install in the files the scan indexed (ScanStats.indexed_files) and passes once one is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from saqmigrate.check.drift import imports_routing
from tests.check.helpers import check, invoke, rewrite

TASKS = "from celery import shared_task\n\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
VIEWS = "from app.tasks import add\n\n\ndef view():\n    add.delay(1, 2)\n"


# each spelling of "import the generated routing module" that Python accepts, including the one SM617's
# message suggests for a top-level worker package (`from saq_worker.routing import install`)
WIRINGS = [
    "from saq_worker import routing\n\nrouting.install(current_app)\n",
    "from saq_worker.routing import install\n\ninstall(current_app)\n",
    "import saq_worker.routing\n\nsaq_worker.routing.install(current_app)\n",
]


@pytest.mark.parametrize("wiring", WIRINGS, ids=["from-package", "from-module", "import-module"])
def test_no_app_to_wire_fails_until_the_router_is_installed_by_hand(tmp_path: Path, wiring: str) -> None:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "tasks.py").write_text(TASKS)
    (root / "app" / "views.py").write_text(VIEWS)
    rewrite(root)
    assert invoke("baseline", root).exit_code == 0
    code, rep = check(root, "--only", "drift")
    assert code == 1 and [f["rule"] for f in rep["findings"]] == ["SM617"], rep
    assert "no Celery app in the project is wired" in rep["findings"][0]["message"]
    # installed by hand in a module the scan indexes (it imports celery): wired
    (root / "app" / "celery_setup.py").write_text("from celery import current_app\n\n" + wiring)
    code, rep = check(root, "--only", "drift")
    assert code == 0 and rep["findings"] == [], rep


@pytest.mark.parametrize(
    ("source", "rel", "wired"),
    [
        ("from proj.saq_worker.routing import install\n", "proj/celery.py", True),
        ("from proj.saq_worker import routing\n", "proj/celery.py", True),
        ("from .saq_worker.routing import install\n", "proj/celery.py", True),
        ("from .saq_worker import routing\n", "proj/__init__.py", True),
        ("from . import routing\n", "proj/saq_worker/__init__.py", True),  # inside the package itself
        ("from ..saq_worker import routing\n", "proj/conf/celery.py", True),
        ("import proj.saq_worker.routing as r\n", "proj/celery.py", True),
        ("from proj.saq_worker.routing import install\n", "src/proj/celery.py", True),  # src/ is a source root
        ("from . import routing\n", "proj/other/__init__.py", False),  # another package's routing module
        ("from .saq_worker import routing\n", "proj/conf/celery.py", False),  # proj.conf.saq_worker
        ("# from proj.saq_worker.routing import install\n", "proj/celery.py", False),  # a comment
        ("from other.saq_worker.routing import install\n", "proj/celery.py", False),
        ("from proj.saq_worker import jobs\n", "proj/celery.py", False),
        ("from proj import routing\n", "proj/celery.py", False),
        ("def broken(:\n", "proj/celery.py", False),
    ],
)
def test_imports_routing_accepts_every_spelling_of_the_generated_module_and_nothing_else(
    source: str, rel: str, wired: bool
) -> None:
    assert imports_routing(source, "proj.saq_worker", rel) is wired
