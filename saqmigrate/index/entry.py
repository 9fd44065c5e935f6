"""Which module creates the Celery app when the app comes from a factory (``celery -A`` target).

A worker imports the task modules; when those use ``@shared_task`` and the Celery app is built
inside a function (Flask's ``celery_init_app(app)``, ``make_celery(app)``), nothing creates the app
unless the worker imports the module that calls the factory at import time: the module the team
passes to ``celery -A`` (Flask's docs: ``make_celery.py`` with ``flask_app = create_app()``). Without
it the tasks bind to Celery's fallback app and lose the app's Task class (the Flask app context),
its configuration and its annotations. The generated SAQ worker settings import the same module.

Found statically: the function that contains the ``Celery(...)`` call, the functions that call it
(two levels: ``create_app`` -> ``celery_init_app``), and the project modules that call one of those
at module level (not under ``if __name__ == "__main__"``). Pure ``ast``; never imports the project.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from saqmigrate.discover import discover


@dataclass
class AppEntry:
    module: str | None  # dotted module to import in the worker, or None
    candidates: list[str] = field(default_factory=list)
    why: str = ""


def _called_names(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Name):
                out.add(f.id)
            elif isinstance(f, ast.Attribute):
                out.add(f.attr)
    return out


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements run at import (functions and classes bodies excluded, ``__main__`` blocks excluded)."""
    out: list[ast.stmt] = []

    def walk(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
                walk(stmt.orelse)
                continue
            if isinstance(stmt, (ast.If, ast.Try, ast.With)):
                walk(stmt.body)
                walk(getattr(stmt, "orelse", []))
                for h in getattr(stmt, "handlers", []):
                    walk(h.body)
                walk(getattr(stmt, "finalbody", []))
                continue
            out.append(stmt)

    walk(tree.body)
    return out


def _module_name(rel: str) -> str | None:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "src":
        parts = parts[1:]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _is_test(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in ("tests", "test", "testing") for p in parts[:-1]) or parts[-1].startswith(("test_", "conftest"))


def find_app_entry(root: Path, app_file: str, app_line: int, *, exclude: set[str] = frozenset()) -> AppEntry:
    """The module that creates the factory-built app defined at ``app_file:app_line``."""
    try:
        tree = ast.parse((root / app_file).read_bytes())
    except (OSError, SyntaxError, ValueError) as exc:
        return AppEntry(None, why=f"cannot read {app_file} ({exc})")
    factory = next((n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and n.lineno <= app_line <= (n.end_lineno or n.lineno)), None)
    if factory is None:
        return AppEntry(None, why="the app is not created inside a function")
    trees: dict[str, ast.Module] = {}
    for rel in discover(root).files:
        path = root / rel
        if _is_test(rel) or rel in exclude or "/saq_worker/" in f"/{rel}":
            continue
        try:
            text = path.read_bytes()
        except OSError:
            continue
        if factory.encode() not in text and b"create_app" not in text and b"make_app" not in text:
            continue
        try:
            trees[rel] = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
    makers = {factory}
    for _ in range(2):  # create_app() calls celery_init_app(app); a wsgi module calls create_app()
        for t in trees.values():
            for fn in t.body:
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name not in makers \
                        and _called_names(fn) & makers:
                    makers.add(fn.name)
    candidates = sorted(m for rel, t in trees.items()
                        if any(_called_names(stmt) & makers for stmt in _module_level(t))
                        and (m := _module_name(rel)) is not None)
    if len(candidates) == 1:
        return AppEntry(candidates[0], candidates)
    preferred = [c for c in candidates if any(w in c.rsplit(".", 1)[-1] for w in ("celery", "worker"))]
    if len(preferred) == 1:
        return AppEntry(preferred[0], candidates)
    if not candidates:
        return AppEntry(None, candidates, f"no module calls {factory}() (or a function calling it) at import time")
    return AppEntry(None, candidates, f"several modules create the app at import time ({', '.join(candidates)})")
