"""Run every task of a rewritten fixtures/native_django on a real Celery worker and on a real SAQ worker in a
fresh interpreter; print JSON.

    python harness_django.py ROOT QUEUE_MODULE CASES_JSON
    python harness_django.py ROOT QUEUE_MODULE CASES_JSON --concurrent

``--concurrent``: only the SAQ worker; the cases are enqueued together (each ``after`` seconds from the start)
on one worker and run at the same time; per case its status, value and when it finished (seconds from the
start). The database is reset once, before.

Per case: the database (sequences included), the mail outbox, the case's file and the HTTP server's log
are reset; the task is sent to a real Celery worker (solo pool, Redis broker with keys of its own) and its
result read from the Redis result backend; the effects are captured. Reset again; the job runs on a real
SAQ ``Worker`` built from the generated settings, and the same effects are captured. A heartbeat coroutine
on the SAQ worker's loop ticks every 5 ms all along; the longest gap between two ticks while each job is
in flight is reported, and a deliberately blocking probe job shows the heartbeat sees a stall. A no-op job
runs first, unmeasured: the worker's start-up (its hooks run on the loop, ~100 ms) overlaps the first job.

A small HTTP server (a thread of this process) answers the HTTP tasks: ``/ok`` (a header and a body),
``/redirect`` (302 to ``/ok``), ``/slow`` (answers after 200 ms) and ``/events`` (records the method,
User-Agent, Content-Type and body bytes it receives). ``{http}`` in a case's kwargs is its address.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TICK = 0.005
RECEIVED: list[list] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        return None

    def _answer(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/slow"):
            time.sleep(0.2)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        RECEIVED.append(
            [
                self.command,
                self.path,
                self.headers.get("User-Agent"),
                self.headers.get("Content-Type"),
                self.headers.get("Accept"),
                body.decode("utf-8", "replace"),
            ]
        )
        payload = f"{self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("X-Shop", "yes")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer


def concurrent(queue_module: str, cases: list[dict]) -> None:
    from django.core.management import call_command
    from django.db import connection

    from shop.catalog.models import Author, Book

    call_command("migrate", run_syncdb=True, verbosity=0)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE catalog_book, catalog_author RESTART IDENTITY CASCADE")
    Author.objects.create(name="Ann")
    Book.objects.create(title="Alpha", stock=5, author_id=1)
    connection.close()  # the harness' own connection is not held while the jobs run
    os.environ["SAQMIGRATE_METRICS"] = "0"
    settings = dict(importlib.import_module(queue_module).settings)
    settings["cron_jobs"] = []
    out: list[dict] = []

    async def run() -> None:
        from saq import Job, Worker

        from saqmigrate.runtime.task import job_options
        from saqmigrate.runtime.worker import make_queue

        queue = make_queue(f"{settings['queue'].name}-{uuid.uuid4().hex[:8]}")
        worker = Worker(
            **{**settings, "queue": queue}, timers={"schedule": 1, "sweep": 60, "abort": 1, "worker_info": 10}
        )
        runner = asyncio.create_task(worker.start())
        await asyncio.sleep(0.5)  # the worker's start-up hooks
        start = time.monotonic()

        async def one(case: dict) -> dict:
            await asyncio.sleep(case.get("after", 0))
            job = Job(function=case["task"], kwargs=case.get("kwargs", {}), **job_options(case["task"]))
            await queue.enqueue(job)
            while True:
                await asyncio.sleep(0.02)
                await job.refresh()
                if job.status in ("complete", "failed", "aborted"):
                    break
            status = job.status.value if hasattr(job.status, "value") else str(job.status)
            return {
                "status": status,
                "value": job.result if status == "complete" else None,
                "error": (job.error or "").strip().splitlines()[-1:] or None,
                "finished": round(time.monotonic() - start, 2),
            }

        out.extend(await asyncio.wait_for(asyncio.gather(*(one(c) for c in cases)), 60))
        await worker.stop()
        runner.cancel()
        await queue.disconnect()

    asyncio.run(run())
    print(json.dumps(out, default=str))


def main() -> None:
    root, queue_module, cases_json = sys.argv[1:4]
    sys.path.insert(0, root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    cases = json.loads(cases_json.replace("{http}", base))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection

    from shop.catalog.models import Author, Book

    if sys.argv[4:] == ["--concurrent"]:
        concurrent(queue_module, cases)
        server.shutdown()
        return
    call_command("migrate", run_syncdb=True, verbosity=0)

    def reset(case: dict) -> None:
        with connection.cursor() as cur:
            cur.execute("TRUNCATE catalog_book, catalog_author RESTART IDENTITY CASCADE")
        ann, bob = Author.objects.create(id=1, name="Ann"), Author.objects.create(id=2, name="Bob")
        Book.objects.create(id=1, title="Alpha", stock=5, author=ann)
        Book.objects.create(id=2, title="Beta", stock=0, author=ann)
        Book.objects.create(id=3, title="Gamma", stock=2, published=False, author=bob)
        with connection.cursor() as cur:  # the next ids are the same on both sides
            cur.execute("SELECT setval(pg_get_serial_sequence('catalog_book', 'id'), 3)")
            cur.execute("SELECT setval(pg_get_serial_sequence('catalog_author', 'id'), 2)")
        mail.outbox = []
        RECEIVED.clear()
        path = case.get("kwargs", {}).get("path")
        if path and os.path.exists(path):
            os.remove(path)

    def effects(case: dict) -> dict:
        path = case.get("kwargs", {}).get("path")
        text = None
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        return {
            "books": [
                list(r)
                for r in Book.objects.order_by("id").values_list("id", "title", "stock", "published", "author_id")
            ],
            "authors": [list(r) for r in Author.objects.order_by("id").values_list("id", "name")],
            "mail": [[m.subject, m.body, m.to] for m in getattr(mail, "outbox", [])],
            "file": text,
            "http": [list(r) for r in RECEIVED],
        }

    out: dict = {"celery": [], "saq": [], "probe_gap": None}
    redis_url = os.environ["REDIS_URL"]
    prefix = f"native-{uuid.uuid4().hex[:8]}"

    # --- a real Celery worker ---------------------------------------------------------------------
    from celery.contrib.testing.worker import start_worker

    from shop.celery import app

    app.conf.update(
        broker_url=redis_url,
        result_backend=redis_url,
        task_default_queue=prefix,
        broker_transport_options={"global_keyprefix": f"{prefix}:"},
        result_backend_transport_options={"global_keyprefix": f"{prefix}:"},
        worker_hijack_root_logger=False,
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        for case in cases:
            reset(case)
            task = app.tasks[case["task"]]
            result = task.apply_async(kwargs=case.get("kwargs", {}))
            try:
                value, error = json.loads(json.dumps(result.get(timeout=60))), None
            except Exception as exc:  # noqa: BLE001 - compared with the SAQ side
                value, error = None, f"{type(exc).__name__}: {exc}"
            out["celery"].append({"value": value, "error": error, "effects": effects(case)})
    try:
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception:  # noqa: BLE001 - cleanup only
        pass

    # --- a real SAQ worker from the generated settings ------------------------------------------
    os.environ["SAQMIGRATE_METRICS"] = "0"
    settings = dict(importlib.import_module(queue_module).settings)
    settings["cron_jobs"] = []

    async def blocking_probe(ctx):  # the control: a coroutine that blocks the loop for 200 ms
        time.sleep(0.2)
        return "blocked"

    async def noop(ctx):  # the first job: the worker's own start-up (hooks, checks) overlaps it
        return None

    settings["functions"] = [
        *settings["functions"],
        ("native_probe.blocking", blocking_probe),
        ("native_probe.noop", noop),
    ]
    db = ThreadPoolExecutor(1)  # the harness' own ORM calls never run on the loop's thread

    async def run() -> None:
        from saq import Job, Worker

        from saqmigrate.runtime.task import job_options
        from saqmigrate.runtime.worker import make_queue

        loop = asyncio.get_running_loop()
        # a queue of its own: SAQ derives its Redis keys from the name when the queue is made, so a
        # renamed generated queue would share keys with every other test's 'celery' queue
        queue = make_queue(f"{settings['queue'].name}-{uuid.uuid4().hex[:8]}")
        worker = Worker(
            **{**settings, "queue": queue}, timers={"schedule": 1, "sweep": 60, "abort": 1, "worker_info": 10}
        )
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
            job = Job(
                function=function,
                kwargs=kwargs,
                **(job_options(function) if "." in function and not function.startswith("native_probe") else {}),
            )
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

        job, gap = await one("native_probe.noop", {})  # the worker is up once its first job is done
        out["startup_gap"] = round(gap * 1000, 1)
        for case in cases:
            await loop.run_in_executor(db, reset, case)
            job, gap = await one(case["task"], case.get("kwargs", {}))
            status = job.status.value if hasattr(job.status, "value") else str(job.status)
            out["saq"].append(
                {
                    "status": status,
                    "value": job.result if status == "complete" else None,
                    "error": (job.error or "").strip().splitlines()[-1:] or None,
                    "sync_only": "SynchronousOnlyOperation" in (job.error or ""),
                    "effects": await loop.run_in_executor(db, effects, case),
                    "max_gap_ms": round(gap * 1000, 1),
                }
            )
        job, gap = await one("native_probe.blocking", {})
        out["probe_gap"] = round(gap * 1000, 1)
        beat.cancel()
        await worker.stop()
        runner.cancel()
        await queue.disconnect()

    asyncio.run(run())
    db.shutdown()
    server.shutdown()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
