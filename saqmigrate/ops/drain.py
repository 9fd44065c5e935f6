"""What still waits per task, on both sides: Celery's Redis broker (queued, unacked, ETA; read by
:func:`saqmigrate.runtime.drain.celery_waiting`, the same reading as finalize's gate) and SAQ's queues
(incomplete jobs)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime.urls import redact

if TYPE_CHECKING:
    from saqmigrate.runtime.registry import Registry


def drain_rows(names: list[str]) -> dict[str, dict[str, Any]]:
    """An empty row per task: Celery counts unknown (None) until :func:`add_celery_counts` fills them."""
    return {
        n: {
            "task": n,
            "celery_queued": None,
            "celery_unacked": None,
            "celery_max_eta": None,
            "saq_incomplete": 0,
            "saq_max_scheduled": None,
        }
        for n in names
    }


def add_celery_counts(broker_url: str, rows: dict[str, dict[str, Any]]) -> None:
    """Fill ``celery_queued``, ``celery_unacked`` and ``celery_max_eta`` of each row from Celery's Redis
    broker; a broker that does not answer raises :class:`SaqmigrateError`."""
    import redis

    from saqmigrate.runtime.drain import celery_waiting

    try:
        waiting = celery_waiting(broker_url, set(rows))
    except redis.RedisError as exc:
        raise SaqmigrateError(
            f"Celery broker at {redact(broker_url)} does not answer ({exc}); check --broker-url"
        ) from None
    for name, row in rows.items():
        w = waiting.get(name)
        row["celery_queued"], row["celery_unacked"] = (w.queued, w.unacked) if w else (0, 0)
        row["celery_max_eta"] = w.max_eta if w else None


def add_saq_counts(registry: Registry, saq_url: str, rows: dict[str, dict[str, Any]]) -> None:
    """Fill ``saq_incomplete`` and ``saq_max_scheduled`` (epoch seconds) of each row from the SAQ queues
    of its tasks; SAQ's Redis not answering raises :class:`SaqmigrateError`."""
    from saq.job import Status

    from saqmigrate.runtime.bridge import make_queue

    func_to_task = {registry.tasks[n].saq_function: n for n in rows}
    queues = sorted({registry.tasks[n].queue for n in rows})

    async def run() -> None:
        for qn in queues:
            q = make_queue(saq_url, qn)
            try:
                async for job in q.iter_jobs(statuses=[Status.NEW, Status.QUEUED, Status.ACTIVE, Status.ABORTING]):
                    t = func_to_task.get(job.function)
                    if t is None:
                        continue
                    rows[t]["saq_incomplete"] += 1
                    if job.scheduled and (rows[t]["saq_max_scheduled"] or 0) < job.scheduled:
                        rows[t]["saq_max_scheduled"] = job.scheduled
            finally:
                await q.disconnect()

    try:
        asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - any failure to read SAQ is one line for a person
        raise SaqmigrateError(f"cannot read SAQ queues at {redact(saq_url)}: {exc}; pass --saq-url") from None
