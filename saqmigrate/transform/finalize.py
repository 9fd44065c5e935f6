"""libcst edits of ``saqmigrate finalize`` on one source file (the plan decides what, this writes it).

* a Celery task decorator becomes ``@saq_job(name, TaskOptions(...), queue=...)``;
* ``t.delay(a, b=1)`` becomes ``t.enqueue(x=a, b=1)`` (positional arguments named by the task's
  parameters), ``t.apply_async(...)`` ``t.enqueue_with(...)``, ``app.send_task(name, ...)``
  ``send_job(name, ..., queue=...)``; inside ``async def`` the ``a``-variant, awaited;
* statements of the Celery app (``app = Celery(...)``, ``app.conf...``, the routing hook) and the
  Celery settings (``CELERY_*``) are removed;
* imports the edits left unused are removed; imports of removed modules and names too.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from saqmigrate.plan.finalize import DROPPED_OPTIONS, MAPPED_OPTIONS, CallEdit, JobDecl, is_celery_setting

#: Celery's eager-mode settings (after the ``CELERY_`` prefix) -> saqmigrate's switch of the same meaning
#: (saqmigrate.runtime.testing, docs/testing.md).
EAGER_SETTINGS = {
    "TASK_ALWAYS_EAGER": "SAQMIGRATE_EAGER",
    "ALWAYS_EAGER": "SAQMIGRATE_EAGER",
    "TASK_EAGER_PROPAGATES": "SAQMIGRATE_EAGER_PROPAGATES",
    "EAGER_PROPAGATES_EXCEPTIONS": "SAQMIGRATE_EAGER_PROPAGATES",
}
EAGER_CONF = ("task_always_eager", "task_eager_propagates", "always_eager")
CELERY_FIXTURES = frozenset(
    {
        "celery_app",
        "celery_worker",
        "celery_session_app",
        "celery_session_worker",
        "celery_config",
        "celery_parameters",
        "celery_includes",
    }
)

RUNTIME_NAMES = {
    "saq_job": "saqmigrate.runtime.jobs",
    "send_job": "saqmigrate.runtime.jobs",
    "asend_job": "saqmigrate.runtime.jobs",
    "TaskOptions": "saqmigrate.runtime.task",
    "beat_hook": "saqmigrate.runtime.jobs",
}
#: Django apps of Celery's packages (finalize removes the packages from the requirements).
CELERY_DJANGO_APPS = frozenset({"celery", "django_celery_beat", "django_celery_results"})
#: The last name of a Celery canvas constructor: a `.s()` on the same line as one finalize did not convert
#: is that canvas's member, not a signature standing alone.
CANVAS_CALLS = frozenset({"chord", "chain", "group", "signature", "chunks", "map", "starmap", "xmap", "xstarmap"})


@dataclass
class FileEdit:
    jobs: list[JobDecl] = field(default_factory=list)
    calls: list[CallEdit] = field(default_factory=list)
    app_var: str | None = None  # this module creates the Celery app bound to this name: its statements go
    settings_prefix: str | None = None  # this module holds the Celery settings: names with this prefix go
    removed_names: dict[str, set[str]] = field(default_factory=dict)  # module -> names that no longer exist
    removed_modules: set[str] = field(default_factory=set)  # modules deleted by finalize
    module: str = ""  # this file's dotted module name (resolves relative imports)
    is_package: bool = False
    line_length: int = 88  # the project's formatter's (long decorators are wrapped as it would)
    django: bool = False  # Django settings carry saqmigrate's eager switch; elsewhere it is reported
    canvas_members: dict = field(default_factory=dict)  # `t.s`/`t.si` target text -> JobDecl (chains, groups)
    wiring_modules: set[str] = field(default_factory=set)  # the window's generated modules finalize deletes
    settings_keep: set[str] = field(default_factory=set)  # CELERY_* names the project still reads: kept
    beat_hooks: set[str] = field(default_factory=set)  # module-level beat hooks that become @beat_hook
    mocked_tasks: set[str] = field(default_factory=set)  # task functions whose mocked dispatches keep their name
    drop_celery_apps: bool = False  # Celery leaves the requirements: its Django apps leave INSTALLED_APPS


@dataclass
class FileResult:
    code: str
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule code, message)
    converted: list[tuple[int, int]] = field(default_factory=list)  # line spans of canvases now runtime.jobs
    empty: bool = False  # nothing but docstring, imports and os.environ.setdefault(...) is left


def _code_names(code: str) -> set[str]:
    """Every name the code reads or binds outside import statements (``ast``: ~10x faster than a libcst walk)."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return _names_used(cst.parse_module(code))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _names_used(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

        def visit_Import(self, n: cst.Import) -> bool:
            return False

        def visit_ImportFrom(self, n: cst.ImportFrom) -> bool:
            return False

    node.visit(V())
    return found


def _resolve_relative(module: str, is_package: bool, node: cst.ImportFrom) -> str:
    """The module a (relative) ``from ... import`` names, as the scan resolves it (index/extract.py)."""
    from saqmigrate.index.extract import _resolve_relative as resolve  # noqa: PLC0415

    target = cst.Module([]).code_for_node(node.module) if node.module is not None else None
    if not node.relative:
        return target or ""
    return resolve(module, is_package, len(node.relative), target)


class _Edits(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edit: FileEdit, aliases: dict[str, str]) -> None:
        self.edit = edit
        self.aliases = aliases  # runtime name -> the name used in this module
        self.jobs = {j.task.decorator_line or j.task.line: j for j in edit.jobs}
        self.calls: dict[int, list[CallEdit]] = {}
        for c in edit.calls:
            self.calls.setdefault(c.call.line, []).append(c)
        self.func_stack: list[bool] = []  # async?
        self.scopes: list[set[str]] = []  # names a function binds other than by import (innermost last)
        self.used_runtime: set[str] = set()
        self.used_canvas: set[str] = set()  # chain / group of saqmigrate.runtime.jobs
        self.port_imports: list[str] = []  # module-level imports the carried-over native ports use
        self.canvas_nodes: set[int] = set()  # ids of the runtime chain/group calls written here
        self.canvas_vars: set[str] = set()  # names bound to one of them
        self.inner_pipes: set[int] = set()
        self.operands: set[int] = set()  # calls whose value is read further (x.attr, x[...], x(...)): await in parens
        self.converted: list[tuple[int, int]] = []
        self.problems: list[tuple[int, str, str]] = []
        self.hooks_converted = False
        self.loose_sigs: list[tuple[int, int]] = []  # `t.s(...)` of a converted task, outside any canvas call
        self.canvas_left: list[tuple[int, int]] = []  # canvas constructor calls left as they were

    # -- where we are ------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.func_stack.append(node.asynchronous is not None)
        self.scopes.append(_local_bindings(node))
        used = [p.name.value for p in node.params.params if p.name.value in CELERY_FIXTURES]
        if used:
            self.problems.append(
                (
                    self._line(node),
                    "SM807",
                    f"{node.name.value} uses Celery's pytest fixture(s) "
                    f"{', '.join(used)}: use saq_eager / saq_worker (docs/testing.md)",
                )
            )
        for dec in node.decorators:
            code = cst.Module([]).code_for_node(dec.decorator)
            if code.startswith("pytest.mark.celery"):
                self.problems.append(
                    (
                        self._line(dec),
                        "SM807",
                        f"{node.name.value}: @{code.split('(')[0]} "
                        "configures Celery's test app: use saq_eager / saq_worker (docs/testing.md)",
                    )
                )

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.func_stack.append(False)

    # a class body and a generator expression are not the coroutine's own code: no await there
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.func_stack.append(False)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.func_stack.pop()
        return updated

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.func_stack.append(False)

    def leave_GeneratorExp(self, original: cst.GeneratorExp, updated: cst.GeneratorExp) -> cst.BaseExpression:
        self.func_stack.pop()
        return updated

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.operands.add(id(node.value))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self.operands.add(id(node.value))

    def visit_Call(self, node: cst.Call) -> None:
        self.operands.add(id(node.func))

    def _await(self, original: cst.BaseExpression, call: cst.BaseExpression) -> cst.Await:
        """``await call``, in parentheses where the value is read further (``(await t.aenqueue()).id``)."""
        if id(original) in self.operands:
            return cst.Await(call, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return cst.Await(call)

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        self.func_stack.pop()
        return updated

    def _rebound(self, target: cst.BaseExpression) -> str | None:
        """The dispatch's root name when this scope binds it by something else than an import (``send =
        other_task``, a parameter, a loop variable): which task it is cannot be proven statically."""
        root = target  # a bare name: `send.delay()`; attribute chains (`tasks.send`) resolve through imports
        if not isinstance(root, cst.Name):
            return None
        for scope in reversed(self.scopes):
            if root.value in scope:
                return root.value
        return root.value if root.value in self.module_rebound else None

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    # -- task declarations ----------------------------------------------------------------

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.func_stack.pop()
        self.scopes.pop()
        if not self.func_stack and original.name.value in self.edit.beat_hooks and len(original.decorators) == 1:
            # @app.on_after_finalize.connect -> @beat_hook: the body runs when a SAQ worker builds its settings
            self.used_runtime.add("beat_hook")
            self.hooks_converted = True
            dec = updated.decorators[0]
            return updated.with_changes(decorators=[dec.with_changes(decorator=cst.Name(self.aliases["beat_hook"]))])
        for i, dec in enumerate(original.decorators):
            job = self.jobs.get(self._line(dec))
            if job is None:
                continue
            self.used_runtime.update({"saq_job", "TaskOptions"})
            decs = list(updated.decorators)
            decs[i] = _formatted_decorator(self._decorator(job), self.edit.line_length).with_changes(
                leading_lines=dec.leading_lines
            )
            if job.native_code and not updated.asynchronous:  # rewrite --mode native's port becomes the task
                code = cst.parse_module(job.native_code)
                port = next(st for st in code.body if isinstance(st, cst.FunctionDef))
                # the imports the port needs at module level (asyncio, sync_to_async, httpx as _httpx ...)
                self.port_imports += [code.code_for_node(st).strip() for st in code.body if _is_import_line(st)]
                if "asyncio." in job.native_code:
                    self.port_imports.append("import asyncio")
                return updated.with_changes(decorators=decs, asynchronous=cst.Asynchronous(), body=port.body)
            return updated.with_changes(decorators=decs)
        return updated

    def _decorator(self, job: JobDecl) -> str:
        options = job.options_source
        if self.aliases["TaskOptions"] != "TaskOptions" and options.startswith("TaskOptions("):
            options = self.aliases["TaskOptions"] + options[len("TaskOptions") :]
        args = [_s(job.name), options, f"queue={_s(job.queue)}"]
        if job.bind:
            args.append("bind=True")
        if job.aliases:
            args.append(f"aliases=({', '.join(_s(a) for a in job.aliases)},)")
        return f"{self.aliases['saq_job']}({', '.join(args)})"

    # -- call sites ------------------------------------------------------------------------

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        updated = self._eager_keywords(original, updated)
        canvas = self._canvas_constructor(original, updated)
        if canvas is not None:
            return canvas
        callee = cst.Module([]).code_for_node(original.func).rsplit(".", 1)[-1]
        if callee in CANVAS_CALLS:
            pos = self.get_metadata(PositionProvider, original)
            self.canvas_left.append((pos.start.line, pos.end.line))
        if not isinstance(original.func, cst.Attribute):
            return updated
        attr = original.func.attr.value
        if attr in ("s", "si") and cst.Module([]).code_for_node(original.func.value) in self.edit.canvas_members:
            # a signature of a converted task kept for later (`sigs.append(t.s(a, b))`): SaqJob.s gives the
            # runtime's Step, which the runtime's group/chain take (unless a Celery canvas on its lines does)
            pos = self.get_metadata(PositionProvider, original)
            self.loose_sigs.append((pos.start.line, pos.end.line))
        lone = self._lone_signature(original, updated) if attr in ("delay", "apply_async") else None
        if lone is not None:
            return lone
        if attr in ("delay", "apply_async") and not original.args and self._is_converted_canvas(updated.func.value):
            in_async = bool(self.func_stack) and self.func_stack[-1]
            pos = self.get_metadata(PositionProvider, original)
            self.converted.append((pos.start.line, pos.end.line))
            call = updated.with_changes(
                func=updated.func.with_changes(  # type: ignore[attr-defined]
                    attr=cst.Name("aenqueue" if in_async else "enqueue")
                )
            )
            return self._await(original, call) if in_async else call
        if attr not in ("delay", "apply_async", "send_task", "delay_on_commit"):
            return updated
        candidates = self.calls.get(self._line(original), [])
        kind = {
            "delay": "enqueue",
            "apply_async": "enqueue_with",
            "send_task": "send_job",
            "delay_on_commit": "enqueue",
        }[attr]
        edit = next((c for c in candidates if c.kind == kind), None)
        if edit is None:
            return updated
        candidates.remove(edit)
        if attr == "delay_on_commit":  # runs later, after the commit: never awaited
            edit = CallEdit(edit.call, edit.job, "enqueue_on_commit", edit.queue)
        rebound = self._rebound(original.func.value) if attr != "send_task" else None
        if rebound:
            self.problems.append(
                (
                    edit.call.line,
                    "SM803",
                    f"{rebound} is bound again in this scope: finalize cannot "
                    f"prove {cst.Module([]).code_for_node(original.func)}() dispatches {edit.job.name if edit.job else 'the task'}",
                )
            )
            return updated
        in_async = bool(self.func_stack) and self.func_stack[-1] and attr != "delay_on_commit"
        try:
            new = self._call(edit, updated, in_async)
        except _Unconvertible as exc:
            self.problems.append((edit.call.line, "SM802", str(exc)))
            return updated
        return self._await(original, new) if in_async else new

    def _call(self, edit: CallEdit, node: cst.Call, in_async: bool) -> cst.Call:
        assert edit.job is not None
        func = node.func
        assert isinstance(func, cst.Attribute)
        params = [p.name for p in edit.job.task.params if p.kind in ("positional_only", "positional")]
        prefix = "a" if in_async else ""
        if edit.kind in ("enqueue", "enqueue_on_commit"):
            positional = [a for a in node.args if not a.keyword and not a.star]
            stars = [a for a in node.args if a.star == "*"]
            keywords = [a for a in node.args if a.keyword or a.star == "**"]
            var_positional = any(p.kind == "var_positional" for p in edit.job.task.params)
            if len(positional) > len(params) and var_positional:
                raise _Unconvertible(
                    f"{len(positional)} positional arguments for {len(params)} named parameters "
                    "(the rest go to *args): a SAQ job has keyword arguments only"
                )
            if edit.kind == "enqueue_on_commit" and (stars or len(positional) > len(params)):
                raise _Unconvertible("delay_on_commit(*args): positional arguments finalize cannot name")
            names = [p for p, _ in zip(params, positional)] + [a.keyword.value for a in keywords if a.keyword]
            if stars or len(positional) > len(params) or "self" in names:
                # `self` is the method's own parameter: a task parameter named so goes in the dict form
                args_list = [a for a in node.args if not a.keyword and a.star != "**"]
                named = (
                    [cst.DictElement(cst.SimpleString(_s(p)), a.value) for p, a in zip(params, positional)]
                    if not stars and len(positional) <= len(params)
                    else []
                )
                kw = _dict_of(keywords, named)
                new_args = [cst.Arg(kw)] if kw is not None else []
                if not named and args_list:
                    new_args.append(
                        cst.Arg(
                            cst.List(
                                [cst.Element(a.value) if not a.star else cst.StarredElement(a.value) for a in args_list]
                            ),
                            keyword=cst.Name("args"),
                            equal=_EQ,
                        )
                    )
                return node.with_changes(
                    func=func.with_changes(attr=cst.Name(f"{prefix}enqueue_with")), args=_commas(new_args)
                )
            named_args = [cst.Arg(a.value, keyword=cst.Name(p), equal=_EQ) for p, a in zip(params, positional)]
            rest = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in keywords]
            method = "enqueue_on_commit" if edit.kind == "enqueue_on_commit" else f"{prefix}enqueue"
            return node.with_changes(func=func.with_changes(attr=cst.Name(method)), args=_commas(named_args + rest))
        if edit.kind == "enqueue_with":
            args, kwargs, options = _apply_async_parts(node)
            new_args = _payload(args, kwargs, params) + _options(options, edit)
            return node.with_changes(
                func=func.with_changes(attr=cst.Name(f"{prefix}enqueue_with")), args=_commas(new_args)
            )
        # send_task(name, args=None, kwargs=None, **options)
        name = (
            node.args[0]
            if node.args and not node.args[0].keyword
            else next((a for a in node.args if a.keyword and a.keyword.value == "name"), None)
        )
        if name is None:
            raise _Unconvertible("send_task without a name")
        rest = [a for a in node.args if a is not name]
        positional = [a for a in rest if not a.keyword and not a.star]
        by_kw = {a.keyword.value: a for a in rest if a.keyword}
        args = positional[0].value if positional else (by_kw.pop("args").value if "args" in by_kw else None)
        kwargs = (
            positional[1].value if len(positional) > 1 else (by_kw.pop("kwargs").value if "kwargs" in by_kw else None)
        )
        if any(a.star for a in rest):
            raise _Unconvertible("send_task(**options) cannot be read")
        fn = f"{prefix}send_job"
        self.used_runtime.add(fn)
        name_value = name.value
        if edit.job.name != edit.job.task.name and isinstance(name_value, cst.SimpleString):
            name_value = cst.SimpleString(_s(edit.job.name))  # --rename: the registered name (the old one is an alias)
        new_args = [cst.Arg(name_value)] + _payload(args, kwargs, params)
        new_args += [cst.Arg(cst.SimpleString(_s(edit.queue)), keyword=cst.Name("queue"), equal=_EQ)]
        new_args += _options({k: a.value for k, a in by_kw.items()}, edit)
        return cst.Call(func=cst.Name(self.aliases[fn]), args=_commas(new_args))

    # -- canvases: chain / group of known tasks -> saqmigrate.runtime.jobs -------------------------

    def _canvas_constructor(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression | None:
        """``chain(a.si(x), b.s())`` -> ``chain(a.step(p=x), b.step().taking_result("q"))`` of
        saqmigrate.runtime.jobs, ``group(t.s(n) for n in ns)`` likewise, when every member is a known task
        with arguments finalize can name; None otherwise (the canvas stays, SM801)."""
        kind = self.canvas_names.get(cst.Module([]).code_for_node(original.func))
        steps: list[cst.BaseExpression] | None = None
        if kind == "chain" and all(not a.keyword and not a.star for a in updated.args):
            steps = self._steps([a.value for a in updated.args], chained=True)
        elif kind == "group":
            if len(updated.args) == 1 and updated.args[0].star == "*" and not updated.args[0].keyword:
                # group(*sigs): the runtime's group takes Celery's call shapes; the members are the Steps
                # SaqJob.s gives, and `.apply_async()`/`.delay()` on it keep their names (a test mocking
                # them keeps intercepting)
                self.used_canvas.add("group")
                pos = self.get_metadata(PositionProvider, original)
                self.converted.append((pos.start.line, pos.end.line))
                return cst.Call(cst.Name("__saq_group__"), [updated.args[0]])
            steps = self._group_steps(updated)
        if steps is None or kind is None:
            return None
        return self._runtime_canvas(original, kind, steps)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.BitOr):
            for side in (node.left, node.right):
                if isinstance(side, cst.BinaryOperation) and isinstance(side.operator, cst.BitOr):
                    self.inner_pipes.add(id(side))  # only the whole pipe becomes a chain

    def leave_BinaryOperation(self, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        if not isinstance(updated.operator, cst.BitOr) or id(original) in self.inner_pipes:
            return updated
        members = _pipe_members(updated)
        if len(members) < 2 or not all(
            isinstance(m, cst.Call) and isinstance(m.func, cst.Attribute) and m.func.attr.value in ("s", "si")
            for m in members
        ):
            return updated
        steps = self._steps(members, chained=True)
        if steps is None:
            return updated
        return self._runtime_canvas(original, "chain", steps)

    def _runtime_canvas(self, original: cst.CSTNode, kind: str, steps: list[cst.BaseExpression]) -> cst.Call:
        self.used_canvas.add(kind)
        if kind == "group" and len(steps) == 1 and isinstance(steps[0], (cst.GeneratorExp, cst.ListComp)):
            args = [cst.Arg(steps[0])]
        else:
            args = _commas([cst.Arg(st) for st in steps])
        pos = self.get_metadata(PositionProvider, original)
        self.converted.append((pos.start.line, pos.end.line))
        node = cst.Call(cst.Name(f"__saq_{kind}__"), args)
        self.canvas_nodes.add(id(node))
        return node

    def _lone_signature(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression | None:
        """``t.s(1).delay()`` / ``t.si(1).apply_async()``: one signature dispatched at once is an enqueue."""
        assert isinstance(updated.func, cst.Attribute)
        if original.args or not isinstance(updated.func.value, cst.Call):
            return None
        step = self._step(updated.func.value, position=0, chained=False)
        if not isinstance(step, cst.Call) or not isinstance(step.func, cst.Attribute):
            return None
        in_async = bool(self.func_stack) and self.func_stack[-1]
        call = step.with_changes(func=step.func.with_changes(attr=cst.Name("aenqueue" if in_async else "enqueue")))
        pos = self.get_metadata(PositionProvider, original)
        self.converted.append((pos.start.line, pos.end.line))
        return self._await(original, call) if in_async else call

    def _is_converted_canvas(self, node: cst.BaseExpression) -> bool:
        if id(node) in self.canvas_nodes:
            return True
        return isinstance(node, cst.Name) and node.value in self.canvas_vars

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if id(updated.value) in self.canvas_nodes:  # job = group(...): job.apply_async() later is an enqueue
            for t in updated.targets:
                if isinstance(t.target, cst.Name):
                    self.canvas_vars.add(t.target.value)
        if (
            self.edit.drop_celery_apps
            and len(updated.targets) == 1
            and cst.Module([]).code_for_node(updated.targets[0].target).endswith("APPS")
        ):  # THIRD_PARTY_APPS too
            updated = updated.with_changes(value=_without_celery_apps(updated.value))
        return self._eager_assign(original, updated)

    def leave_AugAssign(self, original: cst.AugAssign, updated: cst.AugAssign):
        if self.edit.drop_celery_apps and cst.Module([]).code_for_node(updated.target).endswith("APPS"):
            value = updated.value
            if (
                isinstance(value, (cst.List, cst.Tuple))
                and value.elements
                and all(
                    isinstance(e, cst.Element)
                    and isinstance(e.value, cst.SimpleString)
                    and e.value.evaluated_value in CELERY_DJANGO_APPS
                    for e in value.elements
                )
            ):
                return cst.RemovalSentinel.REMOVE  # `INSTALLED_APPS += ["django_celery_beat"]`: nothing left to add
            return updated.with_changes(value=_without_celery_apps(value))
        return updated

    def _group_steps(self, target: cst.Call) -> list[cst.BaseExpression] | None:
        if len(target.args) == 1 and not target.args[0].keyword and not target.args[0].star:
            only = target.args[0].value
            if isinstance(only, (cst.GeneratorExp, cst.ListComp)):
                step = self._step(only.elt, position=0, chained=False)
                if step is None:
                    return None
                return [cst.GeneratorExp(step, only.for_in, lpar=[], rpar=[])]  # the call's own parentheses
            if isinstance(only, (cst.List, cst.Tuple)):
                if not all(isinstance(e, cst.Element) for e in only.elements):
                    return None
                return self._steps([e.value for e in only.elements], chained=False)
        if any(a.keyword or a.star for a in target.args):
            return None
        return self._steps([a.value for a in target.args], chained=False)

    def _steps(self, members: list[cst.BaseExpression], *, chained: bool) -> list[cst.BaseExpression] | None:
        out = []
        for i, m in enumerate(members):
            step = self._step(m, position=i, chained=chained)
            if step is None:
                return None
            out.append(step)
        return out or None

    def _step(self, member: cst.BaseExpression, *, position: int, chained: bool) -> cst.BaseExpression | None:
        if not (
            isinstance(member, cst.Call)
            and isinstance(member.func, cst.Attribute)
            and member.func.attr.value in ("s", "si")
        ):
            return None
        job = self.edit.canvas_members.get(cst.Module([]).code_for_node(member.func.value))
        if job is None or any(a.star for a in member.args):
            return None
        params = [p.name for p in job.task.params if p.kind in ("positional_only", "positional")]
        takes_result = chained and position > 0 and member.func.attr.value == "s"
        free = params[1:] if takes_result else params
        positional = [a for a in member.args if not a.keyword]
        keywords = [a for a in member.args if a.keyword]
        if len(positional) > len(free) or (takes_result and not params):
            return None
        if any(a.keyword.value not in {p.name for p in job.task.params} for a in keywords):  # type: ignore[union-attr]
            return None  # a Celery option (countdown=...) or an unknown name
        named = [cst.Arg(a.value, keyword=cst.Name(p), equal=_EQ) for p, a in zip(free, positional)]
        step = cst.Call(
            cst.Attribute(member.func.value, cst.Name("step")),
            _commas(named + [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in keywords]),
        )
        if takes_result:
            step = cst.Call(cst.Attribute(step, cst.Name("taking_result")), [cst.Arg(cst.SimpleString(_s(params[0])))])
        return step

    # -- eager mode (issue 17): Celery's switches become saqmigrate's -------------------------

    def _mocks_kept_dispatch(self, call: cst.Call) -> bool:
        """The mock replaces ``delay``/``apply_async`` of a task whose call sites finalize left in that spelling."""
        texts = [cst.Module([]).code_for_node(a.value).strip("'\"") for a in call.args[:2]]
        if len(texts) == 2 and texts[1] in ("delay", "apply_async"):  # patch.object(task, "delay")
            obj = texts[0].rsplit(".", 1)[-1]
        else:
            parts = texts[0].split(".") if texts else []
            obj = parts[-2] if len(parts) >= 2 else ""
        return obj in self.edit.mocked_tasks

    def _eager_keywords(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        func = cst.Module([]).code_for_node(original.func)
        if func.rsplit(".", 1)[-1] in ("override_settings", "modify_settings", "settings"):
            args = []
            for a in updated.args:
                new = (
                    _eager_name(a.keyword.value)
                    if a.keyword and self.edit.django and a.keyword.value not in self.edit.settings_keep
                    else None
                )
                args.append(a.with_changes(keyword=cst.Name(new)) if new else a)
            return updated.with_changes(args=args)
        if (
            func.rsplit(".", 1)[-1] in ("object", "patch", "setattr")
            and any(
                isinstance(a.value, cst.SimpleString)
                and re.search(r"(^|\.)(delay|apply_async|send_task)$", a.value.value.strip("'\""))
                for a in original.args
            )
            and not self._mocks_kept_dispatch(original)
        ):
            self.problems.append(
                (
                    self._line(original),
                    "SM807",
                    f"{func}(...) replaces a Celery dispatch method: the "
                    "code now calls .enqueue()/.enqueue_with() with keyword arguments; update the "
                    "mock and its assertions",
                )
            )
        if func.endswith("conf.update") and any(a.keyword and a.keyword.value in EAGER_CONF for a in original.args):
            self.problems.append(
                (
                    self._line(original),
                    "SM807",
                    f"{func}(task_always_eager=...) switches Celery's "
                    "eager mode: use saqmigrate.runtime.testing.set_eager(...) (docs/testing.md)",
                )
            )
        return updated

    def _eager_assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        for t in original.targets:
            target = cst.Module([]).code_for_node(t.target)
            if target.rsplit(".", 1)[-1] in EAGER_CONF and ".conf." in f".{target}":
                self.problems.append(
                    (
                        self._line(original),
                        "SM807",
                        f"{target} = ... switches Celery's eager mode: "
                        "use saqmigrate.runtime.testing.set_eager(...) (docs/testing.md)",
                    )
                )
        if len(updated.targets) == 1 and isinstance(updated.targets[0].target, cst.Name):
            old = updated.targets[0].target.value
            new = _eager_name(old)
            if new and self.edit.django and old in self.edit.settings_keep:
                return updated  # the project reads or sets it elsewhere: kept (eager mode honours the name too)
            if new and self.edit.django:
                return updated.with_changes(targets=[updated.targets[0].with_changes(target=cst.Name(new))])
            if new:
                self.problems.append(
                    (
                        self._line(original),
                        "SM807",
                        f"{old} switches Celery's eager mode outside "
                        f"Django settings: set {new}=1 in the test environment or call "
                        "saqmigrate.runtime.testing.set_eager(...) (docs/testing.md)",
                    )
                )
        return updated

    # -- module level ----------------------------------------------------------------------

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body = []
        for stmt in updated.body:
            if self._drop_statement(stmt):
                continue
            body.append(stmt)
        return updated.with_changes(body=body)

    def visit_Module(self, node: cst.Module) -> None:
        self.module_rebound = _plain_bindings(node.body) & _import_bound(node)  # imported, then assigned again
        # names bound from the window's generated modules (`routing as _saqmigrate_routing`): their uses go with them
        self.wiring_names: set[str] = set()
        for stmt in node.body:
            if _is_import_line(stmt):
                for imp in stmt.body:  # type: ignore[attr-defined]
                    if isinstance(imp, cst.ImportFrom) and not isinstance(imp.names, cst.ImportStar):
                        mod = _resolve_relative(self.edit.module, self.edit.is_package, imp)
                        for a in imp.names:
                            name = cst.Module([]).code_for_node(a.name)
                            if mod in self.edit.wiring_modules or f"{mod}.{name}" in self.edit.wiring_modules:
                                self.wiring_names.add(a.asname.name.value if a.asname else name)  # type: ignore[union-attr]
        # what the module calls Celery's task decorator: `X = shared_task` aliases of it go with Celery
        self.decorators = {"celery.shared_task"}
        self.canvas_names = {"celery.chain": "chain", "celery.group": "group"}  # local name -> runtime name
        for stmt in node.body:
            if _is_import_line(stmt):
                for imp in stmt.body:  # type: ignore[attr-defined]
                    if (
                        isinstance(imp, cst.ImportFrom)
                        and not imp.relative
                        and imp.module is not None
                        and cst.Module([]).code_for_node(imp.module) == "celery"
                        and not isinstance(imp.names, cst.ImportStar)
                    ):
                        for a in imp.names:
                            if cst.Module([]).code_for_node(a.name) == "shared_task":
                                self.decorators.add(a.asname.name.value if a.asname else "shared_task")  # type: ignore[union-attr]
                    if (
                        isinstance(imp, cst.ImportFrom)
                        and not imp.relative
                        and imp.module is not None
                        and cst.Module([]).code_for_node(imp.module) in ("celery", "celery.canvas")
                        and not isinstance(imp.names, cst.ImportStar)
                    ):
                        for a in imp.names:
                            orig = cst.Module([]).code_for_node(a.name)
                            if orig in ("chain", "group"):
                                self.canvas_names[a.asname.name.value if a.asname else orig] = orig  # type: ignore[union-attr]

    def _drop_statement(self, stmt: cst.CSTNode) -> bool:
        e = self.edit
        if self.wiring_names and not _is_import_line(stmt) and self.wiring_names & _names_used(stmt):
            return True  # the window's routing hook (`_saqmigrate_routing.install(app)`): its module is deleted
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
            value = cst.Module([]).code_for_node(stmt.body[0].value)
            if value in self.decorators or (e.app_var and value == f"{e.app_var}.task"):
                return True  # `project_task = shared_task`: a decorator alias, now unused
        if e.app_var and not isinstance(stmt, (cst.Import, cst.ImportFrom)) and not _is_import_line(stmt):
            if e.app_var in _names_used(stmt) and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                return True
            if isinstance(stmt, cst.FunctionDef) and any(e.app_var in _names_used(d) for d in stmt.decorators):
                return True  # @app.on_after_configure.connect and the like: Celery signal handlers
        if e.settings_prefix and isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                if targets and all(
                    isinstance(t, cst.Name)
                    and is_celery_setting(t.value, e.settings_prefix)
                    and t.value not in e.settings_keep
                    for t in targets
                ):
                    return True
        return False


_EQ = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


class _Unconvertible(Exception):
    pass


def _s(text: str) -> str:
    """A string literal as black writes it (double quotes unless that needs more escapes)."""
    r = repr(text)
    if r.startswith("'") and '"' not in text:
        return '"' + r[1:-1].replace("\\'", "'") + '"'
    return r


def _formatted_decorator(expr: str, line_length: int) -> cst.Decorator:
    """``@expr`` laid out as the project's formatter would (black/ruff), so a later format run changes nothing."""
    stub = f"@{expr}\ndef f():\n    pass\n"
    if len(expr) + 1 <= line_length and "'" not in expr:  # already as a formatter writes it: no subprocess
        func = cst.parse_module(stub).body[0]
        assert isinstance(func, cst.FunctionDef)
        return func.decorators[0]
    try:
        from saqmigrate.emit.style import Style, format_python

        stub = format_python(stub, Style(line_length=line_length))
    except Exception:  # noqa: BLE001 - no formatter available: one line, still valid code
        pass
    func = cst.parse_module(stub).body[0]
    assert isinstance(func, cst.FunctionDef)
    return func.decorators[0]


def _eager_name(name: str) -> str | None:
    """``CELERY_TASK_ALWAYS_EAGER`` -> ``SAQMIGRATE_EAGER`` (any ``*_`` namespace prefix), else None."""
    for suffix, new in EAGER_SETTINGS.items():
        if name == suffix or (name.endswith("_" + suffix) and name[: -len(suffix) - 1].isupper()):
            return new
    return None


class _Bindings(cst.CSTVisitor):
    """Names bound in one scope other than by import or def/class (nested scopes not entered)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.depth = 0

    def _target(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            self.names.add(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for e in node.elements:
                self._target(e.value)
        elif isinstance(node, cst.StarredElement):
            self._target(node.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._target(node.name.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target)


def _local_bindings(func: cst.FunctionDef) -> set[str]:
    v = _Bindings()
    for stmt in func.body.body if isinstance(func.body, cst.IndentedBlock) else [func.body]:
        stmt.visit(v)
    p = func.params
    for param in [*p.posonly_params, *p.params, *p.kwonly_params]:
        v.names.add(param.name.value)
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            v.names.add(star.name.value)
    return v.names


def _plain_bindings(body) -> set[str]:
    v = _Bindings()
    for stmt in body:
        stmt.visit(v)
    return v.names


def _import_bound(module: cst.Module) -> set[str]:
    out: set[str] = set()
    for stmt in module.body:
        if _is_import_line(stmt):
            for imp in stmt.body:  # type: ignore[attr-defined]
                if isinstance(imp, cst.ImportFrom) and not isinstance(imp.names, cst.ImportStar):
                    out |= {
                        a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name)  # type: ignore[union-attr]
                        for a in imp.names
                    }
                elif isinstance(imp, cst.Import):
                    out |= {
                        a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name).split(".")[0]  # type: ignore[union-attr]
                        for a in imp.names
                    }
    return out


def _import_line_names(line: str) -> set[str]:
    import ast

    try:
        stmt = ast.parse(line).body[0]
    except (SyntaxError, IndexError):
        return set()
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in stmt.names}
    return set()


def _pipe_members(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _pipe_members(node.left) + _pipe_members(node.right)
    return [node]


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def _commas(args: list[cst.Arg]) -> list[cst.Arg]:
    out = []
    for i, a in enumerate(args):
        a = a.with_changes(
            comma=cst.MaybeSentinel.DEFAULT
            if i == len(args) - 1
            else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        out.append(a)
    return out


def _dict_of(keywords: list[cst.Arg], first: list[cst.BaseDictElement] | None = None) -> cst.BaseExpression | None:
    if not keywords and not first:
        return None
    elements: list[cst.BaseDictElement] = list(first or [])
    for a in keywords:
        if a.star == "**":
            elements.append(cst.StarredDictElement(a.value))
        else:
            assert a.keyword is not None
            elements.append(cst.DictElement(cst.SimpleString(_s(a.keyword.value)), a.value))
    return cst.Dict(_dict_commas(elements))


def _apply_async_parts(node: cst.Call) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None, dict]:
    positional = [a for a in node.args if not a.keyword and not a.star]
    if any(a.star for a in node.args):
        raise _Unconvertible("apply_async(*...) / (**options) cannot be read")
    by_kw = {a.keyword.value: a.value for a in node.args if a.keyword}
    args = positional[0].value if positional else by_kw.pop("args", None)
    kwargs = positional[1].value if len(positional) > 1 else by_kw.pop("kwargs", None)
    return args, kwargs, by_kw


def _is_none(expr: cst.BaseExpression | None) -> bool:
    return expr is None or (isinstance(expr, cst.Name) and expr.value == "None")


def _payload(args: cst.BaseExpression | None, kwargs: cst.BaseExpression | None, params: list[str]) -> list[cst.Arg]:
    """The job's kwargs (first, positional) and, when they cannot be named here, ``args=``."""
    if _is_none(args):
        return [] if _is_none(kwargs) else [cst.Arg(kwargs)]  # type: ignore[arg-type]
    given = (
        {
            e.key.value.strip("'\"")
            for e in kwargs.elements
            if isinstance(e, cst.DictElement)  # type: ignore[union-attr]
            and isinstance(e.key, cst.SimpleString)
        }
        if isinstance(kwargs, cst.Dict)
        else set()
    )
    if (
        isinstance(args, (cst.List, cst.Tuple))
        and all(isinstance(e, cst.Element) for e in args.elements)
        and len(args.elements) <= len(params)
        and (_is_none(kwargs) or isinstance(kwargs, cst.Dict))
        and not given & set(params[: len(args.elements)])
    ):  # a name given twice stays an error, as in Celery
        elements: list[cst.BaseDictElement] = [
            cst.DictElement(cst.SimpleString(_s(p)), e.value) for p, e in zip(params, args.elements)
        ]
        if isinstance(kwargs, cst.Dict):
            elements += list(kwargs.elements)
        return [cst.Arg(cst.Dict(_dict_commas(elements)))] if elements else []
    out = [] if _is_none(kwargs) else [cst.Arg(kwargs)]  # type: ignore[arg-type]
    return out + [cst.Arg(args, keyword=cst.Name("args"), equal=_EQ)]  # type: ignore[arg-type]


def _dict_commas(elements: list[cst.BaseDictElement]) -> list[cst.BaseDictElement]:
    return [
        e.with_changes(
            comma=cst.MaybeSentinel.DEFAULT
            if i == len(elements) - 1
            else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        for i, e in enumerate(elements)
    ]


def _options(options: dict[str, cst.BaseExpression], edit: CallEdit) -> list[cst.Arg]:
    out = []
    for k, v in options.items():
        if k in MAPPED_OPTIONS:
            out.append(cst.Arg(v, keyword=cst.Name(k), equal=_EQ))
        elif k in DROPPED_OPTIONS or k == "queue":
            continue  # the plan checked a queue= is the task's own
        else:
            raise _Unconvertible(f"option {k}= has no SAQ equivalent")
    return out


class _Imports(cst.CSTTransformer):
    """Remove import aliases whose bound name the edits left unused, or that name a removed module or name."""

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseExpression) and not isinstance(node, (cst.Name, cst.Attribute)):
            return False  # imports are statements: expressions need no visit (speed)
        return super().on_visit(node)

    def __init__(
        self,
        before: set[str],
        after: set[str],
        edit: FileEdit,
        new_imports: list[str],
        replaced: set[str] = frozenset(),
    ) -> None:  # type: ignore[assignment]
        self.before, self.after, self.edit = before, after, edit
        self.replaced = replaced  # Celery names the runtime's now bind (chain, group): their import goes
        self.dangling: list[str] = []
        self.new_imports = new_imports  # placed where the first removed Celery import was
        self.inserted = not new_imports
        self.depth = 0

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def leave_IndentedBlock(self, original, updated):
        self.depth -= 1
        return updated

    def _gone(self, module: str, name: str | None) -> bool:
        if module in self.edit.removed_modules:
            return True
        if name is not None and name in self.edit.removed_names.get(module, ()):
            return True
        if name is not None and f"{module}.{name}" in self.edit.removed_modules:
            return True
        return False

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if isinstance(updated.names, cst.ImportStar):
            return updated
        module = _resolve_relative(self.edit.module, self.edit.is_package, original)
        keep = []
        for alias in updated.names:
            name = cst.Module([]).code_for_node(alias.name)
            bound = alias.asname.name.value if alias.asname else name  # type: ignore[union-attr]
            if module.split(".")[0] == "celery" and bound in self.replaced:
                continue
            if self._gone(module, name):
                if bound in self.after:
                    self.dangling.append(bound)
                continue
            if bound in self.before and bound not in self.after:
                continue
            keep.append(alias)
        if not keep:
            return cst.RemovalSentinel.REMOVE
        if len(keep) != len(updated.names):
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(
                names=keep, lpar=updated.lpar if len(keep) > 1 else None, rpar=updated.rpar if len(keep) > 1 else None
            )
        return updated

    def leave_Import(self, original: cst.Import, updated: cst.Import):
        keep = []
        for alias in updated.names:
            name = cst.Module([]).code_for_node(alias.name)
            bound = alias.asname.name.value if alias.asname else name.split(".")[0]  # type: ignore[union-attr]
            if name in self.edit.removed_modules:
                if bound in self.after:
                    self.dangling.append(bound)
                continue
            if bound in self.before and bound not in self.after:
                continue
            keep.append(alias)
        if not keep:
            return cst.RemovalSentinel.REMOVE
        if len(keep) != len(updated.names):
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(names=keep)
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        if not updated.body:
            if not self.inserted and self.depth == 0:
                self.inserted = True
                stmts = _import_statements(self.new_imports)
                stmts[0] = stmts[0].with_changes(leading_lines=original.leading_lines)
                return cst.FlattenSentinel(stmts)
            return cst.RemovalSentinel.REMOVE
        return updated


def _bound_names(module: cst.Module) -> set[str]:
    names: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for s in stmt.body:
                if isinstance(s, cst.ImportFrom) and not isinstance(s.names, cst.ImportStar):
                    for a in s.names:
                        names.add(a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name))  # type: ignore[union-attr]
                elif isinstance(s, cst.Import):
                    for a in s.names:
                        names.add(
                            a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name).split(".")[0]
                        )  # type: ignore[union-attr]
                elif isinstance(s, cst.Assign):
                    for t in s.targets:
                        if isinstance(t.target, cst.Name):
                            names.add(t.target.value)
    return names


def _aliases(module: cst.Module) -> dict[str, str]:
    taken = _bound_names(module) | _code_names(module.code)
    out = {}
    for name, home in RUNTIME_NAMES.items():
        out[name] = name if name not in taken else f"_{name}"
    return out


def _import_order(line: str) -> tuple:
    """isort's order, roughly: the standard library, then everything else; ``import x`` before ``from x``."""
    words = line.split()
    top = words[1].split(".")[0] if len(words) > 1 else ""
    return (0 if top in sys.stdlib_module_names else 1, 0 if words[:1] == ["import"] else 1, top, line)


def _import_statements(lines: list[str]) -> list[cst.BaseStatement]:
    """The lines as statements, a blank line between the standard library's and the rest (isort's sections)."""
    out: list[cst.BaseStatement] = []
    group = None
    for line in lines:
        stmt = cst.parse_statement(line + "\n")
        g = _import_order(line)[0]
        if group is not None and g != group:
            stmt = stmt.with_changes(leading_lines=[cst.EmptyLine()])
        group = g
        out.append(stmt)
    return out


def _import_lines(used: set[str], aliases: dict[str, str]) -> list[str]:
    by_module: dict[str, list[str]] = {}
    for name in sorted(used):
        alias = aliases[name]
        by_module.setdefault(RUNTIME_NAMES[name], []).append(name if alias == name else f"{name} as {alias}")
    return [f"from {mod} import {', '.join(names)}" for mod, names in sorted(by_module.items())]


def _insert_imports(module: cst.Module, lines: list[str]) -> cst.Module:
    if not lines:
        return module
    new = _import_statements(lines)
    body = list(module.body)
    last = -1
    for i, stmt in enumerate(body):
        if _is_import_line(stmt):
            last = i
        elif (
            i == 0
            and isinstance(stmt, cst.SimpleStatementLine)
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
        ):
            last = i  # the docstring
        elif last >= 0 or i > 0:
            break
    body[last + 1 : last + 1] = new
    return module.with_changes(body=body)


def _is_empty(module: cst.Module) -> bool:
    """Only a docstring, imports, ``__all__`` and ``os.environ.setdefault(...)`` are left."""
    for i, stmt in enumerate(module.body):
        if _is_import_line(stmt):
            continue
        if isinstance(stmt, cst.SimpleStatementLine):
            code = cst.Module([]).code_for_node(stmt.with_changes(leading_lines=())).strip()  # not its comments
            if i == 0 and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.SimpleString):
                continue
            if code.startswith(("os.environ.setdefault(", "__all__")):
                continue
        return False
    return True


def finalize_source(source: str, edit: FileEdit) -> FileResult:
    """Apply ``edit`` to ``source`` (the text of one module)."""
    tree = cst.parse_module(source)
    before = _code_names(source)
    if edit.drop_celery_apps and re.search(r"^[ \t]*from[ \t]+celery\.(?:result|exceptions)\b", source, re.M):
        tree = tree.visit(_PortedImports())
    aliases = _aliases(tree)
    edits = _Edits(edit, aliases)
    new = MetadataWrapper(tree, unsafe_skip_copy=True).visit(edits)  # the tree is not used again
    canvas_imports = []
    replaced: set[str] = set()  # Celery's chain/group names now bound by the runtime's
    if edits.hooks_converted and "crontab" in _celery_bound(tree):
        canvas_imports.append("crontab")  # the hooks' schedules: the runtime's crontab (no Celery)
        replaced.add("crontab")
    for kind in sorted(edits.used_canvas):
        # the runtime's chain/group take Celery's local name once Celery's is no longer used, else saq_<kind>
        local = (
            kind
            if kind not in _code_names(new.code) and kind not in _bound_names(new) - _celery_bound(new)
            else f"saq_{kind}"
        )
        new = new.visit(_Rename(f"__saq_{kind}__", local))
        canvas_imports.append(kind if local == kind else f"{kind} as {local}")
        if local == kind:
            replaced.add(kind)
    after = _code_names(new.code)
    lines = _import_lines(edits.used_runtime, aliases)
    if edits.port_imports:
        bound = _bound_names(new)
        for ln in dict.fromkeys(ln.split("  #")[0].strip() for ln in edits.port_imports):
            names = _import_line_names(ln)
            if names - bound and not (names & {n for n in names if n.startswith(("anyio", "httpcore"))}):
                lines.append(ln)
        lines.sort(key=_import_order)
    if canvas_imports:
        lines.append(f"from saqmigrate.runtime.jobs import {', '.join(sorted(canvas_imports))}")
        lines.sort()
    lines = _merged_imports(lines)
    imports = _Imports(before, after, edit, lines, replaced)
    new = new.visit(imports)
    if not imports.inserted:
        new = _insert_imports(new, lines)
    if "__all__" in source:  # only the names finalize unbound go; a name bound under `if`/`try` is still bound
        new = _prune_all(new, _module_bindings(cst.parse_module(source)) - _module_bindings(new))
    if (
        new.body
        and not new.header
        and new.body[0].leading_lines
        and tree.body
        and new.body[0].leading_lines != tree.body[0].leading_lines
    ):
        new = new.with_changes(body=[new.body[0].with_changes(leading_lines=()), *new.body[1:]])
    problems = list(edits.problems)
    if edit.drop_celery_apps:  # an app list finalize could not edit: Django's setup() would import Celery
        for m in re.finditer(r"""["'](django_celery_beat|django_celery_results)["']""", new.code):
            problems.append(
                (
                    new.code.count("\n", 0, m.start()) + 1,
                    "SM803",
                    f"still lists {m.group(1)}, which "
                    "imports Celery when Django sets up: take it out of INSTALLED_APPS (and its migrations' "
                    "tables when no longer needed)",
                )
            )
    for name in sorted(set(imports.dangling)):
        problems.append((1, "SM803", f"{name} came from Celery code finalize removes and is still used here"))
    for lst in edits.calls.values():
        for c in lst:
            problems.append((c.call.line, "SM802", f"{c.call.target}.{c.call.kind}(): not found where the scan saw it"))
    converted = list(edits.converted)
    converted += [(a, z) for a, z in edits.loose_sigs if not any(a <= z2 and a2 <= z for a2, z2 in edits.canvas_left)]
    return FileResult(new.code, problems, converted=converted, empty=_is_empty(new))


def _without_celery_apps(value: cst.BaseExpression) -> cst.BaseExpression:
    """``INSTALLED_APPS = [..., "celery", "django_celery_beat", ...]`` without Celery's apps (the packages go
    with finalize: Django's setup() would fail to import them). A list emptied of them is left as it is."""
    if not isinstance(value, (cst.List, cst.Tuple)):
        return value
    keep = [
        e
        for e in value.elements
        if not (
            isinstance(e, cst.Element)
            and isinstance(e.value, cst.SimpleString)
            and e.value.evaluated_value in CELERY_DJANGO_APPS
        )
    ]
    if len(keep) == len(value.elements) or not keep:
        return value
    last = value.elements[-1]
    if keep[-1] is not last:  # the trailing comma (or none) of the old last element
        keep[-1] = keep[-1].with_changes(comma=last.comma)
    if isinstance(value, cst.Tuple) and len(keep) == 1 and not isinstance(keep[0].comma, cst.Comma):
        keep[0] = keep[0].with_changes(comma=cst.Comma())
    return value.with_changes(elements=keep)


def _merged_imports(lines: list[str]) -> list[str]:
    """``from m import a`` and ``from m import b`` as one line ``from m import a, b`` (runtime.jobs' names)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for line in lines:
        m = re.match(r"from (\S+) import ([^()#]+)$", line)
        if m and m.group(1) in seen:
            i = seen[m.group(1)]
            names = out[i].split(" import ", 1)[1].split(", ") + m.group(2).split(", ")
            out[i] = f"from {m.group(1)} import {', '.join(sorted(dict.fromkeys(names)))}"
            continue
        if m:
            seen[m.group(1)] = len(out)
        out.append(line)
    return out


#: Celery names a project's tests import that the runtime provides with the same meaning (issue 17): once
#: Celery leaves, the import takes the runtime's, bound to the same name. ``EagerSaqResult`` and the
#: runtime's ``Retry``/``MaxRetriesExceededError`` are Celery's classes too while Celery is importable.
PORTED_IMPORTS = {
    ("celery.result", "EagerResult"): ("saqmigrate.runtime.testing", "EagerSaqResult"),
    ("celery.exceptions", "Retry"): ("saqmigrate.runtime.task", "Retry"),
    ("celery.exceptions", "MaxRetriesExceededError"): ("saqmigrate.runtime.task", "MaxRetriesExceededError"),
}


class _PortedImports(cst.CSTTransformer):
    """``from celery.result import EagerResult`` -> ``from saqmigrate.runtime.testing import EagerSaqResult as
    EagerResult`` (and the other :data:`PORTED_IMPORTS`); the names of the module it does not port stay."""

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if len(updated.body) != 1 or not isinstance(updated.body[0], cst.ImportFrom):
            return updated
        imp = updated.body[0]
        if imp.relative or imp.module is None or isinstance(imp.names, cst.ImportStar):
            return updated
        module = cst.Module([]).code_for_node(imp.module)
        ported, kept = [], []
        for a in imp.names:
            name = cst.Module([]).code_for_node(a.name)
            target = PORTED_IMPORTS.get((module, name))
            bound = a.asname.name.value if a.asname else name  # type: ignore[union-attr]
            if target is None:
                kept.append(a)
            else:
                ported.append((target, bound))
        if not ported:
            return updated
        home = ported[0][0][0]
        names = ", ".join(n if n == b else f"{n} as {b}" for (_, n), b in ported)
        new = cst.parse_statement(f"from {home} import {names}\n")
        new = new.with_changes(leading_lines=updated.leading_lines) if not kept else new
        if not kept:
            return new.with_changes(trailing_whitespace=updated.trailing_whitespace)  # type: ignore[union-attr]
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        rest = updated.with_changes(
            body=[
                imp.with_changes(
                    names=kept, lpar=imp.lpar if len(kept) > 1 else None, rpar=imp.rpar if len(kept) > 1 else None
                )
            ]
        )
        return cst.FlattenSentinel([rest, new])


class _Rename(cst.CSTTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.new) if updated.value == self.old else updated


def _celery_bound(module: cst.Module) -> set[str]:
    """Names bound by ``from celery[.canvas] import ...`` (they go with Celery when unused)."""
    out: set[str] = set()
    for stmt in module.body:
        if _is_import_line(stmt):
            for imp in stmt.body:  # type: ignore[attr-defined]
                if (
                    isinstance(imp, cst.ImportFrom)
                    and not imp.relative
                    and imp.module is not None
                    and cst.Module([]).code_for_node(imp.module).split(".")[0] == "celery"
                    and not isinstance(imp.names, cst.ImportStar)
                ):
                    out |= {
                        a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name)  # type: ignore[union-attr]
                        for a in imp.names
                    }
    return out


def _module_bindings(module: cst.Module) -> set[str]:
    """Every name the module binds at module level, in any branch: ``def``/``class``, imports, assignment
    targets (unpacking, annotated, augmented, walrus), ``for``/``with``/``except`` targets, also inside
    ``if``/``try``/``with``/``for`` blocks (``if SPHINX: class PromiseProxy ... else: from celery.local
    import PromiseProxy``); never inside function or class bodies."""
    names: set[str] = set()

    def targets(node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            names.add(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for e in node.elements:
                targets(e.value)
        elif isinstance(node, cst.StarredElement):
            targets(node.value)

    class V(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def visit_Import(self, node: cst.Import) -> None:
            for a in node.names:
                code = cst.Module([]).code_for_node(a.name)
                names.add(a.asname.name.value if a.asname else code.split(".")[0])  # type: ignore[union-attr]

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if not isinstance(node.names, cst.ImportStar):
                for a in node.names:
                    names.add(a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name))  # type: ignore[union-attr]

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            targets(node.target)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            targets(node.target)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            targets(node.target)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            targets(node.target)

        def visit_For(self, node: cst.For) -> None:
            targets(node.target)

        def visit_AsName(self, node: cst.AsName) -> None:  # with ... as x, except E as x
            targets(node.name)

    module.visit(V())
    return names


def _prune_all(module: cst.Module, removed: set[str]) -> cst.Module:
    """``__all__`` entries whose binding finalize removed (``celery_app`` in a package ``__init__``); an entry
    it did not unbind stays, whatever binds it (a branch, a star import, ``globals()``)."""

    class T(cst.CSTTransformer):
        def leave_Assign(self, original: cst.Assign, updated: cst.Assign):
            if not (
                len(updated.targets) == 1
                and isinstance(updated.targets[0].target, cst.Name)
                and updated.targets[0].target.value == "__all__"
                and isinstance(updated.value, (cst.List, cst.Tuple))
            ):
                return updated
            keep = [
                e
                for e in updated.value.elements
                if not (isinstance(e.value, cst.SimpleString) and e.value.value.strip("'\"") in removed)
            ]
            if len(keep) == len(updated.value.elements):
                return updated
            if not keep:
                return cst.RemovalSentinel.REMOVE
            if isinstance(updated.value, cst.Tuple) and len(keep) == 1:
                keep = [keep[0].with_changes(comma=cst.Comma())]
            else:
                keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(value=updated.value.with_changes(elements=keep))

    return module.visit(T()).visit(_EmptyLines())


class _EmptyLines(cst.CSTTransformer):
    def on_visit(self, node: cst.CSTNode) -> bool:
        return not isinstance(node, cst.BaseExpression) and super().on_visit(node)

    def leave_SimpleStatementLine(self, original, updated):
        return cst.RemovalSentinel.REMOVE if not updated.body else updated
