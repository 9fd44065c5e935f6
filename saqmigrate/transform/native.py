"""Native mode: write the ``async def`` SAQ function for a task body the prover planned, with libcst.

``transform/blocking.py`` decides (``Prover.plan_task``): each statement of the body runs on the event
loop, with its calls that have a faithful async counterpart rewritten, or is blocking. This module
writes that plan, copying the body node for node (comments kept; the emitter formats the module):

* the signature becomes ``(ctx, *, <the task's parameters>)``; ``bind=True`` bodies get
  ``self = task_self(ctx)`` first, so ``self.request.*`` and ``self.retry(...)`` keep working;
* the planned rewrites, found by position: ``time.sleep(x)`` -> ``await _aio.sleep(x)`` (the runtime's sleep,
  which raises what time.sleep raises for ``x``), ``await asyncio.sleep(0.5)`` for a literal time.sleep accepts;
  ``qs.get(...)`` -> ``await qs.aget(...)`` (and the other async ORM methods, ``obj.save()`` ->
  ``await obj.asave()``); ``for obj in qs`` -> ``async for``; ``list(qs.values_list(...))`` -> an async
  comprehension; ``r = requests.get(...)`` -> ``async with httpx.AsyncClient(...)`` (transform/ports_http.py);
* each run of adjacent blocking statements becomes one nested ``def _blocking_N()`` called as
  ``await _aio.run_segment(_blocking_N)`` (saqmigrate/runtime/aio.py): the statements unchanged, in order,
  in one of the bridge's threads (not asgiref's one shared thread),
  reading the port's variables by closure and writing them back through ``nonlocal`` (a name only a
  segment binds is declared ``name: object`` first, which binds nothing: reading it unbound still
  raises ``UnboundLocalError``). A segment that returns is the last statement: ``return await ...``;
* every module-level name of the Celery module the body uses is imported at the top of the port from
  where it really comes from (``import datetime as dt``, ``from core.effects import record``, a
  relative import made absolute; a name the module defines itself from the module): never through
  the Celery module's namespace. Imports inside the function cannot clash with the twin functions
  of the ``*_saq.py`` module, which are named like the tasks.

It still refuses what it cannot express: ``update_state`` (it waits on the event loop it would be
running on), ``global``/``nonlocal``, a generator body, a name bound by a star import, statements joined
by ``;`` that the plan splits, a rewrite it cannot find. ``port_function`` then says why and the task
stays bridged.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from saqmigrate.index.extract import _resolve_relative
from saqmigrate.transform import ports_http as http
from saqmigrate.transform.blocking import Rewrite, TaskPlan, Unit

_PROVIDED = {"ctx", "asyncio", "task_self", "_celery"}  # names the twin module binds for a port
_GENERATED = {
    "_aio": "from saqmigrate.runtime import aio as _aio",
    "_httpx": "import httpx as _httpx",
    "_requests": "import requests as _requests",
}
_SLEEP_LITERAL_MAX = 10**9  # seconds: a literal up to this (31 years) stays asyncio.sleep (time.sleep accepts it)


@dataclass
class Port:
    code: str | None
    reason: str | None = None
    note: str = ""  # what the port changed beyond the signature, for the report


class _Refused(Exception):
    """The plan cannot be written (the message says why); the task keeps its bridge."""


def _find_function(module: cst.Module, name: str) -> cst.FunctionDef | None:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def _problems(fn: ast.FunctionDef) -> list[str]:
    out = []
    stack: list[tuple[ast.AST, bool]] = [(s, False) for s in fn.body]
    while stack:
        node, nested = stack.pop()
        if isinstance(node, ast.Global):
            out.append("uses global")
        elif isinstance(node, ast.Nonlocal):
            out.append("uses nonlocal")
        elif isinstance(node, (ast.Yield, ast.YieldFrom)) and not nested:
            out.append("a generator body (yield) has no async port")
        inner = nested or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        stack.extend((c, inner) for c in ast.iter_child_nodes(node))
    return sorted(set(out))


def _char_col(lines: list[str], line: int, col_bytes: int) -> int:
    if not 0 < line <= len(lines):
        return col_bytes
    return len(lines[line - 1].encode("utf-8")[:col_bytes].decode("utf-8", "replace"))


class _Anchors(cst.CSTVisitor):
    """Where each rewrite's anchor is in the libcst tree: position (line, character column) -> node."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        self.found: dict[tuple, cst.CSTNode] = {}

    def _pos(self, node: cst.CSTNode, end: bool = True) -> tuple[int, int]:
        r = self.get_metadata(PositionProvider, node)
        p = r.end if end else r.start
        return p.line, p.column

    def visit_Call(self, node: cst.Call) -> None:
        anchor = node.func.attr if isinstance(node.func, cst.Attribute) else node.func
        self.found[("call", *self._pos(anchor))] = node

    def visit_For(self, node: cst.For) -> None:
        self.found[("for", *self._pos(node, end=False))] = node

    def _comp(self, node: cst.ListComp | cst.SetComp | cst.DictComp) -> None:
        start = self._pos(node, end=False)
        comp: cst.CompFor | None = node.for_in
        i = 0
        while comp is not None:
            self.found[("comp", *start, i)] = comp
            comp, i = comp.inner_for_in, i + 1

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._comp(node)

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._comp(node)

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._comp(node)


def _sleep_literal(call: cst.Call) -> bool:
    """``time.sleep(<literal>)`` whose literal time.sleep accepts (finite, non-negative, not too large): the
    same as ``asyncio.sleep``. Anything else is checked at run time by ``saqmigrate.runtime.aio.sleep``."""
    if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
        return False
    value = call.args[0].value
    if not isinstance(value, (cst.Integer, cst.Float)):
        return False
    try:
        number = ast.literal_eval(value.value)
    except (ValueError, SyntaxError):
        return False
    return isinstance(number, (int, float)) and 0 <= number <= _SLEEP_LITERAL_MAX


def _await(call: cst.BaseExpression) -> cst.Await:
    return cst.Await(expression=call)


def _paren(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, cst.Await) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


class _Rewriter(cst.CSTTransformer):
    """Applies the planned rewrites whose anchors are in ``targets`` (id of the original node)."""

    def __init__(self, targets: dict[int, Rewrite], source_of) -> None:
        self.targets = targets
        self.source_of = source_of  # ast node -> its source text
        self.applied: set[int] = set()

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        updated = updated.with_changes(func=_paren(updated.func))
        r = self.targets.get(id(original))
        if r is None or r.kind == "http":
            return updated
        self.applied.add(id(original))
        if r.kind == "await":
            assert isinstance(updated.func, cst.Attribute)
            return _await(updated.with_changes(func=updated.func.with_changes(attr=cst.Name(r.new))))
        if r.kind == "sleep":  # a literal time.sleep accepts: asyncio.sleep; else the runtime's checked sleep
            module = "asyncio" if _sleep_literal(updated) else "_aio"
            return _await(updated.with_changes(func=cst.Attribute(value=cst.Name(module), attr=cst.Name("sleep"))))
        if r.kind == "list_async":
            row = cst.Name("_row")
            return cst.ListComp(
                elt=row, for_in=cst.CompFor(target=row, iter=updated.args[0].value, asynchronous=cst.Asynchronous())
            )
        raise _Refused(f"unknown rewrite {r.kind}")

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        return updated.with_changes(value=_paren(updated.value))

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.Subscript:
        return updated.with_changes(value=_paren(updated.value))

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        if id(original) in self.targets:
            self.applied.add(id(original))
            return updated.with_changes(asynchronous=cst.Asynchronous())
        return updated

    def leave_CompFor(self, original: cst.CompFor, updated: cst.CompFor) -> cst.CompFor:
        if id(original) in self.targets:
            self.applied.add(id(original))
            return updated.with_changes(asynchronous=cst.Asynchronous())
        return updated

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        for small in original.body:
            value = getattr(small, "value", None)
            r = self.targets.get(id(value)) if value is not None else None
            if r is None or r.kind != "http":
                continue
            if len(original.body) != 1 or not isinstance(small, (cst.Expr, cst.Assign)):
                raise _Refused("an HTTP call joined to other statements by ';'")
            target = ""
            if isinstance(small, cst.Assign):
                target = cst.Module(body=[]).code_for_node(small.targets[0].target) + " = "
            spec = r.http or {}
            text = (
                f"async with await asyncio.to_thread(_httpx.AsyncClient, {http.client_source(spec)}) "
                "as _http_client:\n"
                f"    {target}await _http_client.{r.new}({http.request_source(spec, self.source_of)})\n"
            )
            self.applied.add(id(value))
            return cst.parse_statement(text).with_changes(leading_lines=updated.leading_lines)
        return updated


_BINDERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _bound_names(stmts: list[ast.stmt]) -> set[str]:
    """Names these statements bind in the function's own scope (what a segment declares nonlocal)."""
    out: set[str] = set()
    stack: list[ast.AST] = list(stmts)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, _BINDERS):
            out.add(n.name)
            stack.extend(n.decorator_list)
            continue
        elif isinstance(n, ast.Lambda):
            continue
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names if a.name != "*")
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # a comprehension's targets are its own; a walrus in it binds in the function
            out.update(w.target.id for w in ast.walk(n) if isinstance(w, ast.NamedExpr))
            stack.append(n.generators[0].iter)
            continue
        stack.extend(ast.iter_child_nodes(n))
    return out


def _own_bound(fn: ast.AsyncFunctionDef) -> set[str]:
    """Names the port binds in its own scope (parameters included), not counting nested functions."""
    a = fn.args
    out = {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    out |= {p.arg for p in (a.vararg, a.kwarg) if p is not None}
    return out | _bound_names(fn.body)


class _Writer:
    """Renders the planned body: loop statements rewritten, blocking runs wrapped in segments."""

    def __init__(self, rewriter: _Rewriter, names_in_use: set[str]) -> None:
        self.rw = rewriter
        self.segments: list[tuple[str, set[str]]] = []  # (function name, names it declares nonlocal)
        self.names_in_use = names_in_use
        self.handler_names: list[str] = []  # ``except E as name`` around the statements being written

    def _segment_name(self) -> str:
        n = len(self.segments) + 1
        name = f"_blocking_{n}"
        while name in self.names_in_use:
            n += 1
            name = f"_blocking_{n}"
        self.names_in_use.add(name)
        return name

    def block(self, body: list[cst.BaseStatement], units: list[Unit], top: bool) -> list[cst.BaseStatement]:
        pairs: list[tuple[cst.BaseStatement, list[Unit]]] = []
        i = 0
        for stmt in body:
            n = len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
            group = units[i : i + n]
            i += n
            if len(group) != n:
                raise _Refused("the body's statements do not match the plan")
            if len({u.kind for u in group}) > 1:
                raise _Refused("statements joined by ';' that run in different places")
            pairs.append((stmt, group))
        if i != len(units):
            raise _Refused("the body's statements do not match the plan")
        out: list[cst.BaseStatement] = []
        run: list[tuple[cst.BaseStatement, list[Unit]]] = []

        def flush() -> None:
            if run:
                out.extend(self._segment([s for s, _ in run], [u.stmt for _, us in run for u in us]))
                run.clear()

        for stmt, group in pairs:
            kind = group[0].kind
            if kind == "sync":
                run.append((stmt, group))
                continue
            flush()
            if kind == "loop":
                out.append(stmt.visit(self.rw))
            else:
                out.append(self._compound(stmt, group[0]))
        flush()
        return out

    def _segment(self, stmts: list[cst.BaseStatement], nodes: list[ast.stmt]) -> list[cst.BaseStatement]:
        name = self._segment_name()
        bound = _bound_names(nodes)
        self.segments.append((name, bound))
        # the exception an enclosing ``except ... as e`` bound, read by the segment: passed as a default
        # value (the same object), so linters see it used there and defined in the segment (F841, F821)
        read = {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}
        passed = [n for n in dict.fromkeys(self.handler_names) if n in read and n not in bound]
        head = cst.parse_statement(f"def {name}({', '.join(f'{n}={n}' for n in passed)}):\n    pass\n")
        assert isinstance(head, cst.FunctionDef)
        inner: list[cst.BaseStatement] = []
        if bound:
            inner.append(cst.parse_statement(f"nonlocal {', '.join(sorted(bound))}\n"))
        first = stmts[0]  # its comments stay with it; blank lines before it do not open the function
        lines = list(getattr(first, "leading_lines", []))
        while lines and lines[0].comment is None:
            lines.pop(0)
        inner.extend(
            [first.with_changes(leading_lines=lines) if hasattr(first, "leading_lines") else first, *stmts[1:]]
        )
        if bound:  # an annotated name cannot be nonlocal: ``n: int = v`` is written ``n = v`` in the segment
            inner = [st.visit(_Unannotate()) for st in inner]
        fn = head.with_changes(body=head.body.with_changes(body=inner))
        ret = any(isinstance(n, ast.Return) for node in nodes for n in _own_nodes(node))
        call = cst.parse_statement(f"{'return ' if ret else ''}await _aio.run_segment({name})\n")
        return [fn, call]

    def _suite(self, body: cst.BaseSuite) -> list[cst.BaseStatement]:
        if isinstance(body, cst.SimpleStatementSuite):
            return [
                cst.SimpleStatementLine(body=[s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in body.body])
            ]
        return list(body.body)

    def _block(self, suite: cst.BaseSuite, units: list[Unit]) -> cst.IndentedBlock:
        stmts = self.block(self._suite(suite), units, top=False)
        if isinstance(suite, cst.IndentedBlock):
            return suite.with_changes(body=stmts)
        return cst.IndentedBlock(body=stmts)

    def _compound(self, stmt: cst.BaseStatement, unit: Unit) -> cst.BaseStatement:
        blocks = unit.blocks
        if isinstance(stmt, cst.If):
            return self._if(stmt, blocks)
        if isinstance(stmt, cst.For):
            new = stmt.with_changes(
                iter=stmt.iter.visit(self.rw),
                body=self._block(stmt.body, blocks[0]),
                orelse=self._else(stmt.orelse, blocks[1]),
            )
            if id(stmt) in self.rw.targets:
                self.rw.applied.add(id(stmt))
                new = new.with_changes(asynchronous=cst.Asynchronous())
            return new
        if isinstance(stmt, cst.Try):
            body = self._block(stmt.body, blocks[0])  # segments numbered in source order
            handlers = []
            for h, units in zip(stmt.handlers, blocks[1 : 1 + len(stmt.handlers)]):
                named = isinstance(h.name, cst.AsName) and isinstance(h.name.name, cst.Name)
                if named:
                    self.handler_names.append(h.name.name.value)
                try:
                    handler_body = self._block(h.body, units)
                finally:
                    if named:
                        self.handler_names.pop()
                handlers.append(
                    h.with_changes(type=h.type.visit(self.rw) if h.type is not None else None, body=handler_body)
                )
            final = stmt.finalbody
            if final is not None:
                final = final.with_changes(body=self._block(final.body, blocks[-1]))
            return stmt.with_changes(
                body=body, handlers=handlers, orelse=self._else(stmt.orelse, blocks[-2]), finalbody=final
            )
        raise _Refused(f"a {type(stmt).__name__} the plan splits")

    def _else(self, orelse: cst.Else | None, units: list[Unit]) -> cst.Else | None:
        if orelse is None:
            return None
        return orelse.with_changes(body=self._block(orelse.body, units))

    def _if(self, stmt: cst.If, blocks: list[list[Unit]]) -> cst.If:
        body = self._block(stmt.body, blocks[0])
        orelse: cst.If | cst.Else | None = stmt.orelse
        if isinstance(orelse, cst.If):  # elif: ast's orelse is [If]
            (unit,) = blocks[1]
            if unit.kind == "loop":
                orelse = orelse.visit(self.rw)
            elif unit.kind == "compound":
                orelse = self._if(orelse, unit.blocks)
            else:  # the elif runs in a segment: written as else: <segment>
                orelse = cst.Else(body=cst.IndentedBlock(body=self._segment([orelse], [unit.stmt])))
        elif isinstance(orelse, cst.Else):
            orelse = self._else(orelse, blocks[1])
        return stmt.with_changes(test=stmt.test.visit(self.rw), body=body, orelse=orelse)


def _own_nodes(node: ast.AST):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(c for c in ast.iter_child_nodes(n) if not isinstance(c, (*_BINDERS, ast.Lambda)))


class _Unannotate(cst.CSTTransformer):
    """``x: T = v`` -> ``x = v`` and ``x: T`` -> ``pass`` in a segment's own scope (not in nested functions or
    classes): the segment declares ``x`` nonlocal, and an annotated name cannot be (a SyntaxError). The
    annotation has no effect at run time in a function."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_AnnAssign(
        self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign
    ) -> cst.BaseSmallStatement | cst.RemovalSentinel:
        if updated_node.value is None:
            return cst.Pass()
        return cst.Assign(targets=[cst.AssignTarget(target=updated_node.target)], value=updated_node.value)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _bindings(tree: ast.Module, module: str, is_package: bool) -> dict[str, list[str]]:
    """Module-level name -> the import statements that give a port the same value, from its real module."""
    out: dict[str, list[str]] = {}
    defined: set[str] = set()

    def walk(body: list[ast.stmt], top: bool) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Import):
                for a in stmt.names:
                    if a.asname:
                        out.setdefault(a.asname, []).append(f"import {a.name} as {a.asname}")
                    else:
                        out.setdefault(a.name.split(".")[0], []).append(f"import {a.name}")
            elif isinstance(stmt, ast.ImportFrom):
                base = (
                    _resolve_relative(module, is_package, stmt.level, stmt.module)
                    if stmt.level
                    else (stmt.module or "")
                )
                for a in stmt.names:
                    if a.name == "*" or not base:
                        continue
                    line = f"from {base} import {a.name}" + (f" as {a.asname}" if a.asname else "")
                    out.setdefault(a.asname or a.name, []).append(line)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(stmt.name)
            elif isinstance(stmt, (ast.If, ast.Try)) or type(stmt).__name__ == "TryStar":
                inner = list(stmt.body) + list(stmt.orelse) + list(getattr(stmt, "finalbody", []))
                for h in getattr(stmt, "handlers", []):
                    inner += h.body
                walk(inner, False)
            else:
                for n in ast.walk(stmt):
                    if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                        defined.add(n.id)

    walk(tree.body, True)
    for name in defined:
        out[name] = out.get(name, []) + ["defined"]
    result: dict[str, list[str]] = {}
    for name, lines in out.items():
        uniq = list(dict.fromkeys(lines))
        if len(uniq) == 1 and uniq[0] != "defined":
            result[name] = uniq
        elif all(x.startswith("import ") and " as " not in x for x in uniq):
            result[name] = uniq  # import a.b / import a.c: both bind a
        else:  # bound more than one way (defined here, or rebound): the value the module ends up with
            result[name] = [f"from {module} import {name}"]
    return result


def _read_through_task_module(lines: list[str], name: str, module: str) -> list[str]:
    """How the port reads a name its task module binds by ``from M import X``: from the task module, which holds
    the copy taken when it ran that import, as the Celery function does. ``M`` may rebind its ``X`` later
    (``global X`` in one of its functions, ``globals()["X"] = v``, another module's ``M.X = v``): the Celery
    function keeps reading its module's copy, and so must the port (attack 3 #15). ``import M`` lines (a
    module object, the same either way) are kept."""
    if module and lines and all(x.startswith("from ") for x in lines):
        return [f"from {module} import {name}"]
    return lines


def _free_names(fn: ast.AsyncFunctionDef) -> list[str]:
    """Names the port reads that nothing in it binds, in order of first use."""
    bound: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
    free: dict[str, None] = {}
    # the body only: default values are evaluated where the port is defined, at the twin module's top level
    for node in (n for stmt in fn.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            free[node.id] = None
    return list(free)


#: names the twin module binds itself (emit/generate.py): a default value's name must not replace one of them
_TWIN_NAMES = frozenset(
    {
        "annotations",
        "asyncio",
        "saq_task",
        "TaskOptions",
        "celery_impl",
        "run_sync",
        "task_self",
        "UNSET",
        "given",
        "given_positional",
        "_celery",
        *_GENERATED,
    }
)


def _defaults_imported(params_src: str, bindings: dict[str, list[str]]) -> tuple[str, list[str]]:
    """Default values written ``_celery.NAME`` (a module-level name of the Celery module) become ``NAME``,
    imported at the top of the twin module from where it really comes from (defaults are evaluated when
    the twin module runs the ``def``, at import, like the Celery module's own). A name with no such import
    (bound by a star import, or one the twin module binds itself) keeps ``_celery.NAME``."""
    if "_celery." not in params_src:
        return params_src, []
    header = f"def f(*, {params_src}): pass" if not params_src.startswith("**") else f"def f({params_src}): pass"
    try:
        fn = ast.parse(header).body[0]
    except SyntaxError:
        return params_src, []
    assert isinstance(fn, ast.FunctionDef)
    spans: list[tuple[int, int, str]] = []
    lines: list[str] = []
    for d in [*fn.args.defaults, *fn.args.kw_defaults]:
        if not (isinstance(d, ast.Attribute) and isinstance(d.value, ast.Name) and d.value.id == "_celery"):
            continue
        found = bindings.get(d.attr)
        if not found or d.attr in _TWIN_NAMES or any(x == "defined" for x in found):
            continue
        spans.append((d.col_offset, d.end_col_offset or d.col_offset, d.attr))
        lines.extend(found)
    offset = header.index(params_src)
    for start, end, name in sorted(spans, reverse=True):
        header = header[:start] + name + header[end:]
    return header[offset : len(header) - len("): pass")], lines


def _grouped(lines: list[str]) -> list[str]:
    """``import x`` lines first, then one ``from m import a, b`` per module, each sorted."""
    plain = sorted({x for x in lines if x.startswith("import ")})
    froms: dict[str, set[str]] = {}
    for x in lines:
        if x.startswith("from "):
            mod, _, names = x[5:].partition(" import ")
            froms.setdefault(mod, set()).add(names)
    return plain + [f"from {mod} import {', '.join(sorted(names))}" for mod, names in sorted(froms.items())]


def port_function(
    source: str,
    function: str,
    *,
    bind: bool,
    module_names: set[str],
    update_state: bool,
    params_src: str,
    module: str = "",
    is_package: bool = False,
    plan: TaskPlan | None = None,
) -> Port:
    """The port of a body as the prover planned it (transform/blocking.py), or why it cannot be written.
    ``plan`` None: the whole body on the loop, unchanged (only for bodies without rewrites).
    Async bodies never get here (rewrite keeps them bridged: the bridge awaits them)."""
    if update_state:
        return Port(None, "self.update_state waits on the event loop; bridge mode runs it in a thread")
    try:
        tree = ast.parse(source)
        cmodule = cst.parse_module(source)
    except (SyntaxError, cst.ParserSyntaxError) as exc:
        return Port(None, f"cannot parse the task module ({exc})")
    afn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function), None)
    wrapper = MetadataWrapper(cmodule, unsafe_skip_copy=True)
    cfn = _find_function(wrapper.module, function)
    if afn is None or cfn is None:
        return Port(None, "the function is not defined at module level in its file")
    problems = _problems(afn)
    if problems:
        return Port(None, ", ".join(problems))
    if plan is None:
        plan = TaskPlan("ported", [Unit("loop", stmt) for stmt in afn.body])
    try:
        return _write(
            source,
            tree,
            afn,
            cfn,
            wrapper,
            plan,
            bind=bind,
            module_names=module_names,
            params_src=params_src,
            module=module,
            is_package=is_package,
        )
    except _Refused as exc:
        return Port(None, str(exc))


def _targets(source: str, wrapper: MetadataWrapper, plan: TaskPlan) -> dict[int, Rewrite]:
    anchors = _Anchors()
    wrapper.visit(anchors)
    lines = re.split(r"\r\n|\r|\n", source)
    targets: dict[int, Rewrite] = {}
    for r in plan.rewrites:
        if r.kind == "async_for":
            _, line, col = r.key
            key: tuple = ("for", line, _char_col(lines, line, col))
        elif r.kind == "async_comp":
            _, line, col, i = r.key
            key = ("comp", line, _char_col(lines, line, col), i)
        else:
            line, col = r.key
            key = ("call", line, _char_col(lines, line, col))
        node = anchors.found.get(key)
        if node is None:
            raise _Refused(f"the porter cannot find {r.label} at line {key[1]}")
        targets[id(node)] = r
    return targets


def _write(
    source: str,
    tree: ast.Module,
    afn: ast.FunctionDef,
    cfn: cst.FunctionDef,
    wrapper: MetadataWrapper,
    plan: TaskPlan,
    *,
    bind: bool,
    module_names: set[str],
    params_src: str,
    module: str,
    is_package: bool,
) -> Port:
    targets = _targets(source, wrapper, plan)
    rewriter = _Rewriter(targets, lambda node: ast.get_source_segment(source, node, padded=False) or ast.unparse(node))
    in_use = {n.id for n in ast.walk(afn) if isinstance(n, ast.Name)} | set(module_names)
    writer = _Writer(rewriter, in_use)
    block = cfn.body
    stmts = writer._suite(block)
    new_body = writer.block(stmts, plan.units, top=True)
    if len(rewriter.applied) != len(targets):
        raise _Refused("a planned rewrite was not applied")
    if not isinstance(block, cst.IndentedBlock):
        block = cst.IndentedBlock(body=[])
    bindings = _bindings(tree, module, is_package) if module else {}
    params_src, default_imports = _defaults_imported(params_src, bindings)
    if not params_src:
        header = "async def __port__(ctx):\n"
    elif params_src.startswith("**"):  # only **kwargs: a bare * before it is a syntax error
        header = f"async def __port__(ctx, {params_src}):\n"
    else:
        header = f"async def __port__(ctx, *, {params_src}):\n"
    try:
        stub = cst.parse_module(header + "    pass\n")
    except cst.ParserSyntaxError as exc:
        return Port(None, f"the port's signature does not parse ({exc.message})")
    stub_fn = stub.body[0]
    assert isinstance(stub_fn, cst.FunctionDef)
    at = 1 if new_body and _is_docstring(new_body[0]) else 0
    draft = stub_fn.with_changes(body=block.with_changes(body=new_body))
    try:
        draft_ast = ast.parse(cst.Module(body=[draft]).code).body[0]
    except SyntaxError as exc:
        return Port(None, f"the port does not compile ({exc.msg})")
    assert isinstance(draft_ast, ast.AsyncFunctionDef)
    original = {n.id for n in ast.walk(afn) if isinstance(n, ast.Name)}
    lines: list[str] = []
    hoisted: list[str] = []  # module-level imports of the twin module: imported at worker start, not on the loop
    for name in _free_names(draft_ast):
        if name in _PROVIDED or (name == "self" and bind):
            continue
        if name == "_aio" and name in original:
            return Port(None, "the body uses _aio, a name the port's own code uses")
        if name in _GENERATED and name not in original:
            hoisted.append(_GENERATED[name])
            if name == "_httpx":  # what httpx imports on its first request, on the event loop (~50-100 ms)
                hoisted.extend(http.WARM_IMPORTS)
        elif name in _GENERATED and bindings.get(name) == [_GENERATED[name]]:
            lines.append(_GENERATED[name])
        elif name in bindings:
            lines.extend(_read_through_task_module(bindings[name], name, module))
        elif name in module_names:
            return Port(None, f"uses {name}, bound at module level in a way the port cannot import")
        elif not hasattr(builtins, name):
            return Port(None, f"uses {name}, which its module binds by a star import or at run time")
    prelude = [cst.parse_statement(line + "\n") for line in _grouped(lines)]
    if bind:  # self = task_self(ctx) goes first, after the docstring (and the imports) if there is one
        prelude.append(cst.parse_statement("self = task_self(ctx)\n"))
    body = [*new_body[:at], *prelude, *new_body[at:]]
    port = stub_fn.with_changes(body=block.with_changes(body=body))
    code = cst.Module(body=[port]).code
    if writer.segments:  # a name only segments bind: declared in the port (binding nothing) for nonlocal
        port_ast = ast.parse(code).body[0]
        assert isinstance(port_ast, ast.AsyncFunctionDef)
        own = _own_bound(port_ast)
        missing = sorted({n for _, bound in writer.segments for n in bound} - own)
        if missing:
            declared = [cst.parse_statement(f"{n}: object\n") for n in missing]
            body = [*new_body[:at], *prelude, *declared, *new_body[at:]]
            code = cst.Module(body=[stub_fn.with_changes(body=block.with_changes(body=body))]).code
    try:
        compile(code, "<native port>", "exec")
    except SyntaxError as exc:
        return Port(None, f"the port does not compile ({exc.msg})")
    left = _sleeps_left(code)
    if left:  # a time.sleep the porter did not turn into asyncio.sleep would stall the event loop
        return Port(None, f"time.sleep reached as {left} (an alias or a local import) would stall the event loop")
    code = "".join(f"{line}\n" for line in sorted(set(hoisted + default_imports))) + code
    note = plan.summary()
    if writer.segments:
        note = f"{len(writer.segments)} blocking segment(s) in the bridge's threads" + (f"; {note}" if note else "")
    return Port(code, note=note)


def _sleeps_left(code: str) -> str | None:
    """A ``sleep(...)`` call on the event loop that is not ``asyncio.sleep``: proof the port is unsafe
    (a blocking segment, ``def _blocking_N``, runs in a thread: its sleeps are fine)."""
    stack: list[ast.AST] = [ast.parse(code)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_blocking_"):
            continue
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "sleep":
                return "sleep(...)"
            if (
                isinstance(f, ast.Attribute)
                and f.attr == "sleep"
                and not (isinstance(f.value, ast.Name) and f.value.id in ("asyncio", "_aio"))
            ):
                return f"{ast.unparse(f)}(...)"
        stack.extend(ast.iter_child_nodes(node))
    return None


# --- the rewrite's native pass -----------------------------------------------------------------------

_DEP_FILES = (
    "requirements*.txt",
    "requirements/*.txt",
    "requirements/*.in",
    "requirements*.in",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "Pipfile",
    "environment.yml",
)


def project_declares(root, package: str) -> bool:
    """Whether the project's dependency files name ``package`` (requirements, pyproject, setup, Pipfile)."""
    from pathlib import Path

    pattern = re.compile(rf"(?im)^[\s\"'-]*{re.escape(package)}\b|[\"']{re.escape(package)}[\"'<>=~!\[ ;]")
    for glob in _DEP_FILES:
        for path in sorted(Path(root).glob(glob))[:50]:
            try:
                if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                    return True
            except OSError:
                continue
    return False


def _retry_on(task) -> tuple[str, ...]:
    out: list[str] = []
    for options in (task.inherited_options or {}, task.options or {}):
        value = options.get("autoretry_for")
        if isinstance(value, dict):  # {"dynamic": source}: every dotted name in it
            out.extend(re.findall(r"[A-Za-z_][\w.]*", str(value.get("dynamic", ""))) or ["<dynamic>"])
        elif isinstance(value, (list, tuple)):
            out.extend(str(v) for v in value)
        elif value is not None:
            out.append(str(value))
    return tuple(out)


def verdict_of(task, prover, *, params: str | None, parses: bool = True) -> tuple[str, TaskPlan | None, str]:
    """(ported | partly | bridged, the plan, why) for one task: what rewrite --mode native does with it."""
    t = task
    if not parses:
        return "bridged", None, "its module does not parse on this Python"
    if t.kind not in ("shared_task", "app_task", "alias", "legacy_task", "periodic_task"):
        return "bridged", None, f"{t.kind} tasks are bridged"
    if any(p.name == "ctx" for p in t.params):
        return "bridged", None, "a parameter named ctx (the port's SAQ context argument)"
    if t.hooks:
        return "bridged", None, f"its Task class overrides {', '.join(t.hooks)}, which only the bridge runs"
    if t.is_async:
        return "bridged", None, "already async (the bridge awaits it directly)"
    if t.stacked:
        return "bridged", None, f"decorated by @{t.stacked[0]} too, which a port of the body would drop"
    if params is None:
        return "bridged", None, "*args, positional-only or computed default parameters"
    if t.features.get("update_state"):
        return "bridged", None, "self.update_state waits on the event loop; bridge mode runs it in a thread"
    plan = prover.plan_task(t.module, t.function, bind=t.bind, retry_on=_retry_on(t))
    if plan.verdict == "bridged":
        return "bridged", plan, f"not proven non-blocking: {plan.reason()}"
    return plan.verdict, plan, ""


def port_tasks(root, rplan, messages: list[str], *, prover, params_src, module_names_of) -> dict[str, int]:
    """Port each task of the rewrite plan as the prover plans it; one report line per task
    (``native X: ported (...)``, ``SM130 X: partly ported (...)``, ``SM113 X: kept in bridge mode: why``)
    and a count. Never raises for a task: a porter failure keeps the bridge, named."""
    from pathlib import Path

    from saqmigrate.parse import ParseFailure, decode

    texts: dict[str, str | None] = {}
    counts = {"ported": 0, "partly": 0, "bridged": 0}

    def text_of(rel: str) -> str | None:  # read only for the modules that get a port
        if rel not in texts:
            try:
                texts[rel] = decode((Path(root) / rel).read_bytes())  # PEP 263 encodings, as the scan
            except (OSError, ParseFailure):
                texts[rel] = None
        return texts[rel]

    for m in rplan.modules:
        for tw in m.twins:
            t = tw.task
            try:
                mod = prover.module(t.module)  # the tree the scan parsed (or the prover's own read)
                names = module_names_of(mod.tree) if mod is not None else set()
                params = params_src(t, names) if mod is not None else None
                verdict, plan, why = verdict_of(t, prover, params=params, parses=mod is not None)
                port = None
                if verdict != "bridged" and plan is not None:
                    text = text_of(m.source_rel)
                    port = port_function(
                        text or "",
                        t.function,
                        bind=t.bind,
                        module=t.module,
                        is_package=Path(t.file).name == "__init__.py",
                        module_names=names,
                        update_state=bool(t.features.get("update_state")),
                        params_src=params or "",
                        plan=plan,
                    )
                    if not port.code:
                        verdict, why = "bridged", port.reason or "the porter refused it"
            except Exception as exc:  # noqa: BLE001 - never crash: the task keeps its bridge, with why
                verdict, why, port = (
                    "bridged",
                    (f"the porter failed on this body ({type(exc).__name__}: {exc}); please report it"),
                    None,
                )
            counts[verdict] += 1
            if verdict == "bridged":
                messages.append(f"SM113 {t.name}: kept in bridge mode: {why}")
                continue
            assert port is not None and port.code
            tw.native_code, tw.mode = port.code, "native"
            if verdict == "ported":
                messages.append(
                    f"native {t.name}: ported (every call proven non-blocking{'; ' + port.note if port.note else ''})"
                )
            else:
                assert plan is not None and plan.blocked is not None
                messages.append(
                    f"SM130 {t.name}: partly ported ({port.note}; first blocking call: {plan.blocked.reason()})"
                )
    if any(counts.values()):
        messages.append(
            f"native mode: {counts['ported']} task(s) ported to async, {counts['partly']} partly ported "
            f"(blocking segments in the bridge's threads), {counts['bridged']} kept in bridge mode "
            "(SM130/SM113 lines above say why)"
        )
    return counts


def native_prover(root, roots: list, *, django: bool, index=None):
    """The prover for a project: the scan's module loader when ``index`` carries one (the trees the scan
    parsed are not read again), httpx ports when the project declares httpx, blocking segments in a
    Django project (or one that declares asgiref or django). The segments' runtime (runtime/aio.py) does
    not need asgiref, but spread over the pool's threads they would each see their own thread-scoped
    state (an SQLAlchemy ``scoped_session``, a ``threading.local``), which only Django's per-thread
    connections in autocommit are known to tolerate (docs/native.md)."""
    from saqmigrate.transform.blocking import ProjectLoader, Prover, replaced_attributes

    loader = index.module_loader if index is not None else None
    # the attribute writes the scan found (None: the prover reads the project's files for them itself)
    replaced = None
    if isinstance(loader, ProjectLoader):
        replaced = loader.replaced if loader.replaced is not None else replaced_attributes(loader.writes, roots, loader)
    return Prover(
        roots,
        loader=loader,
        http_client=project_declares(root, "httpx"),
        segments=bool(django) or project_declares(root, "asgiref") or project_declares(root, "django"),
        replaced=replaced,
    )


# --- the scan's verdicts -------------------------------------------------------------------------------

#: 3: the key holds the replaced attributes' digest; 4: the porter's refusals, attack 3 rules; 5: attack 4-5
#: rules; 6: attacks 6-7 (% formats, container stores, one binding for ``import os`` + ``import os.path``)
NATIVE_CACHE_VERSION = 6


def _task_facts_key(t) -> str:
    """What a verdict depends on in the task's own facts (params, options, hooks, decorators ...)."""
    import hashlib
    import json

    facts = {
        "m": t.module,
        "f": t.function,
        "k": t.kind,
        "b": t.bind,
        "a": t.is_async,
        "h": t.hooks,
        "s": t.stacked,
        "p": [[p.name, p.kind, p.has_default, p.default] for p in t.params],
        "r": list(_retry_on(t)),
        "u": bool(t.features.get("update_state")),
    }
    return hashlib.sha1(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class _VerdictCache:
    """``<cache dir>/native.json``: per task, its verdict and the modules the prover read for it (with their
    size and mtime, or absent): a warm scan re-plans only tasks whose modules changed."""

    def __init__(self, path, version: str) -> None:
        import json

        self.path, self.version, self.entries, self.dirty = path, version, {}, False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("version") == version:
                    self.entries = data.get("tasks", {})
            except (OSError, ValueError):
                self.entries = {}

    def save(self, keep: set[str]) -> None:
        import json
        import os
        import tempfile

        if self.path is None:
            return
        if set(self.entries) - keep:
            self.entries = {k: v for k, v in self.entries.items() if k in keep}
            self.dirty = True
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-native-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"version": self.version, "tasks": self.entries}, separators=(",", ":")))
            os.replace(tmp, self.path)
        except OSError:
            return  # a cache never changes a result


def _resolved_writes(root, loader, rel_of_module: dict[str, str], cache_dir) -> dict:
    """The project's attribute writes resolved (``blocking.replaced_attributes``), cached in
    ``<cache dir>/native_writes.json`` by the writes themselves and the size and mtime of every module the
    resolution read: a warm scan resolves nothing (on indico, resolving reads ~1.5 s of modules)."""
    import hashlib
    import json
    import os
    import tempfile
    from pathlib import Path

    from saqmigrate import __version__
    from saqmigrate.transform.blocking import ProjectLoader, project_writes, replaced_attributes

    writes = loader.writes if isinstance(loader, ProjectLoader) else project_writes(root)
    digest = hashlib.sha1(json.dumps(sorted(json.dumps(w, sort_keys=True) for w in writes)).encode()).hexdigest()
    version = f"{__version__}/{NATIVE_CACHE_VERSION}"
    path = Path(cache_dir) / "native_writes.json" if cache_dir is not None else None

    def stat(rel: str | None) -> list | None:
        try:
            st = os.stat(Path(root) / rel) if rel is not None else None
        except OSError:
            return None
        return [rel, st.st_size, st.st_mtime_ns] if st is not None else None

    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if (
                data.get("version") == version
                and data.get("writes") == digest
                and all(stat(rel_of_module.get(name)) == dep for name, dep in data.get("deps", {}).items())
            ):
                return {(owner, attr): why for owner, attr, why in data["replaced"]}
        except (OSError, ValueError, TypeError, KeyError):
            pass
    read: set[str] = set()

    def tracking(name: str):
        read.add(name)
        return loader(name)

    replaced = replaced_attributes(writes, [Path(root)], tracking)
    if path is not None:
        entry = {
            "version": version,
            "writes": digest,
            "deps": {name: stat(rel_of_module.get(name)) for name in sorted(read)},
            "replaced": sorted([owner, attr, why] for (owner, attr), why in replaced.items()),
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-native-writes-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, separators=(",", ":")))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache never changes a result
    return replaced


def _porter_refuses(root, t, mod, params: str, plan: TaskPlan, module_names_of) -> str:
    """Why the porter cannot write this plan (as ``port_tasks`` would say it), or "": the scan's verdict is the
    rewrite's, also when the prover allows a port the writer refuses (a port that does not compile ...)."""
    from pathlib import Path

    from saqmigrate.parse import decode

    try:
        text = decode((Path(root) / t.file).read_bytes())
    except Exception:  # noqa: BLE001 - the rewrite cannot read it either
        return "the task module cannot be read"
    try:
        port = port_function(
            text,
            t.function,
            bind=t.bind,
            module=t.module,
            is_package=Path(t.file).name == "__init__.py",
            module_names=module_names_of(mod.tree),
            update_state=bool(t.features.get("update_state")),
            params_src=params,
            plan=plan,
        )
    except Exception as exc:  # noqa: BLE001 - as port_tasks: the task keeps its bridge, with why
        return f"the porter failed on this body ({type(exc).__name__}: {exc}); please report it"
    return "" if port.code else (port.reason or "the porter refused it")


def scan_verdicts(root, tasks: list, loader, rel_of_module: dict[str, str], *, django: bool, cache_dir=None) -> dict:
    """``rewrite --mode native``'s verdict per task, for the scan: ``{"summary": {...}, "tasks": [...]}``
    (docs/scan-json.md). The prover reads modules through the scan's ``loader`` (trees the scan parsed are
    not read again); verdicts are cached by the size and mtime of every module each one read."""
    import os
    from pathlib import Path

    from saqmigrate import __version__
    from saqmigrate.plan import _skip_reason
    from saqmigrate.rewrite import _module_level_names, _params_src
    from saqmigrate.transform.blocking import ProjectLoader, Prover, replaced_digest

    root = Path(root)
    http_client = project_declares(root, "httpx")
    segments = bool(django) or project_declares(root, "asgiref") or project_declares(root, "django")
    # not twinned at all (tests, nested, names not known ...): the scan says why elsewhere
    twinned = [t for t in tasks if _skip_reason(t) is None and not t.file.endswith("_saq.py")]
    # attribute writes resolved project-wide, once: a verdict is cached under the set it was proven with
    replaced = _resolved_writes(root, loader, rel_of_module, cache_dir) if twinned else {}
    if twinned and isinstance(loader, ProjectLoader):
        loader.replaced = replaced  # the rewrite's prover (native_prover) uses the same set
    version = f"{__version__}/{NATIVE_CACHE_VERSION}/{int(http_client)}{int(segments)}/{replaced_digest(replaced)}"
    cache = _VerdictCache(Path(cache_dir) / "native.json" if cache_dir is not None else None, version)
    touched: dict[str, str | None] = {}

    def stat(rel: str | None) -> list | None:
        if rel is None:
            return None
        try:
            st = os.stat(root / rel)
        except OSError:
            return None
        return [rel, st.st_size, st.st_mtime_ns]

    def tracking(name: str):
        touched[name] = rel_of_module.get(name)
        return loader(name)

    rows: list[dict] = []
    keep: set[str] = set()
    counts = {"ported": 0, "partly": 0, "bridged": 0}
    for t in twinned:
        key = f"{t.file}:{t.function}:{_task_facts_key(t)}"
        keep.add(key)
        hit = cache.entries.get(key)
        if hit is not None and all(stat(rel_of_module.get(name)) == dep for name, dep in hit["deps"].items()):
            row = hit["row"]
        else:
            touched.clear()  # a prover of its own: every module the verdict reads is recorded for it
            prover = Prover([root], loader=tracking, http_client=http_client, segments=segments, replaced=replaced)
            mod = prover.module(t.module)
            params = _params_src(t, _module_level_names(mod.tree)) if mod is not None else None
            try:
                verdict, plan, why = verdict_of(t, prover, params=params, parses=mod is not None)
                if verdict != "bridged" and plan is not None and mod is not None:
                    problems = _problems(mod.defs[t.function]) if t.function in mod.defs else []
                    if problems:
                        verdict, why = "bridged", ", ".join(problems)
                    else:  # the rewrite keeps the bridge when the porter cannot write the plan: so does the scan
                        refused = _porter_refuses(root, t, mod, params or "", plan, _module_level_names)
                        if refused:
                            verdict, why = "bridged", refused
            except Exception as exc:  # noqa: BLE001 - a scan never crashes on a body
                verdict, plan, why = "bridged", None, f"the prover failed on this body ({type(exc).__name__}: {exc})"
            blocked = plan.blocked if plan is not None and verdict != "ported" else None
            row = {
                "task": t.name,
                "file": t.file,
                "line": t.line,
                "verdict": verdict,
                "reason": why if verdict == "bridged" else "",
                "blocking": None
                if blocked is None
                else {"call": blocked.call, "why": blocked.why, "where": blocked.where, "chain": blocked.chain},
                "rewrites": [
                    x for x in (plan.summary() if plan is not None and verdict != "bridged" else "").split(", ") if x
                ],
                "segments": plan.segments if plan is not None and verdict == "partly" else 0,
            }
            cache.entries[key] = {"row": row, "deps": {name: stat(rel) for name, rel in touched.items()}}
            cache.dirty = True
        counts[row["verdict"]] += 1
        rows.append(row)
    cache.save(keep)
    return {"summary": counts, "tasks": rows}
