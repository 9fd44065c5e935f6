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
