"""Native mode: port a Celery task body to an ``async def`` SAQ function with libcst.

The body is copied node for node (comments and formatting kept) with only these changes:

* the signature becomes ``(ctx, *, <the task's parameters>)``; ``bind=True`` bodies get
  ``self = task_self(ctx)`` first, so ``self.request.*`` and ``self.retry(...)`` keep working;
* ``time.sleep(x)`` becomes ``await asyncio.sleep(x)``;
* every module-level name of the Celery module the body uses becomes ``_celery.<name>``
  (the port lives in the sibling ``*_saq.py`` module, where the twin functions would
  otherwise shadow same-named tasks).

A body is ported only when that is safe: no blocking call other than ``time.sleep``
(requests, ORM, ``asyncio.run``, ``async_to_sync``, subprocess ...), no ``update_state``
(it waits on the event loop it would be running on), no ``global``/``nonlocal``, not
already ``async``. Otherwise ``port_function`` says why and the task stays bridged.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

ALLOWED_BLOCKING = {"time.sleep"}


@dataclass
class Port:
    code: str | None
    reason: str | None = None


def _find_function(module: cst.Module, name: str) -> cst.FunctionDef | None:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def _local_names(fn: ast.FunctionDef) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                out.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


class _Porter(cst.CSTTransformer):
    def __init__(self, qualify: set[str], time_names: set[str]) -> None:
        self.qualify = qualify
        self.time_names = time_names  # local names bound to the time module
        self.skip: set[int] = set()
        self.problems: list[str] = []

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.skip.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self.skip.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.skip.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.skip.add(id(node.name))

    def visit_Global(self, node: cst.Global) -> None:
        self.problems.append("uses global")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.problems.append("uses nonlocal")

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if id(original) in self.skip or original.value not in self.qualify:
            return updated
        return cst.Attribute(value=cst.Name("_celery"), attr=cst.Name(original.value))

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        f = original.func
        if isinstance(f, cst.Attribute) and f.attr.value == "sleep" and isinstance(f.value, cst.Name) \
                and f.value.value in self.time_names:
            return cst.Await(expression=updated.with_changes(
                func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("sleep"))))
        return updated


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, (cst.SimpleString,
                                                                                      cst.ConcatenatedString)))


def port_function(source: str, function: str, *, bind: bool, blocking: dict, module_names: set[str],
                  update_state: bool, is_async: bool, params_src: str) -> Port:
    if is_async:
        return Port(None, "already async (the bridge awaits it directly)")
    if update_state:
        return Port(None, "self.update_state waits on the event loop; bridge mode runs it in a thread")
    bad = sorted(set(blocking) - ALLOWED_BLOCKING)
    if bad:
        return Port(None, f"blocking call(s) {', '.join(bad)} would stall the event loop")
    try:
        tree = ast.parse(source)
        module = cst.parse_module(source)
    except (SyntaxError, cst.ParserSyntaxError) as exc:
        return Port(None, f"cannot parse the task module ({exc})")
    afn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function), None)
    cfn = _find_function(module, function)
    if afn is None or cfn is None:
        return Port(None, "the function is not defined at module level in its file")
    local = _local_names(afn)
    time_names = {a.asname or a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names
                  if a.name == "time"}
    porter = _Porter(module_names - local - time_names - {"self"}, time_names)
    block = cfn.body
    if isinstance(block, cst.SimpleStatementSuite):  # "def f(x): return x" -> an indented block
        block = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[
            stmt.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for stmt in block.body])])
    body = block.visit(porter)
    if porter.problems:
        return Port(None, ", ".join(sorted(set(porter.problems))))
    first_line = "self = task_self(ctx)\n" if bind else ""
    if not params_src:
        header = "async def __port__(ctx):\n"
    elif params_src.startswith("**"):  # only **kwargs: a bare * before it is a syntax error
        header = f"async def __port__(ctx, {params_src}):\n"
    else:
        header = f"async def __port__(ctx, *, {params_src}):\n"
    try:
        stub = cst.parse_module(header + "    " + (first_line or "pass\n"))
    except cst.ParserSyntaxError as exc:
        return Port(None, f"the port's signature does not parse ({exc.message})")
    stub_fn = stub.body[0]
    assert isinstance(stub_fn, cst.FunctionDef)
    new_body = list(body.body)  # type: ignore[attr-defined]
    if bind:  # self = task_self(ctx) goes first, after the docstring if there is one
        at = 1 if new_body and _is_docstring(new_body[0]) else 0
        new_body = [*new_body[:at], stub_fn.body.body[0], *new_body[at:]]  # type: ignore[attr-defined]
    port = stub_fn.with_changes(body=body.with_changes(body=new_body))  # type: ignore[attr-defined]
    code = cst.Module(body=[port]).code
    left = _sleeps_left(code)
    if left:  # a time.sleep the porter did not turn into asyncio.sleep would stall the event loop
        return Port(None, f"time.sleep reached as {left} (an alias or a local import) would stall the event loop")
    return Port(code)


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
