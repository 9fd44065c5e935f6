"""The cockpit's writes, shared by the dashboard: every one an audited flag-store write (the same
``FlagStore`` methods ``saqmigrate route`` calls), with the operator's reason."""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Any

from saqmigrate.cockpit import ramp as R
from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime import flags as F


class ActionError(SaqmigrateError, ValueError):
    """A refused write; one line for a person."""


def _reason(reason: Any) -> str:
    text = str(reason or "").strip()
    if not text:
        raise ActionError("a reason is required for every change (it goes into the audit stream)")
    return text


def kill(store: F.FlagStore, reason: str, *, actor: str, argv: list[str]) -> dict[str, Any]:
    """``route kill``: every dispatch and schedule to Celery, every ramp plan paused."""
    reason = _reason(reason)
    before = store.snapshot()
    if before.mode == "force-celery" and "mode" not in before.bad:
        return {"ok": True, "version": before.version, "change": None, "message": "kill switch already ON"}
    version = store.set_mode("force-celery", reason=reason, actor=actor, argv=argv)
    paused = R.pause_all(store, reason=f"kill switch: {reason}", actor=actor, argv=argv)
    return {
        "ok": True,
        "version": version,
        "change": "kill switch ON",
        "paused": paused,
        "message": f"kill switch ON (version {version})" + (f"; ramps paused: {', '.join(paused)}" if paused else ""),
    }


def unkill(store: F.FlagStore, reason: str, *, actor: str, argv: list[str]) -> dict[str, Any]:
    reason = _reason(reason)
    before = store.snapshot()
    if before.mode == "normal" and "mode" not in before.bad:
        return {"ok": True, "version": before.version, "change": None, "message": "kill switch already OFF"}
    version = store.set_mode("normal", reason=reason, actor=actor, argv=argv)
    return {
        "ok": True,
        "version": version,
        "change": "kill switch OFF",
        "message": f"kill switch OFF (version {version}); paused ramps stay paused until resumed",
    }


def pause_ramp(store: F.FlagStore, task: str, reason: str, *, actor: str, argv: list[str]) -> dict[str, Any]:
    try:
        plan, version = R.pause(store, str(task), reason=_reason(reason), actor=actor, argv=argv)
    except R.RampError as exc:
        raise ActionError(str(exc)) from None
    return {
        "ok": True,
        "version": version,
        "message": f"ramp of {task} {plan.state}" + ("" if version is not None else " already; nothing written"),
    }


def resume_ramp(
    store: F.FlagStore,
    task: str,
    reason: str,
    *,
    actor: str,
    argv: list[str],
    registry: Any = None,
    saq_url: str | None = None,
) -> dict[str, Any]:
    """``route ramp TASK --resume``: resuming routes TASK to SAQ again, so it makes the check starting a ramp
    and ``route set ... saq`` make (:func:`live_worker_problems`); the page has no ``--force``."""
    reason = _reason(reason)
    from saqmigrate.runtime.urls import saq_redis_url

    problems = live_worker_problems(registry, saq_redis_url(saq_url), str(task or ""))
    if problems:
        raise ActionError("refusing to resume the ramp to SAQ: " + "; ".join(problems))
    try:
        plan, version = R.resume(store, str(task), reason=reason, actor=actor, argv=argv)
    except R.RampError as exc:
        raise ActionError(str(exc)) from None
    return {
        "ok": True,
        "version": version,
        "message": f"ramp of {task} {plan.state} at {plan.percent:g}%"
        + ("" if version is not None else " already; nothing written"),
    }


def live_worker_problems(registry: Any, saq_url: str, pattern: str) -> list[str]:
    """What forbids sending ``pattern`` to SAQ now (the check ``route set ... saq``, ``route ramp`` and
    ``route ramp --resume`` make): every matching task needs a live SAQ worker on its queue advertising its
    SAQ function, and no Celery option SAQ cannot honour."""
    from saqmigrate.runtime.bridge import make_queue
    from saqmigrate.runtime.registry import METADATA_KEY

    if registry is None:
        return [
            f"no registry: the SAQ function and queue of {pattern!r} are unknown (start the dashboard with --registry)"
        ]
    names = [n for n in registry.tasks if n == pattern or fnmatch.fnmatchcase(n, pattern)]
    if not names:
        return [f"{pattern!r} matches no task in the registry"]

    async def functions(queue: str) -> dict[str, list[str]]:
        q = make_queue(saq_url, queue)
        try:
            info = await q.info()
        finally:
            await q.disconnect()
        return {
            str(wid): list(((w or {}).get("metadata") or {}).get(METADATA_KEY, {}).get("functions") or [])
            for wid, w in (info.get("workers") or {}).items()
        }

    problems: list[str] = []
    seen: dict[str, dict[str, list[str]]] = {}
    for n in names:
        e = registry.tasks[n]
        if getattr(e, "unsupported", None):
            problems.append(
                f"{n} uses Celery options SAQ cannot honour ({', '.join(sorted(e.unsupported))}); "
                "its dispatches stay on Celery whatever the flag says"
            )
        if e.queue not in seen:
            try:
                seen[e.queue] = asyncio.run(functions(e.queue))
            except Exception as exc:  # noqa: BLE001
                return [f"cannot read the SAQ workers of queue {e.queue!r}: {exc}"]
        workers = seen[e.queue]
        if not workers:
            problems.append(f"no live SAQ worker on queue {e.queue!r}")
        elif not any(e.saq_function in funcs for funcs in workers.values()):
            problems.append(f"no live SAQ worker on queue {e.queue!r} serves {e.saq_function!r}")
    return problems


def set_route(
    store: F.FlagStore,
    task: str,
    backend: str,
    percent: Any,
    reason: str,
    *,
    actor: str,
    argv: list[str],
    registry: Any = None,
    saq_url: str | None = None,
) -> dict[str, Any]:
    """``route set TASK celery|saq [--percent P]``; to SAQ only with a live SAQ worker for it."""
    reason = _reason(reason)
    task = str(task or "").strip()
    if not task:
        raise ActionError("a task name or pattern is required")
    try:
        bp = F.parse_percent(percent) if percent not in (None, "") else None
        F.make_rule(backend, bp)
    except F.FlagError as exc:
        raise ActionError(str(exc)) from None
    if bp == 0 and float(percent) > 0:  # stored in basis points: 1e-9 % would be 0 % to SAQ, said as "saq"
        raise ActionError(f"--percent {percent} rounds to 0 % (a rule is stored in 0.01 % steps): use at least 0.01")
    if backend == F.SAQ and (bp is None or bp > 0):
        from saqmigrate.runtime.urls import saq_redis_url

        problems = live_worker_problems(registry, saq_redis_url(saq_url), task)
        if problems:
            raise ActionError("refusing to route to SAQ: " + "; ".join(problems))
    before = store.snapshot()
    version = store.set_rule(task, backend, bp, reason=reason, expected_version=before.version, actor=actor, argv=argv)
    shown = f"saq {bp / 100:g}%" if backend == F.SAQ and bp is not None and bp < F.FULL_BP else backend
    return {"ok": True, "version": version, "message": f"{task} -> {shown} (version {version})"}
