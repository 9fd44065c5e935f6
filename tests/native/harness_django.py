"""Run every task of a rewritten fixtures/native_django both ways in a fresh interpreter; print JSON.

    python harness_django.py ROOT QUEUE_MODULE CASES_JSON

Per case: the database, the mail outbox and the case's file are reset, the Celery task is called
directly (its function, in this thread), the effects are captured; reset again, then the job runs on a
real SAQ ``Worker`` built from the generated settings, and the same effects are captured.
A heartbeat coroutine on the worker's loop ticks every 5 ms all along; the longest gap between two
ticks while each job is in flight is reported, and a deliberately blocking probe job shows the
heartbeat sees a stall.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

TICK = 0.005


def main() -> None:
    root, queue_module, cases_json = sys.argv[1:4]
    sys.path.insert(0, root)
    cases = json.loads(cases_json)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()
    from django.core import mail
    from django.core.management import call_command

    from shop.catalog.models import Author, Book

    call_command("migrate", run_syncdb=True, verbosity=0)

    def reset(case: dict) -> None:
        Book.objects.all().delete()
        Author.objects.all().delete()
        ann, bob = Author.objects.create(id=1, name="Ann"), Author.objects.create(id=2, name="Bob")
        Book.objects.create(id=1, title="Alpha", stock=5, author=ann)
        Book.objects.create(id=2, title="Beta", stock=0, author=ann)
        Book.objects.create(id=3, title="Gamma", stock=2, published=False, author=bob)
        mail.outbox = []
        path = case.get("kwargs", {}).get("path")
        if path and os.path.exists(path):
            os.remove(path)

    def effects(case: dict) -> dict:
        path = case.get("kwargs", {}).get("path")
        text = None
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        return {"books": [list(r) for r in Book.objects.order_by("id").values_list("id", "title", "stock",
                                                                                   "published", "author_id")],
                "mail": [[m.subject, m.to] for m in getattr(mail, "outbox", [])], "file": text}

    out: dict = {"celery": [], "saq": [], "probe_gap": None}

    # --- the Celery function, called directly -------------------------------------------------
    for case in cases:
        reset(case)
        module_name, _, attr = case["task"].rpartition(".")
        task = getattr(importlib.import_module(module_name), attr)
        try:
            value, error = json.loads(json.dumps(task(**case.get("kwargs", {})))), None
        except Exception as exc:  # noqa: BLE001 - compared with the SAQ side
            value, error = None, type(exc).__name__
        out["celery"].append({"value": value, "error": error, "effects": effects(case)})

    # --- a real SAQ worker from the generated settings ------------------------------------------
    os.environ["SAQMIGRATE_METRICS"] = "0"
    settings = dict(importlib.import_module(queue_module).settings)
    settings["cron_jobs"] = []

    async def blocking_probe(ctx):  # the control: a coroutine that blocks the loop for 200 ms
        time.sleep(0.2)
        return "blocked"

    settings["functions"] = [*settings["functions"], ("native_probe.blocking", blocking_probe)]
    db = ThreadPoolExecutor(1)  # the ORM is never called on the loop's thread

    async def run() -> None:
        from saq import Job, Worker

        from saqmigrate.runtime.task import job_options

        loop = asyncio.get_running_loop()
        from saqmigrate.runtime.worker import make_queue

        # a queue of its own: SAQ derives its Redis keys from the name when the queue is made, so a
        # renamed generated queue would share keys with every other test's 'celery' queue
        queue = make_queue(f"{settings['queue'].name}-{uuid.uuid4().hex[:8]}")
        worker = Worker(**{**settings, "queue": queue}, timers={"schedule": 1, "sweep": 60, "abort": 1,
                                                                 "worker_info": 10})
        runner = asyncio.create_task(worker.start())
        watch = {"on": False, "gap": 0.0}

        async def heartbeat() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(TICK)
                now = time.monotonic()
                if watch["on"]:
                    watch["gap"] = max(watch["gap"], now - last - TICK)
                last = now

        beat = asyncio.create_task(heartbeat())

        async def one(function: str, kwargs: dict) -> tuple[Job, float]:
            job = Job(function=function, kwargs=kwargs, **(job_options(function) if "." in function
                                                            and not function.startswith("native_probe") else {}))
            watch["gap"], watch["on"] = 0.0, True
            await queue.enqueue(job)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                await job.refresh()
                if job.status in ("complete", "failed", "aborted"):
                    break
            watch["on"] = False
            return job, watch["gap"]

        for case in cases:
            await loop.run_in_executor(db, reset, case)
            job, gap = await one(case["task"], case.get("kwargs", {}))
            status = job.status.value if hasattr(job.status, "value") else str(job.status)
            out["saq"].append({"status": status, "value": job.result if status == "complete" else None,
                               "error": (job.error or "").strip().splitlines()[-1:] or None,
                               "sync_only": "SynchronousOnlyOperation" in (job.error or ""),
                               "effects": await loop.run_in_executor(db, effects, case),
                               "max_gap_ms": round(gap * 1000, 1)})
        job, gap = await one("native_probe.blocking", {})
        out["probe_gap"] = round(gap * 1000, 1)
        beat.cancel()
        await worker.stop()
        runner.cancel()
        await queue.disconnect()

    asyncio.run(run())
    db.shutdown()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
