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

Ports (``Prover.plan_task``): in the task body itself, a blocking call with a faithful async
counterpart is not blocking but *rewritten* (``time.sleep`` -> ``asyncio.sleep``, Django's async ORM
``aget``/``acount``/``async for``/``asave`` ..., ``requests.get`` -> ``httpx.AsyncClient`` when exact:
``transform/ports_django.py``, ``ports_http.py``). Values the ORM returns have kinds of their own
(manager, queryset, instance) whose every use is checked: a loaded instance's plain fields are
``__dict__`` reads, anything else may query. The body is then planned statement by statement: what is
proven runs on the loop; contiguous statements that are not become one ``sync_to_async`` segment
each (``transform/native.py`` writes them). A value computed by blocking code is *tainted*: reading
it on the loop is blocking too.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from typing import Callable

from saqmigrate.index.extract import _name as _dotted
from saqmigrate.index.facts import AttrWriteFact
from saqmigrate.index.extract import CONTAINER_MUTATORS, _resolve_relative
from saqmigrate.transform import allowlist as al
from saqmigrate.transform import ports_django as dj
from saqmigrate.transform import ports_http as http

_BUILTIN_NAMES = set(dir(builtins))
_TRANSPARENT_DECORATORS = {
    "staticmethod",
    "classmethod",
    "property",
    "functools.wraps",
    "functools.lru_cache",
    "functools.cache",
    "functools.cached_property",
    "dataclasses.dataclass",
    "typing.overload",
    "abc.abstractmethod",
}


@dataclass(frozen=True)
class T:
    """The kind of a value: data, logger, ref (a non-project dotted name), module, func, cls, inst, self,
    request, localfunc, lambda, opaque (a module-level object built by an unproven call), unknown;
    Django's manager / queryset / instance / pair (``get_or_create``) with the model's ref; response
    and headers (a ported HTTP call); tainted (computed by blocking code)."""

    kind: str
    ref: str = ""
    hint: str = ""


UNKNOWN = T("unknown")
DATA = T(al.DATA)
ORM = ("manager", "queryset", "instance", "pair")  # values whose every use is checked
CHECKED = (*ORM, "response", "headers")


@dataclass
class Blocked:
    call: str  # "Post.objects.filter()"
    why: str  # the family, or why it is not proven
    where: str  # "blog/helpers.py:12"
    chain: list[str] = field(default_factory=list)  # task, helper, ... (qualified)
    result: T | None = None  # the kind of what the call returns when it runs elsewhere (a thread)

    def reason(self) -> str:
        return " → ".join([*self.chain, self.call]) + f" ({self.why}; {self.where})"


class _Replaced(str):
    """``_find_method``'s answer for a method other code replaces at run time: where (the reason)."""


class _Stop(Exception):
    def __init__(self, blocked: Blocked) -> None:
        self.blocked = blocked


class _CannotSplit(Exception):
    """A blocking segment inside a nested block would have to return, break or continue."""


@dataclass
class Rewrite:
    """One edit of the task body the porter makes. ``key``: where, as (end line, end column in UTF-8
    bytes) of the anchor node: the called attribute or name, or the loop's target."""

    kind: str  # await | async_for | async_comp | list_async | sleep | http
    key: tuple[int, int]
    new: str = ""  # the async method (aget ...) or the HTTP method
    label: str = ""  # for the report: "Book.objects.count() -> acount()"
    http: dict | None = None  # ports_http: the client and request keywords


@dataclass
class Unit:
    """A statement of the task body as it will run: ``loop`` (on the event loop, with ``rewrites``),
    ``sync`` (blocking: run in a ``sync_to_async`` segment with its neighbours) or ``compound`` (an
    if/for/try whose header runs on the loop and whose blocks are planned in turn)."""

    kind: str
    stmt: ast.stmt
    rewrites: list[Rewrite] = field(default_factory=list)
    blocked: Blocked | None = None
    blocks: list[list[Unit]] = field(default_factory=list)  # compound: one per block, in ast field order


@dataclass
class TaskPlan:
    verdict: str  # ported | partly | bridged
    units: list[Unit]
    blocked: Blocked | None = None  # the first call that stays blocking
    segments: int = 0
    rewrites: list[Rewrite] = field(default_factory=list)
    why: str = ""  # bridged although the calls alone would allow a (partial) port

    def reason(self) -> str:
        return self.why or (self.blocked.reason() if self.blocked else "")

    def summary(self) -> str:
        """What the port changed, for the report: ``Book.objects.count() -> acount() x1, ...``."""
        counts: dict[str, int] = {}
        for r in self.rewrites:
            counts[r.label] = counts.get(r.label, 0) + 1
        return ", ".join(f"{k} x{n}" for k, n in counts.items())


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
    #: names bound more than once (two imports, an import then an assignment, two defs, ``global`` in a
    #: function ...): which binding a call sees depends on the order of execution, so none is assumed
    rebound: frozenset[str] = frozenset()
    #: attributes other code replaces at run time (``helpers.shout = slow`` in ``AppConfig.ready()``): name ->
    #: where; "*" when a ``setattr`` with a computed name may replace any (``replaced_attributes``)
    replaced: dict[str, str] = field(default_factory=dict)


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
    tainted = next((t for t in types if t.kind == "tainted"), None)
    if tainted is not None:
        return tainted
    first = types[0]
    if all(t == first for t in types):
        return first
    if any(t.kind in CHECKED for t in types):  # a queryset or a list: what is iterated cannot be known
        return T("tainted", hint="a value that is sometimes a Django ORM object")
    return UNKNOWN


def _module_bindings(
    body: list[ast.stmt], imports: dict, defs: dict, classes: dict, assigns: dict, module: str, is_pkg: bool
) -> None:
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
            inner = (
                list(getattr(stmt, "body", []))
                + list(getattr(stmt, "orelse", []))
                + list(getattr(stmt, "finalbody", []))
            )
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


def _rebound(tree: ast.Module) -> frozenset[str]:
    """Module-level names with more than one binding: at module level (imports, defs, classes,
    assignments, loop and ``with`` targets, ``del``), or assigned in a function that declares them
    ``global``."""
    counts: dict[str, int] = {}
    plain: set[str] = set()  # names bound by ``import X`` / ``import X.Y``: all bind the same package X

    def bind(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    def walk(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for a in stmt.names:
                    if a.name == "*":
                        continue
                    if isinstance(stmt, ast.Import) and a.asname is None:
                        top = a.name.split(".")[0]
                        if top in plain:
                            continue  # ``import os`` then ``import os.path``: the same module object, once
                        plain.add(top)
                    bind(a.asname or a.name.split(".")[0])
            elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)) or type(stmt).__name__ == "TryStar":
                for n in ast.walk(stmt):
                    if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)) and n in _header_names(stmt):
                        bind(n.id)
                inner = (
                    list(getattr(stmt, "body", []))
                    + list(getattr(stmt, "orelse", []))
                    + list(getattr(stmt, "finalbody", []))
                )
                for h in getattr(stmt, "handlers", []):
                    if h.name:
                        bind(h.name)
                    inner += h.body
                walk(inner)
            else:
                for n in ast.walk(stmt):
                    if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                        bind(n.id)

    walk(tree.body)
    rebound = {name for name, c in counts.items() if c > 1}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            declared = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
            rebound |= declared & {
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))
            }
    return frozenset(rebound)


#: names a port's generated code binds or reads (the twin module's ``ctx``/``asyncio``/``task_self``, the
#: imports the writer adds, its segment and row names): a body that binds one of them would capture it.
#: transform/native.py's _PROVIDED and _GENERATED must stay inside this set (tests/native checks it).
RESERVED = frozenset(
    {
        "ctx",
        "asyncio",
        "task_self",
        "_celery",
        "sync_to_async",
        "_httpx",
        "_requests",
        "run_sync",
        "_row",
        "httpx",
        "saqmigrate",
        "_aio",
    }
)


def _bound_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Every name the function binds anywhere in its body (parameters, assignments, imports, loop and
    ``with``/``except`` targets, comprehension variables, nested defs and classes)."""
    names = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
    names |= {a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _rebound_why(mod: _Module, name: str) -> str:
    why = mod.replaced.get(name) or mod.replaced.get("*")
    if why:
        return why
    return f"{name} is bound more than once in {mod.name} (which binding a call sees depends on the order of execution)"


def _header_names(stmt: ast.stmt) -> set[ast.Name]:
    """The names a compound statement's own header binds (loop targets, ``with ... as``, walrus in a test),
    not those of its body (walked as statements)."""
    parts: list[ast.AST] = []
    if isinstance(stmt, ast.For):
        parts = [stmt.target, stmt.iter]
    elif isinstance(stmt, (ast.If, ast.While)):
        parts = [stmt.test]
    elif isinstance(stmt, ast.With):
        parts = [i for item in stmt.items for i in (item.context_expr, item.optional_vars) if i is not None]
    return {n for p in parts for n in ast.walk(p) if isinstance(n, ast.Name)}


def _literal(node: ast.AST) -> bool:
    """A value of a size the source fixes: a constant, a display of constants, a comprehension over those."""
    if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp)):
        return all(_literal(g.iter) for g in node.generators)
    return isinstance(node, ast.Constant) or (
        isinstance(node, (ast.List, ast.Tuple, ast.Set)) and all(_literal(e) for e in node.elts)
    )


_CONTAINER_HINTS = ("a module-level container: ",)


def _opaque_why(t: T) -> str:
    if t.hint.startswith(_CONTAINER_HINTS):
        return t.hint
    return f"the module-level object {t.ref} = {t.hint} is built by a call not proven non-blocking"


def _literal_display(node: ast.AST) -> bool:
    """A container display whose every element (and key) is a literal: nothing in it runs code on use."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_literal_display(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _literal_display(k) for k in node.keys) and all(
            _literal_display(v) for v in node.values
        )
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant)
    return False


_SETTINGS_CALLS = {"os.environ.get", "os.getenv", "int", "str", "bool", "float", "tuple", "list", "dict", "set"}


def _settings_literal(node: ast.AST) -> bool:
    """A settings value that is plain data: literals, names, environment reads, arithmetic and formatting of
    those. A call of anything else (``SimpleLazyObject``, ``reverse_lazy``, ``_("...")``) is not."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            name = _dotted(n.func) or ""
            if name not in _SETTINGS_CALLS and not name.startswith("os.path."):
                return False
        elif isinstance(n, (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
    return True


_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)[*+{]")
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")


def _risky_pattern(node: ast.AST) -> bool:
    """A regular expression that can backtrack exponentially (a quantified group holding a quantifier:
    ``(a+)+``; a backreference), or one the source does not fix (a computed pattern)."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return True
    return bool(_NESTED_QUANTIFIER.search(node.value) or _BACKREFERENCE.search(node.value))


#: the most elements (or characters, or bytes) a size the source fixes may reach on the event loop: a
#: ``range()``, a repetition (``[0] * n``, ``"-" * n``) or a buffer (``bytes(n)``) of a constant size is CPU
#: work no input bounds, so past this size it counts as unbounded (``sum(range(10**8))`` takes seconds)
CONSTANT_SIZE_LIMIT = 10**6
"""The most elements a constant-size ``range()``, repetition or buffer may have on the event loop (10**6)."""
_LIMIT_LABEL = "10**6 (CONSTANT_SIZE_LIMIT)"
#: an integer constant of more bits than this is not folded: it counts as too large (its cost is the value's)
_FOLD_BITS = 4096


def _fold(node: ast.AST, lens: bool = False) -> int | float | None:
    """The value of an integer expression the source fixes (literals, unary ``-``, ``+ - * // % ** << >>``);
    None when it is computed; ``math.inf`` when it would pass _FOLD_BITS bits (``10**100_000_000`` is not
    folded: it counts as large). With ``lens``, ``len(...)`` counts as 0 where it is added or subtracted: a
    size the input bounds (``range(len(x) - 1)``)."""
    if isinstance(node, ast.Constant):
        v = node.value
        if type(v) is not int:
            return None
        return v if v.bit_length() <= _FOLD_BITS else math.inf
    if lens and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
        return 0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        u = _fold(node.operand, lens)
        if u is None or u == math.inf:
            return u
        return -u if isinstance(node.op, ast.USub) else u
    if not isinstance(node, ast.BinOp):
        return None
    additive = isinstance(node.op, (ast.Add, ast.Sub))
    a, b = _fold(node.left, lens and additive), _fold(node.right, lens and additive)
    if a is None or b is None:
        return None
    if a == math.inf or b == math.inf or isinstance(a, float) or isinstance(b, float):
        return math.inf
    if isinstance(node.op, ast.Add):
        r = a + b
    elif isinstance(node.op, ast.Sub):
        r = a - b
    elif isinstance(node.op, ast.Mult):
        if a.bit_length() + b.bit_length() > _FOLD_BITS + 1:
            return math.inf
        r = a * b
    elif isinstance(node.op, (ast.FloorDiv, ast.Mod)):
        if b == 0:
            return None
        r = a // b if isinstance(node.op, ast.FloorDiv) else a % b
    elif isinstance(node.op, ast.Pow):
        if b < 0:
            return None
        if a in (0, 1, -1):
            return a**b
        if a.bit_length() * b > _FOLD_BITS + 1:
            return math.inf
        r = a**b
    elif isinstance(node.op, (ast.LShift, ast.RShift)):
        if b < 0:
            return None
        if isinstance(node.op, ast.RShift):
            return a >> b
        if a and a.bit_length() + b > _FOLD_BITS + 1:
            return math.inf
        r = a << b
    else:
        return None
    return r if r.bit_length() <= _FOLD_BITS else math.inf


def _range_size(call: ast.AST) -> int | float | None:
    """How many elements a ``range(...)`` call has when the source fixes its size (``len(...)`` counting as
    0: bounded by the input); None when it is not a range() or its size is computed."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"):
        return None
    if call.keywords or not 1 <= len(call.args) <= 3:
        return None
    bounds = [_fold(a, lens=True) for a in call.args]
    if any(b is None for b in bounds):
        return None
    if any(b == math.inf for b in bounds):
        return math.inf
    ints = [int(b) for b in bounds if b is not None]
    if len(ints) == 3 and ints[2] == 0:
        return None
    try:
        return len(range(*ints))
    except OverflowError:  # more elements than sys.maxsize
        return math.inf


def _size_text(size: int | float) -> str:
    return f"{size}" if isinstance(size, int) else "more than sys.maxsize"


def _range_problem(call: ast.AST, what: str, consumed: str = "") -> str:
    """``what`` (``range()`` consumed at once, a loop over one) of a computed size, or of a constant size
    over CONSTANT_SIZE_LIMIT. ``range(len(x))`` is bounded by the input."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"):
        return ""
    size = _range_size(call)
    if size is None:
        return f"{what} of a computed size{consumed}: CPU work no input bounds, on the event loop"
    if size > CONSTANT_SIZE_LIMIT:
        return (
            f"{what} of {_size_text(size)} elements{consumed}: constant-size CPU work over {_LIMIT_LABEL},"
            " on the event loop"
        )
    return ""


_SEQ_COMPUTED = -1


def _seq_size(node: ast.AST) -> int | float | None:
    """The elements of a sequence built from displays and repetition (``[0] * 2 * 8`` is 16, ``"ab" * 3`` is
    6); None when ``node`` is not such a sequence; _SEQ_COMPUTED when a repetition count is computed."""
    if isinstance(node, (ast.List, ast.Tuple)) and not any(isinstance(e, ast.Starred) for e in node.elts):
        return len(node.elts)
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return len(node.value)
    if isinstance(node, ast.JoinedStr):
        return max(1, sum(len(v.value) for v in node.values if isinstance(v, ast.Constant)))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for seq, count in ((node.left, node.right), (node.right, node.left)):
            size = _seq_size(seq)
            if size is None:
                continue
            if size == _SEQ_COMPUTED:
                return size
            n = _fold(count)
            if n is None:
                return None if _seq_size(count) is not None else _SEQ_COMPUTED
            return 0 if n <= 0 or size == 0 else size * n
    return None


def _fixed_size(it: ast.AST) -> bool:
    """An iterable whose size the source fixes: a display of constants, a ``range()`` of folded constants."""
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
        return bool(it.args) and not it.keywords and all(_fold(a) is not None for a in it.args)
    return _literal(it)


def _bound_args(fn: ast.FunctionDef, call: ast.Call, *, bound_first: bool = False) -> dict[str, ast.expr]:
    """The call's arguments by the parameter of ``fn`` each binds (positional, then by keyword);
    ``bound_first``: a method called through an instance or class (``self``/``cls`` is not in the call)."""
    a = fn.args
    positional = [p.arg for p in [*a.posonlyargs, *a.args]][1 if bound_first else 0 :]
    out: dict[str, ast.expr] = {}
    for p, arg in zip(positional, call.args):
        if isinstance(arg, ast.Starred):
            break
        out[p] = arg
    for k in call.keywords:
        if k.arg is not None:
            out[k.arg] = k.value
    return out


def _loop_targets(node: ast.AST) -> set[str]:
    """The names a ``for`` statement or a comprehension binds each round."""
    targets = [node.target] if isinstance(node, ast.For) else [g.target for g in getattr(node, "generators", [])]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _own_nodes(nodes: list[ast.AST]):
    """Every node under ``nodes``, not entering nested functions, classes or lambdas."""
    stack = list(nodes)
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(n))


def _grows_iterated(iters: list[ast.expr], nodes: list[ast.AST]) -> tuple[str, ast.AST | None]:
    """A loop whose rounds grow the very list it walks (``for x in items: items.append(x)``): it ends only
    when a round stops adding, which no input bounds (a list grows while a loop walks it)."""
    walked = {d for d in (_dotted(it) for it in iters) if d}
    for n in _own_nodes(nodes):
        grown = ""
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("append", "extend", "insert")
        ):
            grown = _dotted(n.func.value) or ""
        elif isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add):
            grown = _dotted(n.target) or ""
        if grown and grown in walked:
            return (
                f"the loop grows {grown}, the list it iterates ({_short(n)}): endless unless a round stops adding",
                n,
            )
    return "", None


def _cpu_call(node: ast.Call, target: T, receiver: T | None) -> str:
    """A proven call that is still more CPU work than its input's size bounds (the loop would stall):
    ``range()`` of a computed size consumed at once, sorting non-literal data, a regular expression that
    can backtrack exponentially (judged where the pattern is written: ``re.compile``, ``re.match`` ...).
    Linear builtins over the task's input (``list``, ``sum``, ``join`` ...) are accepted: SAQ decodes that
    input on the loop too."""
    args = [*node.args, *(k.value for k in node.keywords)]
    for a in args:
        why = _range_problem(a, "range()", " consumed at once")
        if why:
            return why
    name = target.ref if target.kind in ("builtin", "ref") else ""
    if name == "iter" and len(node.args) == 2:
        return "iter(callable, sentinel) is endless unless the callable ends it: a loop over it is bounded only by the values it meets"
    method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    if (
        method == "sort"
        and receiver is not None
        and receiver.kind not in ("ref", "module")
        and not _literal(node.func.value)
    ):
        return "sorting input of any size (n log n) on the event loop"
    if name in ("sorted", "heapq.nlargest", "heapq.nsmallest", "heapq.heapify") and not all(_literal(a) for a in args):
        return "sorting input of any size (n log n) on the event loop"
    literal_args = all(_literal(a) for a in args)
    if name in ("itertools.count", "itertools.cycle") or (name == "itertools.repeat" and len(args) < 2):
        return f"{name}() is endless: a loop over it is bounded only by the values it meets"
    if name in al.VALUE_COST and not literal_args:
        return f"{name}() of a computed value: its cost grows with the value, not the input's size"
    if name in al.VALUE_COST and not (name == "pow" and len(args) == 3):  # pow(b, e, m) is log(e) steps
        big = [n for n in map(_fold, args) if n is not None and abs(n) > CONSTANT_SIZE_LIMIT]
        if big:
            return f"{name}() of a constant over {_LIMIT_LABEL}: its cost grows with the value, on the event loop"
    if method in al.VALUE_COST_METHODS and not literal_args:
        return f"{method}() to a computed width: its cost grows with the value, not the input's size"
    if name.startswith("re.") and name != "re.escape" and (not node.args or _risky_pattern(node.args[0])):
        return "a regular expression that can backtrack exponentially (or a computed pattern) on the event loop"
    why = _log_format_cost(node, name, method, receiver)
    if why:
        return why
    return _value_cost_call(
        node, name, method if receiver is None or receiver.kind not in ("ref", "module", "cls", "inst") else ""
    )


def _value_cost_op(node: ast.BinOp) -> str:
    """An operator whose cost is set by a computed value: a shift by a computed amount (``1 << n``), a
    ``%`` format with a ``*`` width (``"%*d" % (n, 1)``)."""
    if isinstance(node.op, ast.LShift) and not isinstance(node.right, ast.Constant):
        return "a shift by a computed amount (unbounded CPU and memory) on the event loop"
    if isinstance(node.op, (ast.Pow, ast.LShift, ast.Mult)) and _fold(node) == math.inf:
        return f"a constant too large to fold ({_short(node)}: over {_FOLD_BITS} bits): its cost is the value's, on the event loop"
    size = _seq_size(node) if isinstance(node.op, ast.Mult) else None
    if size == _SEQ_COMPUTED:
        return "a sequence built by repetition by a computed count (unbounded CPU and memory) on the event loop"
    if size is not None and size > CONSTANT_SIZE_LIMIT:
        return (
            f"a sequence repeated to {_size_text(size)} elements: constant-size CPU work and memory over"
            f" {_LIMIT_LABEL}, on the event loop"
        )
    if (
        isinstance(node.op, ast.Mod)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.left.value, (str, bytes))
        and ("*" in node.left.value if isinstance(node.left.value, str) else b"*" in node.left.value)
        and not _literal(node.right)
    ):
        return "a format with a computed width (%*) on the event loop"
    if (
        isinstance(node.op, ast.Mod)
        and not isinstance(node.left, ast.Constant)
        and isinstance(node.right, (ast.Tuple, ast.Dict))
    ):  # ``tpl % (1,)``: a template from a value (``"%300000000d"``); int % tuple would raise
        return "a % format template from a value (its widths are values too) on the event loop"
    return ""


_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "msg"})


def _log_format_cost(node: ast.Call, name: str, method: str, receiver: T | None) -> str:
    """A logging call renders ``msg % args`` at the call (on the loop: the log queue renders it there too):
    with a template from a value, or a ``*`` width taken from the arguments, its cost is a value."""
    is_log = (receiver is not None and receiver.kind == "logger" and method in _LOG_METHODS) or (
        name.startswith("logging.") and name.rsplit(".", 1)[1] in _LOG_METHODS
    )
    if not is_log:
        return ""
    at = 1 if (method or name.rsplit(".", 1)[1]) == "log" else 0
    if len(node.args) <= at + 1:
        return ""  # no arguments: the message is not %-formatted
    msg, rest = node.args[at], node.args[at + 1 :]
    if not (isinstance(msg, ast.Constant) and isinstance(msg.value, str)):
        return "a log message template from a value, formatted with arguments (its widths are values) on the event loop"
    if "*" in msg.value and not all(_literal(a) for a in rest):
        return "a log message with a computed width (%*) on the event loop"
    return ""


_NESTED_WIDTH = re.compile(r"\{[^{}]*:[^{}]*\{")


def _value_cost_call(node: ast.Call, name: str, method: str) -> str:
    """Calls whose cost is set by an argument's value, beyond VALUE_COST: ``format(x, spec)`` with a computed
    spec, ``"{:>{}}".format(x, n)`` (a width from an argument), ``json.dumps(indent=n)``, ``struct.pack`` of a
    computed format, ``sum(rows, [])`` and ``functools.reduce(operator.add, ...)`` (copying concatenation)."""
    args = [*node.args, *(k.value for k in node.keywords)]
    if name == "format" and len(node.args) >= 2 and not _literal(node.args[1]):
        return "a format with a computed spec (its width is a value) on the event loop"
    if (
        method == "format"
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and _NESTED_WIDTH.search(node.func.value.value)
        and not all(_literal(a) for a in args)
    ):
        return "a format with a width taken from an argument on the event loop"
    if method == "elements" and isinstance(node.func, ast.Attribute) and not _literal(node.func.value):
        return "Counter.elements() repeats each key by its count: its cost grows with the values"
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    if method in ("format", "format_map") and receiver is not None and not isinstance(receiver, ast.Constant):
        return "a format template from a value (its widths are values too) on the event loop"
    if method == "join" and receiver is not None and not isinstance(receiver, ast.Constant) and node.args:
        return "join() with a computed separator: the separator's size times the items' count, on the event loop"
    if method == "replace" and len(node.args) >= 2 and not _literal(node.args[1]) and not _literal(receiver or node):
        return "replace() with a computed replacement: its size times the matches' count, on the event loop"
    if name in ("json.dumps", "json.dump") and any(k.arg == "indent" and not _literal(k.value) for k in node.keywords):
        return "json.dumps() with a computed indent: its cost grows with the value"
    if name in ("struct.pack", "struct.pack_into", "struct.calcsize", "struct.Struct") and (
        not node.args or not _literal(node.args[0])
    ):
        return f"{name}() of a computed format: its cost grows with the value"
    if name == "sum" and (len(node.args) >= 2 or any(k.arg == "start" for k in node.keywords)):
        start = node.args[1] if len(node.args) >= 2 else next(k.value for k in node.keywords if k.arg == "start")
        if not (isinstance(start, ast.Constant) and type(start.value) in (int, float)):
            return "sum() with a sequence start concatenates by copying: quadratic CPU work"
    if name == "round" and (len(node.args) >= 2 or any(k.arg == "ndigits" for k in node.keywords)):
        digits = node.args[1] if len(node.args) >= 2 else next(k.value for k in node.keywords if k.arg == "ndigits")
        n = _fold(digits)
        if not (isinstance(digits, ast.Constant) and digits.value is None) and (n is None or abs(n) > _FOLD_BITS):
            return (
                "round() to a computed number of digits (round(n, -k) divides by 10**k): its cost grows with the value"
            )
    if name == "functools.reduce" and node.args:
        op = _dotted(node.args[0]) or ""
        if op in ("operator.add", "operator.concat", "operator.mul", "operator.iadd", "operator.iconcat"):
            return f"functools.reduce({op}, ...) concatenates or multiplies by copying: quadratic CPU work"
    return ""


Loader = Callable[[str], "tuple[ast.Module, bool, str] | None"]
#: (module name or class ref ``mod:Cls``, attribute or "*") -> where other code replaces it: the reason
Replaced = dict[tuple[str, str], str]
#: (file relative to the root, one of its attribute writes: index/extract.attribute_writes)
Writes = list[tuple[str, AttrWriteFact]]


#: class-level data of Django's ORM classes that no query reads (saleor sets ``Field.creation_counter``)
_ORM_DATA = frozenset({"creation_counter", "auto_creation_counter", "description", "default_error_messages"})


class ProjectLoader:
    """The scan's module loader (a ``Loader``) with the attribute writes of every project file the scan read
    (``writes``) and, once the scan's verdicts resolved them, ``replaced``: the rewrite's prover
    (``transform/native.py`` ``native_prover``) uses both."""

    def __init__(self, load: Loader, writes: Writes | Callable[[], Writes]) -> None:
        self.load = load
        self._writes = writes  # or how to collect them (the scan parses some files for them only when asked)
        self.replaced: Replaced | None = None  # resolved once (transform/native.py scan_verdicts)

    @property
    def writes(self) -> Writes:
        if callable(self._writes):
            self._writes = self._writes()
        return self._writes

    def __call__(self, name: str) -> tuple[ast.Module, bool, str] | None:
        return self.load(name)


def project_writes(root: Path) -> Writes:
    """The attribute writes of every project file but tests, read from disk: for a prover not given the
    scan's (``Prover(root)``). The scan carries the same facts per file in its cache (scan.py)."""
    from saqmigrate.discover import discover, is_test_path, module_name, package_dirs
    from saqmigrate.index.extract import attribute_writes, may_write_attributes
    from saqmigrate.parse import ParseFailure, parse_bytes

    found = discover(root)
    has_init = package_dirs(found.root, found.files)
    out: Writes = []
    for rel in found.files:
        if is_test_path(rel):
            continue
        try:
            data = (found.root / rel).read_bytes()
            if not may_write_attributes(data):
                continue
            tree = parse_bytes(data, rel).tree
        except (OSError, ParseFailure, RecursionError, ValueError, MemoryError):
            continue
        out += [(rel, w) for w in attribute_writes(tree, module_name(rel, has_init), rel.endswith("__init__.py"))]
    return out


def replaced_attributes(writes: Writes, roots: list[Path], loader: Loader | None = None) -> Replaced:
    """The project-wide pass over attribute writes (issue 13): each write's target is resolved as the prover
    resolves names (``Prover.resolve``: the file's import, then the project's modules and re-exports); a
    write to an attribute of a project module or class replaces what the source defines, so the prover's
    lookups of it answer "blocking" with where. A write to an attribute of a library's module or class (``json.dumps
    = f``, ``BaseManager.all = f``) is kept too: a call the allowlist or the Django ports trust is then not the
    library's (``Prover.ref_replaced``, ``orm_replaced``). Writes to anything else (a local object, a function's
    attribute, a module-level object) are dropped. The first write of a (owner, attribute) in file order names it."""
    if not writes:
        return {}
    prover = Prover(roots, loader=loader, replaced={})
    out: Replaced = {}
    for rel, w in sorted(writes, key=lambda rw: (rw[0], rw[1]["line"])):
        t = prover.resolve(w["target"])
        if t.kind not in ("module", "cls", "ref"):  # a project module or class, or a library's name
            continue
        label = t.ref.replace(":", ".")
        verb = {"del": "deleted", "item": "filled"}.get(w["how"], "replaced")
        attr, src = w["attr"], w["src"]
        if w["how"] == "item":  # a store into a container another module owns: its elements are not the source's
            pass
        elif not src.endswith(")"):  # an attribute target, not setattr/delattr
            src = f"del {src}" if w["how"] == "del" else f"{src} = ..."
        if attr is None:
            why = f"{label}: any attribute may be replaced at {rel}:{w['line']} by {src}"
        else:
            why = f"{label}.{attr} {verb} at {rel}:{w['line']} by {src}"
        # a filled container keeps its binding (``name[]``): its elements are what the prover cannot know
        out.setdefault((t.ref, f"{attr}[]" if w["how"] == "item" else attr or "*"), why)
    return out


def replaced_digest(replaced: Replaced) -> str:
    """A short hash of the resolved replacements (part of the native verdict cache's key)."""
    import hashlib
    import json

    items = sorted([list(k) + [v] for k, v in replaced.items()])
    return hashlib.sha1(json.dumps(items).encode()).hexdigest()[:12]


#: dunders that run when the class is built or called with its constructor (proven there), not on use
#: (``__class_getitem__`` runs on ``Cls[...]``: visit_Subscript)
_PASSIVE_DUNDERS = {"__init__", "__new__", "__post_init__", "__init_subclass__", "__class_getitem__", "__set_name__"}
#: plain-named methods that builtins and the allowlisted stdlib call on an object they are given, by name:
#: the mapping protocol (``dict(x)``, ``{**x}``, ``f(**x)``, ``d.update(x)``, ``json.dumps`` and ``pprint``
#: of a dict subclass, ``dataclasses.asdict``), file-likes (``json.load(fp)``, ``csv.reader(f)``), and
#: what ``copy``/``pickle`` look up. On use of an instance they run like dunders.
_PROTOCOL_METHODS = frozenset(
    {"keys", "items", "values", "read", "readline", "readlines", "write", "writelines", "fileno"}
)
_PROPERTY_DECORATORS = {"property", "cached_property", "functools.cached_property"}


def _is_active(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A member that runs when an instance is used, not called: a property (getter, setter, deleter), a
    dunder method (``__str__``, ``__len__``, ``__eq__``, ``__getattr__``, ``__del__`` ...) or a protocol
    method builtins call by name (``keys``, ``items``, ``read`` ...: _PROTOCOL_METHODS)."""
    if fn.name.startswith("__") and fn.name.endswith("__"):
        return fn.name not in _PASSIVE_DUNDERS
    if fn.name in _PROTOCOL_METHODS:
        return True
    for d in fn.decorator_list:
        name = _dotted(d.func if isinstance(d, ast.Call) else d) or ""
        if name in _PROPERTY_DECORATORS or name.rsplit(".", 1)[-1] in ("setter", "getter", "deleter"):
            return True
    return False


def _assign_targets(stmt: ast.stmt) -> list[ast.expr]:
    """What an ``=`` or annotated assignment statement binds (nothing for other statements)."""
    if isinstance(stmt, ast.Assign):
        return list(stmt.targets)
    return [stmt.target] if isinstance(stmt, ast.AnnAssign) else []


def class_binding(cls: ast.ClassDef, attr: str) -> ast.stmt | None:
    """The statement of a class body that binds ``attr`` (a ``def``, a nested class, an assignment), or
    None: where Python's attribute lookup stops on this class."""
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name == attr:
            return stmt
        if any(isinstance(x, ast.Name) and x.id == attr for x in _assign_targets(stmt)):
            return stmt
    return None


def _std_stream(node: ast.expr) -> bool:
    """``None``, ``sys.stdout`` or ``sys.stderr``: a stream the SAQ worker queues (runtime/logqueue.py)."""
    return (isinstance(node, ast.Constant) and node.value is None) or _dotted(node) in ("sys.stdout", "sys.stderr")


def _class_attribute_problem(stmt: ast.stmt) -> str:
    """A class attribute built by a call may be a descriptor (its ``__get__`` runs on every read) or a
    dataclass field whose ``default_factory`` runs in ``__init__``: only constants, builtin containers and
    ``field()`` with a builtin container factory are proven."""
    value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
    if not isinstance(value, ast.Call):
        return ""
    name = _dotted(value.func) or ""
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
    label = _short(target)
    if name in ("field", "dataclasses.field"):
        factory = next((k.value for k in value.keywords if k.arg == "default_factory"), None)
        if factory is None or (isinstance(factory, ast.Name) and factory.id in ("list", "dict", "set", "tuple")):
            return ""
        return f"{label} has default_factory={_short(factory)}, not proven"
    if name in ("frozenset", "tuple", "list", "dict", "set") and not value.keywords:
        return ""
    return f"{label} is built by {_short(value.func)}() (a descriptor would run on every read), not proven"


_DECLARED_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*(?:,|\]\s*=)\s*f?['"]([\w.]+)['"]""")
_DECLARED_SETTINGS_INI = re.compile(r"""^\s*DJANGO_SETTINGS_MODULE\s*=\s*['"]?([\w.]+)""", re.MULTILINE)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


class Prover:
    """``loader``: module name -> (tree, is_package, path relative to the root), or None when the module
    is not the project's. The scan passes its own (the trees it already parsed are not read again);
    the default reads ``<root>/<module path>.py`` under each of ``roots``."""

    def __init__(
        self,
        roots: list[Path] | Path,
        max_depth: int = 4,
        loader: Loader | None = None,
        http_client: bool = False,
        segments: bool = True,
        replaced: Replaced | None = None,
    ) -> None:
        self.roots = [roots] if isinstance(roots, Path) else list(dict.fromkeys(roots))
        self.max_depth = max_depth
        self.loader = loader
        self.http_client = http_client  # the project depends on httpx: requests calls may be ported to it
        self.segments = segments  # asgiref is there (a Django project): blocking segments may be wrapped
        self._modules: dict[str, _Module | None] = {}
        self._cache: dict[tuple, tuple[Blocked | None, T]] = {}
        self._stack: list[tuple] = []
        self._globals: dict[tuple[str, str], T] = {}
        self._globals_busy: set[tuple[str, str]] = set()
        self.django = dj.DjangoModels(self)
        self._mros: dict[str, list[T] | str] = {}
        self._mros_busy: set[str] = set()
        self._inst_attrs: dict[str, dict[str, str]] = {}
        self._settings: list[_Module] | None = None
        if replaced is None:  # not given (a prover of its own, not the scan's): read the project's writes
            replaced = replaced_attributes(project_writes(self.roots[0]), self.roots, loader)
        #: (module name or class ref, attribute or "*") -> where other code replaces it (replaced_attributes)
        self.replaced: Replaced = replaced
        self._replaced_owners: dict[str, dict[str, str]] = {}
        for (owner, attr), why in replaced.items():
            self._replaced_owners.setdefault(owner, {})[attr] = why
        #: attributes of Django's ORM classes (managers, querysets, models, fields ...) the project replaces
        self._orm_replaced = {
            attr: why
            for (owner, attr), why in replaced.items()
            if (owner == "django.db.models" or owner.startswith("django.db.models."))
            and attr.removesuffix("[]") not in _ORM_DATA
        }

    # --- project modules -------------------------------------------------------------------------
    def _read(self, name: str) -> tuple[ast.Module | None, bool, str] | None:
        if self.loader is not None:
            return self.loader(name)
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
                try:
                    rel = path.relative_to(self.roots[0]).as_posix()
                except ValueError:
                    rel = path.as_posix()
                return tree, is_pkg, rel
        return None

    def module(self, name: str) -> _Module | None:
        if name in self._modules:
            return self._modules[name]
        found = None
        self._modules[name] = None  # a cycle while loading sees "not a project module"
        if name and all(p.isidentifier() for p in name.split(".")):
            read = self._read(name)
            if read is not None and read[0] is not None:
                tree, is_pkg, rel = read
                imports: dict[str, str] = {}
                defs: dict = {}
                classes: dict = {}
                assigns: dict = {}
                _module_bindings(tree.body, imports, defs, classes, assigns, name, is_pkg)
                rebound = _rebound(tree)
                replaced = self._replaced_owners.get(name, {})
                if replaced:  # a name replaced at run time is not the one the source binds: none is assumed
                    every = set(imports) | set(defs) | set(classes) | set(assigns)
                    rebound |= every if "*" in replaced else {a for a in replaced if not a.endswith("[]")}
                found = _Module(name, rel, tree, is_pkg, imports, defs, classes, assigns, rebound, replaced)
        self._modules[name] = found
        return found

    def is_project(self, dotted: str) -> bool:
        head = dotted.split(".")[0]
        return self.module(head) is not None or any((r / head).is_dir() for r in self.roots)

    def resolve(self, dotted: str, hops: int = 0) -> T:
        """The kind of the value a dotted name denotes, following the project's modules and re-exports."""
        parts = dotted.split(".")
        for j in range(1, len(parts)):  # proj.helpers read through proj, whose attribute helpers was replaced
            owner = self._replaced_owners.get(".".join(parts[:j]))
            if owner and (parts[j] in owner or "*" in owner) and self.module(".".join(parts[: j + 1])) is not None:
                return T("unknown", dotted, owner.get(parts[j]) or owner["*"])
        for i in range(len(parts), 0, -1):
            mod = self.module(".".join(parts[:i]))
            if mod is None:
                continue
            rest = parts[i:]
            if not rest:
                return T("module", mod.name)
            head = rest[0]
            if head in mod.rebound:
                return T("unknown", dotted, _rebound_why(mod, head))
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
            elif t == DATA:
                why = self.container_problem(mod, name)
                if why:
                    t = T("opaque", f"{mod.name}.{name}", why)
        finally:
            self._globals_busy.discard(key)
        self._globals[key] = t
        return t

    def attr_type(self, base: T, attr: str) -> T:
        k = base.kind
        if k in ("cls", "inst", "instance") and self._replaced_owners:
            why = self.class_replaced(base, attr)
            if why:
                return T("unknown", f"{base.ref.replace(':', '.')}.{attr}", why)
        if k in ("module", "ref"):
            return self.resolve(f"{base.ref}.{attr}") if k == "module" else T("ref", f"{base.ref}.{attr}")
        if k in (al.DATA, "tainted"):
            return base if k == "tainted" else DATA
        if k == "instance":
            model = self.django.info(base.ref)
            if model is not None and attr in model.plain and base.hint == "full":
                return DATA
            rel = self.django.related(model, attr) if model is not None else None
            if rel is not None and not rel[1]:
                return T("manager", rel[0], "related")
            return T(
                "unknown",
                f"{base.ref.split(':')[-1]}.{attr}",
                "an attribute of a model instance that may query (a relation, a deferred field, a property)",
            )
        if k == "cls":
            model = self.django.info(base.ref)
            if model is not None and not model.problem and (attr in model.managers or attr == "_default_manager"):
                why = self.django.manager(model, attr)
                if why is None:
                    return T("manager", base.ref, attr)
                return T("unknown", f"{model.label}.{attr}", why)
        if k == "response":
            if attr in http.RESPONSE_DATA:
                return DATA
            if attr == "headers":
                return T("headers")
            return T("unknown", f"response.{attr}", http.why_not_attr(attr))
        if k == "self":
            if attr == "request":
                return T("request")
            return T("unknown", f"self.{attr}", "an attribute of the Celery task")
        if k == "request":
            return DATA
        if k == "cls" and self.enum_member(base, attr):
            return T("inst", base.ref)  # its properties and dunders are the Enum class's (proven on read)
        if k == "cls":
            mod, cls = self.class_of(base)
            if mod is not None and cls is not None:
                for stmt in cls.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == attr for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant)
                    ):
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

    def class_replaced(self, t: T, attr: str) -> str:
        """Where other code replaces ``attr`` of this project class, or of the project base Python finds it
        on (the first class in the method resolution order whose body or replacements bind it), or "": the
        class-level twin of a module's replaced names (``Fmt.up = staticmethod(slow)`` after the class body).
        A class whose order cannot be known counts as replaced anywhere a replacement exists in its bases."""
        if not self._replaced_owners:
            return ""
        for c, cls in self.mro_classes(t):
            own = self._replaced_owners.get(c.ref, {})
            why = own.get(attr) or own.get("*")
            if why:
                return why
            if cls is None:
                continue  # an order that could not be linearised: keep looking in every base
            if class_binding(cls, attr) is not None:
                return ""
        return ""

    def mro_classes(self, t: T) -> list[tuple[T, ast.ClassDef | None]]:
        """The project classes of ``t``'s method resolution order, each with its body, in the order Python
        searches them. When the order cannot be linearised (a base the prover cannot read), every project
        class reachable through the bases, with no body: the caller cannot tell which binding wins."""
        order = self.mro(t)
        if isinstance(order, list):
            out: list[tuple[T, ast.ClassDef | None]] = []
            for c in order:
                if c.kind == "cls":
                    out.append((c, self.class_of(c)[1]))
            return out
        reach: list[tuple[T, ast.ClassDef | None]] = []
        stack, seen = [t], set()
        while stack:
            c = stack.pop()
            if c.ref in seen:
                continue
            seen.add(c.ref)
            reach.append((c, None))
            stack.extend(b for b in self.bases(c) if b.kind == "cls")
        return reach

    def ref_replaced(self, ref: str) -> str:
        """Where the project replaces this library name (``json.dumps``) or the module or class it is read
        through (``setattr(json, name, f)``), or "": a call of it is not the library's."""
        if not self._replaced_owners:
            return ""
        parts = ref.split(".")
        for i in range(len(parts) - 1, 0, -1):
            owner = self._replaced_owners.get(".".join(parts[:i]))
            if owner and (parts[i] in owner or "*" in owner):
                return owner.get(parts[i]) or owner["*"]
        return ""

    def orm_replaced(self, name: str) -> str:
        """Where the project replaces Django's ORM method ``name`` (``BaseManager.all = f``), or any attribute of
        an ORM class that is not one of the methods the ports call (``get_queryset``, ``_clone``, a field's
        ``get_prep_value`` ...: every query built may run it), or ""."""
        if not self._orm_replaced:
            return ""
        if name in self._orm_replaced:
            return self._orm_replaced[name]
        ported = {*dj.LAZY, *dj.TERMINAL, *dj.RELATED, *dj.INSTANCE}
        return next((why for attr, why in self._orm_replaced.items() if attr not in ported), "")

    def class_replacements(self, t: T) -> dict[str, str]:
        """Every attribute other code replaces on this project class (name or "*" -> where)."""
        return self._replaced_owners.get(t.ref, {})

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

    def container_problem(self, mod: _Module, name: str) -> str:
        """Why a module-level container's elements are not plain data, or "": an element that is not a literal
        (``ITEMS = [Sized()]``: its ``__len__`` may run project code), or the module storing into it
        (``CACHE["books"] = Book.objects.all()`` in a function it calls): a read of an element is then a
        value of unknown kind."""
        filled = mod.replaced.get(f"{name}[]")
        if filled:  # another module stores into it (``helpers.CACHE[k] = v``)
            return f"a module-level container: {filled}"
        values = mod.assigns.get(name) or []
        displays = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp)
        if not any(isinstance(v, displays) for v in values):
            return ""
        for v in values:
            if isinstance(v, displays) and not _literal_display(v):
                return f"a module-level container: {name} = {_short(v, 40)} holds values that are not literals"
        for n in ast.walk(mod.tree):
            target = None
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for x in n.targets if isinstance(n, ast.Assign) else [n.target]:
                    if isinstance(x, ast.Subscript) and isinstance(x.value, ast.Name) and x.value.id == name:
                        target = x
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == name
                and n.func.attr in CONTAINER_MUTATORS
            ):
                target = n
            if target is not None:
                return f"a module-level container: {name} is filled at {mod.rel}:{n.lineno} ({_short(n, 40)})"
        return ""

    def settings_problem(self, ref: str) -> str:
        """Why ``django.conf.settings.X`` is not plain data, or "": a settings module of the project assigns X
        from something other than a literal (``SimpleLazyObject``, ``reverse_lazy``, ``gettext_lazy``, a call
        of the project's): using it as a value may run that code."""
        parts = ref.split(".")
        if parts[:3] != ["django", "conf", "settings"] or len(parts) < 4:
            return ""
        attr = parts[3]
        if self._settings is None:
            self._settings = self._settings_modules()
        for mod in self._settings:
            for v in mod.assigns.get(attr, []):
                if v is not None and not _settings_literal(v):
                    return f"settings.{attr} = {_short(v, 40)} in {mod.rel} is not a literal (it may be lazy)"
        return ""

    def _settings_modules(self) -> list[_Module]:
        """The project's settings modules: ``settings.py`` files and modules of ``settings`` packages, the
        module ``DJANGO_SETTINGS_MODULE`` names where the project sets it (``manage.py``, ``wsgi.py``, a
        Celery module, ``pytest.ini`` ...), and every project module those star-import (``from .base
        import *``): a setting may be assigned in any of them."""
        from saqmigrate.discover import discover, module_name, package_dirs

        names: list[str] = []
        for root in self.roots:
            try:
                files = discover(root).files  # the scan's walk: .py files, build/venv/node_modules skipped
            except OSError:
                continue
            has_init = package_dirs(root, files)
            for rel in files:
                parts = rel[:-3].split("/")
                if len(parts) > 5 or any(p.startswith(".") or p == "tests" for p in parts):
                    continue
                leaf = parts[-1]
                if leaf == "settings" or "settings" in parts[:-1]:
                    names.append(module_name(rel, has_init))  # as Python imports it (manage.py's folder)
                if leaf in ("manage", "wsgi", "asgi") or "celery" in leaf:
                    names.extend(_DECLARED_SETTINGS.findall(_read_text(root / rel)))
            for ini in ("pytest.ini", "setup.cfg", "tox.ini", "pyproject.toml"):
                for path in (root / ini, *root.glob(f"*/{ini}")):
                    if path.is_file():
                        names.extend(_DECLARED_SETTINGS_INI.findall(_read_text(path)))
        found: list[_Module] = []
        seen: set[str] = set()
        while names:
            name = names.pop(0)
            if name in seen or not name or not all(p.isidentifier() for p in name.split(".")):
                continue
            seen.add(name)
            mod = self.module(name)
            if mod is None:
                continue
            found.append(mod)
            for node in ast.walk(mod.tree):
                if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                    names.append(
                        _resolve_relative(mod.name, mod.is_pkg, node.level, node.module)
                        if node.level
                        else node.module or ""
                    )
        return found

    def mro(self, t: T) -> list[T] | str:
        """Python's method resolution order of a project class (C3 linearisation over its bases), or why it
        cannot be known: a base the prover cannot see, bases that cannot be linearised. Builtin and
        library bases are leaves (``object`` closes the order)."""
        key = t.ref
        cached = self._mros.get(key)
        if cached is not None:
            return cached
        if key in self._mros_busy:
            return f"{key.replace(':', '.')} derives from itself"
        self._mros_busy.add(key)
        try:
            out = self._c3(t)
        finally:
            self._mros_busy.discard(key)
        self._mros[key] = out
        return out

    def _c3(self, t: T) -> list[T] | str:
        mod, cls = self.class_of(t)
        if mod is None or cls is None:
            return f"a project class that cannot be read ({t.ref.replace(':', '.')})"
        obj = T("builtin", "object")
        bases = [T(b.kind, b.ref) for b in self.bases(t)] or [obj]
        seqs: list[list[T]] = []
        for b in bases:
            if b.kind == "cls":
                sub = self.mro(b)
                if isinstance(sub, str):
                    return sub
                seqs.append(list(sub))
            elif b.kind in ("builtin", "ref"):
                seqs.append([b] if b == obj else [b, obj])
            else:
                return f"{cls.name} has a base the prover cannot see ({b.ref or b.hint or '?'})"
        seqs.append(list(bases))
        out = [T("cls", t.ref)]
        while any(seqs):
            seqs = [s for s in seqs if s]
            head = next((s[0] for s in seqs if not any(s[0] in o[1:] for o in seqs)), None)
            if head is None:
                return f"{cls.name}: bases with no consistent method resolution order"
            out.append(head)
            seqs = [s[1:] if s[0] == head else s for s in seqs]
        return out

    def enum_member(self, t: T, attr: str) -> bool:
        """``attr`` is a member of a project ``enum.Enum`` class (a name its body assigns that is no
        descriptor or dunder): an instance of the class, not the value written."""
        order = self.mro(t)
        if isinstance(order, str) or not any(c.kind == "ref" and c.ref.startswith("enum.") for c in order):
            return False
        mod, cls = self.class_of(t)
        if mod is None or cls is None or attr.startswith("_"):
            return False
        return any(
            isinstance(stmt, ast.Assign) and any(isinstance(x, ast.Name) and x.id == attr for x in stmt.targets)
            for stmt in cls.body
        )

    def instance_attributes(self, t: T) -> dict[str, str]:
        """Attributes set on instances by the methods of a project class and of the classes in its MRO
        (``self.run = slow`` in ``__init__``, ``setattr(self, "x", v)``, ``self.__class__ = Other``):
        name -> where. An instance attribute shadows a method of the same name."""
        if t.ref in self._inst_attrs:
            return self._inst_attrs[t.ref]
        order = self.mro(t)
        out: dict[str, str] = {}
        self._inst_attrs[t.ref] = out
        for c in order if isinstance(order, list) else [t]:
            mod, cls = self.class_of(c) if c.kind == "cls" else (None, None)
            if mod is None or cls is None:
                continue
            for stmt in cls.body:
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                params = [*stmt.args.posonlyargs, *stmt.args.args]
                if not params:
                    continue
                me = params[0].arg
                for n in ast.walk(stmt):
                    targets: list[ast.AST] = []
                    if isinstance(n, ast.Assign):
                        targets = list(n.targets)
                    elif isinstance(n, (ast.AugAssign, ast.AnnAssign)):
                        targets = [n.target]
                    elif (
                        isinstance(n, ast.Call)
                        and isinstance(n.func, ast.Name)
                        and n.func.id == "setattr"
                        and len(n.args) >= 2
                        and isinstance(n.args[0], ast.Name)
                        and n.args[0].id == me
                    ):
                        name = n.args[1].value if isinstance(n.args[1], ast.Constant) else "*"
                        out.setdefault(str(name), f"{mod.rel}:{n.lineno}")
                    for x in targets:
                        for y in ast.walk(x):
                            if isinstance(y, ast.Attribute) and isinstance(y.value, ast.Name) and y.value.id == me:
                                out.setdefault(y.attr, f"{mod.rel}:{n.lineno}")
        return out

    # --- functions -------------------------------------------------------------------------------
    def check_task(self, module: str, function: str, *, bind: bool) -> Blocked | None:
        """The first call reachable from the task body that stays blocking in a port, or None when the
        whole body runs on the event loop (with its rewrites)."""
        plan = self.plan_task(module, function, bind=bind)
        return None if plan.verdict == "ported" else plan.blocked

    def plan_task(self, module: str, function: str, *, bind: bool, retry_on: tuple[str, ...] = ()) -> TaskPlan:
        """How the task body runs natively: each statement on the loop (with the rewrites of calls that
        have a faithful async counterpart) or in a blocking segment; the verdict ported / partly / bridged.
        ``retry_on``: the exception names of the task's ``autoretry_for`` (an HTTP port changes the
        exception classes a failed request raises, so it is refused when they could matter)."""
        mod = self.module(module)
        if mod is None or function not in mod.defs:
            return TaskPlan("bridged", [], Blocked(function, "its module or function cannot be read", module))
        if function in mod.rebound:  # Celery keeps the first registration of a name; which def is the port's?
            return TaskPlan("bridged", [], Blocked(function, _rebound_why(mod, function), mod.rel))
        fn = mod.defs[function]
        captured = sorted(n for n in _bound_names(fn) if n in RESERVED or n.startswith("_blocking_"))
        if captured:
            return TaskPlan(
                "bridged",
                [],
                Blocked(function, f"the body binds {', '.join(captured)}, a name the port's own code uses", mod.rel),
            )
        args = {}
        params = [*fn.args.posonlyargs, *fn.args.args]
        for i, p in enumerate(params):
            args[p.arg] = T("self") if bind and i == 0 else DATA  # SAQ delivers JSON values
        for p in fn.args.kwonlyargs:
            args[p.arg] = DATA
        for p in (fn.args.vararg, fn.args.kwarg):
            if p is not None:
                args[p.arg] = DATA
        manual = self._manual_transaction(mod, fn)
        if manual is not None:
            return TaskPlan("bridged", [], manual)
        http_ok, forced = True, frozenset()
        reasons: dict[int, Blocked] = {}  # a statement's own first blocking call, from the pass that found it
        genuine: Blocked | None = None
        for _ in range(8):
            body = _Body(self, mod, fn, args, 0, [f"{mod.name}.{function}"], port=True, forced=forced)
            body.retry_on, body.http_ok = retry_on, http_ok
            units = body.plan_block(fn.body, nested=False)
            flat = list(_walk_units(units))
            syncs = [u for u in flat if u.kind == "sync"]
            for u in syncs:
                if u.blocked is not None:
                    u.blocked = reasons.setdefault(id(u.stmt), u.blocked)
            if genuine is None:  # the first pass's first blocking call: a real one, not a taint it caused
                genuine = next((u.blocked for u in syncs if u.blocked is not None), None)
            rewrites = [r for u in flat if u.kind != "sync" for r in u.rewrites]
            # an httpx response read by blocking code would be read as if it were requests': plan again
            # with every requests call blocking (the value is then requests' own response everywhere)
            names = {r.http["target"] for r in rewrites if r.kind == "http" and r.http and r.http.get("target")}
            if (
                http_ok
                and names
                and any(isinstance(n, ast.Name) and n.id in names for u in syncs for n in ast.walk(u.stmt))
            ):
                http_ok, genuine, reasons = False, None, {}  # that pass's reasons assumed the ports
                continue
            # a container a segment may fill (lst.append(obj), d[k] = qs, helper(lst)) may hold model
            # instances or querysets afterwards: on the loop it is tainted, whatever it was built as
            filled = body.filled_by([u.stmt for u in syncs]) - forced
            if not filled:
                break
            forced = forced | filled
        if not syncs:
            return TaskPlan("ported", units, None, 0, rewrites)
        first = genuine or next((u.blocked for u in syncs if u.blocked is not None), None)
        segments = _count_segments(units)
        if not rewrites:
            return TaskPlan("bridged", units, first, segments, [])
        if not self.segments:
            return TaskPlan(
                "bridged",
                units,
                first,
                segments,
                rewrites,
                why=f"{first.reason() if first else 'blocking code'}; running the rest through "
                "sync_to_async needs asgiref, which the project does not declare",
            )
        return TaskPlan("partly", units, first, segments, rewrites)

    def _manual_transaction(self, mod: _Module, fn: ast.FunctionDef) -> Blocked | None:
        """The body drives the database connection or a transaction itself (``set_autocommit``, ``commit``,
        ``connection.cursor()``, ``atomic`` outside a ``with``): split into segments with awaits between them,
        its statements would run on different threads' connections, with other jobs' work in between."""
        in_with = {
            id(item.context_expr.func if isinstance(item.context_expr, ast.Call) else item.context_expr)
            for node in ast.walk(fn)
            if isinstance(node, ast.With)
            for item in node.items
        }
        imports = dict(mod.imports)
        local: dict = {}
        _module_bindings(
            [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))],
            local,
            {},
            {},
            {},
            mod.name,
            mod.is_pkg,
        )
        imports.update(local)
        for node in ast.walk(fn):
            if not isinstance(node, (ast.Name, ast.Attribute)) or not isinstance(node.ctx, ast.Load):
                continue
            name = _dotted(node)
            if not name:
                continue
            head, _, rest = name.partition(".")
            ref = imports.get(head)
            if ref is None:
                continue
            ref = f"{ref}.{rest}" if rest else ref
            transaction = ref.startswith("django.db.transaction.") and not (
                ref == "django.db.transaction.atomic" and id(node) in in_with
            )
            if (
                transaction
                or ref in ("django.db.connection", "django.db.connections")
                or ref.startswith(("django.db.connection.", "django.db.connections."))
            ):
                return Blocked(
                    _short(node),
                    "manages the database connection or a transaction by hand: split "
                    "into segments, its statements would run on different threads' connections",
                    f"{mod.rel}:{node.lineno}",
                    [f"{mod.name}.{fn.name}"],
                )
        return None

    def function(
        self,
        mod: _Module,
        fn: ast.FunctionDef | ast.AsyncFunctionDef,
        qual: str,
        args: dict[str, T],
        depth: int,
        chain: list[str],
    ) -> tuple[Blocked | None, T]:
        key = (mod.name, qual, tuple(sorted(args.items(), key=lambda kv: kv[0])), depth)
        if key in self._cache:
            return self._cache[key]
        if key in self._stack:  # recursion: proven when the rest of the cycle is
            return None, UNKNOWN
        if isinstance(fn, ast.AsyncFunctionDef):
            res: tuple[Blocked | None, T] = (
                Blocked(f"{qual}()", "an async def called without await from sync code", f"{mod.rel}:{fn.lineno}", []),
                UNKNOWN,
            )
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


def _walk_units(units: list[Unit]):
    for u in units:
        yield u
        for block in u.blocks:
            yield from _walk_units(block)


def _count_segments(units: list[Unit]) -> int:
    """Maximal runs of adjacent ``sync`` units, in every block: one ``sync_to_async`` wrapper each."""
    n = 0
    prev = False
    for u in units:
        if u.kind == "sync" and not prev:
            n += 1
        prev = u.kind == "sync"
        for block in u.blocks:
            n += _count_segments(block)
    return n


def _scope_walk(node: ast.AST):
    """The nodes of ``node`` that run in its scope (not in nested functions, classes or lambdas)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


def returns(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) for n in _scope_walk(node))


def escapes(node: ast.AST) -> bool:
    """A ``return``, or a ``break``/``continue`` of a loop outside ``node``: control leaving it
    otherwise than by falling through or raising (a segment cannot do that from its thread)."""
    if returns(node):
        return True

    def walk(n: ast.AST, in_loop: bool) -> bool:
        if isinstance(n, (ast.Break, ast.Continue)) and not in_loop:
            return True
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            loop = in_loop or (isinstance(n, (ast.For, ast.While, ast.AsyncFor)) and child in n.body)
            if walk(child, loop):
                return True
        return False

    return walk(node, False)


def _combine(types: list[T]) -> T:
    """The kind of an operation on values of these kinds (an operator, a boolean operation)."""
    if any(t.kind in ("tainted", "opaque", *CHECKED) for t in types):
        bad = next(t for t in types if t.kind in ("tainted", "opaque", *CHECKED))
        return bad if bad.kind == "tainted" else T("tainted", hint=f"computed from {bad.kind} {bad.ref}".strip())
    return DATA if all(t == DATA for t in types) else UNKNOWN


def _misuse(t: T) -> str:
    what = {
        "manager": "a Django manager",
        "queryset": "a Django queryset",
        "instance": "a model instance",
        "pair": "a get_or_create() result",
        "response": "an HTTP response",
        "headers": "response headers",
    }
    if t.kind == "queryset":
        return "a queryset used where it may be evaluated (len(), bool(), list(), an argument): a query"
    if t.kind == "instance":
        return "a model instance used where Django may query (str(), a relation, an argument of a non-ORM call)"
    return f"{what.get(t.kind, t.kind)} used where it is not proven non-blocking"


def key_of(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)


def t_is_type(name: str) -> bool:
    return name in ("str", "bytes", "int", "float", "dict", "list", "set", "tuple", "frozenset", "bytearray")


class _Body(ast.NodeVisitor):
    """One function body (or a module-level expression) under proof."""

    def __init__(
        self,
        prover: Prover,
        mod: _Module,
        fn: ast.AST | None,
        args: dict[str, T],
        depth: int,
        chain: list[str],
        module_level: bool = False,
        parent: _Body | None = None,
        port: bool = False,
        forced: frozenset = frozenset(),
    ) -> None:
        self.p, self.mod, self.fn, self.depth, self.chain = prover, mod, fn, depth, chain
        self.module_level = module_level
        self.parent = parent
        self.port = port  # the task body itself: calls with an async counterpart are rewritten
        self.forced = forced  # locals a blocking segment may fill: tainted on the loop
        self.env: dict[str, T] = dict(args)
        self.local: set[str] = set(args)
        self.lambda_params: dict[int, T] = {}
        self.calls: dict[int, T] = {}
        self.returns: list[T] = []
        self.pending: dict[int, Rewrite] = {}  # node id -> the rewrite that makes it non-blocking
        self.allowed: set[int] = set()  # expressions of a checked kind used where that is proven safe
        self.callee: set[int] = set()  # attributes in call position (a method, not a value)
        # third-party names not judged as values here: exception classes in except clauses, classes given to
        # isinstance, a method call's receiver (the call is proven), arguments of project calls (proven there)
        self.type_refs: set[int] = set()
        self.no_await = 0  # inside a generator expression: an await would make it an async generator
        self.loop_depth = 0  # loops (and comprehension clauses) around the node being visited, in this body
        self.stmts: list[ast.stmt] = []  # the statements being visited, innermost last
        self.try_depth = 0
        self.retry_on: tuple[str, ...] = ()
        self.http_ok = True  # requests calls may become httpx ones (plan_task turns it off when unsafe)
        self.comp: list[dict[str, T]] = []  # the targets of the comprehensions being visited
        self._current: ast.Call | None = None  # the call visit_Call is deciding (rewrites are recorded then)
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
                    bindings.append(
                        (n.target.id, ("aug", n.target.id, n.value) if isinstance(n, ast.AugAssign) else n.value)
                    )
            elif isinstance(n, ast.NamedExpr):
                bindings.append((n.target.id, n.value))
            elif isinstance(n, ast.For):  # a comprehension's targets are its own scope (_comprehension)
                self._targets(n.target, ("iter", n.iter), bindings)
            elif isinstance(n, ast.withitem) and n.optional_vars is not None:
                self._targets(n.optional_vars, ("with", n.context_expr), bindings)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bindings.append((n.name, ("unknown",)))
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not self.fn:
                bindings.append((n.name, ("localfunc",)))
            elif isinstance(n, ast.Import):
                for a in n.names:
                    bindings.append(
                        ((a.asname or a.name.split(".")[0]), ("import", a.name if a.asname else a.name.split(".")[0]))
                    )
            elif isinstance(n, ast.ImportFrom):
                base = (
                    _resolve_relative(self.mod.name, self.mod.is_pkg, n.level, n.module)
                    if n.level
                    else (n.module or "")
                )
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
            for i, elt in enumerate(target.elts):
                self._targets(
                    elt.value if isinstance(elt, ast.Starred) else elt,
                    ("elem", src, None if isinstance(elt, ast.Starred) else i),
                    out,
                )

    def _binding_type(self, src) -> T:
        try:
            if isinstance(src, ast.AST):
                return self.type_of(src)
            tag = src[0]
            if tag == "iter":
                return self._element(self.type_of(src[1]))
            if tag == "elem":
                inner = src[1]
                whole = self._binding_type(inner) if isinstance(inner, tuple) else self.type_of(inner)
                if whole.kind == "pair":  # obj, created = Model.objects.get_or_create(...)
                    return (
                        T("instance", whole.ref, whole.hint or "full")
                        if src[2] == 0
                        else DATA
                        if src[2] == 1
                        else T("tainted", hint="a get_or_create() result")
                    )
                return self._element(whole)
            if tag == "with":
                t = self.type_of(src[1])
                return UNKNOWN if t.kind == al.SAFE_CM else T("tainted", hint=f"with {_short(src[1])}")
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
        if t.kind == "queryset":
            if t.hint == "data":
                return DATA
            return T("instance", t.ref, "partial" if t.hint == "partial" else "full")
        if t.kind in ("tainted", "opaque"):
            return t
        if t.kind == "headers":
            return DATA
        if t.kind in CHECKED:
            return T("tainted", hint=f"an element of a {t.kind}")
        return DATA if t.kind in (al.DATA, al.PATTERN) else UNKNOWN

    # --- kinds of expressions ------------------------------------------------------------------
    def lookup(self, name: str) -> T:
        for frame in reversed(self.comp):
            if name in frame:
                return frame[name]
        if name in self.local:
            if name in self.forced:
                return T("tainted", hint=f"{name}, which a blocking segment may fill")
            return self.env.get(name, UNKNOWN)
        if self.parent is not None:
            return self.parent.lookup(name)
        mod = self.mod
        if name in mod.rebound:
            return T("unknown", name, _rebound_why(mod, name))
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
        if isinstance(
            node,
            (
                ast.Constant,
                ast.JoinedStr,
                ast.List,
                ast.Tuple,
                ast.Dict,
                ast.Set,
                ast.ListComp,
                ast.SetComp,
                ast.DictComp,
                ast.GeneratorExp,
            ),
        ):
            return DATA
        if isinstance(node, ast.Compare):
            tainted = [t for t in map(self.type_of, [node.left, *node.comparators]) if t.kind == "tainted"]
            return tainted[0] if tainted else DATA
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self.p.attr_type(self.type_of(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            base = self.type_of(node.value)
            if base.kind == "queryset" and isinstance(node.slice, ast.Slice) and node.slice.step is None:
                return base  # qs[:10] is a query with limits
            return self._element(base)
        if isinstance(node, (ast.BinOp, ast.BoolOp)):
            parts = [node.left, node.right] if isinstance(node, ast.BinOp) else node.values
            return _combine([self.type_of(v) for v in parts])
        if isinstance(node, ast.UnaryOp):
            return _combine([self.type_of(node.operand)])
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
            blocked, t = self.call(node)
            if blocked is not None:  # computed by blocking code: reading it on the loop is blocking too
                return blocked.result or T("tainted", hint=blocked.call)
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

    _READS = {
        "get",
        "keys",
        "items",
        "values",
        "copy",
        "count",
        "index",
        "format",
        "join",
        "startswith",
        "endswith",
        "lower",
        "upper",
        "strip",
        "split",
        "replace",
        "isoformat",
        "encode",
        "decode",
        "pop",
        "remove",
        "clear",
        "discard",
        "sort",
        "reverse",
    }  # neither stores a new object in the value

    def filled_by(self, stmts: list[ast.stmt]) -> set[str]:
        """Locals of plain or unknown kind that these (blocking) statements may fill with other objects: the
        receiver of a method that stores (``append``, ``update`` ... or unknown), the base of an item or
        attribute store, an augmented assignment, an argument of a call not proven to leave it alone."""
        out: set[str] = set()

        def local(node: ast.AST) -> str | None:
            if isinstance(node, ast.Name) and node.id in self.local and node.id not in self.forced:
                t = self.env.get(node.id, UNKNOWN)
                if t.kind in (al.DATA, "unknown"):
                    return node.id
            return None

        def harmless(call: ast.Call) -> bool:
            f = call.func
            try:
                if isinstance(f, ast.Attribute) and self.type_of(f.value).kind in ORM:
                    return True  # Django's query methods do not store their arguments' contents
                t = self.type_of(f)
            except _Stop:
                return False
            return (
                t.kind == "builtin"
                and t.ref in al.PURE_BUILTINS
                or t.kind == "ref"
                and al.pure_function(t.ref) is not None
            )

        for stmt in stmts:
            for node in _scope_walk(stmt):
                if isinstance(node, ast.Call):
                    f = node.func
                    if isinstance(f, ast.Attribute) and f.attr not in self._READS:
                        name = local(f.value)
                        if name:
                            out.add(name)
                    if not harmless(node):
                        out.update(
                            n
                            for n in map(
                                local,
                                [
                                    *node.args,
                                    *(k.value for k in node.keywords),
                                    *(a.value for a in node.args if isinstance(a, ast.Starred)),
                                ],
                            )
                            if n
                        )
                elif isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(node.ctx, ast.Load):
                    name = local(node.value)
                    if name:
                        out.add(name)
                elif isinstance(node, ast.AugAssign):
                    name = local(node.target)
                    if name:
                        out.add(name)
        return out

    def _porting(self) -> bool:
        """Calls with an async counterpart are rewritten here: the task body itself, outside generator
        expressions (an ``await`` there would make an async generator) and nested scopes."""
        return self.port and not self.no_await and self.depth == 0 and self.parent is None and not self.module_level

    # --- planning a port, statement by statement --------------------------------------------------
    def plan_block(self, stmts: list[ast.stmt], nested: bool) -> list[Unit]:
        units = [self.plan_stmt(s) for s in stmts]
        if nested:  # a segment here cannot return, break or continue for the enclosing code
            if any(u.kind == "sync" and escapes(u.stmt) for u in units):
                raise _CannotSplit
            return units
        for i, u in enumerate(units):  # top level: a segment that returns runs to the end of the body
            if u.kind == "sync" and returns(u.stmt) and i + 1 < len(units):
                return (
                    units[:i]
                    + [u]
                    + [Unit("sync", x.stmt, blocked=x.blocked if x.kind == "sync" else None) for x in units[i + 1 :]]
                )
        return units

    def plan_stmt(self, stmt: ast.stmt) -> Unit:
        try:
            self.visit(stmt)
            return Unit("loop", stmt, self._collect(stmt))
        except _Stop as stop:
            blocked = stop.blocked
        if self.p.segments and isinstance(stmt, (ast.If, ast.For, ast.Try)):
            try:
                unit = self._plan_compound(stmt)
            except (_Stop, _CannotSplit):
                unit = None
            if unit is not None and (
                unit.rewrites
                or any(x.rewrites for block in unit.blocks for x in _walk_units(block) if x.kind != "sync")
            ):
                unit.blocked = blocked
                return unit
        return Unit("sync", stmt, blocked=blocked)

    def _plan_compound(self, stmt: ast.If | ast.For | ast.Try) -> Unit:
        if isinstance(stmt, ast.If):
            self._truth_test(stmt.test)
            self.visit(stmt.test)
            header = self._collect(stmt.test)
            blocks = [stmt.body, stmt.orelse]
        elif isinstance(stmt, ast.For):
            self._for_header(stmt)
            header = self._collect(stmt.iter) + ([self.pending[id(stmt)]] if id(stmt) in self.pending else [])
            blocks = [stmt.body, stmt.orelse]
        else:
            header = []
            for h in stmt.handlers:
                if h.type is not None:
                    self.visit(h.type)
                    header += self._collect(h.type)
            blocks = [stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody]
        self.stmts.append(stmt)
        self.try_depth += isinstance(stmt, ast.Try)
        try:
            planned = [self.plan_block(b, nested=True) for b in blocks]
        finally:
            self.try_depth -= isinstance(stmt, ast.Try)
            self.stmts.pop()
        return Unit("compound", stmt, header, blocks=planned)

    def _collect(self, node: ast.AST) -> list[Rewrite]:
        return [self.pending[id(n)] for n in ast.walk(node) if id(n) in self.pending]

    def _record(self, node: ast.AST, rewrite: Rewrite) -> None:
        if self._current is node or isinstance(node, (ast.For, ast.comprehension)):
            self.pending[id(node)] = rewrite

    # --- the walk --------------------------------------------------------------------------------
    def visit(self, node: ast.AST):
        if isinstance(node, ast.stmt):
            self.stmts.append(node)
            try:
                return super().visit(node)
            finally:
                self.stmts.pop()
        result = super().visit(node)
        if (
            isinstance(node, (ast.Name, ast.Attribute))
            and isinstance(node.ctx, ast.Load)
            and id(node) not in self.callee
            and id(node) not in self.type_refs
        ):
            t = self.type_of(node)
            if t.kind == "ref":
                why = al.value_problem(t.ref) or self.p.settings_problem(t.ref)
                if why:
                    self.block(node, _short(node), why)
        if (
            isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript))
            and id(node) not in self.allowed
            and not (isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load))
            and id(node) not in self.callee
        ):
            t = self.type_of(node)
            if t.kind in CHECKED:
                self.block(node, _short(node), _misuse(t))
        return result

    def _allow(self, node: ast.AST | None) -> None:
        if node is not None:
            self.allowed.add(id(node))

    def _truth_test(self, node: ast.AST) -> None:
        """``if obj:`` on a model instance is ``object.__bool__`` (Model defines no __bool__/__len__)."""
        parts = (
            node.values
            if isinstance(node, ast.BoolOp)
            else [node.operand]
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
            else [node]
        )
        for part in parts:
            t = self.type_of(part)
            if t.kind == "instance":
                model = self.p.django.info(t.ref)
                if model is not None and not model.methods & {"__bool__", "__len__"}:
                    self._allow(part)

    def visit_If(self, node: ast.If) -> None:
        self._truth_test(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._truth_test(node.test)
        self.loop_depth += 1
        try:
            self.generic_visit(node)
            self._cpu_loop(node, [])
        finally:
            self.loop_depth -= 1

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._truth_test(node.test)
        self.generic_visit(node)

    def visit_Assert(self, node: ast.Assert) -> None:
        self._truth_test(node.test)
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        self.generic_visit(node)
        spec = node.format_spec
        if spec is not None and any(isinstance(v, ast.FormattedValue) for v in ast.walk(spec) if v is not node):
            self.block(
                node,
                _short(node),
                "a format with a computed width or precision (its cost grows with the value) on the event loop",
            )

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow) and not isinstance(node.right, ast.Constant):
            self.block(
                node, _short(node), "a power with a computed exponent (unbounded CPU and memory) on the event loop"
            )
        if (
            isinstance(node.op, ast.Mult)
            and any(
                isinstance(x, (ast.List, ast.Tuple, ast.JoinedStr))
                or isinstance(x, ast.Constant)
                and isinstance(x.value, (str, bytes))
                for x in (node.left, node.right)
            )
            and not all(isinstance(x, ast.Constant) or _literal(x) for x in (node.left, node.right))
        ):
            self.block(
                node,
                _short(node),
                "a sequence repeated a computed number of times (unbounded CPU and memory) on the event loop",
            )

        why = _value_cost_op(node)
        if why:
            self.block(node, _short(node), why)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self._truth_test(node)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        self._truth_test(node)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if all(isinstance(op, (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)) for op in node.ops):
            for part in [node.left, *node.comparators]:  # Model.__eq__ compares the concrete model and pk
                t = self.type_of(part)
                if (
                    t.kind == "instance"
                    and not (self.p.django.info(t.ref) or dj.ModelInfo("", "", "")).methods & {"__eq__"}
                    or t.kind == "response"
                    and all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)
                ):
                    self._allow(part)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        value_t = (
            self.type_of(node.value)
            if isinstance(node.value, (ast.Call, ast.Name, ast.Attribute, ast.Subscript))
            else None
        )
        if value_t is not None and value_t.kind in CHECKED:
            names = all(isinstance(t, ast.Name) for t in node.targets)
            pair = (
                value_t.kind == "pair"
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Tuple)
                and len(node.targets[0].elts) == 2
                and all(isinstance(e, ast.Name) for e in node.targets[0].elts)
            )
            if names or pair:
                self._allow(node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name):
            self._allow(node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._allow(node.value)
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        self._allow(node.value)  # a value computed and dropped (a lazy queryset is never evaluated)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        base = self.type_of(node.value)
        if base.kind in CHECKED:
            self._allow(node.value)
        self.generic_visit(node)
        if base.kind in ("cls", "inst", "instance") and id(node) not in self.callee:
            why = self.p.class_replaced(base, node.attr)  # a property or descriptor put there at run time
            if why:
                self.block(node, _short(node), why)
        if base.kind == "cls" and id(node) not in self.callee:
            member = isinstance(node.ctx, ast.Load) and self.p.enum_member(base, node.attr)
            why = ("" if member else self._class_attribute(base, node.attr)) or self._metaclass_problem(base)
            if why:
                self.block(node, _short(node), why)
            if member:
                self._enum_member(node, base)
        if base.kind == "module" and isinstance(node.ctx, ast.Load):
            why = self._module_getattr(base, node.attr)
            if why:
                self.block(node, _short(node), why)
            t = self.p.attr_type(base, node.attr)
            if t.kind == "opaque" and id(node) not in self.callee:  # helpers.ITEMS[0], helpers.CACHE["k"]
                self.block(node, _short(node), _opaque_why(t))
        if base.kind == "ref" and id(node) not in self.callee and isinstance(node.ctx, ast.Load):
            why = al.attribute_read_problem(base.ref)
            if why:
                self.block(node, _short(node), why)
        if base.kind in CHECKED and id(node) not in self.callee:
            why = self._attribute_problem(base, node.attr, node.ctx)
            if why:
                self.block(node, _short(node), why)

    def _module_getattr(self, base: T, attr: str) -> str:
        """A project module with a PEP 562 ``__getattr__`` runs it for a name it does not define: why, or ""."""
        mod = self.p.module(base.ref)
        if mod is None or "__getattr__" not in (set(mod.defs) | set(mod.assigns) | set(mod.imports)):
            return ""
        if attr in mod.defs or attr in mod.classes or attr in mod.imports or attr in mod.assigns:
            return ""
        if self.p.module(f"{mod.name}.{attr}") is not None:
            return ""
        return f"{mod.name}.{attr} is not defined there: the module's __getattr__ runs (project code)"

    def _enum_member(self, node: ast.Attribute, base: T) -> None:
        """A member of a project Enum is an instance of it: using it runs the class's properties and dunders,
        proven as for a built instance."""
        call = ast.copy_location(ast.Call(func=node, args=[], keywords=[]), node)
        blocked, _ = self._active_members(call, base, _short(node))
        if blocked is not None:
            raise _Stop(blocked)

    _PLAIN_METACLASS_BASES = ("enum.Enum", "enum.IntEnum", "enum.StrEnum", "enum.Flag", "enum.IntFlag")

    def _metaclass_problem(self, t: T, seen: frozenset = frozenset()) -> str:
        """Code that runs on class-level use (``Class.anything``, ``isinstance(x, Class)``, ``Class()``): a
        metaclass of the project (``__getattr__``, ``__instancecheck__``, ``__call__``) or an ABC's
        ``__subclasshook__``. Builtin bases, Django models and the stdlib's enums are plain."""
        mod, cls = self.p.class_of(t)
        if mod is None or cls is None or t.ref in seen or self.p.django.info(t.ref) is not None:
            return ""
        for k in cls.keywords:
            if k.arg == "metaclass":
                return f"{cls.name} has the metaclass {_short(k.value)}, whose hooks run on class-level use"
        for b in self.p.bases(t):
            if b.kind == "cls":
                why = self._metaclass_problem(b, seen | {t.ref})
                if why:
                    return why
            elif b.kind == "ref" and b.ref not in self._PLAIN_METACLASS_BASES:
                return f"{cls.name} derives from {b.ref}, whose metaclass may run code on class-level use"
            elif b.kind not in ("builtin", "ref"):
                return f"{cls.name} has a base that is not read ({b.ref or b.hint})"
        return ""

    def _class_attribute(self, base: T, attr: str) -> str:
        """Reading ``Class.attr`` runs a descriptor's ``__get__`` when the class Python finds ``attr`` on
        (its method resolution order) sets it to an object built by a call: why that is not proven, or "".
        When the order cannot be known, any project base's binding counts."""
        for c, cls in self.p.mro_classes(base):
            if self.p.django.info(c.ref) is not None:
                return ""  # a model's managers and fields are the ORM's (ports_django)
            body = cls if cls is not None else self.p.class_of(c)[1]
            if body is None:
                continue
            stmt = class_binding(body, attr)
            if stmt is not None:
                why = _class_attribute_problem(stmt)
                if why:
                    return f"{body.name}.{why}"
                if cls is not None:
                    return ""
        return ""

    def _attribute_problem(self, base: T, attr: str, ctx: ast.expr_context) -> str:
        if base.kind == "instance":
            model = self.p.django.info(base.ref)
            if model is None or model.problem:
                return f"a model instance of a model not read from source ({model.problem if model else base.ref})"
            if model.methods & {"__getattribute__", "__setattr__", "__getattr__"}:
                return f"{model.label} customises attribute access"
            if isinstance(ctx, ast.Load):
                if attr in model.plain and (base.hint == "full" or attr in ("pk", "id")):
                    return ""
                if self.p.attr_type(base, attr).kind == "manager":
                    return ""
                if base.hint == "partial" and attr in model.plain:
                    return f"{model.label}.{attr} may be deferred (only()/defer()): reading it is a query"
                if attr in model.relations:
                    return f"{model.label}.{attr} is a relation: reading it is a query unless cached"
                return (
                    f"{model.label}.{attr} is not a field read from the instance (a property, a relation, "
                    "a method): it may query"
                )
            if isinstance(ctx, ast.Store) and attr in model.plain:
                return ""
            return f"assigning {model.label}.{attr} (not a plain field)"
        if base.kind == "response" and isinstance(ctx, ast.Load) and (attr in http.RESPONSE_DATA or attr == "headers"):
            return ""
        if base.kind == "response":
            return http.why_not_attr(attr)
        return f"{attr} of a Django {base.kind} (only its query-building and async methods are proven)"

    def visit_Subscript(self, node: ast.Subscript) -> None:
        base = self.type_of(node.value)
        if base.kind == "cls":  # Cls[...] runs __class_getitem__ (or the metaclass's __getitem__)
            for c, cls in self.p.mro_classes(base):
                body = cls if cls is not None else self.p.class_of(c)[1]
                stmt = class_binding(body, "__class_getitem__") if body is not None else None
                if stmt is not None:
                    self.block(node, _short(node), f"{body.name}.__class_getitem__ runs on {_short(node)}, not proven")
                    break
        if base.kind in CHECKED:
            self._allow(node.value)
        self.generic_visit(node)
        if base.kind in CHECKED:
            sliced = isinstance(node.slice, ast.Slice) and node.slice.step is None
            if not isinstance(node.ctx, ast.Load) or not (base.kind == "headers" or base.kind == "queryset" and sliced):
                self.block(
                    node,
                    _short(node),
                    "Django ORM (indexing a queryset runs a query)"
                    if base.kind == "queryset"
                    else f"indexing a {base.kind}",
                )

    def _for_header(self, node: ast.For | ast.comprehension, key: tuple = ()) -> None:
        t = self.type_of(node.iter)
        if t.kind == "queryset":
            if not self._porting():
                self.block(
                    node.iter,
                    f"for ... in {_short(node.iter)}",
                    "Django ORM (iterating a queryset runs a query; only the task body's own loops become async for)",
                )
            self._allow(node.iter)
            if isinstance(node, ast.For):
                self._record(
                    node,
                    Rewrite(
                        "async_for", ("for", node.lineno, node.col_offset), label="for over a queryset -> async for"
                    ),
                )
            else:
                self._record(node, Rewrite("async_comp", key, label="comprehension over a queryset -> async for"))
        self.visit(node.iter)
        self.visit(node.target)

    def _cpu_loop(self, node: ast.AST, iters: list[ast.expr]) -> None:
        """Work on the loop must stay linear in the task's input, as SAQ's own decoding of that input is:
        a loop over a ``range()`` of a computed size (or of a constant size over CONSTANT_SIZE_LIMIT), a loop
        inside another loop (quadratic), a ``while``, a loop growing the list it walks (endless), a round
        whose cost grows with the rounds before it (``_quadratic_round``) or a call of a project helper that
        loops over what the round gives it (``_looping_helper``) is CPU work no input bounds, unless it awaits
        (a port's ``async for``: the loop yields)."""
        if any(id(n) in self.pending for n in ast.walk(node)):
            return  # an async rewrite inside: each round awaits
        label = f"{'while' if isinstance(node, ast.While) else 'for'} ... {_short(node, 40)}"
        if isinstance(node, ast.While):
            self.block(node, label, "a while loop with no await: CPU work no input bounds, on the event loop")
        rounds = self._round_nodes(node)
        why, grown = _grows_iterated(iters, rounds)
        if why and grown is not None:
            self.block(grown, _short(grown), why)
        for it in iters:
            why = _range_problem(it, "a loop over range()")
            if why:
                self.block(node, label, why)
        if self.loop_depth > 1:
            self.block(node, label, "a loop inside a loop (quadratic CPU work) on the event loop")
        if rounds and not all(_fixed_size(it) for it in iters):  # a fixed number of rounds is linear
            why, at = self._quadratic_round(node)
            if why:
                self.block(at, _short(at), why)
            why, at = self._looping_helper(node, rounds)
            if why:
                self.block(at, _short(at), why)

    def _initial_values(self, name: str) -> list[ast.expr]:
        """The values this function assigns to the local ``name`` (``acc = []``)."""
        out: list[ast.expr] = []
        for n in self._own():
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
                out.append(n.value)
        return out

    def _numeric(self, name: str) -> bool:
        """Every assignment of the local ``name`` is a number literal or ``name + ...``: a running total."""
        values = self._initial_values(name)
        return bool(values) and all(
            (
                isinstance(v, ast.Constant)
                and type(v.value) in (int, float)
                and v.value == 0
                and type(v.value) is not bool
            )
            or (isinstance(v, ast.BinOp) and any(isinstance(x, ast.Name) and x.id == name for x in (v.left, v.right)))
            for v in values
        )

    def _sized_list(self, node: ast.AST) -> bool:
        """A local list (or tuple) whose size the input sets: assigned a list display, ``list()``/``tuple()``
        or a list comprehension, and not only a fixed display of constants it never grows (``allowed =
        ["a", "b"]`` is searched in constant time)."""
        if not isinstance(node, ast.Name):
            return False
        name = node.id
        values = self._initial_values(name)
        if not any(
            isinstance(v, (ast.List, ast.ListComp, ast.Tuple))
            or (isinstance(v, ast.Call) and _dotted(v.func) in ("list", "tuple"))
            for v in values
        ):
            return False
        if not all(_literal(v) for v in values):
            return True
        for n in self._own():
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == name
                and n.func.attr in ("append", "extend", "insert")
            ) or (isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == name):
                return True
        return False

    def _set_or_dict(self, node: ast.AST) -> bool:
        """A set or dict value by its display, or a local assigned one (``acc = set()``)."""
        if isinstance(node, (ast.Set, ast.SetComp, ast.Dict, ast.DictComp)) or (
            isinstance(node, ast.Call) and _dotted(node.func) in ("set", "frozenset", "dict")
        ):
            return True
        return isinstance(node, ast.Name) and any(
            isinstance(v, (ast.Set, ast.SetComp, ast.Dict, ast.DictComp))
            or (isinstance(v, ast.Call) and _dotted(v.func) in ("set", "frozenset", "dict"))
            for v in self._initial_values(node.id)
        )

    def _copied(self, name: str, v: ast.AST) -> bool:
        """``name = <v>`` builds a new value holding all of ``name``'s: ``acc + [x]``, ``acc * 2``,
        ``{**acc, k: v}``, ``(*acc, x)``, ``[*acc, x]``, ``{*acc, x}``, ``acc | {x}`` on a set or dict."""

        def same(x: ast.AST) -> bool:
            return isinstance(x, ast.Name) and x.id == name

        if isinstance(v, ast.BinOp) and any(same(x) for x in (v.left, v.right)):
            if isinstance(v.op, ast.Mult) or isinstance(v.op, ast.Add) and not self._numeric(name):
                return True
            if isinstance(v.op, (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)):
                return any(self._set_or_dict(x) for x in (v.left, v.right))
        if isinstance(v, ast.Dict):
            return any(k is None and same(x) for k, x in zip(v.keys, v.values))
        if isinstance(v, (ast.List, ast.Tuple, ast.Set)):
            return any(isinstance(e, ast.Starred) and same(e.value) for e in v.elts)
        return False

    def _quadratic_round(self, loop: ast.AST) -> tuple[str, ast.AST]:
        """A round of a loop (or comprehension) over input whose cost grows with the rounds before it
        (quadratic in all): a value that accumulates by copying (``acc = acc + [x]``, ``acc = {**acc, k: v}``,
        ``acc = (*acc, x)``, ``acc = acc | {x}``, ``s += c`` on str/bytes, a running product of ints ``p *= x``),
        ``x in some_list``, ``lst.index(x)``/``count``/``remove`` and ``lst.pop(0)`` on a local list,
        ``lst.insert(0, x)``, ``bisect.insort``. Accepted: a running sum from a number literal, ``list +=``
        (it extends), set/dict operations, ``append``, ``pop()``."""
        for n in _own_nodes(self._round_nodes(loop)):
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
                name = n.target.id
                if isinstance(n.op, (ast.Mult, ast.Pow, ast.LShift, ast.MatMult)):
                    return f"{name} grows each round ({_short(n)}: a running product): quadratic CPU work", n
                if isinstance(n.op, ast.Add) and not self._numeric(name):
                    values = self._initial_values(name)
                    if not (values and all(isinstance(v, (ast.List, ast.ListComp)) for v in values)):
                        return f"{name} is copied each round ({_short(n)} on a str/bytes/tuple): quadratic CPU work", n
            bound: tuple[str, ast.AST] | None = None
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                bound = (n.targets[0].id, n.value)
            elif isinstance(n, ast.NamedExpr):
                bound = (n.target.id, n.value)
            if bound is not None and self._copied(*bound):
                return f"{bound[0]} is copied each round ({_short(n)}): quadratic CPU work", n
            if isinstance(n, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in n.ops):
                for right in n.comparators:
                    if self._sized_list(right):
                        return f"{_short(n)} searches a list each round: quadratic CPU work", n
            if isinstance(n, ast.Call):
                fname = _dotted(n.func) or ""
                method = n.func.attr if isinstance(n.func, ast.Attribute) else ""
                if method == "insert":
                    return f"{_short(n)} shifts a list each round: quadratic CPU work", n
                if fname.split(".")[-1] in ("insort", "insort_left", "insort_right"):
                    return f"{_short(n)} shifts a list each round: quadratic CPU work", n
                receiver = n.func.value if isinstance(n.func, ast.Attribute) else None
                if method in ("index", "count", "remove") and receiver is not None and self._sized_list(receiver):
                    return f"{_short(n)} searches a list each round: quadratic CPU work", n
                if (
                    method == "pop"
                    and n.args
                    and _fold(n.args[0]) != -1
                    and receiver is not None
                    and self._sized_list(receiver)
                ):
                    return f"{_short(n)} shifts a list each round: quadratic CPU work", n
        return "", loop

    def _looping_helper(self, loop: ast.AST, rounds: list[ast.AST]) -> tuple[str, ast.AST]:
        """A round calling a project function (one the prover follows) that loops over one of its parameters,
        given something other than what the round itself walks (``for x in items: total(items)``): a loop
        inside a loop, quadratic. Handing it the round's own element (``for row in rows: fmt(row)``) walks
        each part of the input once: linear."""
        targets = _loop_targets(loop)
        for n in _own_nodes(rounds):
            if not isinstance(n, ast.Call) or not isinstance(n.func, (ast.Name, ast.Attribute)):
                continue
            try:
                t = self.type_of(n.func)
            except _Stop:
                continue
            method = self._helper_method(n) if t.kind != "func" else None
            if method is not None:
                mod, fn, bound_first, helper = method
                loops = self._fn_loops(mod, fn, 0, helper)
            elif t.kind == "func" and (found := self._helper_fn(t.ref)) is not None:
                mod, fn = found
                bound_first, helper = False, t.ref.replace(":", ".")
                loops = self._helper_loops(t.ref, 0)
            else:
                continue
            for param, arg in _bound_args(fn, n, bound_first=bound_first).items():
                names = {x.id for x in ast.walk(arg) if isinstance(x, ast.Name)}
                if names & targets or not names & self.local or param not in loops:
                    continue  # the round's own element, or a value the module fixes (a literal, a constant)
                return f"a loop calling {helper}(), which loops over its argument {param}: quadratic CPU work", n
        return "", loop

    def _helper_method(self, n: ast.Call) -> tuple[_Module, ast.FunctionDef, bool, str] | None:
        """``obj.method(...)`` / ``Cls.method(...)`` on a project class: the method's module and body, whether
        the call binds its first parameter (not a static method), and its dotted name."""
        if not isinstance(n.func, ast.Attribute):
            return None
        try:
            base = self.type_of(n.func.value)
        except _Stop:
            return None
        if base.kind not in ("inst", "self", "cls") or not base.ref:
            return None
        found = self._find_method(T("cls", base.ref), n.func.attr)
        if not isinstance(found, tuple) or not isinstance(found[2], ast.FunctionDef):
            return None
        mod, cls, fn = found
        static = any(_dotted(d) == "staticmethod" for d in fn.decorator_list)
        return mod, fn, not static, f"{mod.name}.{cls.name}.{fn.name}"

    def _helper_fn(self, ref: str) -> tuple[_Module, ast.FunctionDef] | None:
        modname, _, name = ref.partition(":")
        mod = self.p.module(modname)
        fn = mod.defs.get(name) if mod is not None and name not in mod.rebound else None
        return (mod, fn) if mod is not None and isinstance(fn, ast.FunctionDef) else None

    def _helper_loops(self, ref: str, depth: int) -> set[str]:
        """The parameters of the project function ``ref`` its body loops over (``for v in values``, a
        comprehension over them), or hands to a project function that does (three calls deep)."""
        found = self._helper_fn(ref)
        if found is None:
            return set()
        return self._fn_loops(found[0], found[1], depth, ref)

    def _fn_loops(self, mod: _Module, fn: ast.FunctionDef, depth: int, ref: str) -> set[str]:
        a = fn.args
        params = {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        looped: set[str] = set()
        for n in _own_nodes(list(fn.body)):
            iters = [n.iter] if isinstance(n, ast.For) else [g.iter for g in getattr(n, "generators", [])]
            if isinstance(n, (ast.For, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                looped |= {x.id for it in iters for x in ast.walk(it) if isinstance(x, ast.Name)} & params
            if depth < 3 and isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                callee = n.func.id
                if callee in mod.rebound:
                    continue
                t = (
                    T("func", f"{mod.name}:{callee}")
                    if callee in mod.defs
                    else self.p.resolve(mod.imports[callee])
                    if callee in mod.imports
                    else UNKNOWN
                )
                if t.kind != "func" or t.ref == ref:
                    continue
                inner = self._helper_fn(t.ref)
                if inner is None:
                    continue
                deeper = self._helper_loops(t.ref, depth + 1)
                for param, arg in _bound_args(inner[1], n).items():
                    if param in deeper:
                        looped |= {x.id for x in ast.walk(arg) if isinstance(x, ast.Name)} & params
        return looped

    @staticmethod
    def _round_nodes(node: ast.AST) -> list[ast.AST]:
        """What runs each round of a loop: a ``for`` statement's body (and else), a comprehension's element
        (key and value) and conditions."""
        if isinstance(node, ast.For):
            return [*node.body, *node.orelse]
        if isinstance(node, ast.DictComp):
            parts: list[ast.AST] = [node.key, node.value]
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            parts = [node.elt]
        else:
            return []
        return [*parts, *(c for g in node.generators for c in g.ifs)]

    def visit_For(self, node: ast.For) -> None:
        self._for_header(node)
        self.loop_depth += 1
        try:
            for stmt in [*node.body, *node.orelse]:
                self.visit(stmt)
            self._cpu_loop(node, [node.iter])
        finally:
            self.loop_depth -= 1

    def _comprehension(self, node: ast.AST, parts: list[ast.AST]) -> None:
        frame: dict[str, T] = {}
        self.comp.append(frame)
        self.loop_depth += len(node.generators)
        try:
            for i, gen in enumerate(node.generators):
                self._for_header(gen, ("comp", node.lineno, node.col_offset, i))
                found: list = []
                self._targets(gen.target, ("iter", gen.iter), found)
                for name, src in found:
                    frame[name] = self._binding_type(src)
                for cond in gen.ifs:
                    self.visit(cond)
            for part in parts:
                self.visit(part)
            self._cpu_loop(node, [g.iter for g in node.generators])
        finally:
            self.loop_depth -= len(node.generators)
            self.comp.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self.no_await += 1
        try:
            self._comprehension(node, [node.elt])
        finally:
            self.no_await -= 1

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:  # exception classes matched against, not used
            self.type_refs.update(id(n) for n in ast.walk(node.type))
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        self.try_depth += 1
        try:
            self.generic_visit(node)
        finally:
            self.try_depth -= 1

    visit_TryStar = visit_Try

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None:
            if self.fn is not None and self.parent is None and self.depth > 0:
                self._allow(node.value)  # a helper returns a queryset: its caller checks every use
            self.visit(node.value)
            self.returns.append(self.type_of(node.value))
        else:
            self.returns.append(DATA)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            t = self.lookup(node.id)
            if t.kind == "opaque":
                self.block(node, node.id, _opaque_why(t))
            if t.kind == "tainted":
                self.block(node, node.id, f"reads {node.id}, which blocking code computes ({t.hint or 'unknown'})")

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if self.type_of(item.context_expr).kind != al.SAFE_CM:
                self.block(
                    item.context_expr,
                    f"with {_short(item.context_expr)}",
                    al.family(
                        _dotted(item.context_expr.func)
                        if isinstance(item.context_expr, ast.Call) and _dotted(item.context_expr.func)
                        else ""
                    )
                    or "a context manager whose __enter__/__exit__ are not proven non-blocking",
                )
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
        f = node.func
        if isinstance(f, (ast.Attribute, ast.Name)):
            self.callee.add(id(f))
        if isinstance(f, ast.Name) and f.id in ("isinstance", "issubclass") and len(node.args) == 2:
            self.type_refs.update(id(n) for n in ast.walk(node.args[1]))  # a class looked at, not used
            for n in ast.walk(node.args[1]):
                t = self.type_of(n) if isinstance(n, (ast.Name, ast.Attribute)) else None
                why = self._metaclass_problem(t) if t is not None and t.kind == "cls" else ""
                if why:
                    self.block(node, _call_label(node), why)
        if isinstance(f, ast.Attribute):
            self.type_refs.add(id(f.value))  # a method's receiver: the call itself is proven (or not)
        receiver = self.type_of(f.value) if isinstance(f, ast.Attribute) else None
        target = self.type_of(f)
        orm_call = receiver is not None and receiver.kind in CHECKED
        into_project = target.kind in ("func", "cls") or (receiver is not None and receiver.kind == "inst")
        list_of_rows = (
            target.kind == "builtin"
            and target.ref == "list"
            and len(node.args) == 1
            and not node.keywords
            and self.type_of(node.args[0]).kind == "queryset"
        )
        if orm_call or into_project or list_of_rows:  # the callee is proven with the kinds it is given
            for a in [*node.args, *(k.value for k in node.keywords if k.arg)]:
                if not isinstance(a, ast.Starred):  # f(*qs) iterates the queryset
                    self._allow(a)
                    if into_project:
                        self.type_refs.add(id(a))  # a third-party value is proven where the project uses it
        self.generic_visit(node)
        self._current = node
        try:
            blocked, t = self.call(node)
        finally:
            self._current = None
        if blocked is not None:
            raise _Stop(blocked)
        why = _cpu_call(node, target, receiver)
        if why:
            self.block(node, _call_label(node), why)
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
        for a in [
            *(node.args[i] for i in positions if i < len(node.args)),
            *(k.value for k in node.keywords if k.arg in keywords),
        ]:
            t = self.type_of(a)
            if t.kind in (al.DATA, "lambda", "localfunc"):
                continue
            if t.kind == "builtin" and t.ref in al.PURE_BUILTINS:
                continue
            if t.kind == "ref" and al.pure_function(t.ref) and not self.p.ref_replaced(t.ref):
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

    def _callables_passed(self, node: ast.Call, ref: str) -> tuple[Blocked, T] | None:
        """A project function, class or method given to an allowlisted function where it is not one of the
        arguments that function is known to call (``HIGHER_ORDER``) may still be called by it
        (``operator.call(f, x)``, ``functools.cmp_to_key(f)``): it is not proven there. ``isinstance`` and
        ``issubclass`` only look at a class (a metaclass hook is refused where the class is read)."""
        positions, keywords = al.HIGHER_ORDER.get(ref, ((), ()))
        if ref in ("isinstance", "issubclass"):
            return None
        given = [(i, a) for i, a in enumerate(node.args) if i not in positions]
        given += [(k.arg, k.value) for k in node.keywords if k.arg not in keywords]
        for _, a in given:
            value = a.value if isinstance(a, ast.Starred) else a
            if self._project_callable(value):
                return self._blocked(node, f"passes {_short(value)} to {ref}(), which may call it (not proven)")
        return None

    def _project_callable(self, node: ast.AST) -> bool:
        t = self.type_of(node)
        if t.kind in ("func", "cls"):
            return True
        if isinstance(node, ast.Attribute):
            base = self.type_of(node.value)
            if base.kind in ("inst", "cls", "self"):
                found = self._find_method(base, node.attr)
                return base.kind == "self" or isinstance(found, (tuple, _Replaced))
        return False

    def _callee(self, node: ast.Call, t: T, arg_types: list[T] | None = None) -> tuple[Blocked | None, T]:
        k = t.kind
        if self.module_level and k == "func":
            return self._blocked(node, "a project function called at import time")
        if k == "builtin":
            if t.ref == "super" and not node.args and self.fn is not None:
                return None, T("super")
            if t.ref == "list" and len(node.args) == 1 and not node.keywords:
                arg = self.type_of(node.args[0])
                if arg.kind == "queryset":
                    if arg.hint != "data" or not self._porting():
                        return self._blocked(
                            node,
                            "list() of a queryset runs a query (Django ORM)"
                            + (
                                "; only rows of values()/values_list() become a list on the loop"
                                if self._porting()
                                else ""
                            ),
                        )
                    self._record(
                        node,
                        Rewrite(
                            "list_async", key_of(node.func), label="list(queryset) -> [row async for row in queryset]"
                        ),
                    )
                    return None, DATA
            kind = al.PURE_BUILTINS.get(t.ref)
            if kind is None:
                return self._blocked(node, al.family(t.ref) or "a builtin not on the allowlist")
            if t.ref in al.HIGHER_ORDER:
                bad = self._callable_args(node, t.ref)
                if bad:
                    return bad
            bad = self._callables_passed(node, t.ref)
            if bad:
                return bad
            if t.ref == "type":
                return None, UNKNOWN
            if t.ref == "print":
                stream = next((kw.value for kw in node.keywords if kw.arg == "file"), None)
                if stream is not None and not _std_stream(stream):
                    # sys.stdout / sys.stderr go through the worker's stdio queue (runtime/logqueue.py)
                    return self._blocked(node, f"print() to {_short(stream)}: its write() is file or socket I/O")
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
        why = self.p.ref_replaced(ref)
        if why:  # not the library's function the allowlist or a port trusts
            return self._blocked(node, why)
        if ref in al.ASYNC_REPLACEMENTS:
            if self._porting() and self._rewritable_sleep(node):
                self._record(node, Rewrite("sleep", key_of(node.func), label="time.sleep -> await asyncio.sleep"))
                return None, DATA
            where = (
                "a helper (only the task body is ported)"
                if self.depth
                else "a generator expression"
                if self.port and self.no_await
                else f"the form {_short(node.func)}(...), which the porter does not rewrite"
            )
            return self._blocked(node, f"time.sleep in {where}")
        if ref in http.PORTABLE:
            spec, why = http.spec(node, ref)
            if spec is not None and self._porting():
                why = self._http_context(node)
                if not why:
                    stmt = self.stmts[-1] if self._current is node and self.stmts else None
                    spec["target"] = stmt.targets[0].id if isinstance(stmt, ast.Assign) else None  # type: ignore
                    self._record(
                        node,
                        Rewrite(
                            "http",
                            key_of(node.func),
                            new=ref.rsplit(".", 1)[1],
                            http=spec,
                            label=f"{ref} -> httpx.AsyncClient",
                        ),
                    )
                    return None, T("response")
            blocked, _ = self._blocked(
                node,
                f"HTTP client (sync){'; not ported to httpx: ' + why if why else ''}",
                f"{ref}()" if ref != _short(node.func) else None,
            )
            blocked.result = T("response") if spec is not None else None
            return blocked, UNKNOWN
        kind = al.pure_function(ref)
        if kind is not None:
            if ref in al.HIGHER_ORDER:
                bad = self._callable_args(node, ref)
                if bad:
                    return bad
            bad = self._callables_passed(node, ref)
            if bad:
                return bad
            return None, self._result(node, kind)
        fam = al.family(ref)
        top = ref.split(".")[0]
        if fam is None:
            fam = (
                "a stdlib call not on the allowlist"
                if top in sys.stdlib_module_names
                else "a third-party call, assumed blocking"
            )
        return self._blocked(node, fam, f"{ref}()" if ref != _short(node.func) else None)

    def _rewritable_sleep(self, node: ast.Call) -> bool:
        """``<time module>.sleep(...)`` with the module imported at module level: what the porter rewrites."""
        f = node.func
        return (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and f.value.id not in self.local
            and self.mod.imports.get(f.value.id) == "time"
            and f.value.id not in self.mod.rebound
            and self.parent is None
        )  # the writer's _aio.sleep raises what time.sleep raises (-1, nan, 1e20)

    def _http_context(self, node: ast.Call) -> str:
        """Why a requests call that could be an httpx one is not ported here ("" when it is)."""
        if not self.p.http_client:
            return "the project does not declare httpx"
        if not self.http_ok:
            return "its response is read by blocking code, which expects requests' response"
        if self._current is not node:
            return ""  # decided when the call itself is visited
        stmt = self.stmts[-1] if self.stmts else None
        simple = (
            isinstance(stmt, ast.Expr)
            and stmt.value is node
            or isinstance(stmt, ast.Assign)
            and stmt.value is node
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        )
        if not simple:
            return "the call is not a statement of its own (`r = requests.get(...)` or `requests.post(...)`)"
        if self.try_depth:
            return "inside try: httpx raises other exception classes than requests"
        if any(r.rsplit(".", 1)[-1] not in ("Exception", "BaseException") for r in self.retry_on):
            return f"autoretry_for={', '.join(self.retry_on)}: httpx raises other exception classes than requests"
        return ""

    def _decorators_ok(self, node: ast.Call, fn: ast.AST, mod: _Module) -> tuple[Blocked, T] | None:
        for d in getattr(fn, "decorator_list", []):
            target = d.func if isinstance(d, ast.Call) else d
            name = _dotted(target) or ""
            ref = mod.imports.get(name.split(".")[0], name.split(".")[0]) + name[len(name.split(".")[0]) :]
            if ref in _TRANSPARENT_DECORATORS or name in _TRANSPARENT_DECORATORS:
                continue
            if ref.endswith("shared_task") or ref.endswith(".task") or ref.endswith("periodic_task"):
                continue  # calling a Celery task object runs its function in-process (Task.__call__)
            return self._blocked(node, f"decorated by @{_short(target)}, whose wrapper is not proven")
        return None

    def _bind(
        self, fn: ast.FunctionDef, node: ast.Call, arg_types: list[T] | None, mod: _Module, first: T | None
    ) -> dict[str, T]:
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
        defaults = dict(zip([p.arg for p in positional][len(positional) - len(a.defaults) :], a.defaults))
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
                types[p.arg] = _join(
                    [x for x in (star, dstar) if x is not None] + ([default(p.arg)] if p.arg in defaults else [])
                )
            else:
                types[p.arg] = default(p.arg)
        for p in a.kwonlyargs:
            types[p.arg] = kw.pop(p.arg) if p.arg in kw else (dstar if dstar is not None else default(p.arg))
        if a.vararg is not None:
            extra = given[len(positional) :] + ([star] if star is not None else [])
            types[a.vararg.arg] = DATA if all(x == DATA for x in extra) else UNKNOWN
        if a.kwarg is not None:
            extra = list(kw.values()) + ([dstar] if dstar is not None else [])
            types[a.kwarg.arg] = DATA if all(x == DATA for x in extra) else UNKNOWN
        return types

    def _enter(
        self, node: ast.Call, mod: _Module, fn: ast.FunctionDef, qual: str, args: dict[str, T]
    ) -> tuple[Blocked | None, T]:
        if self.depth + 1 > self.p.max_depth:
            return self._blocked(
                node, f"more than {self.p.max_depth} calls deep into the project: not proven (the depth limit)"
            )
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

    def _find_method(
        self, t: T, name: str, seen: frozenset = frozenset()
    ) -> tuple[_Module, ast.ClassDef, ast.AST] | str | None:
        """The method ``name`` of a project class (or its project bases); "builtin" when the only base
        that can define it is ``object`` or a builtin exception; None when unknown; a ``_Replaced`` (where)
        when other code replaces it at run time."""
        order = self.p.mro(t)  # Python's lookup order (a diamond's second base before the shared one)
        if isinstance(order, str):
            return None
        for c in order:
            if c.kind == "builtin" and (c.ref == "object" or c.ref in al.PURE_BUILTINS):
                continue
            if c.kind != "cls":
                return None
            found = self._own_method(c, name)
            if found == "unknown" and not isinstance(found, _Replaced):
                return None
            if found is not None:
                return found
        return "builtin"

    def _own_method(self, t: T, name: str) -> tuple[_Module, ast.ClassDef, ast.AST] | str | None:
        """``name`` as the body of this one project class binds it: its method, a ``_Replaced``, "unknown"
        when the body binds it otherwise (``run = slow``), None when it does not bind it."""
        mod, cls = self.p.class_of(t)
        if mod is None or cls is None:
            return "unknown"
        replaced = self.p.class_replacements(t)
        if name in replaced or "*" in replaced:  # not the method the source defines
            return _Replaced(replaced.get(name) or replaced["*"])
        for stmt in cls.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                return mod, cls, stmt
            if isinstance(stmt, ast.ClassDef) and stmt.name == name:
                return "unknown"
            targets = _assign_targets(stmt)
            if any(isinstance(x, ast.Name) and x.id == name for x in targets):
                return "unknown"
        return None

    def _construct(self, node: ast.Call, t: T, arg_types: list[T] | None) -> tuple[Blocked | None, T]:
        mod, cls = self.p.class_of(t)
        label = f"{t.ref.replace(':', '.')}()"
        if mod is None or cls is None:
            return self._blocked(node, "a project class that cannot be read", label)
        model = self.p.django.info(t.ref)
        if model is not None:  # pre_init/post_init receivers and default callables: never on the loop
            blocked, _ = self._blocked(
                node, "Django ORM (constructing a model runs pre_init/post_init receivers and field defaults)", label
            )
            blocked.result = T("instance", t.ref, "full") if not model.problem else None
            return blocked, UNKNOWN
        for d in cls.decorator_list:
            name = _dotted(d.func if isinstance(d, ast.Call) else d) or ""
            ref = mod.imports.get(name.split(".")[0], name.split(".")[0]) + name[len(name.split(".")[0]) :]
            if ref not in _TRANSPARENT_DECORATORS:
                return self._blocked(node, f"a class decorated by @{name}, not proven", label)
        where = self.p.instance_attributes(t).get("__class__")
        if where:  # the instance becomes one of another class: what runs on its use is not this class's
            return self._blocked(node, f"self.__class__ is reassigned at {where}", label)
        meta = self._metaclass_problem(t)
        if meta and any(k.arg == "metaclass" for k in cls.keywords):  # its __call__ builds the instance
            return self._blocked(node, meta, label)
        for special in ("__new__", "__init__", "__post_init__"):
            found = self._find_method(t, special)
            if isinstance(found, _Replaced):
                return self._blocked(node, str(found), label)
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
        return self._active_members(node, t, label)

    def _active_members(self, node: ast.Call, t: T, label: str) -> tuple[Blocked | None, T]:
        """An instance's attribute reads, operators and builtins (``len``, ``str``, ``in``, iteration,
        formatting ...) run the class's own code: its properties, its dunder methods, descriptors and
        dataclass default factories set on the class. The instance is proven safe to use only when every
        such member of the class and its project bases is proven, each with ``self`` the instance and its
        other parameters of unknown kind; otherwise building it is blocking (its use may query)."""
        seen: set[str] = set()
        todo = [t]
        while todo:
            cur = todo.pop()
            if cur.ref in seen:
                continue
            seen.add(cur.ref)
            mod, cls = self.p.class_of(cur)
            if mod is None or cls is None:
                continue
            todo += [b for b in self.p.bases(cur) if b.kind == "cls"]
            for attr, why in self.p.class_replacements(cur).items():
                if attr == "*" or (attr.startswith("__") and attr.endswith("__")) or attr in _PROTOCOL_METHODS:
                    return self._blocked(node, why, label)
            for stmt in cls.body:
                why = _class_attribute_problem(stmt)
                if why and isinstance(stmt, ast.Assign) and self.p.enum_member(cur, _short(stmt.targets[0])):
                    why = ""  # an Enum's member: the metaclass makes it an instance, no descriptor
                if why:
                    return self._blocked(node, f"{cls.name}.{why}", label)
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or not _is_active(stmt):
                    continue
                if isinstance(stmt, ast.AsyncFunctionDef):
                    return self._blocked(node, f"{cls.name}.{stmt.name} is a coroutine function", label)
                bad = self._decorators_ok(node, stmt, mod)
                if bad:
                    return bad
                params = [*stmt.args.posonlyargs, *stmt.args.args, *stmt.args.kwonlyargs]
                args = {p.arg: UNKNOWN for p in params}
                if params:
                    args[params[0].arg] = T("inst", t.ref)
                for extra in (stmt.args.vararg, stmt.args.kwarg):
                    if extra is not None:
                        args[extra.arg] = UNKNOWN
                blocked, _ = self._enter(node, mod, stmt, f"{cls.name}.{stmt.name}", args)
                if blocked is not None:
                    return blocked, UNKNOWN
        return None, T("inst", t.ref)

    def _method(self, node: ast.Call, base: T, name: str) -> tuple[Blocked | None, T]:
        k = base.kind
        if k in ("module", "ref"):
            return self._callee(node, self.p.attr_type(base, name))
        if k in ("manager", "queryset"):
            return self._orm(node, base, name)
        if k == "instance":
            return self._instance_method(node, base, name)
        if k == "headers":
            if name == "get":
                return None, DATA
            return self._blocked(node, f"headers.{name}() (only get() and [] are proven the same in httpx)")
        if k in ("response", "pair"):
            return self._blocked(node, http.why_not_attr(name) if k == "response" else "a get_or_create() result")
        if k == "tainted":
            return self._blocked(node, f"a method of a value blocking code computes ({base.hint or 'unknown'})")
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
            if isinstance(found, _Replaced):
                return self._blocked(node, str(found))
            return self._blocked(node, self.p.class_family(base) or "a class attribute, not proven")
        if k == "inst":
            where = self.p.instance_attributes(base).get(name) or self.p.instance_attributes(base).get("*")
            if where:  # the instance's own attribute is found before the class's method
                return self._blocked(node, f"{name} is an instance attribute set at {where}, not the method")
            found = self._find_method(base, name)
            if isinstance(found, tuple):
                mod, cls, fn = found
                if any(_dotted(d) in ("staticmethod", "property") for d in fn.decorator_list):
                    return self._blocked(node, "a static method or property reached through an instance")
                first = T("cls", base.ref) if any(_dotted(d) == "classmethod" for d in fn.decorator_list) else base
                return self._enter(node, mod, fn, f"{cls.name}.{name}", self._bind(fn, node, None, mod, first))
            if isinstance(found, _Replaced):
                return self._blocked(node, str(found))
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
        elif base.hint and "bound more than once" in base.hint:
            why = base.hint  # not the library its text names (the name was rebound)
        elif fam or base.hint:
            why = fam or base.hint
        return self._blocked(node, why)

    # --- the Django ORM (transform/ports_django.py) ---------------------------------------------------
    def _orm(self, node: ast.Call, base: T, name: str) -> tuple[Blocked | None, T]:
        why = self.p.orm_replaced(name)
        if why:
            return self._blocked(node, f"Django ORM ({why})")
        model = self.p.django.info(base.ref)
        label = f"{_short(node.func)}()"
        if model is None or model.problem:
            return self._blocked(node, f"Django ORM ({model.problem if model else 'a model not read from source'})")
        if name in dj.LAZY:
            why = self._lazy_args(node, name, model)
            if why:
                return self._blocked(node, f"Django ORM (building this query runs code not proven: {why})")
            variant = base.hint if base.kind == "queryset" else ""
            new = dj.LAZY[name]
            if variant != "data" and new:
                variant = new
            return None, T("queryset", base.ref, variant)
        table = dj.TERMINAL.get(name) or (
            dj.RELATED.get(name) if base.kind == "manager" and base.hint == "related" else None
        )
        if table is None:
            return self._blocked(node, f"Django ORM ({name}() of a {base.kind} has no proven async counterpart)")
        anew, result = table
        variant = base.hint if base.kind == "queryset" else ""
        kind = {
            "row": DATA
            if variant == "data"
            else T("instance", base.ref, "partial" if variant == "partial" else "full"),
            "instance": T("instance", base.ref, "full"),
            "data": DATA,
            "pair": T("pair", base.ref, "full"),
        }.get(result, T("tainted", hint=f"{name}() returns model objects"))
        if self._porting():
            self._record(node, Rewrite("await", key_of(node.func), new=anew, label=f"{name}() -> await {anew}()"))
            return None, kind
        blocked, _ = self._blocked(
            node,
            "Django ORM" + ("" if self.port and not self.depth else " (only the task body's own ORM calls are ported)"),
            label,
        )
        blocked.result = kind
        return blocked, UNKNOWN

    def _lazy_args(self, node: ast.Call, name: str, model: dj.ModelInfo) -> str:
        """Why building ``qs.name(*args)`` on the loop is not proven ("" when it is): a filter touches only
        Django's own field classes (their get_prep_value runs then); other arguments are plain data."""
        for k in node.keywords:
            if k.arg is None:
                return "**kwargs"
            if name in dj.LOOKUP_METHODS and not self.p.django.lookup_ok(model, k.arg):
                return f"the lookup {k.arg} is not on a field class of Django's"
            if name not in dj.LOOKUP_METHODS and self.type_of(k.value) != DATA:
                return f"{k.arg}={_short(k.value)}"
            if name in dj.LOOKUP_METHODS and self.type_of(k.value).kind not in (al.DATA, "instance", "queryset"):
                return f"{k.arg}={_short(k.value)}"
        for a in node.args:
            if name in dj.LOOKUP_METHODS:
                why = self._q_problem(a, model)
                if why:
                    return why
            elif self.type_of(a) != DATA:
                return _short(a)
        return ""

    def _q_problem(self, node: ast.AST, model: dj.ModelInfo) -> str:
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
            return self._q_problem(node.left, model) or self._q_problem(node.right, model)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return self._q_problem(node.operand, model)
        if isinstance(node, ast.Call) and self.type_of(node.func) == T("ref", "django.db.models.Q"):
            for k in node.keywords:
                if k.arg is None or not self.p.django.lookup_ok(model, k.arg):
                    return f"Q({k.arg or '**'}=...) is not on a field class of Django's"
            if node.args:
                return "Q() with positional arguments"
            return ""
        return f"{_short(node)} (a filter argument that is not an inline Q(...))"

    def _instance_method(self, node: ast.Call, base: T, name: str) -> tuple[Blocked | None, T]:
        why = self.p.class_replaced(base, name) or self.p.orm_replaced(name)
        if why:
            return self._blocked(node, why)
        model = self.p.django.info(base.ref)
        if model is None or model.problem:
            return self._blocked(node, f"Django ORM ({model.problem if model else 'a model not read from source'})")
        if name in dj.INSTANCE:
            anew, _ = dj.INSTANCE[name]
            override = model.signatures.get(name)
            if override is not None and not dj.accepts(override, dj.INSTANCE_KEYWORDS[name]):
                return self._blocked(
                    node,
                    f"Django ORM ({model.label}.{name}() is overridden without the keywords "
                    f"Model.{anew}() passes it: {', '.join(sorted(dj.INSTANCE_KEYWORDS[name]))})",
                )
            if self._porting() and anew not in model.methods:
                self._record(node, Rewrite("await", key_of(node.func), new=anew, label=f"{name}() -> await {anew}()"))
                return None, DATA
            why = (
                f"{model.label} defines its own {anew}()"
                if anew in model.methods
                else "only the task body's own ORM calls are ported"
            )
            return self._blocked(node, f"Django ORM (model instance method; {why})")
        return self._blocked(node, f"Django ORM ({model.label}.{name}() is a model method: project code or a query)")

    def _super(self, node: ast.Call, name: str) -> tuple[Blocked | None, T]:
        """``super().name(...)`` in a method of a project class: the next class after it in the MRO of the
        instance's class. Cooperative multiple inheritance makes that class depend on the subclass the
        instance is of, so only a single chain of inheritance (each class one base) is proven."""
        if not self.chain or "." not in self.chain[-1]:
            return self._blocked(node, "super() outside a project class")
        cls_name = self.chain[-1].rsplit(".", 2)[-2] if self.chain[-1].count(".") >= 1 else ""
        if cls_name not in self.mod.classes:
            return self._blocked(node, "super() outside a project class")
        own = T("cls", f"{self.mod.name}:{cls_name}")
        params = [
            *getattr(self.fn, "args", ast.arguments()).posonlyargs,
            *getattr(self.fn, "args", ast.arguments()).args,
        ]
        me = self.env.get(params[0].arg) if params else None
        actual = T("cls", me.ref) if me is not None and me.kind in ("inst", "cls") and me.ref else own
        order = self.p.mro(actual)
        if isinstance(order, str):
            return self._blocked(node, f"super() in {cls_name}: {order}")
        for c in order:
            if c.kind == "cls" and len([b for b in self.p.bases(c) if b.ref != "object"]) > 1:
                return self._blocked(
                    node,
                    f"super() in {cls_name}: {c.ref.split(':')[-1]} has several bases, so the next class in the "
                    "MRO depends on the instance's class",
                )
        after = [c for c in order if c.kind == "cls"]
        if own not in after:
            return self._blocked(node, f"super() in {cls_name}: the instance's class does not derive from it")
        for c in order[order.index(own) + 1 :]:
            if c.kind == "builtin" and (c.ref == "object" or c.ref in al.PURE_BUILTINS):
                continue
            found = self._own_method(c, name) if c.kind == "cls" else "unknown"
            if found is None:
                continue
            if isinstance(found, _Replaced):
                return self._blocked(node, str(found))
            if isinstance(found, tuple):
                mod, cls, fn = found
                first = me if me is not None and me.kind in ("inst", "cls") else T("inst", own.ref)
                return self._enter(node, mod, fn, f"{cls.name}.{name}", self._bind(fn, node, None, mod, first))
            return self._blocked(node, self.p.class_family(own) or "super() reaches a base that is not proven")
        return None, UNKNOWN
