"""Does a function block, directly or through the project's own helpers it calls?

Native mode must not put a blocking call on the event loop. The index records blocking calls
made directly in a task body; bodies usually call helpers (``fetch_feed(url)`` that calls
``requests.get``), so this follows calls into functions defined in the same module or imported
from the project, a few levels deep, and reports the first blocking call found on each path.
Calls into third-party code are not followed (the patterns name the usual blocking libraries).
"""

from __future__ import annotations

import ast
from pathlib import Path

from saqmigrate.index.extract import BLOCKING, extract_imports_only
from saqmigrate.index.extract import _name as _dotted


class Finder:
    def __init__(self, root: Path, max_depth: int = 3) -> None:
        self.root = root
        self.max_depth = max_depth
        self._modules: dict[str, tuple[ast.Module, bool] | None] = {}

    def _load(self, module: str) -> tuple[ast.Module, bool] | None:
        if module in self._modules:
            return self._modules[module]
        base = self.root.joinpath(*module.split("."))
        found = None
        for path, is_pkg in ((base.with_suffix(".py"), False), (base / "__init__.py", True)):
            if path.is_file():
                try:
                    found = (ast.parse(path.read_bytes()), is_pkg)
                except (SyntaxError, ValueError, OSError):
                    found = None
                break
        self._modules[module] = found
        return found

    def blocking(self, module: str, function: str) -> list[str]:
        """``["requests (via blogs.helpers.fetch_feed)", ...]``: blocking calls reachable from ``module.function``."""
        out: list[str] = []
        self._walk(module, function, 0, [], out, set())
        return out

    def _walk(self, module: str, function: str, depth: int, via: list[str], out: list[str], seen: set) -> None:
        key = (module, function)
        if key in seen or depth > self.max_depth:
            return
        seen.add(key)
        loaded = self._load(module)
        if loaded is None:
            return
        tree, is_pkg = loaded
        fn = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function),
                  None)
        if fn is None:
            return
        imports = extract_imports_only(tree, module, is_pkg)["imports"]  # the scanner's own import resolution
        local = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if not name:
                continue
            head, _, rest = name.partition(".")
            ref = imports[head] + (f".{rest}" if rest else "") if head in imports else name
            for pattern, label in BLOCKING:
                if pattern.search(ref) or (label == "django ORM" and pattern.search(name)):
                    if depth:  # direct calls of the task body are reported by the index already
                        out.append(f"{label} (via {' -> '.join(via + [f'{module}.{function}'])})")
                    break
            else:
                trail = via + ([f"{module}.{function}"] if depth else [])
                if head in local and not rest:
                    self._walk(module, head, depth + 1, trail, out, seen)
                elif head in imports:
                    target = imports[head] + (f".{rest}" if rest else "")
                    mod, _, fun = target.rpartition(".")
                    if mod and self._load(mod) is not None:
                        self._walk(mod, fun, depth + 1, trail, out, seen)
