"""The rewrite pipeline: scan -> plan -> render generated modules + wire the app -> changes.

``compute_changes`` is side-effect free and compiles every file it would write; ``apply_changes``
writes all of them or none (``emit.transaction``).
Generated files carry a marker line; a file at a generated path without the marker is
never overwritten. Celery task modules are never edited (rollback runs the unchanged
code); the only in-place edit is the routing hook after ``app = Celery(...)``.
"""

from __future__ import annotations

import ast
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from saqmigrate import rules as rulebook
from saqmigrate.errors import SaqmigrateError
from saqmigrate.config import Config
from saqmigrate.discover import ALWAYS_SKIP_DIRS
from saqmigrate.emit.generate import MARKER, render
from saqmigrate.emit.style import Style, same_code
from saqmigrate.plan import RewritePlan, build_plan, twin_paths
from saqmigrate.transform.app_wiring import wire_app


NO_APP = "no Celery app"  # the message prefix check's SM617 looks for


@dataclass
class Change:
    rel: str
    old: str | None  # None: a new file
    new: str | None  # None: delete

    @property
    def kind(self) -> str:
        return "create" if self.old is None else "delete" if self.new is None else "update"

    def diff(self) -> str:
        a = (self.old or "").splitlines(keepends=True)
        b = (self.new or "").splitlines(keepends=True)
        return "".join(
            difflib.unified_diff(
                a,
                b,
                f"a/{self.rel}" if self.old is not None else "/dev/null",
                f"b/{self.rel}" if self.new is not None else "/dev/null",
            )
        )


@dataclass
class RewriteResult:
    plan: RewritePlan
    changes: list[Change] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # one line each, for people
    errors: list[str] = field(default_factory=list)

    unparsed: list[str] = field(default_factory=list)  # "file: why" of each candidate file the scan could not parse

    @property
    def blocking(self) -> list[str]:
        """Errors that make ``--write`` write nothing and ``--check`` fail (a file in the way, an unreadable
        generated path, code that does not compile); a source file the scan had to skip is only reported."""
        return [e for e in self.errors if not e.endswith("(skipped)")]


class Unreadable(SaqmigrateError):
    """A path the rewrite must read is a folder, unreadable, or not UTF-8 text (one-line message)."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise Unreadable(f"{path.name} is a folder where saqmigrate writes a file") from None
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8 text") from None
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None


def compute_changes(
    root: Path,
    config: Config | None = None,
    *,
    mode: str | None = None,
    only: str | None = None,
    use_cache: bool = False,
    wire: bool = True,
    index=None,
    live: dict | None = None,
) -> RewriteResult:
    """``index``: an already computed scan of ``root`` (``check`` passes its own to avoid a second scan).
    ``mode`` None: the mode the existing generated code records (``NATIVE_MARKER``), else bridge.

    The scan cache is not used by default: generated text is always derived from the source files
    themselves, never from a cache file someone could have edited (``use_cache=True`` is for callers
    that only compare, such as ``check``)."""
    from saqmigrate.scan import run_scan

    root = root.resolve()
    if index is None:
        index, _ = run_scan(root, config or Config(), use_cache=use_cache, live=live)
    generated = _existing_generated(root, index)  # from the scan, shared by the three uses below
    if mode is None:
        mode = recorded_mode(root, generated)
    keep = None
    if only:  # modules migrated by earlier runs stay registered
        keep = {t.module for t in index.tasks if twin_paths(t.module, t.file)[1] in generated}
    plan = build_plan(index, mode=mode, only=only, keep=keep)
    plan.style = Style.from_project(root)
    app_note = _factory_app_entry(root, index, plan, config)
    result = RewriteResult(plan)
    if app_note:
        result.messages.append(app_note)
    if mode == "native":
        _port_natively(root, plan, result, index)
    for e in index.errors:
        result.errors.append(f"{e.file}: {e.message} (skipped)")
        if e.file.endswith((".py", ".pyw")):  # a file with Celery trigger words: tasks in it would be missed
            result.unparsed.append(f"{e.file}: {e.message}")
    files = render(plan)
    for rel, new in sorted(files.items()):
        try:
            old = _read(root / rel)
        except Unreadable as exc:
            result.errors.append(f"{rel}: {exc}; not overwritten (move it away)")
            continue
        if old is not None and MARKER not in old:
            result.errors.append(
                f"{rel}: exists and was not generated by saqmigrate; not overwritten "
                "(move it away, or exclude its tasks with --only)"
            )
            continue
        if not same_code(old, new):  # a formatter run on a generated file is not a change
            result.changes.append(Change(rel, old, new))
    # generated files that are no longer produced (task renamed or deleted) go away
    if only is None:
        pkg = f"{plan.package_rel}/"
        for rel in sorted(set(generated) | set(_generated_in(root / plan.package_rel, root))):
            if rel not in files and (rel.endswith("_saq.py") or rel.startswith(pkg)):
                try:
                    result.changes.append(Change(rel, _read(root / rel), None))
                except Unreadable as exc:
                    result.errors.append(f"{rel}: {exc}")
    if wire and plan.app_module and plan.app_var and (plan.modules or plan.queues):
        app_file = next((a.file for a in index.apps if a.module == plan.app_module and a.name == plan.app_var), None)
        if app_file:
            try:
                old = _read(root / app_file)
            except Unreadable as exc:
                result.errors.append(f"{app_file}: {exc}; the routing hook was not added")
                old = None
            if old is not None:
                wired = wire_app(old, plan.app_var, f"{plan.package}.routing", plan.style.limit)
                if wired.changed:
                    result.changes.append(Change(app_file, old, wired.code))
                if wired.message:
                    result.messages.append(f"{app_file}: {wired.message}")
    elif wire and not plan.app_module and (plan.modules or plan.queues):
        result.messages.append(
            f"{NO_APP}: no `app = Celery(...)` that rewrite can wire was found (an app from "
            f"current_app or an extension?); add `from {plan.package}.routing import install` and "
            "`install(app)` where the app is configured, or no dispatch can move to SAQ"
        )
    for what, why in plan.skipped:
        result.messages.append(f"not migrated: {what} — {why}")
    result.changes.sort(key=lambda c: c.rel)
    _compile_gate(result)
    return result


def _factory_app_entry(root: Path, index, plan: RewritePlan, config: Config | None) -> str | None:
    """The module SAQ workers import to create the Celery app, as ``celery -A`` does: the app's own module,
    or for a factory-built app (Flask's ``celery_init_app``) the module calling the factory at import;
    when that is unknown, or a choice among several, rewrite says so (SM120)."""
    from saqmigrate.index.entry import find_app_entry

    app = next((a for a in index.apps if a.module == plan.app_module and a.name == plan.app_var), None)
    if app is None or not plan.queues:
        return None
    if not app.in_function:
        plan.celery_app_module = app.module
        return None
    found = find_app_entry(root, app.file, app.line, config)
    plan.celery_app_module = found.module
    sm120 = rulebook.get("SM120")  # the words are the scan's finding's (data/rules/SM120.toml)
    if found.module and found.why:
        return "SM120: " + sm120.render("chosen", {"why": found.why})
    if not found.module:
        return "SM120: " + sm120.render("unknown", {"file": app.file, "line": app.line, "why": found.why})
    return None


def _compiles(rel: str, text: str) -> str | None:
    try:
        compile(text, rel, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{exc.msg} at line {exc.lineno}"
    except ValueError as exc:  # NUL bytes
        return str(exc)
    return None


def _compile_gate(result: RewriteResult) -> None:
    """Every Python file rewrite would write must compile; one that does not blocks the whole write.
    (The project's own file is held to this only when it compiled before the edit.)"""
    for c in result.changes:
        if c.new is None or not c.rel.endswith(".py"):
            continue
        why = _compiles(c.rel, c.new)
        if why is None:
            continue
        if c.old is not None and MARKER not in c.old and _compiles(c.rel, c.old) is not None:
            continue
        result.errors.append(
            f"{c.rel}: the generated code does not compile ({why}); nothing is written "
            "(a saqmigrate defect: please report it with this line)"
        )


def _module_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
    return names


def _params_src(task, module_names: set[str]) -> str | None:
    parts: list[str] = []
    for p in task.params:
        if p.kind == "var_positional" or p.kind == "positional_only":
            return None
        if p.kind == "var_keyword":
            parts.append(f"**{p.name}")
            continue
        if not p.has_default:
            parts.append(p.name)
        elif isinstance(p.default, dict) and "dynamic" in p.default:
            src = p.default["dynamic"]
            if not (src.isidentifier() and src in module_names):
                return None
            parts.append(f"{p.name}=_celery.{src}")
        else:
            parts.append(f"{p.name}={p.default!r}")
    return ", ".join(parts)


def _source_roots(root: Path, plan: RewritePlan) -> list[Path]:
    """Where the project's modules are imported from: the scan root, and the folder each task module's
    dotted name is relative to (``src/`` layouts)."""
    roots = [root]
    for m in plan.modules:
        for tw in m.twins:
            parts = tw.task.module.split(".")
            path = Path(tw.task.file).with_suffix("")
            if path.name == "__init__":
                path = path.parent
            if tuple(path.parts[len(path.parts) - len(parts) :]) == tuple(parts):
                base = root.joinpath(*path.parts[: len(path.parts) - len(parts)])
                if base not in roots:
                    roots.append(base)
    return roots


def _port_natively(root: Path, plan: RewritePlan, result: RewriteResult, index=None) -> None:
    """Port each task body as the prover plans it (``transform/native.py``: ported, partly ported through
    ``sync_to_async`` segments, or bridged with an SM113 line naming the first blocking call)."""
    from saqmigrate.transform.native import native_prover, port_tasks

    prover = native_prover(root, _source_roots(root, plan), django=plan.django, index=index)
    port_tasks(root, plan, result.messages, prover=prover, params_src=_params_src, module_names_of=_module_level_names)


def recorded_mode(root: Path, generated: list[str] | None = None) -> str:
    """``native`` when the generated twins were written with ``--mode native``, else ``bridge``."""
    from saqmigrate.emit.generate import NATIVE_MARKER_PREFIX

    for rel in generated if generated is not None else _existing_generated(root, None):
        if rel.endswith("_saq.py"):
            try:
                if NATIVE_MARKER_PREFIX in (root / rel).read_text(encoding="utf-8")[:2048]:
                    return "native"
            except (OSError, UnicodeDecodeError):
                continue
    return "bridge"


def _is_generated(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return MARKER in fh.read(2048)
    except (OSError, UnicodeDecodeError):
        return False


def _generated_in(folder: Path, root: Path) -> list[str]:
    """Generated files directly in ``folder`` (the worker package)."""
    if not folder.is_dir():
        return []
    return [p.relative_to(root).as_posix() for p in folder.glob("*.py") if _is_generated(p)]


def _existing_generated(root: Path, index=None) -> list[str]:
    """Generated ``*_saq.py`` twin modules and worker-package files already in the tree.

    With a scan ``index`` the twin modules come from the files the scan indexed (they import
    ``_celery``, a trigger word, so they are always indexed) instead of a second walk of the tree;
    the worker package is listed by ``_generated_in``.
    """
    if index is not None:
        return sorted(rel for rel in index.indexed_files if rel.endswith("_saq.py") and _is_generated(root / rel))
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ALWAYS_SKIP_DIRS and not d.endswith(".egg-info")]
        for f in filenames:
            if f.endswith("_saq.py") or (f.endswith(".py") and os.path.basename(dirpath) == "saq_worker"):
                p = Path(dirpath) / f
                if _is_generated(p):
                    out.append(p.relative_to(root).as_posix())
    return sorted(out)


def write_order(changes: list[Change]) -> list[Change]:
    """Generated modules first (twins, then the worker package), deletions of stale generated files
    next, in-place edits of the project's own files (the app module's routing hook) last: a run killed
    between two renames leaves an app that still imports."""

    def key(c: Change) -> tuple[int, str]:
        own = c.old is not None and MARKER not in c.old and c.new is not None
        return (2 if own else 1 if c.new is None else 0, c.rel)

    return sorted(changes, key=key)


def apply_changes(root: Path, changes: list[Change], done: list[Change] | None = None) -> list[str]:
    """Write every change or none (``emit.transaction``); returns one-line errors, empty on success.
    ``done`` (if given) receives the changes that were made, in the order they were made."""
    from saqmigrate.emit.transaction import TransactionError, Write, commit

    ordered = write_order(changes)
    try:
        commit(root, [Write(root / c.rel, c.new, c.old) for c in ordered])
    except TransactionError as exc:
        return exc.problems
    if done is not None:
        done.extend(ordered)
    return []
