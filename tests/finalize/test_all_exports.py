"""finalize removes an ``__all__`` entry only with the name it exports: a name it keeps (bound in a branch,
re-exported from Celery while that import stays, SM803) keeps its entry, and the result is F401/F822-clean."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

FILES = {
    "proj/__init__.py": """
        from .celery_app import app as celery_app

        __all__ = ("celery_app",)
    """,
    "proj/celery_app.py": """
        from celery import Celery

        app = Celery("proj", broker="redis://")
    """,
    "proj/sphinx.py": "SPHINX = False\n",
    # a stand-in class under Sphinx, Celery's otherwise (the import finalize cannot convert: SM803)
    "proj/proxy.py": '''
        """Sphinx cannot document Celery's lazy proxies."""
        from .sphinx import SPHINX

        __all__ = ("PromiseProxy",)

        if SPHINX:  # pragma: no cover

            class PromiseProxy:
                def __init__(self, *args, **kwargs):
                    pass

        else:
            from celery.local import PromiseProxy
    ''',
    "proj/exports.py": """
        from celery import shared_task

        try:
            from json import dumps as encode
        except ImportError:
            encode = repr

        __all__ = ["add", "encode", "undefined_here"]


        @shared_task
        def add(x, y):
            return x + y
    """,
}


def test_all_keeps_every_name_finalize_does_not_unbind(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert apply_changes(root, compute_changes(root, Config()).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert any(b.file == "proj/proxy.py" and b.code == "SM803" for b in result.blockers)
    assert apply_changes(root, result.changes) == []
    proxy = (root / "proj" / "proxy.py").read_text()
    assert '__all__ = ("PromiseProxy",)' in proxy and "from celery.local import PromiseProxy" in proxy
    exports = (root / "proj" / "exports.py").read_text()
    assert '__all__ = ["add", "encode", "undefined_here"]' in exports  # finalize bound none of them
    assert "celery_app" not in (root / "proj" / "__init__.py").read_text()  # it unbound that one: it goes
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F401,F822", "proj/proxy.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0, lint.stdout
