"""Django connection hygiene in SAQ workers (runtime/django_db.py), as Celery's Django fixup gives it.

A worker's database connection dies (the test terminates its PostgreSQL backend, as a database restart
does). Under Celery the next task fails and the fixup closes the broken connection after it, so the task
after that works. The same must hold for a bridged job (the bridge's thread) and for a job using
asgiref's thread (ported code): job 1 works, job 2 fails on the dead connection, job 3 works on a new
one. The control run without the hooks shows job 3 failing too: the test can fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import missing

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness_hygiene.py"


def _postgres() -> None:
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed (pip install -e '.[dev]')")
    try:
        psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        missing(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")


def _run(redis_url: str, queue: str, hygiene: str) -> dict[str, list[dict]]:
    env = dict(os.environ, SAQMIGRATE_REDIS_URL=redis_url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(HARNESS), queue, hygiene], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["function"]: r["steps"] for r in rows}


def test_a_dead_connection_fails_one_job_then_the_worker_reconnects(redis_url, unique_name):
    _postgres()
    runs = _run(redis_url, unique_name, "on")
    for fn in ("bridged", "ported"):
        first, second, third = runs[fn]
        assert first["status"] == "complete", (fn, first)
        assert second["status"] == "failed", (fn, second)  # the job on the dead connection, as in Celery
        assert third["status"] == "complete", (fn, third)
        assert third["result"] != first["result"], fn  # a new backend: the connection was reopened


def test_without_the_hygiene_every_later_job_fails(redis_url, unique_name):
    _postgres()
    runs = _run(redis_url, unique_name, "off")
    for fn in ("bridged", "ported"):
        first, second, third = runs[fn]
        assert first["status"] == "complete", (fn, first)
        assert (second["status"], third["status"]) == ("failed", "failed"), (fn, runs[fn])
