"""Numbers the runtime reads from the environment (buffer sizes, waits, limits).

Imports nothing but the standard library: the runtime (what a production app imports) may use it.
"""

from __future__ import annotations

import logging
import os

_WARNED: set[tuple[str, str]] = set()


def env_number(name: str, default: float) -> float:
    """A positive number from the environment; a value that is not one is named in one WARNING per
    process and the default used (these only size buffers, waits and windows: the process still starts)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    if (name, raw) not in _WARNED:
        _WARNED.add((name, raw))
        logging.getLogger("saqmigrate.runtime").warning("%s=%r is not a positive number: using %s", name, raw, default)
    return default
