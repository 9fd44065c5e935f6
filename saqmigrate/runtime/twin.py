"""Tiny helpers for generated SAQ twins (no dependencies).

A twin declares the Celery task's parameters as keyword-only; optional ones default to
``UNSET`` so the Celery function's own default applies (``given`` drops them), never a
copy of the default that could drift.
"""

from __future__ import annotations

from typing import Any


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


def given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that were actually passed (``UNSET`` ones dropped)."""
    return {k: v for k, v in kwargs.items() if v is not UNSET}


def given_positional(**kwargs: Any) -> tuple[Any, ...]:
    """Positional-only parameters (``def f(a, b=1, /)``), in order, up to the first one not passed (its default
    applies, and so do the defaults after it). A later one passed after a gap cannot be expressed positionally:
    ``TypeError``, as calling ``f`` with that gap would be."""
    out = []
    missing = None
    for name, value in kwargs.items():
        if value is UNSET:
            missing = missing or name
        elif missing is not None:
            raise TypeError(f"positional-only parameter {name!r} given without {missing!r} before it")
        else:
            out.append(value)
    return tuple(out)
