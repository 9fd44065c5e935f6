"""Run by test_connection_hygiene.py in its own process: Django on the machine's PostgreSQL, a real SAQ
worker from ``worker_settings`` on a real Redis, one bridge thread (so every bridged job reuses its
connection) and asgiref's one thread for the ported-style job. Between jobs the test's own connection
terminates the worker's backend (what a database restart does). Prints one JSON line per job."""

from __future__ import annotations

import asyncio
import json
import os
import sys

os.environ["SAQMIGRATE_BRIDGE_THREADS"] = "1"
os.environ["SAQMIGRATE_DLQ"] = "0"
os.environ["SAQMIGRATE_METRICS"] = "0"
os.environ["SAQMIGRATE_OUTCOMES"] = "0"

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": 5432,
            "USER": "postgres",
            "NAME": "test",
            "CONN_MAX_AGE": None,
        }
    },
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

import psycopg  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.db import connection  # noqa: E402
from saq import Worker  # noqa: E402

from saqmigrate.runtime.task import run_sync  # noqa: E402
from saqmigrate.runtime.worker import worker_settings  # noqa: E402


def backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        return cur.fetchone()[0]


async def bridged(ctx: dict) -> int:
    return await run_sync(backend_pid)


async def ported(ctx: dict) -> int:
    return await sync_to_async(backend_pid)()


async def main(queue_name: str, hygiene: bool) -> None:
    s = worker_settings(queue_name, [("bridged", bridged), ("ported", ported)], dead_letters=False, metrics=False)
    if not hygiene:  # the control run: what a worker without the hooks and the bridge wrapper does
        from saqmigrate.runtime import django_db

        django_db.around = lambda fn: fn
        s["before_process"] = s["after_process"] = None
    queue = s["queue"]
    worker = Worker(
        **{k: v for k, v in s.items() if k in {"queue", "functions", "before_process", "after_process", "concurrency"}}
    )
    task = asyncio.create_task(worker.start())
    admin = psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", autocommit=True)
    try:
        for fn in ("bridged", "ported"):
            steps = []
            for _ in range(3):
                job = await queue.enqueue(fn, timeout=10)
                await job.refresh(until_complete=15)
                steps.append(
                    {
                        "status": job.status.value,
                        "result": job.result,
                        "error": (job.error or "").strip().splitlines()[-1:],
                    }
                )
                if job.status.value == "complete" and len(steps) == 1:
                    admin.execute("select pg_terminate_backend(%s)", (job.result,))
            print(json.dumps({"function": fn, "steps": steps}), flush=True)
    finally:
        admin.close()
        await worker.stop()
        task.cancel()
        await queue.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] == "on"))
