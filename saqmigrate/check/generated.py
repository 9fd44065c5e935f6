"""Read generated modules *statically* (``ast``; the checked project is never imported).

The registry (``TASKS``/``SCHEDULES``/``QUEUES``) and the queue settings modules
(``FUNCTIONS``, ``CRON_JOBS``) are plain literals by construction (emit/generate.py), so
``ast.literal_eval`` on their assignments gives exactly what the worker and router load.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Literals:
    values: dict[str, Any] = field(default_factory=dict)  # TASKS -> {...}
    key_lines: dict[str, dict[str, int]] = field(default_factory=dict)  # TASKS -> {task name: line}
    lines: dict[str, int] = field(default_factory=dict)  # TASKS -> line of the assignment


def _parse(text: str | None) -> ast.Module | None:
    if not text:
        return None
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def read_literals(text: str | None, names: tuple[str, ...] = ("TASKS", "SCHEDULES", "QUEUES")) -> Literals:
    out = Literals()
    tree = _parse(text)
    if tree is None:
        return out
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name not in names:
            continue
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError):
            continue
        out.values[name] = value
        out.lines[name] = node.lineno
        if isinstance(node.value, ast.Dict):
            out.key_lines[name] = {
                k.value: k.lineno for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
    return out


def read_functions(text: str | None) -> dict[str, int]:
    """``FUNCTIONS = [("celery.name", fn), ...]`` of a queue settings module: name -> line."""
    out: dict[str, int] = {}
    tree = _parse(text)
    if tree is None:
        return out
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "FUNCTIONS" for t in node.targets)
            and isinstance(node.value, (ast.List, ast.Tuple))
        ):
            for elt in node.value.elts:
                if (
                    isinstance(elt, ast.Tuple)
                    and elt.elts
                    and isinstance(elt.elts[0], ast.Constant)
                    and isinstance(elt.elts[0].value, str)
                ):
                    out[elt.elts[0].value] = elt.lineno
    return out


def cron_lines(text: str | None) -> dict[str, tuple[int, str]]:
    """Beat entry -> (line, normalised source) of its ``CronJob(cron_function('entry', ...), ...)``.

    Read from the AST, so a formatter that splits or re-quotes the call changes nothing."""
    out: dict[str, tuple[int, str]] = {}
    tree = _parse(text)
    if tree is None:
        return out
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "CronJob"
            and node.args
            and isinstance(node.args[0], ast.Call)
        ):
            continue
        inner = node.args[0]
        if (
            isinstance(inner.func, ast.Name)
            and inner.func.id == "cron_function"
            and inner.args
            and isinstance(inner.args[0], ast.Constant)
            and isinstance(inner.args[0].value, str)
        ):
            out[inner.args[0].value] = (node.lineno, ast.unparse(node))
    return out


def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def first_difference(old: str | None, new: str | None) -> tuple[int, str, str]:
    """(1-based line, old line, new line) of the first line that differs."""
    a = (old or "").splitlines()
    b = (new or "").splitlines()
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<end of file>"
        y = b[i] if i < len(b) else "<end of file>"
        if x != y:
            return i + 1, x.strip(), y.strip()
    return 1, "", ""
