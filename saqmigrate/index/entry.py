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
import hashlib
import re
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saqmigrate.config import Config
from saqmigrate.discover import discover, is_test_path, module_name, package_dirs


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


EntryCache = tuple[Callable[[str], "dict[str, Any] | None"], Callable[[str, dict[str, Any]], None]]  # (get, put) by key


def find_app_entry(
    root: Path, app_file: str, app_line: int, config: Config | None = None, cache: EntryCache | None = None
) -> AppEntry:
    """The module that creates the factory-built app defined at ``app_file:app_line``.

    Files are the scan's (``discover`` with the project's include/exclude, module names by
    ``discover.module_name``, tests left out as ``discover.is_test_path`` says); only files that mention
    one of the factory functions by name are parsed. With ``cache`` (the scan's), the answer is kept under
    the size and mtime of every file, so a scan of an unchanged tree does not read them all again."""
    try:
        tree = ast.parse((root / app_file).read_bytes())
    except (OSError, SyntaxError, ValueError) as exc:
        return AppEntry(None, why=f"cannot read {app_file} ({exc})")
    factory = next(
        (
            n.name
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.lineno <= app_line <= (n.end_lineno or n.lineno)
        ),
        None,
    )
    if factory is None:
        return AppEntry(None, why="the app is not created inside a function")
    config = config or Config()
    disc = discover(root, exclude=config.exclude, include=config.include)
    key = None
    if cache is not None:
        stamps = hashlib.sha1(f"{app_file}:{app_line}:{factory}".encode())
        for rel in sorted(disc.files):
            try:
                st = (disc.root / rel).stat()
            except OSError:
                continue
            stamps.update(f"\0{rel}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        key = f"app_entry/1/{stamps.hexdigest()}"
        hit = cache[0](key)
        if hit is not None:
            return AppEntry(hit["module"], list(hit["candidates"]), hit["why"])
    found = _search_app_entry(disc, factory)
    if cache is not None and key is not None:
        cache[1](key, {"module": found.module, "candidates": found.candidates, "why": found.why})
    return found


def _search_app_entry(disc: Any, factory: str) -> AppEntry:
    """The modules that call ``factory`` (or a function calling it, three levels deep) at import time."""
    has_init = package_dirs(disc.root, disc.files)
    texts: dict[str, bytes] = {}
    for rel in disc.files:
        if is_test_path(rel) or "/saq_worker/" in f"/{rel}":
            continue
        try:
            texts[rel] = (disc.root / rel).read_bytes()
        except OSError:
            continue
    makers, trees = {factory}, {}
    for _ in range(3):  # the factory, create_app() calling it, a build_app() calling that
        # one C-level search per file for all the names (a generator over names per file cost 3 s on 20k files)
        mentions = re.compile(b"|".join(re.escape(m.encode()) for m in sorted(makers)))
        for rel, text in texts.items():
            if rel not in trees and mentions.search(text):
                try:
                    trees[rel] = ast.parse(text)
                except (SyntaxError, ValueError):
                    trees[rel] = ast.Module(body=[], type_ignores=[])
        more = {
            fn.name
            for t in trees.values()
            for fn in t.body
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and _called_names(fn) & makers
        }
        if more <= makers:
            break
        makers |= more
    candidates = sorted(
        module_name(rel, has_init)
        for rel, t in trees.items()
        if any(_called_names(stmt) & makers for stmt in _module_level(t))
    )
    if len(candidates) == 1:
        return AppEntry(candidates[0], candidates)
    if not candidates:
        return AppEntry(None, candidates, f"no module calls {factory}() (or a function calling it) at import time")
    preferred = [c for c in candidates if any(w in c.rsplit(".", 1)[-1] for w in ("celery", "worker"))]
    if len(preferred) == 1:
        return AppEntry(
            preferred[0],
            candidates,
            f"several modules create the app at import time "
            f"({', '.join(candidates)}); {preferred[0]} is named for the worker",
        )
    return AppEntry(None, candidates, f"several modules create the app at import time ({', '.join(candidates)})")
