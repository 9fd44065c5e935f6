"""Step 1 of the pipeline: which files to look at.

Walks the tree once (``os.scandir``), skipping VCS/virtualenv/build folders and paths that
``.gitignore`` files or ``[tool.saqmigrate] exclude`` patterns exclude. Directory symlinks
are followed once; a symlink that loops is reported, not followed.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ALWAYS_SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "env",
    ".env",
    "node_modules",
    "site-packages",
    ".saqmigrate_cache",
    ".eggs",
    "build",
    "dist",
    ".hypothesis",
    ".idea",
    ".vscode",
}


@dataclass
class Discovered:
    root: Path
    files: list[str] = field(default_factory=list)  # relative posix paths of .py files
    errors: list[tuple[str, str]] = field(default_factory=list)  # (relpath, message)


class _IgnoreRules:
    """A small, honest subset of gitignore: globs, ``**``, dir-only (trailing /), anchored
    (leading / or an inner /), negation (!). Rules apply below the .gitignore that holds them."""

    def __init__(self) -> None:
        # (base dir, compiled glob, negate, dir_only, anchored)
        self.rules: list[tuple[str, re.Pattern, bool, bool, bool]] = []

    def add_file(self, base: str, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = line.startswith("/") or "/" in line
            line = line.lstrip("/")
            if not line:
                continue
            glob = line.replace("**/", "*").replace("/**", "/*") if "**" in line else line
            self.rules.append((base, re.compile(fnmatch.translate(glob)), negate, dir_only, anchored))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        name = rel.rsplit("/", 1)[-1]
        for base, regex, negate, dir_only, anchored in self.rules:
            if dir_only and not is_dir:
                continue
            if base and not rel.startswith(base + "/"):
                continue
            target = (rel[len(base) + 1 :] if base else rel) if anchored else name
            if regex.match(target):
                result = not negate
        return result


def _match_any(rel: str, patterns: list[str]) -> bool:
    for pat in patterns:
        p = pat.rstrip("/")
        if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p + "/*") or rel == p or rel.startswith(p + "/"):
            return True
    return False


def discover(
    root: Path, *, exclude: list[str] | None = None, include: list[str] | None = None, use_gitignore: bool = True
) -> Discovered:
    root = root.resolve()
    out = Discovered(root=root)
    exclude = list(exclude or [])
    ignore = _IgnoreRules()
    seen_dirs: set[tuple[int, int]] = set()

    def walk(dir_path: Path, rel_dir: str) -> None:
        try:
            st = dir_path.stat()
        except OSError as exc:
            out.errors.append((rel_dir or ".", f"cannot read directory: {exc.strerror or exc}"))
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            out.errors.append(
                (rel_dir or ".", "symlink loop: this directory was already scanned; not following it again")
            )
            return
        seen_dirs.add(ident)
        try:
            # is_file() raises PermissionError on an unreadable folder (Docker volumes owned by
            # another user): that folder is an entry in the report, never a traceback
            if use_gitignore and (dir_path / ".gitignore").is_file():
                ignore.add_file(rel_dir, dir_path / ".gitignore")
            entries = sorted(os.scandir(dir_path), key=lambda e: e.name)
        except OSError as exc:
            out.errors.append((rel_dir or ".", f"cannot list directory: {exc.strerror or exc}"))
            return
        rules_active = use_gitignore and bool(ignore.rules)
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            is_py = name.endswith(".py")
            try:
                is_dir = (not is_py or entry.is_symlink()) and entry.is_dir(follow_symlinks=True)
                is_file = is_py and not is_dir and entry.is_file(follow_symlinks=True)
            except OSError as exc:  # ELOOP on a self-referencing symlink
                out.errors.append((rel, f"cannot follow: {exc.strerror or exc}"))
                continue
            if is_py and not is_dir and not is_file:
                if entry.is_symlink():
                    out.errors.append((rel, "broken or looping symlink"))
                elif not os.path.exists(entry.path):
                    continue
                else:  # a FIFO, socket or device named *.py: reading it could block forever
                    out.errors.append((rel, "not a regular file"))
                continue
            if is_dir:
                if name in ALWAYS_SKIP_DIRS or name.endswith(".egg-info"):
                    continue
                if exclude and _match_any(rel, exclude):
                    continue
                if rules_active and ignore.ignored(rel, True):
                    continue
                walk(Path(entry.path), rel)
            elif is_file:
                if exclude and _match_any(rel, exclude):
                    continue
                if include and not _match_any(rel, include):
                    continue
                if rules_active and ignore.ignored(rel, False):
                    continue
                out.files.append(rel)

    if not root.exists():
        raise FileNotFoundError(str(root))
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    walk(root, "")
    return out


def package_dirs(root: Path, files: list[str]) -> set[str]:
    """The relative folders that hold an ``__init__.py`` and count as packages for :func:`module_name`.

    A folder holding Django's ``manage.py`` is where the project runs from: ``manage.py`` puts it on
    ``sys.path``, so neither it nor a folder above it is a package of the project's modules, even with
    an ``__init__.py`` (``celery_blast/__init__.py`` beside ``celery_blast/manage.py``: the task module
    ``celery_blast/blast_project/tasks.py`` is ``blast_project.tasks``, as Celery names it). Only a
    ``manage.py`` that runs Django's command line counts (``execute_from_command_line``)."""
    has_init = {rel.rsplit("/", 1)[0] if "/" in rel else "" for rel in files if rel.endswith("__init__.py")}
    for rel in files:
        if rel != "manage.py" and not rel.endswith("/manage.py"):
            continue
        try:
            text = (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "execute_from_command_line" not in text:
            continue
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        parts = folder.split("/") if folder else []
        for i in range(len(parts) + 1):
            has_init.discard("/".join(parts[:i]))
    return has_init


def module_name(rel: str, has_init: set[str]) -> str:
    """Dotted module name the way Celery sees ``__module__``.

    The name starts at the outermost folder on the file's path that holds an ``__init__.py``
    (the package a Django/Flask layout puts on ``sys.path``); folders below it without one are
    namespace portions and still count (``readthedocs/projects/tasks/builds.py`` is
    ``readthedocs.projects.tasks.builds`` although ``tasks/`` has no ``__init__.py``). A file
    with no package folder above it is a top-level module. ``has_init`` holds the relative
    folders that contain an ``__init__.py``.
    """
    parts = rel[:-3].split("/")
    dirs = parts[:-1]
    start = len(dirs)
    for i in range(len(dirs)):
        if "/".join(dirs[: i + 1]) in has_init:
            start = i
            break
    mod = parts[start:]
    if mod and mod[-1] == "__init__":
        mod = mod[:-1]
    return ".".join(mod) if mod else parts[-1]


def is_test_path(rel: str) -> bool:
    """A test module: under a tests/ or test/ folder, test_*.py, *_test(s).py, conftest.py."""
    parts = rel.split("/")
    leaf = parts[-1]
    return (
        any(p in ("tests", "test", "testing") for p in parts[:-1])
        or leaf.startswith("test_")
        or leaf.endswith(("_test.py", "_tests.py"))
        or leaf in ("conftest.py", "tests.py")
    )
