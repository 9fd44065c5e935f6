"""Wire the dual-routing shim into the module that creates the Celery app.

After ``app = Celery(...)`` it inserts::

    from proj.saq_worker.routing import install as _saqmigrate_install  # saqmigrate: dual routing
    _saqmigrate_install(app)

and, when the call has no ``task_cls``, adds
``task_cls="saqmigrate.runtime.celery_integration:RoutedTask"``. Nothing else in the file
changes (libcst keeps comments and formatting). Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

ROUTED_TASK = "saqmigrate.runtime.celery_integration:RoutedTask"
INSTALL_NAME = "_saqmigrate_install"


@dataclass
class WiringResult:
    code: str
    changed: bool
    message: str | None = None  # a one-line instruction when the edit could not be made


def _is_celery_call(node: cst.BaseExpression) -> bool:
    if not isinstance(node, cst.Call):
        return False
    f = node.func
    return (isinstance(f, cst.Name) and f.value == "Celery") or (isinstance(f, cst.Attribute) and f.attr.value == "Celery")


def wire_app(source: str, app_var: str, routing_module: str) -> WiringResult:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return WiringResult(source, False, f"cannot parse ({exc.message}); add the routing lines by hand")
    if INSTALL_NAME in source:
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
        call = assign.value
        assert isinstance(call, cst.Call)
        message: str | None = None
        if not _is_celery_call(call):
            message = (f"{app_var} is an instance of a Celery subclass: send_task is hooked; make its task class "
                       f"subclass {ROUTED_TASK.replace(':', '.')} so .delay()/.apply_async() consult the router too")
        elif not any(a.keyword is not None and a.keyword.value == "task_cls" for a in call.args):
            args = list(call.args)
            if args:
                last = args[-1]
                if last.comma is cst.MaybeSentinel.DEFAULT or isinstance(last.comma, cst.MaybeSentinel):
                    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            args.append(cst.Arg(keyword=cst.Name("task_cls"), value=cst.SimpleString(f'"{ROUTED_TASK}"'),
                                equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                      whitespace_after=cst.SimpleWhitespace(""))))
            call = call.with_changes(args=args)
            stmt = stmt.with_changes(body=[assign.with_changes(value=call)])
        else:
            message = (f"{app_var} has its own task_cls: make it subclass {ROUTED_TASK.replace(':', '.')} "
                       "so .delay()/.apply_async() consult the router (send_task is hooked either way)")
        new = [
            cst.parse_statement(f"from {routing_module} import install as {INSTALL_NAME}  # saqmigrate: dual routing"),
            cst.parse_statement(f"{INSTALL_NAME}({app_var})"),
        ]
        body[i:i + 1] = [stmt, *new]
        return WiringResult(module.with_changes(body=body).code, True, message)
    return WiringResult(source, False, f"no module-level `{app_var} = Celery(...)` found; add "
                        f"`from {routing_module} import install; install({app_var})` after the app is created")
