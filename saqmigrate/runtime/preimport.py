"""The modules a SAQ task body imports inside its function, imported when the worker starts.

A body that ports as written keeps its function-level imports (``from .models import Book`` inside the
task, usually there to break an import cycle). The first job to run it executes that module's top-level
code on the event loop: a module that builds a client, reads a file or imports a heavy library holds
every job of the worker for as long as that takes (once per process; the loop guard only logs it).

:func:`register` (called by :func:`saqmigrate.runtime.task.saq_task`) reads the ``IMPORT_NAME``
instructions of the task function's code and of the functions nested in it (its ``_blocking_N``
segments, comprehensions); the worker's startup hook imports each module not yet imported, before the
worker takes its first job, so the body's ``import`` finds it in ``sys.modules``. At start-up every
task module is already imported, so the cycle the function-level import breaks is closed by then.

A module that fails to import is logged (WARNING, naming the task and the module) and left to the job,
which raises as it would have (an optional dependency behind ``try: import x / except ImportError`` in
the body keeps working). ``SAQMIGRATE_PREIMPORT=0`` turns it off.

Imports nothing but the standard library: the runtime (what a production app imports) may use it.
"""

from __future__ import annotations

import dis
import importlib
import importlib.util
import logging
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

ENV = "SAQMIGRATE_PREIMPORT"

logger = logging.getLogger("saqmigrate.runtime.preimport")

# task name -> (the package relative imports resolve against, the modules its body imports)
_IMPORTS: dict[str, tuple[str | None, list[tuple[str, int, tuple[str, ...]]]]] = {}


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def local_imports(code: types.CodeType) -> list[tuple[str, int, tuple[str, ...]]]:
    """``(name, level, fromlist)`` of each ``import`` statement in ``code`` and the code nested in it."""
    out: list[tuple[str, int, tuple[str, ...]]] = []
    for c in _codes(code):
        consts: list[Any] = []
        for ins in dis.get_instructions(c):
            if ins.opname == "LOAD_CONST":
                consts.append(ins.argval)
                continue
            if ins.opname == "IMPORT_NAME" and len(consts) >= 2:
                level, fromlist = consts[-2], consts[-1]
                if isinstance(level, int):
                    names = tuple(x for x in (fromlist or ()) if isinstance(x, str) and x != "*")
                    out.append((str(ins.argval), level, names))
            consts = []
    return out


def register(fn: Callable[..., Any], name: str) -> None:
    """Remember the modules ``fn``'s body imports (saq_task calls this)."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    found = local_imports(code)
    if not found:
        return
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    package = getattr(module, "__package__", None) if module is not None else None
    _IMPORTS[name] = (package, found)


def _targets(package: str | None, name: str, level: int, fromlist: tuple[str, ...]) -> list[str]:
    base = importlib.util.resolve_name("." * level + name, package) if level else name
    # ``from pkg import mod``: mod may be a submodule, imported by the statement too
    return [base, *(f"{base}.{x}" for x in fromlist)]


def preimport() -> tuple[int, int]:
    """Import every registered module that is not imported yet; returns (imported, failed)."""
    imported = failed = 0
    for task, (package, found) in list(_IMPORTS.items()):
        for name, level, fromlist in found:
            try:
                base, *subs = _targets(package, name, level, fromlist)
            except (ImportError, ValueError) as exc:  # a relative import with no package
                logger.warning("task %s: cannot resolve its import of %r at start-up (%s)", task, name, exc)
                failed += 1
                continue
            for target in (base, *subs):
                if target in sys.modules:
                    continue
                if target is not base:  # ``from pkg import x``: x is a name of pkg, or its submodule
                    parent = sys.modules.get(base)
                    if parent is None or hasattr(parent, target.rsplit(".", 1)[1]):
                        continue
                try:
                    if target is not base and importlib.util.find_spec(target) is None:
                        continue
                    importlib.import_module(target)
                    imported += 1
                except Exception as exc:  # left to the job, which raises as it would have
                    failed += 1
                    logger.warning(
                        "task %s imports %s in its body; importing it at start-up failed (%s: %s): the job "
                        "will import it when it runs",
                        task,
                        target,
                        type(exc).__name__,
                        exc,
                    )
    return imported, failed


def hooks() -> dict[str, Callable[[dict], Any]]:
    """The ``startup`` hook for the worker settings."""

    async def startup(ctx: dict) -> None:
        imported, failed = preimport()
        if imported or failed:
            logger.info("imported %d module(s) task bodies import (%d failed) before the first job", imported, failed)

    startup.__qualname__ = "saqmigrate_preimport_startup"
    return {"startup": startup}
