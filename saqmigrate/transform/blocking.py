"""May a task body run on the event loop? Blocking is assumed; safety is proven.

Native mode must never put a blocking call on the event loop. A body is ported only when every call
in it is *proven* non-blocking:

* a builtin or stdlib function on the allowlist (``transform/allowlist.py``);
* a method of a value whose kind is known from how it was built: a literal, a constructor or an
  allowlisted function, or a task argument (SAQ delivers JSON: plain data). ``obj.save()`` on a value
  of unknown kind is blocking, whatever its name;
* ``time.sleep`` in the task body itself (the porter writes ``await asyncio.sleep``);
* a function or class of the project whose own body is proven the same way, with the kinds of the
  arguments it is called with, at most ``max_depth`` calls deep (deeper is blocking).

Anything else blocks: third-party calls, calls of values it cannot see, methods of unknown objects,
``with`` on an unproven context manager, module-level objects built by unproven calls (a lazy
queryset, a lock, a client). ``Prover.check_task`` returns the first blocking call in source order
with its chain (``jobs.tasks.expire_jobs → core.effects.record → open()``).

The invariant that makes attribute reads, iteration and operators safe: every value in a proven body
comes from a literal, a task argument, a proven call or a module-level constant of a proven kind,
never from an unproven call (those block), so there is no lazy queryset or socket to iterate.
"""

from __future__ import annotations

import ast
import builtins
import sys
from dataclasses import dataclass, field
from pathlib import Path

from saqmigrate.index.extract import _name as _dotted
from saqmigrate.index.extract import _resolve_relative
from saqmigrate.transform import allowlist as al

_BUILTIN_NAMES = set(dir(builtins))
_TRANSPARENT_DECORATORS = {"staticmethod", "classmethod", "property", "functools.wraps", "functools.lru_cache",
                           "functools.cache", "functools.cached_property", "dataclasses.dataclass", "typing.overload",
                           "abc.abstractmethod"}


@dataclass(frozen=True)
class T:
    """The kind of a value: data, logger, ref (a non-project dotted name), module, func, cls, inst, self,
    request, localfunc, lambda, opaque (a module-level object built by an unproven call), unknown."""

    kind: str
    ref: str = ""
    hint: str = ""


UNKNOWN = T("unknown")
DATA = T(al.DATA)


@dataclass
class Blocked:
    call: str  # "Post.objects.filter()"
    why: str  # the family, or why it is not proven
    where: str  # "blog/helpers.py:12"
    chain: list[str] = field(default_factory=list)  # task, helper, ... (qualified)

    def reason(self) -> str:
        return " → ".join([*self.chain, self.call]) + f" ({self.why}; {self.where})"


class _Stop(Exception):
    def __init__(self, blocked: Blocked) -> None:
        self.blocked = blocked


@dataclass
class _Module:
    name: str
    rel: str
    tree: ast.Module
    is_pkg: bool
    imports: dict[str, str]
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    classes: dict[str, ast.ClassDef]
    assigns: dict[str, list[ast.expr | None]]  # None: bound some other way (for, with, del ...)


def _short(node: ast.AST, limit: int = 60) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only a label
        return type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call_label(call: ast.Call) -> str:
    return f"{_short(call.func)}()"


def _join(types: list[T]) -> T:
    types = [t for t in types if t is not None]
    if not types:
        return UNKNOWN
    first = types[0]
    if all(t == first for t in types):
        return first
    return UNKNOWN


def _module_bindings(body: list[ast.stmt], imports: dict, defs: dict, classes: dict, assigns: dict,
                     module: str, is_pkg: bool) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            classes[stmt.name] = stmt
        elif isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    imports[a.asname] = a.name
                else:
                    imports[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(stmt, ast.ImportFrom):
            base = _resolve_relative(module, is_pkg, stmt.level, stmt.module) if stmt.level else (stmt.module or "")
            for a in stmt.names:
                if a.name != "*":
                    imports[a.asname or a.name] = f"{base}.{a.name}" if base else a.name
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    value = stmt.value
                    if isinstance(stmt, ast.AugAssign):
                        value = None
                    assigns.setdefault(t.id, []).append(value)
                else:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            assigns.setdefault(n.id, []).append(None)
        elif isinstance(stmt, (ast.If, ast.Try, ast.With)) or type(stmt).__name__ == "TryStar":
            inner = list(getattr(stmt, "body", [])) + list(getattr(stmt, "orelse", [])) + \
                list(getattr(stmt, "finalbody", []))
            for h in getattr(stmt, "handlers", []):
                inner += h.body
            _module_bindings(inner, imports, defs, classes, assigns, module, is_pkg)
            if isinstance(stmt, ast.With):
                for item in stmt.items:
                    if isinstance(item.optional_vars, ast.Name):
                        assigns.setdefault(item.optional_vars.id, []).append(None)
        elif isinstance(stmt, (ast.For, ast.While)):
            for n in ast.walk(stmt):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    assigns.setdefault(n.id, []).append(None)


class Prover:
    def __init__(self, roots: list[Path] | Path, max_depth: int = 4) -> None:
        self.roots = [roots] if isinstance(roots, Path) else list(dict.fromkeys(roots))
        self.max_depth = max_depth
        self._modules: dict[str, _Module | None] = {}
        self._cache: dict[tuple, tuple[Blocked | None, T]] = {}
        self._stack: list[tuple] = []
        self._globals: dict[tuple[str, str], T] = {}
        self._globals_busy: set[tuple[str, str]] = set()

    # --- project modules -------------------------------------------------------------------------
    def module(self, name: str) -> _Module | None:
        if name in self._modules:
            return self._modules[name]
        found = None
        self._modules[name] = None  # a cycle while loading sees "not a project module"
        if name and all(p.isidentifier() for p in name.split(".")):
            for root in self.roots:
                base = root.joinpath(*name.split("."))
                for path, is_pkg in ((base.with_suffix(".py"), False), (base / "__init__.py", True)):
                    if not path.is_file():
                        continue
                    try:
                        from saqmigrate.parse import decode

                        tree = ast.parse(decode(path.read_bytes()))
                    except Exception:  # noqa: BLE001 - unparseable: not provable, calls into it block
                        tree = None
                    if tree is not None:
                        imports: dict[str, str] = {}
                        defs: dict = {}
                        classes: dict = {}
                        assigns: dict = {}
                        _module_bindings(tree.body, imports, defs, classes, assigns, name, is_pkg)
                        try:
                            rel = path.relative_to(self.roots[0]).as_posix()
                        except ValueError:
                            rel = path.as_posix()
                        found = _Module(name, rel, tree, is_pkg, imports, defs, classes, assigns)
                    break
                if found is not None:
                    break
        self._modules[name] = found
        return found

    def is_project(self, dotted: str) -> bool:
        return self.module(dotted.split(".")[0]) is not None or any(
            (r / dotted.split(".")[0]).is_dir() for r in self.roots)

    def resolve(self, dotted: str, hops: int = 0) -> T:
        """The kind of the value a dotted name denotes, following the project's modules and re-exports."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            mod = self.module(".".join(parts[:i]))
            if mod is None:
                continue
            rest = parts[i:]
            if not rest:
                return T("module", mod.name)
            head = rest[0]
            if head in mod.defs:
                t = T("func", f"{mod.name}:{head}")
            elif head in mod.classes:
                t = T("cls", f"{mod.name}:{head}")
            elif head in mod.imports and hops < 8:
                return self.resolve(".".join([mod.imports[head], *rest[1:]]), hops + 1)
            elif head in mod.assigns:
                t = self.global_type(mod, head)
            else:
                return T("unknown", dotted, "a name the project module does not define")
            for attr in rest[1:]:
                t = self.attr_type(t, attr)
            return t
        if self.is_project(dotted):
            return T("unknown", dotted, "a project name that cannot be found")
        return T("ref", dotted)

    def global_type(self, mod: _Module, name: str) -> T:
        key = (mod.name, name)
        if key in self._globals:
            return self._globals[key]
        if key in self._globals_busy:
            return UNKNOWN
        self._globals_busy.add(key)
        try:
            types = []
            for value in mod.assigns[name]:
                if value is None:
                    types.append(UNKNOWN)
                    continue
                body = _Body(self, mod, None, {}, depth=self.max_depth, chain=[], module_level=True)
                try:
                    body.visit(value)
                    types.append(body.type_of(value))
                except _Stop:
                    types.append(T("opaque", f"{mod.name}.{name}", _short(value)))
            t = _join(types)
            if any(x.kind == "opaque" for x in types):
                t = next(x for x in types if x.kind == "opaque")
        finally:
            self._globals_busy.discard(key)
        self._globals[key] = t
        return t

    def attr_type(self, base: T, attr: str) -> T:
        k = base.kind
        if k in ("module", "ref"):
            return self.resolve(f"{base.ref}.{attr}") if k == "module" else T("ref", f"{base.ref}.{attr}")
        if k == al.DATA:
            return DATA
        if k == "self":
            if attr == "request":
                return T("request")
            return T("unknown", f"self.{attr}", "an attribute of the Celery task")
        if k == "request":
            return DATA
        if k == "cls":
            mod, cls = self.class_of(base)
            if mod is not None and cls is not None:
                for stmt in cls.body:
                    if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr
                                                            for t in stmt.targets) \
                            and isinstance(stmt.value, ast.Constant):
                        return DATA
            return T("unknown", f"{base.ref.replace(':', '.')}.{attr}", self.class_family(base) or "")
        if k == "opaque":
            return base
        return T("unknown", "", base.hint)

    # --- classes ---------------------------------------------------------------------------------
    def class_of(self, t: T) -> tuple[_Module | None, ast.ClassDef | None]:
        modname, _, name = t.ref.partition(":")
        mod = self.module(modname)
        return (mod, mod.classes.get(name)) if mod else (None, None)

    def bases(self, t: T) -> list[T]:
        mod, cls = self.class_of(t)
        if mod is None or cls is None:
            return []
        out = []
        for b in cls.bases:
            name = _dotted(b)
            if name is None:
                out.append(T("unknown", _short(b)))
            elif name in _BUILTIN_NAMES and name not in mod.imports and name not in mod.classes:
                out.append(T("builtin", name))
            else:
                out.append(_Body(self, mod, None, {}, 0, [], module_level=True).type_of(b))
        return out

    def class_family(self, t: T, seen: frozenset = frozenset()) -> str | None:
        if t.ref in seen:
            return None
        for b in self.bases(t):
            if b.kind == "ref":
                fam = al.family(b.ref)
                if fam:
                    return fam
                if b.ref.startswith("django.db.models"):
                    return "Django ORM"
                return f"a subclass of {b.ref}"
            if b.kind == "cls":
                fam = self.class_family(b, seen | {t.ref})
                if fam:
                    return fam
        return None

    # --- functions -------------------------------------------------------------------------------
    def check_task(self, module: str, function: str, *, bind: bool) -> Blocked | None:
        """The first blocking call reachable from the task body, or None when it is proven safe."""
        mod = self.module(module)
        if mod is None or function not in mod.defs:
            return Blocked(function, "its module or function cannot be read", module)
        fn = mod.defs[function]
        args = {}
        params = [*fn.args.posonlyargs, *fn.args.args]
        for i, p in enumerate(params):
            args[p.arg] = T("self") if bind and i == 0 else DATA  # SAQ delivers JSON values
        for p in fn.args.kwonlyargs:
            args[p.arg] = DATA
        for p in (fn.args.vararg, fn.args.kwarg):
            if p is not None:
                args[p.arg] = DATA
        blocked, _ = self.function(mod, fn, function, args, 0, [])
        return blocked

    def function(self, mod: _Module, fn: ast.FunctionDef | ast.AsyncFunctionDef, qual: str, args: dict[str, T],
                 depth: int, chain: list[str]) -> tuple[Blocked | None, T]:
        key = (mod.name, qual, tuple(sorted(args.items(), key=lambda kv: kv[0])), depth)
        if key in self._cache:
            return self._cache[key]
        if key in self._stack:  # recursion: proven when the rest of the cycle is
            return None, UNKNOWN
        if isinstance(fn, ast.AsyncFunctionDef):
            res: tuple[Blocked | None, T] = (Blocked(f"{qual}()", "an async def called without await from sync code",
                                                     f"{mod.rel}:{fn.lineno}", []), UNKNOWN)
            self._cache[key] = res
            return res
        self._stack.append(key)
        body = _Body(self, mod, fn, args, depth, [f"{mod.name}.{qual}"])
        try:
            body.run()
            res = (None, body.return_type())
        except _Stop as stop:
            res = (stop.blocked, UNKNOWN)
        finally:
            self._stack.pop()
        self._cache[key] = res
        return res


def t_is_type(name: str) -> bool:
    return name in ("str", "bytes", "int", "float", "dict", "list", "set", "tuple", "frozenset", "bytearray")


class _Body(ast.NodeVisitor):
    """One function body (or a module-level expression) under proof."""

    def __init__(self, prover: Prover, mod: _Module, fn: ast.AST | None, args: dict[str, T], depth: int,
                 chain: list[str], module_level: bool = False, parent: _Body | None = None) -> None:
        self.p, self.mod, self.fn, self.depth, self.chain = prover, mod, fn, depth, chain
        self.module_level = module_level
        self.parent = parent
        self.env: dict[str, T] = dict(args)
        self.local: set[str] = set(args)
        self.lambda_params: dict[int, T] = {}
        self.calls: dict[int, T] = {}
        self.returns: list[T] = []
        if fn is not None:
            self._bind_locals()

    # --- local names and their kinds -----------------------------------------------------------
    def _own(self):
        body = getattr(self.fn, "body", [])
        stack = [body] if isinstance(self.fn, ast.Lambda) else list(body)
        while stack:
            n = stack.pop()
            yield n
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            stack.extend(ast.iter_child_nodes(n))

    def _bind_locals(self) -> None:
        bindings: list[tuple[str, object]] = []
        for n in self._own():
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    self._targets(t, n.value, bindings)
            elif isinstance(n, (ast.AnnAssign, ast.AugAssign)) and n.value is not None:
                if isinstance(n.target, ast.Name):
                    bindings.append((n.target.id, ("aug", n.target.id, n.value) if isinstance(n, ast.AugAssign)
                                     else n.value))
            elif isinstance(n, ast.NamedExpr):
                bindings.append((n.target.id, n.value))
            elif isinstance(n, (ast.For, ast.comprehension)):
                self._targets(n.target, ("iter", n.iter), bindings)
            elif isinstance(n, ast.withitem) and n.optional_vars is not None:
                self._targets(n.optional_vars, ("unknown",), bindings)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bindings.append((n.name, ("unknown",)))
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not self.fn:
                bindings.append((n.name, ("localfunc",)))
            elif isinstance(n, ast.Import):
                for a in n.names:
                    bindings.append(((a.asname or a.name.split(".")[0]),
                                     ("import", a.name if a.asname else a.name.split(".")[0])))
            elif isinstance(n, ast.ImportFrom):
                base = _resolve_relative(self.mod.name, self.mod.is_pkg, n.level, n.module) if n.level \
                    else (n.module or "")
                for a in n.names:
                    if a.name != "*":
                        bindings.append((a.asname or a.name, ("import", f"{base}.{a.name}" if base else a.name)))
            elif isinstance(n, (ast.Global, ast.Nonlocal)):
                for name in n.names:
                    bindings.append((name, ("unknown",)))
            elif isinstance(n, ast.MatchAs) and n.name or isinstance(n, ast.MatchStar) and n.name:
                bindings.append((n.name, ("unknown",)))
        names = {name for name, _ in bindings}
        self.local |= names
        for _ in range(4):  # to a fixed point: a kind may depend on another local's
            found: dict[str, list[T]] = {}
            for name, src in bindings:
                found.setdefault(name, []).append(self._binding_type(src))
            new = {**self.env, **{k: _join(v) for k, v in found.items()}}
            if new == self.env:
                break
            self.env = new

    def _targets(self, target: ast.AST, src, out: list) -> None:
        if isinstance(target, ast.Name):
            out.append((target.id, src))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._targets(elt.value if isinstance(elt, ast.Starred) else elt, ("elem", src), out)

    def _binding_type(self, src) -> T:
        try:
            if isinstance(src, ast.AST):
                return self.type_of(src)
            tag = src[0]
            if tag == "iter":
                return self._element(self.type_of(src[1]))
            if tag == "elem":
                inner = src[1]
                return self._element(self._binding_type(inner) if isinstance(inner, tuple) else self.type_of(inner))
            if tag == "aug":
                a, b = self.env.get(src[1], UNKNOWN), self.type_of(src[2])
                return DATA if a == DATA and b == DATA else UNKNOWN
            if tag == "localfunc":
                return T("localfunc")
            if tag == "import":
                return self.p.resolve(src[1])
        except _Stop:
            return UNKNOWN
        return UNKNOWN

    @staticmethod
    def _element(t: T) -> T:
        return DATA if t.kind in (al.DATA, al.PATTERN) else UNKNOWN if t.kind != "opaque" else t

    # --- kinds of expressions ------------------------------------------------------------------
    def lookup(self, name: str) -> T:
        if name in self.local:
            return self.env.get(name, UNKNOWN)
        if self.parent is not None:
            return self.parent.lookup(name)
        mod = self.mod
        if name in mod.defs:
            return T("func", f"{mod.name}:{name}")
        if name in mod.classes:
            return T("cls", f"{mod.name}:{name}")
        if name in mod.imports:
            return self.p.resolve(mod.imports[name])
        if name in mod.assigns:
            return self.p.global_type(mod, name)
        if name in _BUILTIN_NAMES:
            return T("builtin", name)
        return T("unknown", name, "a name bound by a star import or at run time")

    def type_of(self, node: ast.AST) -> T:
        if isinstance(node, (ast.Constant, ast.JoinedStr, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp,
                             ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Compare)):
            return DATA
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self.p.attr_type(self.type_of(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return self._element(self.type_of(node.value))
        if isinstance(node, (ast.BinOp, ast.BoolOp)):
            parts = [node.left, node.right] if isinstance(node, ast.BinOp) else node.values
            return DATA if all(self.type_of(v) == DATA for v in parts) else UNKNOWN
        if isinstance(node, ast.UnaryOp):
            return DATA if self.type_of(node.operand) == DATA else UNKNOWN
        if isinstance(node, ast.IfExp):
            return _join([self.type_of(node.body), self.type_of(node.orelse)])
        if isinstance(node, ast.NamedExpr):
            return self.type_of(node.value)
        if isinstance(node, ast.Starred):
            return self.type_of(node.value)
        if isinstance(node, ast.Lambda):
            return T("lambda")
        if isinstance(node, ast.Call):
            if id(node) in self.calls:
                return self.calls[id(node)]
            _, t = self.call(node)
            return t
        return UNKNOWN

    # --- the walk --------------------------------------------------------------------------------
    def run(self) -> None:
        for stmt in getattr(self.fn, "body", []):
            self.visit(stmt)

    def return_type(self) -> T:
        return _join(self.returns) if self.returns else DATA

    def block(self, node: ast.AST, call: str, why: str) -> None:
        raise _Stop(Blocked(call, why, f"{self.mod.rel}:{getattr(node, 'lineno', '?')}", list(self.chain)))

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.returns.append(self.type_of(node.value))
        else:
            self.returns.append(DATA)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            t = self.lookup(node.id)
            if t.kind == "opaque":
                self.block(node, node.id, f"the module-level object {t.ref} = {t.hint} is built by a call not proven "
                                          "non-blocking")

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if self.type_of(item.context_expr).kind != al.SAFE_CM:
                self.block(item.context_expr, f"with {_short(item.context_expr)}",
                           al.family(_dotted(item.context_expr.func) if isinstance(item.context_expr, ast.Call)
                                     and _dotted(item.context_expr.func) else "")
                           or "a context manager whose __enter__/__exit__ are not proven non-blocking")
        for stmt in node.body:
            self.visit(stmt)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self.block(node, "async with", "async code inside a sync function")

    def visit_Await(self, node: ast.Await) -> None:
        self.block(node, "await", "async code inside a sync function")

    def _nested(self, node: ast.AST, params: ast.arguments, kind: T) -> None:
        args = {a.arg: kind for a in [*params.posonlyargs, *params.args, *params.kwonlyargs]}
        for a in (params.vararg, params.kwarg):
            if a is not None:
                args[a.arg] = UNKNOWN
        for d in [*params.defaults, *[d for d in params.kw_defaults if d is not None]]:
            self.visit(d)
        inner = _Body(self.p, self.mod, node, args, self.depth, self.chain, parent=self)
        if isinstance(node, ast.Lambda):
            inner.visit(node.body)
        else:
            inner.run()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for d in node.decorator_list:
            self.visit(d)
        self._nested(node, node.args, UNKNOWN)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.block(node, f"async def {node.name}", "a nested coroutine function")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.block(node, f"class {node.name}", "a class defined inside the function")

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._nested(node, node.args, self.lambda_params.get(id(node), UNKNOWN))

    def visit_Call(self, node: ast.Call) -> None:
        self._lambdas_for(node)
        self.generic_visit(node)
        blocked, t = self.call(node)
        if blocked is not None:
            raise _Stop(blocked)
        self.calls[id(node)] = t

    def _lambdas_for(self, node: ast.Call) -> None:
        """Lambdas given to a higher-order builtin over plain data receive plain data."""
        if all(self.type_of(a) == DATA for a in node.args if not isinstance(a, ast.Lambda)):
            for a in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(a, ast.Lambda):
                    self.lambda_params[id(a)] = DATA

    # --- one call ----------------------------------------------------------------------------------
    def _blocked(self, node: ast.Call, why: str, label: str | None = None) -> tuple[Blocked, T]:
        return Blocked(label or _call_label(node), why, f"{self.mod.rel}:{node.lineno}", list(self.chain)), UNKNOWN

    def call(self, node: ast.Call) -> tuple[Blocked | None, T]:
        f = node.func
        if isinstance(f, ast.Attribute):
            base = self.type_of(f.value)
            return self._method(node, base, f.attr)
        return self._callee(node, self.type_of(f))

    def _args_data(self, node: ast.Call) -> bool:
        return all(self.type_of(a) == DATA for a in [*node.args, *(k.value for k in node.keywords)])

    def _result(self, node: ast.Call, kind: str) -> T:
        if kind == "args":
            return DATA if self._args_data(node) else UNKNOWN
        if kind == "unknown":
            return UNKNOWN
        return T(kind)

    def _callable_args(self, node: ast.Call, ref: str) -> tuple[Blocked, T] | None:
        """A higher-order function calls some of its arguments: each of those must be proven too."""
        positions, keywords = al.HIGHER_ORDER[ref]
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return self._blocked(node, "*args/**kwargs given to a function that calls its arguments")
        for a in [*(node.args[i] for i in positions if i < len(node.args)),
                  *(k.value for k in node.keywords if k.arg in keywords)]:
            t = self.type_of(a)
            if t.kind in (al.DATA, "lambda", "localfunc"):
                continue
            if t.kind == "builtin" and t.ref in al.PURE_BUILTINS:
                continue
            if t.kind == "ref" and al.pure_function(t.ref):
                continue
            if t.kind in ("func", "cls"):
                fake = ast.Call(func=a, args=[ast.Name("_", ast.Load())], keywords=[])
                ast.copy_location(fake, node)
                blocked, _ = self._callee(fake, t, arg_types=[UNKNOWN])
                if blocked is not None:
                    return blocked, UNKNOWN
                continue
            return self._blocked(node, f"calls its argument {_short(a)}, which is not proven non-blocking")
        return None

    def _callee(self, node: ast.Call, t: T, arg_types: list[T] | None = None) -> tuple[Blocked | None, T]:
        k = t.kind
        if self.module_level and k == "func":
            return self._blocked(node, "a project function called at import time")
        if k == "builtin":
            if t.ref == "super" and not node.args and self.fn is not None:
                return None, T("super")
            kind = al.PURE_BUILTINS.get(t.ref)
            if kind is None:
                return self._blocked(node, al.family(t.ref) or "a builtin not on the allowlist")
            if t.ref in al.HIGHER_ORDER:
                bad = self._callable_args(node, t.ref)
                if bad:
                    return bad
            if t.ref == "type":
                return None, UNKNOWN
            return None, self._result(node, kind)
        if k == "ref":
            return self._external(node, t.ref)
        if k == "func":
            return self._project_function(node, t, arg_types)
        if k == "cls":
            return self._construct(node, t, arg_types)
        if k in ("localfunc", "lambda"):
            return None, UNKNOWN  # its body is proven where it is defined
        what = f"calls {_short(node.func)}, a value it cannot prove"
        if t.kind == "opaque":
            what = f"calls the module-level object {t.ref} = {t.hint}"
        elif t.hint:
            what += f" ({t.hint})"
        return self._blocked(node, what)

    def _external(self, node: ast.Call, ref: str) -> tuple[Blocked | None, T]:
        if ref in al.ASYNC_REPLACEMENTS:
            if self.depth == 0 and self._rewritable_sleep(node):
                return None, DATA
            where = "a helper (only the task body is ported)" if self.depth else \
                f"the form {_short(node.func)}(...), which the porter does not rewrite"
            return self._blocked(node, f"time.sleep in {where}")
        kind = al.pure_function(ref)
        if kind is not None:
            if ref in al.HIGHER_ORDER:
                bad = self._callable_args(node, ref)
                if bad:
                    return bad
            return None, self._result(node, kind)
        fam = al.family(ref)
        top = ref.split(".")[0]
        if fam is None:
            fam = "a stdlib call not on the allowlist" if top in sys.stdlib_module_names \
                else "a third-party call, assumed blocking"
        return self._blocked(node, fam, f"{ref}()" if ref != _short(node.func) else None)

    def _rewritable_sleep(self, node: ast.Call) -> bool:
        """``<time module>.sleep(...)`` with the module imported at module level: what the porter rewrites."""
        f = node.func
        return (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id not in self.local
                and self.mod.imports.get(f.value.id) == "time" and self.parent is None)

    def _decorators_ok(self, node: ast.Call, fn: ast.AST, mod: _Module) -> tuple[Blocked, T] | None:
        for d in getattr(fn, "decorator_list", []):
            target = d.func if isinstance(d, ast.Call) else d
            name = _dotted(target) or ""
            ref = mod.imports.get(name.split(".")[0], name.split(".")[0]) + name[len(name.split(".")[0]):]
            if ref in _TRANSPARENT_DECORATORS or name in _TRANSPARENT_DECORATORS:
                continue
            if ref.endswith("shared_task") or ref.endswith(".task") or ref.endswith("periodic_task"):
                continue  # calling a Celery task object runs its function in-process (Task.__call__)
            return self._blocked(node, f"decorated by @{_short(target)}, whose wrapper is not proven")
        return None

    def _bind(self, fn: ast.FunctionDef, node: ast.Call, arg_types: list[T] | None, mod: _Module,
              first: T | None) -> dict[str, T]:
        a = fn.args
        positional = [*a.posonlyargs, *a.args]
        types: dict[str, T] = {}
        given = list(arg_types) if arg_types is not None else []
        kw: dict[str, T] = {}
        star: T | None = None
        dstar: T | None = None
        if arg_types is None:
            for x in node.args:
                if isinstance(x, ast.Starred):
                    star = self._element(self.type_of(x.value))
                else:
                    given.append(self.type_of(x))
            for k in node.keywords:
                if k.arg is None:
                    dstar = DATA if self.type_of(k.value) == DATA else UNKNOWN
                else:
                    kw[k.arg] = self.type_of(k.value)
        if first is not None:
            given.insert(0, first)
        defaults = dict(zip([p.arg for p in positional][len(positional) - len(a.defaults):], a.defaults))
        defaults.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        module_body = _Body(self.p, mod, None, {}, 0, [], module_level=True)

        def default(name: str) -> T:
            d = defaults.get(name)
            if d is None:
                return UNKNOWN
            try:
                return module_body.type_of(d)
            except _Stop:
                return UNKNOWN

        for i, p in enumerate(positional):
            if i < len(given):
                types[p.arg] = given[i]
            elif p.arg in kw:
                types[p.arg] = kw.pop(p.arg)
            elif star is not None or dstar is not None:
                types[p.arg] = _join([x for x in (star, dstar) if x is not None] + ([default(p.arg)]
                                                                                   if p.arg in defaults else []))
            else:
                types[p.arg] = default(p.arg)
        for p in a.kwonlyargs:
            types[p.arg] = kw.pop(p.arg) if p.arg in kw else (dstar if dstar is not None else default(p.arg))
        if a.vararg is not None:
            extra = given[len(positional):] + ([star] if star is not None else [])
            types[a.vararg.arg] = DATA if all(x == DATA for x in extra) else UNKNOWN
        if a.kwarg is not None:
            extra = list(kw.values()) + ([dstar] if dstar is not None else [])
            types[a.kwarg.arg] = DATA if all(x == DATA for x in extra) else UNKNOWN
        return types

    def _enter(self, node: ast.Call, mod: _Module, fn: ast.FunctionDef, qual: str, args: dict[str, T]
               ) -> tuple[Blocked | None, T]:
        if self.depth + 1 > self.p.max_depth:
            return self._blocked(node, f"more than {self.p.max_depth} calls deep into the project: not proven "
                                       "(the depth limit)")
        blocked, t = self.p.function(mod, fn, qual, args, self.depth + 1, self.chain)
        if blocked is not None:  # results are cached: the chain above this call is added to a copy
            return Blocked(blocked.call, blocked.why, blocked.where, [*self.chain, *blocked.chain]), UNKNOWN
        return None, t

    def _project_function(self, node: ast.Call, t: T, arg_types: list[T] | None) -> tuple[Blocked | None, T]:
        modname, _, name = t.ref.partition(":")
        mod = self.p.module(modname)
        fn = mod.defs.get(name) if mod else None
        if mod is None or fn is None:
            return self._blocked(node, "a project function that cannot be read")
        bad = self._decorators_ok(node, fn, mod)
        if bad:
            return bad
        return self._enter(node, mod, fn, name, self._bind(fn, node, arg_types, mod, None))

    def _find_method(self, t: T, name: str, seen: frozenset = frozenset()) -> tuple[_Module, ast.ClassDef,
                                                                                     ast.AST] | str | None:
        """The method ``name`` of a project class (or its project bases); "builtin" when the only base
        that can define it is ``object`` or a builtin exception; None when unknown."""
        mod, cls = self.p.class_of(t)
        if mod is None or cls is None or t.ref in seen:
            return None
        for stmt in cls.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                return mod, cls, stmt
        bases = self.p.bases(t)
        for b in bases or [T("builtin", "object")]:
            if b.kind == "builtin" and (b.ref == "object" or b.ref in al.PURE_BUILTINS):
                continue
            if b.kind == "cls":
                found = self._find_method(b, name, seen | {t.ref})
                if found == "builtin":
                    continue
                return found
            return None
        return "builtin"

    def _construct(self, node: ast.Call, t: T, arg_types: list[T] | None) -> tuple[Blocked | None, T]:
        mod, cls = self.p.class_of(t)
        label = f"{t.ref.replace(':', '.')}()"
        if mod is None or cls is None:
            return self._blocked(node, "a project class that cannot be read", label)
        for d in cls.decorator_list:
            name = _dotted(d.func if isinstance(d, ast.Call) else d) or ""
            ref = mod.imports.get(name.split(".")[0], name.split(".")[0]) + name[len(name.split(".")[0]):]
            if ref not in _TRANSPARENT_DECORATORS:
                return self._blocked(node, f"a class decorated by @{name}, not proven", label)
        for special in ("__new__", "__init__", "__post_init__"):
            found = self._find_method(t, special)
            if found is None:
                fam = self.p.class_family(t)
                return self._blocked(node, fam or "a class with a base that is not proven", label)
            if found == "builtin":
                continue
            mod2, _, fn = found
            args = self._bind(fn, node, arg_types, mod2, T("inst", t.ref))
            blocked, _ = self._enter(node, mod2, fn, f"{found[1].name}.{special}", args)
            if blocked is not None:
                return blocked, UNKNOWN
        return None, T("inst", t.ref)

    def _method(self, node: ast.Call, base: T, name: str) -> tuple[Blocked | None, T]:
        k = base.kind
        if k in ("module", "ref"):
            return self._callee(node, self.p.attr_type(base, name))
        if k in al.METHODS:
            if name not in al.METHODS[k]:
                return self._blocked(node, f"{name}() is not a known pure method of a {k} value")
            if name == "sort":
                bad = self._callable_args(node, "sort")
                if bad:
                    return bad
            return None, T(al.METHOD_RESULT.get((k, name), al.DATA))
        if k == al.SAFE_CM:
            return self._blocked(node, f"{name}() of a context manager")
        if k == "self":
            if name == "retry":
                return None, UNKNOWN
            return self._blocked(node, "a method of the Celery task object, not proven")
        if k == "func":
            return self._blocked(node, al.family(f"x.{name}") or "an attribute of a task or function, not proven")
        if k == "cls":
            found = self._find_method(base, name)
            if isinstance(found, tuple):
                mod, cls, fn = found
                if any(_dotted(d) == "classmethod" for d in fn.decorator_list):
                    first = T("cls", base.ref)
                elif any(_dotted(d) == "staticmethod" for d in fn.decorator_list):
                    first = None
                else:
                    return self._blocked(node, "an unbound method call, not proven")
                return self._enter(node, mod, fn, f"{cls.name}.{name}", self._bind(fn, node, None, mod, first))
            return self._blocked(node, self.p.class_family(base) or "a class attribute, not proven")
        if k == "inst":
            found = self._find_method(base, name)
            if isinstance(found, tuple):
                mod, cls, fn = found
                if any(_dotted(d) in ("staticmethod", "property") for d in fn.decorator_list):
                    return self._blocked(node, "a static method or property reached through an instance")
                first = T("cls", base.ref) if any(_dotted(d) == "classmethod" for d in fn.decorator_list) \
                    else base
                return self._enter(node, mod, fn, f"{cls.name}.{name}", self._bind(fn, node, None, mod, first))
            return self._blocked(node, self.p.class_family(base) or "a method the project class does not define")
        if k == "builtin" and t_is_type(base.ref) and name in al.METHODS[al.DATA]:
            return None, DATA  # str.join(...), dict.fromkeys(...), int.from_bytes(...)
        if k == "super":
            return self._super(node, name)
        owner = _short(node.func.value) if isinstance(node.func, ast.Attribute) else "?"
        why = f"a method call on a value of unproven kind ({owner})"
        fam = al.family(_short(node.func))
        if base.kind == "opaque":
            why = f"a method of the module-level object {base.ref} = {base.hint}"
        elif fam or base.hint:
            why = fam or base.hint
        return self._blocked(node, why)

    def _super(self, node: ast.Call, name: str) -> tuple[Blocked | None, T]:
        """``super().name(...)`` in a method of a project class: proven through the bases."""
        if not self.chain or "." not in self.chain[-1]:
            return self._blocked(node, "super() outside a project class")
        cls_name = self.chain[-1].rsplit(".", 2)[-2] if self.chain[-1].count(".") >= 1 else ""
        if cls_name not in self.mod.classes:
            return self._blocked(node, "super() outside a project class")
        for b in self.p.bases(T("cls", f"{self.mod.name}:{cls_name}")) or [T("builtin", "object")]:
            if b.kind == "builtin" and (b.ref == "object" or b.ref in al.PURE_BUILTINS):
                continue
            if b.kind == "cls":
                found = self._find_method(b, name)
                if found == "builtin":
                    continue
                if isinstance(found, tuple):
                    mod, cls, fn = found
                    first = T("inst", f"{self.mod.name}:{cls_name}")
                    return self._enter(node, mod, fn, f"{cls.name}.{name}", self._bind(fn, node, None, mod, first))
            return self._blocked(node, self.p.class_family(T("cls", f"{self.mod.name}:{cls_name}"))
                                 or "super() reaches a base that is not proven")
        return None, UNKNOWN
