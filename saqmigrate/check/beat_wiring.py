"""SM638: would the project's ``celery beat`` consult schedule ownership? (read statically)

Beat consults ownership when

* ``beat_scheduler`` names a saqmigrate scheduler (``saqmigrate.runtime.beat:RoutedScheduler``), or
* the app is wired: the generated ``routing.py`` calls ``install_ownership(app)`` and the
  project imports it (the hook ``rewrite`` puts in the app module), or project code calls
  ``install_ownership(`` itself. Then any ``celery.beat.Scheduler`` whose ``tick()`` is
  Celery's or django-celery-beat's gets ``OwnershipMixin`` at run time — whether it comes
  from the settings or ``-S`` on the command line.

A custom scheduler class found in the project that overrides ``tick()`` without
``OwnershipMixin`` in its bases is reported even when wired: the mixin checks ownership in
``apply_entry()``, and a custom ``tick()`` may publish without it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from saqmigrate.check.base import is_generated_path

ROUTED_PREFIX = "saqmigrate.runtime.beat"
KNOWN_SAFE = {
    "celery.beat:PersistentScheduler",
    "celery.beat.PersistentScheduler",
    "celery.beat:Scheduler",
    "celery.beat.Scheduler",
    "django",
    "django_celery_beat.schedulers:DatabaseScheduler",
    "django_celery_beat.schedulers.DatabaseScheduler",
}
MIXIN = "OwnershipMixin"


@dataclass
class WiringProblem:
    file: str
    line: int
    message: str  # why beat ignores ownership, and exactly what to add


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _project_files(ctx) -> list[str]:
    from saqmigrate.discover import discover

    try:
        return [
            rel
            for rel in discover(ctx.root, exclude=ctx.config.exclude, include=ctx.config.include).files
            if not is_generated_path(rel)
        ]
    except OSError:
        return []


def _imports_routing(text: str, package: str) -> bool:
    """Does this file import the generated routing module (any form the hook was written in)?"""
    if f"{package}.routing" in text:  # from pkg.saq_worker.routing import install as _saqmigrate_install
        return True
    if "routing" not in text or package not in text:
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(
        isinstance(n, ast.ImportFrom) and n.module == package and any(a.name == "routing" for a in n.names)
        for n in ast.walk(tree)
    )  # from pkg.saq_worker import routing as _saqmigrate_routing


def _is_wired(ctx, files: list[str]) -> tuple[bool, str]:
    plan = ctx.rewrite.plan
    routing_rel = f"{plan.package_rel}/routing.py"
    routing = _read(ctx.root / routing_rel) or ""
    generated_wires = "install_ownership(" in routing
    hook_imported = False
    for rel in files:
        text = _read(ctx.root / rel)
        if not text:
            continue
        if "install_ownership(" in text:
            return True, ""
        if _imports_routing(text, plan.package):
            hook_imported = True
    if hook_imported and generated_wires:
        return True, ""
    if hook_imported:
        return False, (
            f"{routing_rel} predates automatic beat wiring (it does not call install_ownership): "
            "run `saqmigrate rewrite --write`"
        )
    return False, (
        f"the Celery app module does not call the routing hook {plan.package}.routing.install(app): "
        "run `saqmigrate rewrite --write` (or add the two lines it generates after `app = Celery(...)`)"
    )


def _split(value: str) -> tuple[str, str] | None:
    if ":" in value:
        mod, _, cls = value.partition(":")
    elif "." in value:
        mod, _, cls = value.rpartition(".")
    else:
        return None
    return (mod, cls) if mod and cls.isidentifier() else None


def _custom_class_problem(ctx, value: str) -> str | None:
    """Why the custom scheduler ``value`` cannot be trusted to go through apply_entry, if we can tell."""
    parts = _split(value)
    if parts is None:
        return None
    mod, cls = parts
    base = ctx.root / Path(*mod.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        text = _read(path)
        if text is None:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        for node in tree.body:
            if not (isinstance(node, ast.ClassDef) and node.name == cls):
                continue
            bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", None) for b in node.bases}
            if MIXIN in bases:
                return None
            if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "tick" for n in node.body):
                base_txt = ", ".join(ast.unparse(b) for b in node.bases) or "Scheduler"
                return (
                    f"{cls} ({path.relative_to(ctx.root).as_posix()}:{node.lineno}) overrides tick(), so "
                    "saqmigrate cannot tell that every due entry goes through apply_entry(), where ownership "
                    f"is checked: declare `class {cls}(OwnershipMixin, {base_txt})` (from "
                    "saqmigrate.runtime.beat import OwnershipMixin) and publish each due entry with "
                    "self.apply_entry(entry, producer=self.producer) in tick()"
                )
        return None
    return None  # not in the project: resolved and mixed in at run time (a warning if unsafe)


def beat_wiring_problem(ctx, scheduler) -> WiringProblem | None:
    """None when beat consults ownership; else where and why not (``scheduler``: the
    ``beat_scheduler`` Setting, or None when unset)."""
    value = scheduler.value if scheduler is not None else None
    if isinstance(value, str) and value.startswith(ROUTED_PREFIX):
        return None
    files = _project_files(ctx)
    wired, why = _is_wired(ctx, files)
    plan = ctx.rewrite.plan
    app = next((a for a in ctx.index.apps if a.module == plan.app_module and not is_generated_path(a.file)), None)
    where = (
        (scheduler.file, scheduler.line)
        if scheduler is not None
        else ((app.file, app.line) if app else (f"{plan.package_rel}/routing.py", 1))
    )
    shown = f"beat_scheduler = {value!r}" if scheduler is not None else "Celery's default beat scheduler"
    if not wired:
        return WiringProblem(*where, f"{shown} does not consult schedule ownership, because {why}")
    if isinstance(value, str) and value not in KNOWN_SAFE:
        custom = _custom_class_problem(ctx, value)
        if custom:
            return WiringProblem(*where, f"{shown}: {custom}")
    return None
