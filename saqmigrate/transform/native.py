"""Native mode: port a Celery task body to an ``async def`` SAQ function with libcst.

The body is copied node for node (comments kept; the emitter formats the module) with only these changes:

* the signature becomes ``(ctx, *, <the task's parameters>)``; ``bind=True`` bodies get
  ``self = task_self(ctx)`` first, so ``self.request.*`` and ``self.retry(...)`` keep working;
* ``time.sleep(x)`` becomes ``await asyncio.sleep(x)``;
* every module-level name of the Celery module the body uses is imported at the top of the port from
  where it really comes from (``import datetime as dt``, ``from core.effects import record``, a
  relative import made absolute; a name the module defines itself from the module): never through
  the Celery module's namespace. Imports inside the function cannot clash with the twin functions
  of the ``*_saq.py`` module, which are named like the tasks.

Whether the body may run on the event loop at all is decided before, by ``transform/blocking.py``
(blocking assumed, safety proven). This module still refuses what it cannot express: ``update_state``
(it waits on the event loop it would be running on), ``global``/``nonlocal``, a generator body, a
name bound by a star import, and any ``sleep`` left unported. ``port_function`` then says why and the
task stays bridged.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

import libcst as cst

from saqmigrate.index.extract import _resolve_relative

_PROVIDED = {"ctx", "asyncio", "task_self", "_celery"}  # names the twin module binds for a port


@dataclass
class Port:
    code: str | None
    reason: str | None = None
    note: str = ""  # what the port changed beyond the signature, for the report


def _find_function(module: cst.Module, name: str) -> cst.FunctionDef | None:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


class _Porter(cst.CSTTransformer):
    def __init__(self, time_names: set[str]) -> None:
        self.time_names = time_names  # local names bound to the time module
        self.problems: list[str] = []
        self.sleeps = 0
        self.depth = 0  # nested function/lambda/class definitions

    def visit_Global(self, node: cst.Global) -> None:
        self.problems.append("uses global")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.problems.append("uses nonlocal")

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.depth -= 1
        return updated

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.depth += 1

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.Lambda:
        self.depth -= 1
        return updated

    def visit_Yield(self, node: cst.Yield) -> None:
        if not self.depth:
            self.problems.append("a generator body (yield) has no async port")

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        f = original.func
        if isinstance(f, cst.Attribute) and f.attr.value == "sleep" and isinstance(f.value, cst.Name) \
                and f.value.value in self.time_names and not self.depth:
            self.sleeps += 1
            return cst.Await(expression=updated.with_changes(
                func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("sleep"))))
        return updated


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, (cst.SimpleString,
                                                                                      cst.ConcatenatedString)))


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
                base = _resolve_relative(module, is_package, stmt.level, stmt.module) if stmt.level \
                    else (stmt.module or "")
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
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            free[node.id] = None
    return list(free)


def _grouped(lines: list[str]) -> list[str]:
    """``import x`` lines first, then one ``from m import a, b`` per module, each sorted."""
    plain = sorted({x for x in lines if x.startswith("import ")})
    froms: dict[str, set[str]] = {}
    for x in lines:
        if x.startswith("from "):
            mod, _, names = x[5:].partition(" import ")
            froms.setdefault(mod, set()).add(names)
    return plain + [f"from {mod} import {', '.join(sorted(names))}" for mod, names in sorted(froms.items())]


def port_function(source: str, function: str, *, bind: bool, module_names: set[str], update_state: bool,
                  params_src: str, module: str = "", is_package: bool = False) -> Port:
    """The port of a body the prover (transform/blocking.py) found non-blocking, or why not.
    Async bodies never get here (rewrite keeps them bridged: the bridge awaits them)."""
    if update_state:
        return Port(None, "self.update_state waits on the event loop; bridge mode runs it in a thread")
    try:
        tree = ast.parse(source)
        cmodule = cst.parse_module(source)
    except (SyntaxError, cst.ParserSyntaxError) as exc:
        return Port(None, f"cannot parse the task module ({exc})")
    afn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function), None)
    cfn = _find_function(cmodule, function)
    if afn is None or cfn is None:
        return Port(None, "the function is not defined at module level in its file")
    time_names = {a.asname or a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names
                  if a.name == "time"}
    porter = _Porter(time_names)
    block = cfn.body
    if isinstance(block, cst.SimpleStatementSuite):  # "def f(x): return x" -> an indented block
        block = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[
            stmt.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for stmt in block.body])])
    body = block.visit(porter)
    if porter.problems:
        return Port(None, ", ".join(sorted(set(porter.problems))))
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
    new_body = list(body.body)  # type: ignore[attr-defined]
    at = 1 if new_body and _is_docstring(new_body[0]) else 0
    draft = stub_fn.with_changes(body=body.with_changes(body=new_body))  # type: ignore[attr-defined]
    try:
        draft_ast = ast.parse(cst.Module(body=[draft]).code).body[0]
    except SyntaxError as exc:
        return Port(None, f"the port does not compile ({exc.msg})")
    assert isinstance(draft_ast, ast.AsyncFunctionDef)
    bindings = _bindings(tree, module, is_package) if module else {}
    lines: list[str] = []
    for name in _free_names(draft_ast):
        if name in _PROVIDED or (name == "self" and bind):
            continue
        if name in bindings:
            lines.extend(bindings[name])
        elif name in module_names:
            return Port(None, f"uses {name}, bound at module level in a way the port cannot import")
        elif not hasattr(builtins, name):
            return Port(None, f"uses {name}, which its module binds by a star import or at run time")
    prelude = [cst.parse_statement(line + "\n") for line in _grouped(lines)]
    if bind:  # self = task_self(ctx) goes first, after the docstring (and the imports) if there is one
        prelude.append(cst.parse_statement("self = task_self(ctx)\n"))
    new_body = [*new_body[:at], *prelude, *new_body[at:]]
    port = stub_fn.with_changes(body=body.with_changes(body=new_body))  # type: ignore[attr-defined]
    code = cst.Module(body=[port]).code
    left = _sleeps_left(code)
    if left:  # a time.sleep the porter did not turn into asyncio.sleep would stall the event loop
        return Port(None, f"time.sleep reached as {left} (an alias or a local import) would stall the event loop")
    note = f"time.sleep -> await asyncio.sleep x{porter.sleeps}" if porter.sleeps else ""
    return Port(code, note=note)


def _sleeps_left(code: str) -> str | None:
    """A ``sleep(...)`` call in the port that is not ``asyncio.sleep``: proof the port is unsafe."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "sleep":
                return "sleep(...)"
            if isinstance(f, ast.Attribute) and f.attr == "sleep" and not (
                    isinstance(f.value, ast.Name) and f.value.id == "asyncio"):
                return f"{ast.unparse(f)}(...)"
    return None
