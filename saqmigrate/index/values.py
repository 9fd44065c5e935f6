"""Resolve an option's value the way Python would, without running anything.

``@shared_task(queue=MAIL)`` gets its queue from a name: a module-level constant of the same
module, an import (``from .constants import MAIL``), a package re-export, a star import, a class
attribute (``Queues.MAIL``), Django's ``settings.X`` (the settings module's own assignment, through
``from .base import *`` chains), or a string built from those (``PREFIX + "mail"``, f-strings). This
module follows those bindings over the scanned tree's source, in statement order, exactly:

* a name bound once at module level, by a plain statement, resolves to that binding;
* a name bound inside ``if``/``try``/``for``/``with``/a function call, rebound by ``+=``, unpacked
  from a tuple, or not bound at all is **unresolved** — with the reason, so the caller can report it
  and keep the task on Celery instead of substituting a default;
* ``os.environ.get("X", "lit")`` / ``os.getenv`` / ``env("X", default=...)`` resolve to the default,
  with ``X`` recorded: the value is environment-driven and the caller says so;
* anything outside the scanned tree (a library constant) is unresolved; exception classes are the
  exception: they resolve to their fully qualified importable name (``qualify_exception``).

Pure over source text: trees are parsed on demand (``load_tree``) and memoised.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any, Callable

from saqmigrate.index.extract import _name as _dotted
from saqmigrate.index.extract import _resolve_relative

MAX_DEPTH = 24
SETTINGS_REFS = ("django.conf.settings",)


class Unresolved(Exception):
    """The value cannot be known statically; ``str(exc)`` says why, for a finding."""


@dataclass
class Resolved:
    value: Any
    env: list[str] = field(default_factory=list)  # environment variables whose defaults were used
    origin: str = ""  # where the value was finally found (module.NAME), for messages


@dataclass(frozen=True)
class _Module:
    name: str


@dataclass(frozen=True)
class _Class:
    module: str
    node: ast.ClassDef


def bindings(
    tree: ast.Module, module: str, is_package: bool, star: Callable[[str], dict[str, Any] | None]
) -> dict[str, tuple[Any, ...]]:
    """Module-level name -> its binding, in statement order (the last plain binding wins).

    Kinds: ("expr", node), ("ref", dotted), ("module", dotted), ("class", node), ("def",),
    ("ambiguous", why). ``star(module)`` gives another module's bindings for ``from m import *``.
    """
    env: dict[str, tuple[Any, ...]] = {}

    def bind_import(stmt: ast.AST, conditional: str | None) -> None:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    env[a.asname] = ("module", a.name) if not conditional else ("ambiguous", conditional)
                else:
                    head = a.name.split(".")[0]
                    env[head] = ("module", head) if not conditional else env.get(head, ("ambiguous", conditional))
            return
        assert isinstance(stmt, ast.ImportFrom)
        mod = _resolve_relative(module, is_package, stmt.level, stmt.module) if stmt.level else (stmt.module or "")
        for a in stmt.names:
            if a.name == "*":
                other = star(mod)
                if other is None:
                    if not conditional:  # a module outside the tree: any name may come from it
                        env["*" + mod] = ("ambiguous", f"names may come from `from {mod} import *`")
                    continue
                for k, v in other.items():
                    if not k.startswith("_") and not k.startswith("*"):
                        env[k] = v
                continue
            target = ("ref", f"{mod}.{a.name}" if mod else a.name)
            env[a.asname or a.name] = target if not conditional else ("ambiguous", conditional)

    def bind_targets(target: ast.AST, value: tuple[Any, ...]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                bind_targets(elt, ("ambiguous", "assigned by unpacking"))
        elif isinstance(target, ast.Starred):
            bind_targets(target.value, ("ambiguous", "assigned by unpacking"))

    def walk(body: list[ast.stmt], conditional: str | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                if (
                    conditional
                    and conditional.startswith("try")
                    and isinstance(stmt, ast.ImportFrom)
                    and any(a.name == "*" for a in stmt.names)
                ):
                    # `try: from .local import * except ImportError: pass`: it applies when the module exists
                    bind_import(stmt, None)
                else:
                    bind_import(stmt, conditional)
            elif isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    bind_targets(t, ("expr", stmt.value) if not conditional else ("ambiguous", conditional))
            elif isinstance(stmt, ast.AnnAssign):
                if stmt.value is not None:
                    bind_targets(stmt.target, ("expr", stmt.value) if not conditional else ("ambiguous", conditional))
            elif isinstance(stmt, ast.AugAssign):
                bind_targets(stmt.target, ("ambiguous", "changed by an augmented assignment"))
            elif isinstance(stmt, ast.ClassDef):
                env[stmt.name] = ("class", stmt) if not conditional else ("ambiguous", conditional)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                env[stmt.name] = ("def",) if not conditional else ("ambiguous", conditional)
            elif isinstance(stmt, ast.If):
                walk(stmt.body, "assigned under an `if`")
                walk(stmt.orelse, "assigned under an `if`")
            elif isinstance(stmt, (ast.Try, ast.TryStar)):
                walk(stmt.body, "try: assigned in a `try` block")
                for h in stmt.handlers:
                    walk(h.body, "assigned in an `except` block")
                walk(stmt.orelse, "assigned in a `try` block")
                walk(stmt.finalbody, "assigned in a `try` block")
            elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
                walk(stmt.body, "assigned in a loop")
                walk(stmt.orelse, "assigned in a loop")
                if isinstance(stmt, (ast.For, ast.AsyncFor)):
                    bind_targets(stmt.target, ("ambiguous", "a loop variable"))
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                walk(stmt.body, "assigned in a `with` block")
            elif isinstance(stmt, ast.Match):
                for case in stmt.cases:
                    walk(case.body, "assigned under a `match`")
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                # globals().update(...), setattr(module, ...): anything may change
                f = _dotted(stmt.value.func) or ""
                if f in ("globals().update", "vars().update") or f.endswith("globals.update"):
                    env["*globals"] = ("ambiguous", "module globals are updated dynamically")

    walk(tree.body, None)
    return env


class Values:
    """Resolve expressions in the context of a module of the scanned tree."""

    def __init__(
        self,
        load_tree: Callable[[str], tuple[ast.Module, bool] | None],
        is_module: Callable[[str], bool],
        settings_module: str | None = None,
    ) -> None:
        self._load_tree = load_tree  # module -> (tree, is_package) or None (not in the tree / unparsable)
        self._is_module = is_module
        self.settings_module = settings_module
        self._env: dict[str, dict[str, tuple[Any, ...]] | None] = {}
        self._in_progress: set[str] = set()

    # bindings
    def env(self, module: str) -> dict[str, tuple[Any, ...]] | None:
        if module in self._env:
            return self._env[module]
        if module in self._in_progress:  # a star-import cycle
            return {}
        loaded = self._load_tree(module)
        if loaded is None:
            self._env[module] = None
            return None
        self._in_progress.add(module)
        try:
            tree, is_package = loaded
            self._env[module] = bindings(tree, module, is_package, self.env)
        finally:
            self._in_progress.discard(module)
        return self._env[module]

    # entry points
    def expr(self, module: str, src: str) -> Resolved:
        """The value of the expression ``src`` evaluated at module level of ``module``."""
        try:
            node = ast.parse(src.strip(), mode="eval").body
        except (SyntaxError, ValueError):
            raise Unresolved(f"`{src}` is not an expression") from None
        got = self._eval(module, node, 0)
        if isinstance(got, Resolved):
            return got
        raise Unresolved(f"`{src}` is a {'module' if isinstance(got, _Module) else 'class'}, not a value")

    def mapping(self, module: str, src: str) -> "dict[str, Resolved | Unresolved] | _Module | _Class":
        """The items of the mapping ``src`` evaluates to at module level of ``module``, each resolved on its
        own (one value that cannot be known leaves the others known: the caller reports the keys it needs).
        A module or a class (read by attribute, as Celery's ``config_from_object`` does) is returned as such.
        Raises Unresolved when the keys themselves cannot be known."""
        try:
            node = ast.parse(src.strip(), mode="eval").body
        except (SyntaxError, ValueError):
            raise Unresolved(f"`{src}` is not an expression") from None
        return self._mapping(module, node, 0)

    def _mapping(self, module: str, node: ast.AST, depth: int) -> "dict[str, Resolved | Unresolved] | _Module | _Class":
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        items = _literal_items(node)
        if items is not None:
            out: dict[str, Resolved | Unresolved] = {}
            for k, v in items:
                if k is None:
                    more = self._mapping(module, v, depth + 1)
                    if not isinstance(more, dict):
                        raise Unresolved(f"`**{ast.unparse(v)}` is not a dict")
                    out.update(more)
                    continue
                key = k if isinstance(k, str) else self._value(module, k, depth + 1).value
                if not isinstance(key, str):
                    raise Unresolved(f"a key of `{ast.unparse(node)}` is not a string")
                try:
                    out[key] = self._value(module, v, depth + 1)
                except Unresolved as exc:
                    out[key] = exc
            return out
        dotted = _dotted(node)
        if dotted is not None:  # a name: follow it to the expression bound to it, keeping its items apart
            bound = self._bound(module, dotted, depth + 1)
            if isinstance(bound, tuple):
                return self._mapping(bound[0], bound[1], depth + 1)
            got = bound
        else:
            got = self._eval(module, node, depth + 1)
        if not isinstance(got, Resolved):
            return got
        if not isinstance(got.value, dict):
            raise Unresolved(f"`{ast.unparse(node)}` is not a dict")
        return {str(k): Resolved(v, list(got.env), got.origin) for k, v in got.value.items()}

    def class_items(self, got: _Class, depth: int = 0) -> "dict[str, Resolved | Unresolved]":
        """The attributes Celery reads from a class given as a config source (``config_from_object(Config)``:
        ``getattr``, so inherited ones too): its body's plain assignments over its project bases'."""
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        cls = got.node
        if cls.keywords:
            raise Unresolved(f"class {cls.name} has a metaclass or class keywords")
        out: dict[str, Resolved | Unresolved] = {}
        for b in cls.bases:
            if _dotted(b) == "object":
                continue
            try:
                base = self._eval(got.module, b, depth + 1)
            except Unresolved as exc:
                raise Unresolved(f"class {cls.name} inherits from `{ast.unparse(b)}` ({exc})") from None
            if not isinstance(base, _Class):
                raise Unresolved(
                    f"class {cls.name} inherits from `{ast.unparse(b)}`, which is not a class of the project"
                )
            out.update(self.class_items(base, depth + 1))
        own = {
            t.id
            for stmt in cls.body
            if isinstance(stmt, (ast.Assign, ast.AnnAssign))
            for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
            if isinstance(t, ast.Name)
        }
        for stmt in cls.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if stmt.value is None:
                    continue
                names = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
                for t in targets:
                    if not isinstance(t, ast.Name):
                        raise Unresolved(f"class {cls.name} assigns `{ast.unparse(t)}`")
                    if names & own:  # a class-body name: not the module-level one values would read
                        out[t.id] = Unresolved(f"`{cls.name}.{t.id}` is computed from other class attributes")
                        continue
                    try:
                        out[t.id] = self._value(got.module, stmt.value, depth + 1)
                    except Unresolved as exc:
                        out[t.id] = exc
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[stmt.name] = Unresolved(f"`{cls.name}.{stmt.name}` is a method or property")
            elif (
                isinstance(stmt, ast.ClassDef)
                or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
                or isinstance(stmt, ast.Pass)
            ):
                continue
            else:
                raise Unresolved(f"class {cls.name} binds names in a `{type(stmt).__name__.lower()}` statement")
        return out

    def object_at(self, module: str, path: str) -> "Resolved | _Module | _Class":
        """What an import path (``"proj.config.Config"`` / ``"proj.config:Config"``) names, read from ``module``."""
        dotted = path.replace(":", ".")
        if self._is_module(dotted):
            return _Module(dotted)
        return self._ref(dotted, 0)

    def _bound(self, module: str, dotted: str, depth: int) -> "tuple[str, ast.AST] | Resolved | _Module | _Class":
        """Where the dotted name is bound: (module, the expression assigned to it), a module or a class; or
        its value when it is reached some other way."""
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        head, _, rest = dotted.partition(".")
        env = self.env(module)
        if env is None:
            raise Unresolved(f"module {module} is not in the scanned tree")
        b = env.get(head)
        if b is None:
            star = next((v for k, v in env.items() if k.startswith("*")), None)
            raise Unresolved(star[1] if star else f"`{head}` is not defined at module level in {module}")
        if b[0] == "ambiguous":
            raise Unresolved(f"`{head}` in {module} is {b[1]}")
        if b[0] == "expr" and not rest:
            return module, b[1]
        if b[0] in ("ref", "module"):
            target = b[1] + (f".{rest}" if rest else "")
            if b[0] == "module" and not rest:
                return _Module(b[1])
            split = self._split(target)
            if split is not None:
                mod, sym, more = split
                if not sym:
                    return _Module(mod)
                return self._bound(mod, sym + (f".{more}" if more else ""), depth + 1)
        if b[0] == "class" and not rest:
            return _Class(module, b[1])
        # a value reached otherwise (a class attribute, Django's settings.X ...): whole, as Python computes it
        return self._eval(module, ast.parse(dotted, mode="eval").body, depth + 1)

    def qualify_exceptions(self, module: str, src: str) -> list[str]:
        """``(ConnectionError, Timeout)`` in ``module`` -> importable names, builtins bare."""
        try:
            node = ast.parse(src.strip(), mode="eval").body
        except (SyntaxError, ValueError):
            raise Unresolved(f"`{src}` is not an expression") from None
        return self._exceptions(module, node, 0)

    # evaluation
    def _exceptions(self, module: str, node: ast.AST, depth: int) -> list[str]:
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            out: list[str] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    out.extend(self._exceptions(module, elt.value, depth + 1))
                else:
                    out.extend(self._exceptions(module, elt, depth + 1))
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._exceptions(module, node.left, depth + 1) + self._exceptions(module, node.right, depth + 1)
        dotted = _dotted(node)
        if dotted is None:
            raise Unresolved(f"`{ast.unparse(node)}` is not a class name")
        head, _, rest = dotted.partition(".")
        env = self.env(module)
        if env is None:
            raise Unresolved(f"module {module} is not in the scanned tree")
        b = env.get(head)
        if b is None:
            if any(k.startswith("*") for k in env):
                raise Unresolved(env[next(k for k in env if k.startswith("*"))][1])
            if not rest and isinstance(getattr(builtins, head, None), type):
                return [head]
            raise Unresolved(f"`{head}` is not defined in {module}")
        return self._exception_binding(module, head, rest, b, depth)

    def _exception_binding(self, module: str, head: str, rest: str, b: tuple[Any, ...], depth: int) -> list[str]:
        suffix = f".{rest}" if rest else ""
        kind = b[0]
        if kind == "ambiguous":
            raise Unresolved(f"`{head}` in {module} is {b[1]}")
        if kind == "class":
            return [f"{module}.{head}{suffix}"]
        if kind == "module":
            return [self._qualify_ref(b[1] + suffix, depth + 1)]
        if kind == "ref":
            return [self._qualify_ref(b[1] + suffix, depth + 1)]
        if kind == "expr":
            if rest:
                raise Unresolved(f"`{head}.{rest}` is an attribute of a value")
            return self._exceptions(module, b[1], depth + 1)
        raise Unresolved(f"`{head}` in {module} is a function, not an exception class")

    def _qualify_ref(self, dotted: str, depth: int) -> str:
        """Follow a dotted reference through the tree's re-exports; outside the tree it is final."""
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        split = self._split(dotted)
        if split is None:
            return dotted  # a library class: its import path
        mod, sym, rest = split
        if not sym:
            raise Unresolved(f"`{dotted}` is a module, not an exception class")
        env = self.env(mod) or {}
        b = env.get(sym)
        if b is None:
            raise Unresolved(f"`{sym}` is not defined in {mod}")
        names = self._exception_binding(mod, sym, rest, b, depth)
        if len(names) != 1:
            raise Unresolved(f"`{dotted}` is a tuple of classes")
        return names[0]

    def _split(self, dotted: str) -> tuple[str, str, str] | None:
        """Longest module prefix in the tree: (module, symbol, rest), or None when outside the tree."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            mod = ".".join(parts[:i])
            if self._is_module(mod):
                return mod, (parts[i] if i < len(parts) else ""), ".".join(parts[i + 1 :])
        return None

    def _eval(self, module: str, node: ast.AST, depth: int) -> Resolved | _Module | _Class:
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        if isinstance(node, ast.Constant):
            return Resolved(node.value)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = [self._value(module, e, depth + 1) for e in node.elts]
            return Resolved([i.value for i in items], [e for i in items for e in i.env])
        if isinstance(node, ast.Dict):
            out: dict[str, Any] = {}
            env_: list[str] = []
            for k, v in zip(node.keys, node.values):
                val = self._value(module, v, depth + 1)
                env_ += val.env
                if k is None:  # {**BASE, ...}: a dict's items, in order
                    if not isinstance(val.value, dict):
                        raise Unresolved(f"`**{ast.unparse(v)}` is not a dict")
                    out.update(val.value)
                else:
                    key_value = self._value(module, k, depth + 1)
                    out[key_value.value] = val.value
                    env_ += key_value.env
            return Resolved(out, env_)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self._value(module, node.operand, depth + 1)
            if isinstance(operand.value, (int, float)) and not isinstance(operand.value, bool):
                return Resolved(-operand.value if isinstance(node.op, ast.USub) else operand.value, operand.env)
            raise Unresolved(f"`{ast.unparse(node)}` is not a number")
        if isinstance(node, ast.BinOp):
            left, right = self._value(module, node.left, depth + 1), self._value(module, node.right, depth + 1)
            ops: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
                ast.Add: lambda a, b: a + b,
                ast.Mult: lambda a, b: a * b,
                ast.Sub: lambda a, b: a - b,
                ast.Div: lambda a, b: a / b,
                ast.FloorDiv: lambda a, b: a // b,
                ast.Mod: lambda a, b: a % b,
            }
            op = ops.get(type(node.op))
            simple = (str, int, float)
            if isinstance(node.op, ast.BitOr) and isinstance(left.value, dict) and isinstance(right.value, dict):
                return Resolved({**left.value, **right.value}, left.env + right.env)  # PEP 584 dict union
            if op is None or not (isinstance(left.value, simple) and isinstance(right.value, simple)):
                raise Unresolved(f"`{ast.unparse(node)}` is not a constant expression")
            try:
                return Resolved(op(left.value, right.value), left.env + right.env)
            except Exception:  # noqa: BLE001 - TypeError, ZeroDivisionError, ...
                raise Unresolved(f"`{ast.unparse(node)}` does not evaluate") from None
        if isinstance(node, ast.JoinedStr):
            parts, env = [], []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                elif isinstance(v, ast.FormattedValue) and v.conversion == -1 and v.format_spec is None:
                    r = self._value(module, v.value, depth + 1)
                    if not isinstance(r.value, (str, int)) or isinstance(r.value, bool):
                        raise Unresolved(f"`{ast.unparse(node)}` formats a non-string value")
                    parts.append(str(r.value))
                    env += r.env
                else:
                    raise Unresolved(f"`{ast.unparse(node)}` uses a conversion or format spec")
            return Resolved("".join(parts), env)
        if isinstance(node, ast.Call):
            return self._call(module, node, depth)
        if isinstance(node, ast.Subscript):
            container = self._value(module, node.value, depth + 1)
            key = self._value(module, node.slice, depth + 1)
            try:
                return Resolved(container.value[key.value], container.env + key.env)
            except Exception:  # noqa: BLE001
                raise Unresolved(f"`{ast.unparse(node)}` does not evaluate") from None
        dotted = _dotted(node)
        if dotted is None:
            raise Unresolved(f"`{ast.unparse(node)}` is computed at run time")
        head, _, rest = dotted.partition(".")
        got = self._name(module, head, depth)
        for attr in rest.split(".") if rest else []:
            got = self._attr(got, attr, depth)
        return got

    def _value(self, module: str, node: ast.AST, depth: int) -> Resolved:
        got = self._eval(module, node, depth)
        if not isinstance(got, Resolved):
            raise Unresolved(f"`{ast.unparse(node)}` is a {'module' if isinstance(got, _Module) else 'class'}")
        return got

    def _name(self, module: str, name: str, depth: int) -> Resolved | _Module | _Class:
        env = self.env(module)
        if env is None:
            raise Unresolved(f"module {module} is not in the scanned tree")
        b = env.get(name)
        if b is None:
            star = next((v for k, v in env.items() if k.startswith("*")), None)
            raise Unresolved(star[1] if star else f"`{name}` is not defined at module level in {module}")
        kind = b[0]
        if kind == "expr":
            got = self._eval(module, b[1], depth + 1)
            if isinstance(got, Resolved) and not got.origin:
                got.origin = f"{module}.{name}"
            return got
        if kind == "ref":
            return self._ref(b[1], depth + 1)
        if kind == "module":
            return _Module(b[1])
        if kind == "class":
            return _Class(module, b[1])
        if kind == "ambiguous":
            raise Unresolved(f"`{name}` in {module} is {b[1]}")
        raise Unresolved(f"`{name}` in {module} is a function")

    def _ref(self, dotted: str, depth: int) -> Resolved | _Module | _Class:
        if depth > MAX_DEPTH:
            raise Unresolved("too many indirections")
        for s in SETTINGS_REFS:
            if dotted == s:
                if not self.settings_module:
                    raise Unresolved("Django's settings module is not set statically (DJANGO_SETTINGS_MODULE)")
                return _Module(self.settings_module)
            if dotted.startswith(s + "."):
                if not self.settings_module:
                    raise Unresolved("Django's settings module is not set statically (DJANGO_SETTINGS_MODULE)")
                return self._ref(self.settings_module + dotted[len(s) :], depth + 1)
        split = self._split(dotted)
        if split is None:
            raise Unresolved(f"`{dotted}` is outside the scanned tree")
        mod, sym, rest = split
        got: Resolved | _Module | _Class = _Module(mod) if not sym else self._name(mod, sym, depth + 1)
        for attr in rest.split(".") if rest else []:
            got = self._attr(got, attr, depth + 1)
        return got

    def _attr(self, got: Resolved | _Module | _Class, attr: str, depth: int) -> Resolved | _Module | _Class:
        if isinstance(got, _Module):
            return self._ref(f"{got.name}.{attr}", depth + 1)
        if isinstance(got, _Class):
            cls = got.node
            if any(
                (_dotted(b) or "").split(".")[-1]
                in ("Enum", "StrEnum", "IntEnum", "TextChoices", "IntegerChoices", "Choices", "Flag", "IntFlag")
                for b in cls.bases
            ):
                raise Unresolved(f"`{cls.name}.{attr}` is an Enum member (Celery would get the member, not its value)")
            value = None
            for stmt in cls.body:
                if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in stmt.targets):
                    value = stmt.value
                elif (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and stmt.target.id == attr
                    and stmt.value is not None
                ):
                    value = stmt.value
            if value is None:
                if cls.bases:
                    raise Unresolved(f"`{cls.name}.{attr}` is not assigned in the class body (inherited?)")
                raise Unresolved(f"`{cls.name}` has no attribute `{attr}`")
            return self._eval(got.module, value, depth + 1)
        raise Unresolved(f"`.{attr}` of a value")

    def _call(self, module: str, node: ast.Call, depth: int) -> Resolved:
        fn = _dotted(node.func) or ""
        env = self.env(module) or {}
        head = fn.split(".")[0]
        b = env.get(head)
        canonical = fn
        if b is not None and b[0] in ("module", "ref"):
            canonical = b[1] + fn[len(head) :]
        env_object = (
            b is not None
            and b[0] == "expr"
            and isinstance(b[1], ast.Call)
            and (_dotted(b[1].func) or "").endswith("Env")
        )  # django-environ: env = environ.Env()
        if canonical in ("os.environ.get", "os.getenv", "decouple.config") or env_object:
            if not node.args:
                raise Unresolved(f"`{ast.unparse(node)}` reads the environment")
            var = self._value(module, node.args[0], depth + 1)
            default = (
                node.args[1]
                if len(node.args) > 1
                else next((kw.value for kw in node.keywords if kw.arg == "default"), None)
            )
            if default is None:
                raise Unresolved(f"`{ast.unparse(node)}` reads ${var.value} from the environment, with no default")
            got = self._value(module, default, depth + 1)
            cast = next((kw.value for kw in node.keywords if kw.arg == "cast"), None)
            if cast is not None or fn.endswith((".int", ".bool", ".float", ".list")):
                raise Unresolved(f"`{ast.unparse(node)}` converts an environment value")
            return Resolved(got.value, [str(var.value)] + got.env, f"${var.value}")
        if fn == "dict" and head not in env and len(node.args) <= 1:
            # dict(k=v, ...), dict(mapping, k=v), dict(**mapping): the items Python builds, in order
            out: dict[str, Any] = {}
            found_env: list[str] = []
            for part in list(node.args) + [kw.value for kw in node.keywords if kw.arg is None]:
                got = self._value(module, part, depth + 1)
                if not isinstance(got.value, dict):
                    raise Unresolved(f"`{ast.unparse(part)}` is not a dict")
                out.update(got.value)
                found_env += got.env
            for kw in node.keywords:
                if kw.arg is not None:
                    got = self._value(module, kw.value, depth + 1)
                    out[kw.arg] = got.value
                    found_env += got.env
            return Resolved(out, found_env)
        if (
            fn in ("str", "int", "float", "bool", "tuple", "list")
            and head not in env
            and len(node.args) == 1
            and not node.keywords
        ):
            inner = self._value(module, node.args[0], depth + 1)
            try:
                return Resolved(getattr(builtins, fn)(inner.value), inner.env, inner.origin)
            except Exception:  # noqa: BLE001
                raise Unresolved(f"`{ast.unparse(node)}` does not evaluate") from None
        raise Unresolved(f"`{ast.unparse(node)}` is a call, computed at run time")


def _literal_items(node: ast.AST) -> list[tuple[Any, ...]] | None:
    """``{k: v, **m}`` / ``dict(m, k=v, **m)`` as (key node or str, value node) pairs (key None: ``**m``)."""
    if isinstance(node, ast.Dict):
        return list(zip(node.keys, node.values))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and len(node.args) <= 1
    ):
        return [(None, a) for a in node.args] + [(kw.arg, kw.value) for kw in node.keywords]
    return None
