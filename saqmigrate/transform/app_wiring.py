"""Wire the dual-routing shim into the module that creates the Celery app.

After ``app = Celery(...)`` it inserts (lint-clean: the import is below the app on purpose)::

    from proj.saq_worker import routing as _saqmigrate_routing  # noqa: E402
    _saqmigrate_routing.install(app)

and, when the call has no ``task_cls``, adds
``task_cls="saqmigrate.runtime.celery_integration:RoutedTask"``. Nothing else in the file
changes (libcst keeps comments and formatting). Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

ROUTED_TASK = "saqmigrate.runtime.celery_integration:RoutedTask"
INSTALL_NAME = "_saqmigrate_install"  # the name earlier versions imported install() under
ROUTING_NAME = "_saqmigrate_routing"


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


def _multiline(ws: cst.BaseParenthesizableWhitespace | cst.MaybeSentinel) -> bool:
    return isinstance(ws, cst.ParenthesizedWhitespace)


def _add_task_cls(call: cst.Call) -> cst.Call:
    """``task_cls="...RoutedTask"`` as the last argument, in the layout the call already has: on its own
    line (same indentation, trailing comma kept) when the arguments are one per line, else inline."""
    new = cst.Arg(keyword=cst.Name("task_cls"), value=cst.SimpleString(f'"{ROUTED_TASK}"'),
                  equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                        whitespace_after=cst.SimpleWhitespace("")))
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    sep = args[-2].comma.whitespace_after if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) \
        else call.whitespace_before_args
    if isinstance(last.comma, cst.Comma) and _multiline(last.comma.whitespace_after):
        # one argument per line with a trailing comma: the new one goes on its own line before ")"
        closing = last.comma.whitespace_after
        if not _multiline(sep):
            sep = closing
        args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=sep))
        args.append(new.with_changes(comma=cst.Comma(whitespace_after=closing)))
    elif _multiline(last.whitespace_after_arg):
        # one argument per line, no trailing comma: ")" on its own line after the new argument
        closing = last.whitespace_after_arg
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=sep if _multiline(sep) else closing),
                                     whitespace_after_arg=cst.SimpleWhitespace(""))
        args.append(new.with_changes(whitespace_after_arg=closing))
    else:
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                                     whitespace_after_arg=cst.SimpleWhitespace(""))
        args.append(new)
    return call.with_changes(args=args)


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
        call = assign.value
        assert isinstance(call, cst.Call)
        message: str | None = None
        if not _is_celery_call(call):
            message = (f"{app_var} is an instance of a Celery subclass: send_task is hooked; make its task class "
                       f"subclass {ROUTED_TASK.replace(':', '.')} so .delay()/.apply_async() consult the router too")
        elif not any(a.keyword is not None and a.keyword.value == "task_cls" for a in call.args):
            call = _add_task_cls(call)
            stmt = stmt.with_changes(body=[assign.with_changes(value=call)])
        else:
            message = (f"{app_var} has its own task_cls: make it subclass {ROUTED_TASK.replace(':', '.')} "
                       "so .delay()/.apply_async() consult the router (send_task is hooked either way)")
        package, _, leaf = routing_module.rpartition(".")
        line = f"from {package} import {leaf} as {ROUTING_NAME}  # noqa: E402"
        if len(line) > line_length:
            line += ", E501"
        new = [cst.parse_statement(line), cst.parse_statement(f"{ROUTING_NAME}.install({app_var})")]
        body[i:i + 1] = [stmt, *new]
        return WiringResult(module.with_changes(body=body).code, True, message)
    return WiringResult(source, False, f"no module-level `{app_var} = Celery(...)` found; add "
                        f"`from {routing_module} import install; install({app_var})` after the app is created")
