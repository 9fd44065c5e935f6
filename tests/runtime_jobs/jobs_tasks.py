"""Tasks as `saqmigrate finalize` leaves them, for tests/runtime_jobs (queue from JOBS_QUEUE; every call is
appended to the file named by JOBS_LOG, so the test sees what the worker process ran)."""

from __future__ import annotations

import json
import os

from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

QUEUE = os.environ.get("JOBS_QUEUE", "jobs-test")


def log(*item) -> None:
    path = os.environ.get("JOBS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(item) + "\n")


@saq_job("tjobs.add", queue=QUEUE)
def add(x, y=2):
    log("add", x, y)
    return x + y


@saq_job("tjobs.double", queue=QUEUE)
def double(total, label="d"):
    log("double", total, label)
    return total * 2


@saq_job("tjobs.note", queue=QUEUE)
async def note(text):
    log("note", text)
    return text.upper()


@saq_job("tjobs.boom", TaskOptions(retries=1), queue=QUEUE)
def boom(n):
    log("boom", n)
    raise ValueError(n)


@saq_job("tjobs.bound", TaskOptions(retries=3, max_retries=2), queue=QUEUE, bind=True)
def bound(self, n):
    log("bound", self.request.retries)
    if self.request.retries < n:
        raise self.retry(countdown=0)
    return self.request.retries


def settings_for_worker():
    from saqmigrate.runtime.worker import worker_settings

    return worker_settings(QUEUE, [t.saq for t in (add, double, note, boom, bound)], metrics=False, dead_letters=False)


if os.environ.get("JOBS_WORKER"):
    settings = settings_for_worker()
