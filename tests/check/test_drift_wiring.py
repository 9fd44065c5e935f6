"""SM617 when rewrite found no Celery app to wire (tasks from ``shared_task`` only): check looks for the
router's install in the files the scan indexed (ScanStats.indexed_files) and passes once one is there."""

from __future__ import annotations

from pathlib import Path

from tests.check.helpers import check, invoke, rewrite

TASKS = "from celery import shared_task\n\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
VIEWS = "from app.tasks import add\n\n\ndef view():\n    add.delay(1, 2)\n"


def test_no_app_to_wire_fails_until_the_router_is_installed_by_hand(tmp_path: Path) -> None:
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
    (root / "app" / "celery_setup.py").write_text(
        "from celery import current_app\n\nfrom saq_worker import routing\n\nrouting.install(current_app)\n"
    )
    code, rep = check(root, "--only", "drift")
    assert code == 0 and rep["findings"] == [], rep
