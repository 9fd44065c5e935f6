"""Issue 17, stage 3: a project's tests that mock a task's dispatch method keep passing after finalize.

Our own project, modelled on patterns seen in real suites (Misago, pretalx): tests patch the whole task object
where the caller imported it and assert ``mock.delay.assert_called_once_with(...)``, or patch ``task.apply_async``
with ``patch.object``/``monkeypatch.setattr``. Finalize used to rewrite the call sites to ``enqueue(...)`` with
keyword arguments: the mocks stopped intercepting and the real enqueue ran (SM807). Now those call sites keep
Celery's spelling (a @saq_job task's ``delay``/``apply_async`` are the same enqueue), and the rest converts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

HERE = Path(__file__).resolve().parent

FILES = {
    "forum/__init__.py": "",
    "forum/tasks.py": """
        from celery import shared_task

        from forum import store


        @shared_task
        def sync_categories(ids):
            store.record(f"sync {sorted(ids)}")


        @shared_task
        def notify(post_id, urgent=False):
            store.record(f"notify {post_id} {urgent}")


        @shared_task
        def reindex(post_id):
            store.record(f"reindex {post_id}")
    """,
    "forum/store.py": """
        EFFECTS = []


        def record(text):
            EFFECTS.append(text)
    """,
    "forum/moderation.py": """
        from forum.tasks import notify, reindex, sync_categories


        def move(thread_ids):
            sync_categories.delay(list(thread_ids))


        def reply(post_id):
            notify.apply_async((post_id,), {"urgent": True}, countdown=5)
            reindex.delay(post_id)
    """,
    "tests/__init__.py": "",
    "tests/test_moderation.py": """
        from unittest.mock import patch

        from forum import moderation, tasks


        @patch("forum.moderation.sync_categories")
        def test_move_syncs_categories(mock_sync):
            moderation.move({3, 1})
            mock_sync.delay.assert_called_once_with([1, 3])


        def test_reply_notifies(monkeypatch):
            calls = []
            monkeypatch.setattr("forum.tasks.notify.apply_async", lambda *a, **kw: calls.append((a, kw)))
            with patch.object(tasks.reindex, "delay") as mock_reindex:
                moderation.reply(7)
            assert calls == [(((7,), {"urgent": True}), {"countdown": 5})]
            mock_reindex.assert_called_once_with(7)
    """,
}


def test_mocked_dispatch_methods_keep_their_name_and_the_tests_pass(tmp_path: Path) -> None:
    root = tmp_path / "p"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    files_with_a_dispatch = {
        **FILES,
        "forum/views.py": """
        from forum.tasks import notify


        def ping(post_id):
            return notify.delay(post_id)
    """,
    }
    (root / "forum/views.py").write_text(textwrap.dedent(files_with_a_dispatch["forum/views.py"]).lstrip())
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert [b.text() for b in result.blockers] == []  # no SM807: the mocks intercept what the code calls
    assert apply_changes(root, result.changes) == []
    moderation = (root / "forum/moderation.py").read_text()
    assert "sync_categories.delay(list(thread_ids))" in moderation  # the whole task object is mocked: both kept
    assert 'notify.apply_async((post_id,), {"urgent": True}, countdown=5)' in moderation  # apply_async is mocked
    assert "reindex.delay(post_id)" in moderation  # patch.object(tasks.reindex, "delay")
    # notify.delay is not mocked anywhere: converted as usual
    assert "notify.enqueue(post_id=post_id)" in (root / "forum/views.py").read_text()
    assert "@saq_job(" in (root / "forum/tasks.py").read_text()
    again = compute_finalize(root, Config())
    assert again.changes == [] and again.blockers == []
    blocker = (
        "import importlib.abc, sys\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('celery', 'kombu', 'billiard'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, B())\n"
        "import pytest\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_moderation.py']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocker],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{root}:{HERE.parents[1]}"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
