"""Live SAQ workers: which functions they serve (the check before routing a task to SAQ), and the SAQ
cron jobs to abort when a schedule moves back to Celery."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from saqmigrate.errors import SaqmigrateError
from saqmigrate.ops.routes import matching_tasks
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.urls import redact

if TYPE_CHECKING:
    from saqmigrate.runtime.registry import Registry


def live_functions(saq_url: str, queue_name: str) -> dict[str, list[str]]:
    """Worker id -> the functions it advertises (``Worker(metadata=worker_metadata(...))``) on
    ``queue_name``; SAQ's Redis not answering raises :class:`SaqmigrateError`."""
    from saqmigrate.runtime.bridge import make_queue
    from saqmigrate.runtime.registry import METADATA_KEY

    async def info() -> dict:
        q = make_queue(saq_url, queue_name)
        try:
            return await q.info()
        finally:
            await q.disconnect()

    try:
        data = asyncio.run(info())
    except Exception as exc:  # noqa: BLE001 - any failure to read SAQ is one line for a person
        raise SaqmigrateError(
            f"cannot read SAQ workers of queue {queue_name!r} at {redact(saq_url)}: {exc}; pass --saq-url"
        ) from None
    out = {}
    for wid, winfo in (data.get("workers") or {}).items():
        meta = (winfo or {}).get("metadata") or {}
        out[str(wid)] = list((meta.get(METADATA_KEY) or {}).get("functions") or [])
    return out


def worker_problems(registry: Registry | None, registry_name: str | None, pattern: str, saq_url: str) -> list[str]:
    """What forbids sending ``pattern`` (a task name or glob) to SAQ now; an empty list: nothing.
    Every matching task needs a live SAQ worker on its queue that advertises its SAQ function, and
    no Celery option SAQ cannot honour."""
    if registry is None:
        return [
            f"no --registry given, so the SAQ function and queue of {pattern!r} are unknown "
            "(run it from the project folder, where `saqmigrate rewrite` generated <app package>/saq_worker/"
            "registry.py, or pass --registry <app package>.saq_worker.registry, or --force)"
        ]
    names = matching_tasks(registry, pattern)
    if not names:
        return [f"{pattern!r} matches no task in registry {registry_name} (typo? or --force)"]
    problems = []
    by_queue: dict[str, dict[str, list[str]]] = {}
    for n in names:
        e = registry.tasks[n]
        if e.unsupported:
            problems.append(
                f"{n} uses Celery options SAQ cannot honour ({', '.join(sorted(e.unsupported))}); "
                "its dispatches stay on Celery whatever the flag says"
            )
        if e.queue not in by_queue:
            by_queue[e.queue] = live_functions(saq_url, e.queue)
        workers = by_queue[e.queue]
        if not workers:
            problems.append(f"no live SAQ worker on queue {e.queue!r} (start one, or --force)")
        elif not any(e.saq_function in funcs for funcs in workers.values()):
            problems.append(
                f"no live SAQ worker on queue {e.queue!r} advertises {e.saq_function!r} "
                f"(deploy it with Worker(metadata=worker_metadata(functions)), or --force)"
            )
    return problems


def abort_moved_crons(registry: Registry | None, saq_url: str, before: F.Snapshot, after: F.Snapshot) -> list[str]:
    """Abort the already-scheduled SAQ cron job of every schedule whose owner went SAQ -> Celery between
    ``before`` and ``after``; returns the names of the schedules whose job was aborted. Raises what
    SAQ's Redis raises (the SAQ cron guard skips such jobs anyway: callers may only warn)."""
    if registry is None:
        return []
    from saqmigrate.runtime.bridge import make_queue
    from saqmigrate.runtime.ownership import abort_pending_cron

    moved = [
        s
        for s in registry.schedules.values()
        if s.cron_function
        and F.schedule_owner(before, s.name, s.task)[0] == F.SAQ
        and F.schedule_owner(after, s.name, s.task)[0] == F.CELERY
    ]
    if not moved:
        return []

    async def run() -> list[str]:
        done = []
        for s in moved:
            q = make_queue(saq_url, s.queue)
            try:
                if await abort_pending_cron(q, s):
                    done.append(s.name)
            finally:
                await q.disconnect()
        return done

    return asyncio.run(run())
