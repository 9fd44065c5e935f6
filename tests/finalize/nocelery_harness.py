"""Run a finalized pydotorg fixture's former call sites in an interpreter where Celery cannot be imported.

    python nocelery_harness.py ROOT

A real SAQ Worker from the finalized settings runs what the call sites enqueue (signal handlers, a
view with send_job, a task enqueueing another); prints JSON: the effects recorded and each result.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import io
import json
import os
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

BLOCKED = ("celery", "kombu", "billiard", "django_celery_beat", "django_celery_results")


class _NoCelery(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: Celery is uninstalled)", name=name)
        return None


def main() -> None:
    sys.meta_path.insert(0, _NoCelery())
    root = sys.argv[1]
    sys.path.insert(0, root)
    effects = os.path.join(tempfile.mkdtemp(), "effects")
    os.environ["SAQMIGRATE_EFFECTS"] = effects
    os.environ["SAQMIGRATE_METRICS"] = "0"
    settings_mod = importlib.import_module("pydotorg.saq_worker.queue_celery")  # also django.setup()
    settings = dict(settings_mod.settings)
    settings["cron_jobs"] = []

    from django.test import RequestFactory

    results: list = []
    crons: list = []
    effects_of_calls: list = []

    def call_sites() -> None:  # sync code, as Django runs it
        from cms.signals import refresh_page_cache
        from downloads.signals import purge_download_boxes
        from downloads.views import refresh_boxes
        from events.tasks import import_all_calendars

        purge_download_boxes(sender=None, instance=SimpleNamespace(is_published=True))
        refresh_page_cache(sender=None, instance=SimpleNamespace(cache_key="homepage"))
        response = refresh_boxes(RequestFactory().post("/boxes/refresh"))
        results.append(("view", response.status_code, json.loads(response.content)["task_id"] is not None))
        results.append(("inline", import_all_calendars()))  # runs here; enqueues import_events per calendar

        from django.core.management import call_command
        from downloads.api import refresh_boxes_async

        response = asyncio.run(refresh_boxes_async(RequestFactory().post("/boxes/refresh")))  # an async view
        results.append(("async_view", response.status_code, json.loads(response.content)["task_id"] is not None))
        out = io.StringIO()
        call_command("refresh_boxes", stdout=out)  # a management command
        results.append(("command", out.getvalue().startswith("queued ")))
        from jobs.tasks import expire_jobs, send_job_email
        from pydotorg.celery import debug_task

        results.append(("mail", send_job_email.enqueue(job_id=7).get(timeout=20) is not None))  # the rest of
        debug_task.enqueue()  # the tasks, enqueued directly (ignore_result: no result to read, only its effect)
        results.append(("debug", True))

        late = expire_jobs.enqueue_with({"postings": []}, countdown=60)  # not due for a minute
        try:
            late.get(timeout=0.5)
        except TimeoutError:  # without Celery installed, SaqResult.get raises the builtin TimeoutError
            results.append(("timeout", True))

    async def run() -> None:
        from saq import Worker

        queue = settings["queue"]
        await queue.connect()
        await queue.redis.flushdb()
        worker = Worker(**settings, timers={"schedule": 1, "sweep": 60, "abort": 1, "worker_info": 10})
        runner = asyncio.create_task(worker.start())
        thread = threading.Thread(target=call_sites)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = await queue.info(jobs=True)
            if info["queued"] == 0 and info["active"] == 0 and len(_lines(effects)) >= 9:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        effects_of_calls.extend(_lines(effects))
        await worker.stop()
        runner.cancel()
        # every CronJob of the finalized settings fires its task with no flag store and no Celery beat
        from croniter import croniter
        from saq import Job

        for cj in settings_mod.CRON_JOBS:
            due = int(croniter(cj.cron, time.time()).get_next(float))
            before = len(_lines(effects))
            value = await cj.function({"job": Job(function=cj.function.__qualname__, scheduled=due), "worker": None})
            # it ran the task: a side effect was recorded, or the task's value came back (a guard returns None)
            crons.append([cj.function.__qualname__, cj.cron, len(_lines(effects)) > before or value is not None])

    asyncio.run(run())
    print(
        json.dumps(
            {
                "celery_imported": any(m.split(".")[0] == "celery" for m in sys.modules),
                "results": results,
                "effects": sorted(effects_of_calls),
                "crons": crons,
            }
        )
    )


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.rstrip("\n") for line in fh]
    except FileNotFoundError:
        return []


if __name__ == "__main__":
    main()
