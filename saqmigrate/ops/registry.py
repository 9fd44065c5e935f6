"""The registry module ``saqmigrate rewrite`` generated (``<app package>/saq_worker/registry.py``)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from saqmigrate.errors import SaqmigrateError

if TYPE_CHECKING:
    from saqmigrate.runtime.registry import Registry

#: Where ``rewrite`` puts the registry, relative to the project folder (a package, or src/ layout).
REGISTRY_PATTERNS = (
    "saq_worker/registry.py",
    "*/saq_worker/registry.py",
    "*/*/saq_worker/registry.py",
    "src/*/saq_worker/registry.py",
)


def find_registry(root: Path | str = ".") -> str | None:
    """The dotted module name of the one generated registry under ``root`` (a file carrying
    saqmigrate's generated marker), or None when there is none or more than one. The folder that
    holds its package (``root``, or ``root/src``) goes on ``sys.path`` so the module imports."""
    from saqmigrate.markers import GENERATED

    base = Path(root)
    found = set()
    for pattern in REGISTRY_PATTERNS:
        for p in base.glob(pattern):
            try:
                if GENERATED in p.read_text(encoding="utf-8")[:2048]:
                    found.add(p.relative_to(base))
            except (OSError, UnicodeDecodeError):
                continue
    if len(found) != 1:
        return None
    parts = list(next(iter(found)).with_suffix("").parts)
    folder = str(base)
    if parts[0] == "src":
        folder, parts = str(base / "src") if str(base) != "." else "src", parts[1:]
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return ".".join(parts)


def load_registry(name: str) -> Registry:
    """Import the registry module ``name`` (the current folder on ``sys.path``, as ``celery -A`` has it);
    a module that is missing, raises while importing or is not a registry raises :class:`SaqmigrateError`."""
    from saqmigrate.runtime.registry import Registry, RegistryError

    if "." not in sys.path:
        sys.path.insert(0, ".")
    try:
        with warnings.catch_warnings():  # importing the app package may warn (Celery's Django fixup)
            warnings.simplefilter("ignore")
            return Registry.load(name)
    except RegistryError as exc:
        raise SaqmigrateError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the module raised while importing: one line, not a traceback
        raise SaqmigrateError(f"registry module {name!r} failed to import: {type(exc).__name__}: {exc}") from None
