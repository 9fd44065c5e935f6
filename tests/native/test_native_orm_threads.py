"""Each SAQ job's async Django ORM calls on a thread of its own (runtime/django_db.py ``orm_context``).

Django's async ORM (``acount``, ``aget`` ...) runs through ``sync_to_async(thread_sensitive=True)``:
outside a ``ThreadSensitiveContext`` that is asgiref's one thread per process, so a slow query of one job
holds up every other job's ORM calls. On a real SAQ worker (concurrency 4) with Django on the machine's
PostgreSQL (a database of this test's own): job A spends 1 s in the database (``pg_sleep(1)`` through
Django's connection, thread-sensitive), job B starts 0.1 s later and runs ``acount()``. Per job (the
default) B is done in milliseconds, long before A; with ``SAQMIGRATE_ORM_THREAD=shared`` (the control)
B waits for A.

Connections: 20 sequential jobs on the per-job threads leave no server connection behind
(pg_stat_activity), with ``CONN_MAX_AGE=None`` (persistent connections, the leak-prone setting); the
control closing only what Django's ``close_old_connections`` closes (what ``request_finished`` does under
ASGI) leaves one connection per finished job open on the server, so the check can fail.

This file is also the harness: ``python test_native_orm_threads.py DBNAME QUEUE SCENARIO`` (``race`` or
``leak``) runs the worker in a fresh interpreter and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
LEAK_JOBS = 20


# --- the harness (a fresh interpreter) -------------------------------------------------------------


def _harness(dbname: str, queue_name: str, scenario: str) -> None:
    import asyncio
    import threading
    import time

    os.environ.setdefault("SAQMIGRATE_DLQ", "0")
    os.environ.setdefault("SAQMIGRATE_METRICS", "0")
    os.environ.setdefault("SAQMIGRATE_OUTCOMES", "0")

    import django
    from django.conf import settings

    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": 5432,
                "USER": "postgres",
                "NAME": dbname,
                "CONN_MAX_AGE": None,  # persistent: a connection nobody closes stays open
            }
        },
        INSTALLED_APPS=["django.contrib.contenttypes"],
        USE_TZ=True,
    )
    django.setup()

    import psycopg
    from asgiref.sync import sync_to_async
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.db import close_old_connections, connection
    from saq import Worker

    from saqmigrate.runtime import django_db
    from saqmigrate.runtime.task import saq_task
    from saqmigrate.runtime.worker import worker_settings

    call_command("migrate", verbosity=0)
    connection.close()  # the harness' own connection is not counted

    if os.environ.get("ORM_TEST_CLOSE") == "old":  # the control: what request_finished closes
        django_db.close_all_connections = close_old_connections

    def sleep_query() -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_sleep(1)")

    @saq_task("orm.slow")
    async def slow(ctx: dict) -> dict:
        start = time.monotonic()
        await sync_to_async(sleep_query, thread_sensitive=True)()
        return {"start": start, "end": time.monotonic()}

    @saq_task("orm.count")
    async def count(ctx: dict) -> dict:
        start = time.monotonic()
        n = await ContentType.objects.acount()
        thread = await sync_to_async(lambda: threading.current_thread().name, thread_sensitive=True)()
        return {"start": start, "end": time.monotonic(), "count": n, "thread": thread}

    async def main() -> dict:
        s = worker_settings(
            queue_name, [slow.registration, count.registration], dead_letters=False, metrics=False, concurrency=4
        )
        queue = s["queue"]
        keep = {"queue", "functions", "before_process", "after_process", "concurrency", "startup", "shutdown"}
        worker = Worker(**{k: v for k, v in s.items() if k in keep})
        runner = asyncio.create_task(worker.start())
        admin = await psycopg.AsyncConnection.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname=dbname, autocommit=True
        )

        async def connections() -> int:
            """Server connections to the database besides this one, once the count is steady."""
            last = -1
            for _ in range(20):
                cur = await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)
                )
                row = await cur.fetchone()
                assert row is not None
                if row[0] == last:
                    return last
                last = row[0]
                await asyncio.sleep(0.05)
            return last

        try:
            warm = await queue.enqueue("orm.count", timeout=30)  # the worker's start-up is not measured
            await warm.refresh(until_complete=30)
            out: dict = {"scenario": scenario}
            if scenario == "race":
                a = await queue.enqueue("orm.slow", timeout=30)
                await asyncio.sleep(0.1)
                out["b_enqueued"] = time.monotonic()
                b = await queue.enqueue("orm.count", timeout=30)
                await a.refresh(until_complete=30)
                await b.refresh(until_complete=30)
                out["a"], out["b"] = a.result, b.result
                out["status"] = [a.status.value, b.status.value]
            else:
                counts, threads = [], []
                for _ in range(LEAK_JOBS):
                    job = await queue.enqueue("orm.count", timeout=30)
                    await job.refresh(until_complete=30)
                    assert job.status.value == "complete", job.error
                    threads.append(job.result["thread"])
                    counts.append(await connections())
                out["counts"], out["threads"] = counts, threads
            return out
        finally:
            await admin.close()
            await worker.stop()
            runner.cancel()
            await queue.disconnect()

    print(json.dumps(asyncio.run(main())), flush=True)


# --- the tests -------------------------------------------------------------------------------------


@pytest.fixture
def database():
    try:
        import psycopg
    except ImportError:
        from tests.conftest import missing

        missing("psycopg is not installed (pip install -e '.[dev]')")
    try:
        admin = psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError as exc:
        from tests.conftest import missing

        missing(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    name = f"saqmigrate_ormctx_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _run(redis_url: str, queue: str, database: str, scenario: str, **env: str) -> dict:
    full = dict(os.environ, SAQMIGRATE_REDIS_URL=redis_url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    full.pop("SAQMIGRATE_ORM_THREAD", None)  # the default unless the test sets it
    full.update(env)
    proc = subprocess.run(
        [sys.executable, str(THIS), database, queue, scenario],
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1, proc.stdout[-2000:]
    print(rows[0])  # the measured times / counts, for -s
    return rows[0]


def _durations(out: dict) -> tuple[float, float, float]:
    """A's run, B's time from its enqueue to its end (under the shared thread the worker's own
    before_process hygiene already waits there), and when B was enqueued after A started."""
    a, b = out["a"], out["b"]
    return a["end"] - a["start"], b["end"] - out["b_enqueued"], out["b_enqueued"] - a["start"]


@pytest.mark.slow
def test_a_slow_query_does_not_hold_up_another_jobs_orm_calls(redis_url, unique_name, database):
    out = _run(redis_url, unique_name, database, "race")
    assert out["status"] == ["complete", "complete"], out
    a, b, gap = _durations(out)
    assert a >= 0.95, out
    assert gap > 0.05, out  # B started while A's query ran
    assert b < 0.5, out  # its own thread: not behind A's pg_sleep(1)
    assert out["b"]["end"] < out["a"]["end"], out


@pytest.mark.slow
def test_shared_thread_control_makes_the_other_job_wait(redis_url, unique_name, database):
    out = _run(redis_url, unique_name, database, "race", SAQMIGRATE_ORM_THREAD="shared")
    assert out["status"] == ["complete", "complete"], out
    a, b, gap = _durations(out)
    assert gap > 0.05, out
    assert b >= 0.8, out  # B's acount() waited for A's query on the one thread
    assert out["b"]["end"] >= out["a"]["end"], out


@pytest.mark.slow
def test_pooled_threads_keep_their_connection_across_jobs(redis_url, unique_name, database):
    """The default (``pool``): sequential jobs reuse one pooled thread and its persistent connection
    (``CONN_MAX_AGE=None``), as a Celery worker process keeps its own: no connection per job."""
    out = _run(redis_url, unique_name, database, "leak")
    counts = out["counts"]
    assert len(counts) == LEAK_JOBS
    assert counts == [1] * LEAK_JOBS, counts
    assert len(set(out["threads"])) == 1, out["threads"]
    assert out["threads"][0].startswith("saqmigrate-orm"), out["threads"]  # not asgiref's shared thread


@pytest.mark.slow
def test_fresh_threads_leave_no_connection_behind(redis_url, unique_name, database):
    out = _run(redis_url, unique_name, database, "leak", SAQMIGRATE_ORM_THREAD="fresh")
    counts = out["counts"]
    assert len(counts) == LEAK_JOBS
    assert max(counts) <= 1, counts  # each job's connection is closed with its thread
    assert counts[-1] <= counts[0], counts
    assert len(set(out["threads"])) > 1, out["threads"]  # the jobs did run on threads of their own


@pytest.mark.slow
def test_closing_only_old_connections_would_leak_one_per_job(redis_url, unique_name, database):
    out = _run(redis_url, unique_name, database, "leak", ORM_TEST_CLOSE="old", SAQMIGRATE_ORM_THREAD="fresh")
    counts = out["counts"]
    # grows with the jobs until the garbage collector happens to free the dead threads' connections: the
    # fresh mode's "at most 1" above can fail
    assert max(counts) >= 4, counts


@pytest.mark.slow
def test_shared_thread_keeps_one_persistent_connection(redis_url, unique_name, database):
    out = _run(redis_url, unique_name, database, "leak", SAQMIGRATE_ORM_THREAD="shared")
    assert out["counts"] == [1] * LEAK_JOBS, out["counts"]
    assert len(set(out["threads"])) == 1, out["threads"]


if __name__ == "__main__":
    _harness(sys.argv[1], sys.argv[2], sys.argv[3])
