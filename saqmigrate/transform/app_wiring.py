"""Wire the dual-routing shim into the module that creates the Celery app.

After ``app = Celery(...)`` it inserts (lint-clean: the import is below the app on purpose)::

    from proj.saq_worker import routing as _saqmigrate_routing  # noqa: E402
    _saqmigrate_routing.install(app)

``install(app)`` puts the router in front of whatever task class the app uses, at run time, so the
``Celery(...)`` call is not touched. Nothing else in the file changes (libcst keeps comments and
formatting). Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

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
        line = f"from {package} import {leaf} as {ROUTING_NAME}  # noqa: E402"
        if len(line) > line_length:
            line += ", E501"
        new = [cst.parse_statement(line), cst.parse_statement(f"{ROUTING_NAME}.install({app_var})")]
        body[i:i + 1] = [stmt, *new]
        return WiringResult(module.with_changes(body=body).code, True)
    return WiringResult(source, False, f"no module-level `{app_var} = Celery(...)` found; add "
                        f"`from {routing_module} import install; install({app_var})` after the app is created")
