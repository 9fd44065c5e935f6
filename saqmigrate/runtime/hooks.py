"""Compose SAQ worker lifecycle hooks.

SAQ's ``Worker`` has one slot per hook (``startup``, ``shutdown``, ``before_process``,
``after_process``). saq 0.26 also accepts a list there, but runs the list with no
isolation: the first ``after_process`` hook that raises stops the others (a broken metrics
hook would silently disable dead-lettering). :func:`chain` and :func:`merge_hooks` give the
generated worker settings one place to install the dead-letter queue, metrics and the
app's own hooks together::

    from saqmigrate.runtime.hooks import merge_hooks
    settings = merge_hooks(
        {"queue": queue, "functions": [...], "startup": app_startup},
        dead_letters.hooks(),
        metrics.hooks(),
    )

Semantics, per hook kind:

* ``startup`` and ``before_process``: run in order; the first exception propagates (SAQ
  fails the job when ``before_process`` raises, and the app may rely on that).
* ``after_process`` and ``shutdown``: every hook runs; exceptions are logged and the first
  one is re-raised after all have run (SAQ logs it).
* ``shutdown`` hooks of later sets run first (last installed, first torn down).
* Sync callables run in a worker thread (as SAQ runs them); async ones are awaited.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

logger = logging.getLogger("saqmigrate.runtime.hooks")

HOOK_KINDS = ("startup", "shutdown", "before_process", "after_process")
_RUN_ALL = {"after_process", "shutdown"}

Hook = Callable[[dict], Any]


def _flatten(hooks: Iterable[Any]) -> list[Hook]:
    out: list[Hook] = []
    for h in hooks:
        if h is None:
            continue
        if callable(h):
            out.append(h)
        elif isinstance(h, (list, tuple)):
            out.extend(_flatten(h))
        else:
            raise TypeError(f"worker hook must be a callable or a list of callables, got {type(h).__name__}")
    return out


async def _call(hook: Hook, ctx: dict) -> None:
    if inspect.iscoroutinefunction(hook):
        await hook(ctx)
        return
    result = await asyncio.to_thread(hook, ctx)
    if inspect.isawaitable(result):
        await result


def chain(*hooks: Any, run_all: bool = False, name: str = "chained") -> Hook | None:
    """One async hook that runs ``hooks`` in order (``None`` entries and nesting allowed).

    ``run_all=False``: stop at and raise the first exception. ``run_all=True``: run every
    hook, log each failure, raise the first one at the end. Returns ``None`` when there is
    nothing to run, so the result can go straight into worker settings.
    """
    flat = _flatten(hooks)
    if not flat:
        return None
    if len(flat) == 1 and not run_all and inspect.iscoroutinefunction(flat[0]):
        return flat[0]

    async def chained(ctx: dict) -> None:
        first: BaseException | None = None
        for hook in flat:
            if not run_all:
                await _call(hook, ctx)
                continue
            try:
                await _call(hook, ctx)
            except Exception as exc:  # isolate: the next hook still runs
                logger.exception("worker hook %s failed", getattr(hook, "__qualname__", hook))
                if first is None:
                    first = exc
        if first is not None:
            raise first

    chained.__qualname__ = chained.__name__ = f"{name}[{', '.join(getattr(h, '__qualname__', repr(h)) for h in flat)}]"
    chained.hooks = tuple(flat)  # type: ignore[attr-defined]
    return chained


def merge_hooks(settings: Mapping[str, Any], *hook_sets: Mapping[str, Any] | None) -> dict:
    """Return a copy of worker ``settings`` with each hook kind composed from the settings'
    own hook(s) first, then each of ``hook_sets`` in order (``shutdown`` in reverse)."""
    unknown = {k for hs in hook_sets if hs for k in hs} - set(HOOK_KINDS)
    if unknown:
        raise ValueError(f"unknown worker hook kind(s) {sorted(unknown)}; expected {', '.join(HOOK_KINDS)}")
    merged = dict(settings)
    for kind in HOOK_KINDS:
        parts = [settings.get(kind)] + [hs.get(kind) for hs in hook_sets if hs]
        if kind == "shutdown":
            parts = parts[::-1]  # the app's own shutdown runs last, as its startup ran first
        hook = chain(*parts, run_all=kind in _RUN_ALL, name=kind)
        if hook is None:
            merged.pop(kind, None)
        else:
            merged[kind] = hook
    return merged
