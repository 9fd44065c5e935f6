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

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from saqmigrate.plan.finalize import DROPPED_OPTIONS, MAPPED_OPTIONS, CallEdit, JobDecl

#: Celery's eager-mode settings (after the ``CELERY_`` prefix) -> saqmigrate's switch of the same meaning
#: (saqmigrate.runtime.testing, docs/testing.md).
EAGER_SETTINGS = {"TASK_ALWAYS_EAGER": "SAQMIGRATE_EAGER", "ALWAYS_EAGER": "SAQMIGRATE_EAGER",
                  "TASK_EAGER_PROPAGATES": "SAQMIGRATE_EAGER_PROPAGATES",
                  "EAGER_PROPAGATES_EXCEPTIONS": "SAQMIGRATE_EAGER_PROPAGATES"}
EAGER_CONF = ("task_always_eager", "task_eager_propagates", "always_eager")
CELERY_FIXTURES = frozenset({"celery_app", "celery_worker", "celery_session_app", "celery_session_worker",
                             "celery_config", "celery_parameters", "celery_includes"})

RUNTIME_NAMES = {"saq_job": "saqmigrate.runtime.jobs", "send_job": "saqmigrate.runtime.jobs",
                 "asend_job": "saqmigrate.runtime.jobs", "TaskOptions": "saqmigrate.runtime.task"}


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


@dataclass
class FileResult:
    code: str
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule code, message)
    empty: bool = False  # nothing but docstring, imports and os.environ.setdefault(...) is left


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
    dots = len(node.relative)
    target = cst.Module([]).code_for_node(node.module) if node.module is not None else ""
    if not dots:
        return target
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (dots - 1)] if dots > 1 else base
    return ".".join([*base, target] if target else base)


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
        self.used_runtime: set[str] = set()
        self.problems: list[tuple[int, str, str]] = []

    # -- where we are ------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.func_stack.append(node.asynchronous is not None)
        used = [p.name.value for p in node.params.params if p.name.value in CELERY_FIXTURES]
        if used:
            self.problems.append((self._line(node), "SM807", f"{node.name.value} uses Celery's pytest fixture(s) "
                                  f"{', '.join(used)}: use saq_eager / saq_worker (docs/testing.md)"))
        for dec in node.decorators:
            code = cst.Module([]).code_for_node(dec.decorator)
            if code.startswith("pytest.mark.celery"):
                self.problems.append((self._line(dec), "SM807", f"{node.name.value}: @{code.split('(')[0]} "
                                      "configures Celery's test app: use saq_eager / saq_worker (docs/testing.md)"))

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.func_stack.append(False)

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        self.func_stack.pop()
        return updated

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    # -- task declarations ----------------------------------------------------------------

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.func_stack.pop()
        for i, dec in enumerate(original.decorators):
            job = self.jobs.get(self._line(dec))
            if job is None:
                continue
            self.used_runtime.update({"saq_job", "TaskOptions"})
            decs = list(updated.decorators)
            decs[i] = _formatted_decorator(self._decorator(job), self.edit.line_length).with_changes(
                leading_lines=dec.leading_lines)
            return updated.with_changes(decorators=decs)
        return updated

    def _decorator(self, job: JobDecl) -> str:
        options = job.options_source
        if self.aliases["TaskOptions"] != "TaskOptions" and options.startswith("TaskOptions("):
            options = self.aliases["TaskOptions"] + options[len("TaskOptions"):]
        args = [_s(job.name), options, f"queue={_s(job.queue)}"]
        if job.bind:
            args.append("bind=True")
        return f"{self.aliases['saq_job']}({', '.join(args)})"

    # -- call sites ------------------------------------------------------------------------

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        updated = self._eager_keywords(original, updated)
        if not isinstance(original.func, cst.Attribute):
            return updated
        attr = original.func.attr.value
        if attr not in ("delay", "apply_async", "send_task"):
            return updated
        candidates = self.calls.get(self._line(original), [])
        kind = {"delay": "enqueue", "apply_async": "enqueue_with", "send_task": "send_job"}[attr]
        edit = next((c for c in candidates if c.kind == kind), None)
        if edit is None:
            return updated
        candidates.remove(edit)
        in_async = bool(self.func_stack) and self.func_stack[-1]
        try:
            new = self._call(edit, updated, in_async)
        except _Unconvertible as exc:
            self.problems.append((edit.call.line, "SM802", str(exc)))
            return updated
        return cst.Await(new) if in_async else new

    def _call(self, edit: CallEdit, node: cst.Call, in_async: bool) -> cst.Call:
        assert edit.job is not None
        func = node.func
        assert isinstance(func, cst.Attribute)
        params = [p.name for p in edit.job.task.params if p.kind in ("positional_only", "positional")]
        prefix = "a" if in_async else ""
        if edit.kind == "enqueue":
            positional = [a for a in node.args if not a.keyword and not a.star]
            stars = [a for a in node.args if a.star == "*"]
            keywords = [a for a in node.args if a.keyword or a.star == "**"]
            if stars or len(positional) > len(params):
                args_list = cst.List([cst.Element(a.value) if not a.star else cst.StarredElement(a.value)
                                      for a in node.args if not a.keyword and a.star != "**"])
                kw = _dict_of(keywords)
                new_args = ([cst.Arg(kw)] if kw is not None else []) + [cst.Arg(args_list, keyword=cst.Name("args"))]
                return node.with_changes(func=func.with_changes(attr=cst.Name(f"{prefix}enqueue_with")),
                                         args=_commas(new_args))
            named = [cst.Arg(a.value, keyword=cst.Name(p), equal=_EQ) for p, a in zip(params, positional)]
            rest = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in keywords]
            return node.with_changes(func=func.with_changes(attr=cst.Name(f"{prefix}enqueue")),
                                     args=_commas(named + rest))
        if edit.kind == "enqueue_with":
            args, kwargs, options = _apply_async_parts(node)
            new_args = _payload(args, kwargs, params) + _options(options, edit)
            return node.with_changes(func=func.with_changes(attr=cst.Name(f"{prefix}enqueue_with")),
                                     args=_commas(new_args))
        # send_task(name, args=None, kwargs=None, **options)
        name = node.args[0] if node.args and not node.args[0].keyword else next(
            (a for a in node.args if a.keyword and a.keyword.value == "name"), None)
        if name is None:
            raise _Unconvertible("send_task without a name")
        rest = [a for a in node.args if a is not name]
        positional = [a for a in rest if not a.keyword and not a.star]
        by_kw = {a.keyword.value: a for a in rest if a.keyword}
        args = positional[0].value if positional else (by_kw.pop("args").value if "args" in by_kw else None)
        kwargs = positional[1].value if len(positional) > 1 else (
            by_kw.pop("kwargs").value if "kwargs" in by_kw else None)
        if any(a.star for a in rest):
            raise _Unconvertible("send_task(**options) cannot be read")
        fn = f"{prefix}send_job"
        self.used_runtime.add(fn)
        new_args = [cst.Arg(name.value)] + _payload(args, kwargs, params)
        new_args += [cst.Arg(cst.SimpleString(_s(edit.queue)), keyword=cst.Name("queue"), equal=_EQ)]
        new_args += _options({k: a.value for k, a in by_kw.items()}, edit)
        return cst.Call(func=cst.Name(self.aliases[fn]), args=_commas(new_args))

    # -- eager mode (issue 17): Celery's switches become saqmigrate's -------------------------

    def _eager_keywords(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        func = cst.Module([]).code_for_node(original.func)
        if func.rsplit(".", 1)[-1] in ("override_settings", "modify_settings", "settings"):
            args = []
            for a in updated.args:
                new = _eager_name(a.keyword.value) if a.keyword and self.edit.django else None
                args.append(a.with_changes(keyword=cst.Name(new)) if new else a)
            return updated.with_changes(args=args)
        if func.endswith("conf.update") and any(a.keyword and a.keyword.value in EAGER_CONF for a in original.args):
            self.problems.append((self._line(original), "SM807", f"{func}(task_always_eager=...) switches Celery's "
                                  "eager mode: use saqmigrate.runtime.testing.set_eager(...) (docs/testing.md)"))
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        for t in original.targets:
            target = cst.Module([]).code_for_node(t.target)
            if target.rsplit(".", 1)[-1] in EAGER_CONF and ".conf." in f".{target}":
                self.problems.append((self._line(original), "SM807", f"{target} = ... switches Celery's eager mode: "
                                      "use saqmigrate.runtime.testing.set_eager(...) (docs/testing.md)"))
        if len(updated.targets) == 1 and isinstance(updated.targets[0].target, cst.Name):
            old = updated.targets[0].target.value
            new = _eager_name(old)
            if new and self.edit.django:
                return updated.with_changes(targets=[updated.targets[0].with_changes(target=cst.Name(new))])
            if new:
                self.problems.append((self._line(original), "SM807", f"{old} switches Celery's eager mode outside "
                                      f"Django settings: set {new}=1 in the test environment or call "
                                      "saqmigrate.runtime.testing.set_eager(...) (docs/testing.md)"))
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
        # what the module calls Celery's task decorator: `X = shared_task` aliases of it go with Celery
        self.decorators = {"celery.shared_task"}
        for stmt in node.body:
            if _is_import_line(stmt):
                for imp in stmt.body:  # type: ignore[attr-defined]
                    if isinstance(imp, cst.ImportFrom) and not imp.relative and imp.module is not None and \
                            cst.Module([]).code_for_node(imp.module) == "celery" and \
                            not isinstance(imp.names, cst.ImportStar):
                        for a in imp.names:
                            if cst.Module([]).code_for_node(a.name) == "shared_task":
                                self.decorators.add(a.asname.name.value if a.asname else "shared_task")  # type: ignore[union-attr]

    def _drop_statement(self, stmt: cst.CSTNode) -> bool:
        e = self.edit
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
            value = cst.Module([]).code_for_node(stmt.body[0].value)
            if value in self.decorators or (e.app_var and value == f"{e.app_var}.task"):
                return True  # `project_task = shared_task`: a decorator alias, now unused
        if e.app_var and not isinstance(stmt, (cst.Import, cst.ImportFrom)) and not _is_import_line(stmt):
            if e.app_var in _names_used(stmt) and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                return True
            if isinstance(stmt, cst.FunctionDef) and any(
                    e.app_var in _names_used(d) for d in stmt.decorators):
                return True  # @app.on_after_configure.connect and the like: Celery signal handlers
        if e.settings_prefix and isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                if targets and all(isinstance(t, cst.Name) and t.value.startswith(e.settings_prefix)
                                   for t in targets):
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


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _commas(args: list[cst.Arg]) -> list[cst.Arg]:
    out = []
    for i, a in enumerate(args):
        a = a.with_changes(comma=cst.MaybeSentinel.DEFAULT if i == len(args) - 1 else cst.Comma(
            whitespace_after=cst.SimpleWhitespace(" ")))
        out.append(a)
    return out


def _dict_of(keywords: list[cst.Arg]) -> cst.BaseExpression | None:
    if not keywords:
        return None
    elements: list[cst.BaseDictElement] = []
    for a in keywords:
        if a.star == "**":
            elements.append(cst.StarredDictElement(a.value))
        else:
            assert a.keyword is not None
            elements.append(cst.DictElement(cst.SimpleString(_s(a.keyword.value)), a.value))
    return cst.Dict(elements)


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
    if (isinstance(args, (cst.List, cst.Tuple)) and all(isinstance(e, cst.Element) for e in args.elements)
            and len(args.elements) <= len(params) and (_is_none(kwargs) or isinstance(kwargs, cst.Dict))):
        elements: list[cst.BaseDictElement] = [
            cst.DictElement(cst.SimpleString(_s(p)), e.value) for p, e in zip(params, args.elements)]
        if isinstance(kwargs, cst.Dict):
            elements += list(kwargs.elements)
        return [cst.Arg(cst.Dict(_dict_commas(elements)))] if elements else []
    out = [] if _is_none(kwargs) else [cst.Arg(kwargs)]  # type: ignore[arg-type]
    return out + [cst.Arg(args, keyword=cst.Name("args"), equal=_EQ)]  # type: ignore[arg-type]


def _dict_commas(elements: list[cst.BaseDictElement]) -> list[cst.BaseDictElement]:
    return [e.with_changes(comma=cst.MaybeSentinel.DEFAULT if i == len(elements) - 1 else cst.Comma(
        whitespace_after=cst.SimpleWhitespace(" "))) for i, e in enumerate(elements)]


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

    def __init__(self, before: set[str], after: set[str], edit: FileEdit, new_imports: list[str]) -> None:
        self.before, self.after, self.edit = before, after, edit
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
            return updated.with_changes(names=keep, lpar=updated.lpar if len(keep) > 1 else None,
                                        rpar=updated.rpar if len(keep) > 1 else None)
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
                stmts = [cst.parse_statement(line + "\n") for line in self.new_imports]
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
                        names.add(a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name).split(".")[0])  # type: ignore[union-attr]
                elif isinstance(s, cst.Assign):
                    for t in s.targets:
                        if isinstance(t.target, cst.Name):
                            names.add(t.target.value)
    return names


def _aliases(module: cst.Module) -> dict[str, str]:
    taken = _bound_names(module) | _names_used(module)
    out = {}
    for name, home in RUNTIME_NAMES.items():
        out[name] = name if name not in taken else f"_{name}"
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
    new = [cst.parse_statement(line + "\n") for line in lines]
    body = list(module.body)
    last = -1
    for i, stmt in enumerate(body):
        if _is_import_line(stmt):
            last = i
        elif i == 0 and isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr) and \
                isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
            last = i  # the docstring
        elif last >= 0 or i > 0:
            break
    body[last + 1:last + 1] = new
    return module.with_changes(body=body)


def _is_empty(module: cst.Module) -> bool:
    """Only a docstring, imports, ``__all__`` and ``os.environ.setdefault(...)`` are left."""
    for i, stmt in enumerate(module.body):
        if _is_import_line(stmt):
            continue
        if isinstance(stmt, cst.SimpleStatementLine):
            code = cst.Module([]).code_for_node(stmt).strip()
            if i == 0 and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.SimpleString):
                continue
            if code.startswith(("os.environ.setdefault(", "__all__")):
                continue
        return False
    return True


def finalize_source(source: str, edit: FileEdit) -> FileResult:
    """Apply ``edit`` to ``source`` (the text of one module)."""
    tree = cst.parse_module(source)
    before = _names_used(tree)
    aliases = _aliases(tree)
    edits = _Edits(edit, aliases)
    new = MetadataWrapper(tree).visit(edits)
    after = _names_used(new)
    lines = _import_lines(edits.used_runtime, aliases)
    imports = _Imports(before, after, edit, lines)
    new = new.visit(imports)
    if not imports.inserted:
        new = _insert_imports(new, lines)
    new = _prune_all(new, _bound_names(new))
    if new.body and not new.header and new.body[0].leading_lines and tree.body and \
            new.body[0].leading_lines != tree.body[0].leading_lines:
        new = new.with_changes(body=[new.body[0].with_changes(leading_lines=()), *new.body[1:]])
    problems = list(edits.problems)
    for name in sorted(set(imports.dangling)):
        problems.append((1, "SM803", f"{name} came from Celery code finalize removes and is still used here"))
    for lst in edits.calls.values():
        for c in lst:
            problems.append((c.call.line, "SM802", f"{c.call.target}.{c.call.kind}(): not found where the scan saw it"))
    return FileResult(new.code, problems, _is_empty(new))


def _prune_all(module: cst.Module, bound: set[str]) -> cst.Module:
    """``__all__`` entries whose binding finalize removed (``celery_app`` in a package ``__init__``)."""

    class T(cst.CSTTransformer):
        def leave_Assign(self, original: cst.Assign, updated: cst.Assign):
            if not (len(updated.targets) == 1 and isinstance(updated.targets[0].target, cst.Name)
                    and updated.targets[0].target.value == "__all__"
                    and isinstance(updated.value, (cst.List, cst.Tuple))):
                return updated
            keep = [e for e in updated.value.elements if not (
                isinstance(e.value, cst.SimpleString) and e.value.value.strip("'\"") not in bound)]
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
    def leave_SimpleStatementLine(self, original, updated):
        return cst.RemovalSentinel.REMOVE if not updated.body else updated
