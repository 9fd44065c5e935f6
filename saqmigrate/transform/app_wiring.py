"""Wire the dual-routing shim into the module that creates the Celery app.

After ``app = Celery(...)``, and after its attribute docstring if one follows it (Sphinx keeps it with the
app), it inserts (lint-clean: the import is below the app on purpose)::

    from proj.saq_worker import routing as _saqmigrate_routing  # noqa: E402
    _saqmigrate_routing.install(app)

``install(app)`` puts the router in front of whatever task class the app uses, at run time, so the
``Celery(...)`` call is not touched. Nothing else in the file changes (libcst keeps comments and
formatting). Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from saqmigrate.emit.style import fit_lines

INSTALL_NAME = "_saqmigrate_install"  # the name earlier versions imported install() under
ROUTING_NAME = "_saqmigrate_routing"


@dataclass
class WiringResult:
    code: str
    changed: bool
    message: str | None = None  # a one-line instruction when the edit could not be made


def wire_app(source: str, app_var: str, routing_module: str, line_length: int = 88) -> WiringResult:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return WiringResult(source, False, f"cannot parse ({exc.message}); add the routing lines by hand")
    if INSTALL_NAME in source or ROUTING_NAME in source:  # wired (INSTALL_NAME: by an earlier version)
        return WiringResult(source, False)
    package, _, leaf = routing_module.rpartition(".")
    if routing_module in source or f"{package} import {leaf}" in source:  # wired by hand
        return WiringResult(source, False)
    body = list(module.body)
    for i, stmt in enumerate(body):
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        assign = stmt.body[0]
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            continue
        target = assign.targets[0].target
        # the index already knows this name is the Celery app (Celery(...) or a subclass of it)
        if not (isinstance(target, cst.Name) and target.value == app_var and isinstance(assign.value, cst.Call)):
            continue
        # the Celery(...) call itself is left as it is: install(app) mixes the router into whatever task
        # class the app uses (Celery's, DjangoTask, the project's own task_cls) at run time
        package, _, leaf = routing_module.rpartition(".")
        # past the line length: noqa E402 and E501, or parenthesized when only the pragma is too long
        line = fit_lines(f"from {package} import {leaf} as {ROUTING_NAME}  # noqa: E402", line_length)
        new = [
            cst.parse_statement(line + "\n"),
            _after_import(cst.parse_statement(f"{ROUTING_NAME}.install({app_var})")),
        ]
        # an attribute docstring (`app = Celery(...)` then `"""The Celery app."""`, read by Sphinx and
        # IDEs) belongs to the assignment: the hook goes after it, not between them
        at = i + 2 if i + 1 < len(body) and _is_docstring(body[i + 1]) else i + 1
        body[at:at] = new
        return WiringResult(module.with_changes(body=body).code, True)
    factory = _wire_factory(module, app_var, routing_module)
    if factory is not None:
        return WiringResult(factory.code, True)
    return WiringResult(
        source,
        False,
        f"no module-level `{app_var} = Celery(...)` found; add "
        f"`from {routing_module} import install; install({app_var})` after the app is created",
    )


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    """A bare string expression statement (an attribute docstring when it follows an assignment)."""
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _after_import(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """One blank line after the inserted import, as black and ruff format want it."""
    return stmt.with_changes(leading_lines=[cst.EmptyLine(indent=False)])  # type: ignore[call-arg]


def _assigns_app(stmt: cst.BaseStatement, app_var: str) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Assign)
        and any(isinstance(t.target, cst.Name) and t.target.value == app_var for t in stmt.body[0].targets)
        and isinstance(stmt.body[0].value, cst.Call)
    )


def _returns(stmt: cst.BaseStatement, app_var: str) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Return)
        and isinstance(stmt.body[0].value, cst.Name)
        and stmt.body[0].value.value == app_var
    )


def _wire_factory(module: cst.Module, app_var: str, routing_module: str) -> cst.Module | None:
    """A Flask-style factory (``def make_celery(app): celery = Celery(...); ...; return celery``, Flask's
    ``celery_init_app``): ``install(celery)`` goes right before the ``return``, after the factory has set
    the app's Task class and configuration; the import goes with it (no import cycle, no E402)."""
    body = list(module.body)
    for i, fn in enumerate(body):
        if not isinstance(fn, cst.FunctionDef) or not isinstance(fn.body, cst.IndentedBlock):
            continue
        stmts = list(fn.body.body)
        if not any(_assigns_app(s, app_var) for s in stmts):
            continue
        at = [j for j, s in enumerate(stmts) if _returns(s, app_var)]
        if len(at) != 1:
            return None  # several exits (or none that returns the app): a person decides where
        package, _, leaf = routing_module.rpartition(".")
        new = [
            cst.parse_statement(f"from {package} import {leaf} as {ROUTING_NAME}"),
            _after_import(cst.parse_statement(f"{ROUTING_NAME}.install({app_var})")),
        ]
        stmts[at[0] : at[0]] = new
        body[i] = fn.with_changes(body=fn.body.with_changes(body=stmts))
        return module.with_changes(body=body)
    return None
