"""``saqmigrate dlq`` through click's CliRunner against the real Redis."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result
from saq import Job

from saqmigrate.cli.main import cli
from saqmigrate.runtime.dlq import DeadLetter

from .conftest import dlq_prefix, make_queue, make_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cleanup")]

WHEN = datetime(2025, 1, 31, 12, 0, tzinfo=timezone.utc)


class _BothStreams:
    """click 8.1's result (``mix_stderr=False``) read like click 8.2's: ``output`` is both streams."""

    def __init__(self, result: Result) -> None:
        self._result = result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    @property
    def output(self) -> str:
        return self._result.stdout + self._result.stderr


def invoke(args: list[str], **kwargs: Any) -> Any:
    """``saqmigrate`` through CliRunner with ``.stderr`` separate on every click the project supports:
    click 8.2+ always captures it (``output`` is both streams), click 8.1 only with ``mix_stderr=False``."""
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:  # click < 8.2
        return _BothStreams(CliRunner(mix_stderr=False).invoke(cli, args, **kwargs))  # type: ignore[call-arg]
    return CliRunner().invoke(cli, args, **kwargs)


def seed(redis_url: str, unique: str) -> list[DeadLetter]:
    """Three real dead letters (two tasks, two queues, one of them old) in the store."""

    async def main():
        store = make_store(redis_url, unique)
        qa, qb = make_queue(redis_url, f"{unique}a"), make_queue(redis_url, f"{unique}b")
        out = []
        now_ms = int(time.time() * 1000)
        for q, fn, age_s, n in [
            (qa, "send_email", 0, 1),
            (qa, "send_email", 3 * 86400, 2),
            (qb, "import_events", 10, 3),
        ]:
            job = Job(
                fn,
                kwargs={"n": n, "when": WHEN, "amount": Decimal("1.5")},
                retries=3,
                retry_delay=2.0,
                timeout=30,
                queue=qa if q is qa else qb,
            )
            job.attempts, job.started = 3, now_ms - age_s * 1000 - 50
            job.queued = job.started - 10
            entry = DeadLetter.from_job(
                job,
                status="failed",
                error=f"Traceback...\nValueError: bad {n}\n",
                reason="failed",
                completed_ms=now_ms - age_s * 1000,
            )
            assert await store.add(entry)
            out.append(entry)
        await store.close()
        await qa.disconnect()
        await qb.disconnect()
        return out

    return asyncio.run(main())


def run(redis_url, unique, *args, input=None):
    return invoke(["dlq", "--redis-url", redis_url, "--prefix", dlq_prefix(unique), *args], input=input)


def test_list_filters_and_json(redis_url, unique_name):
    entries = seed(redis_url, unique_name)
    r = run(redis_url, unique_name, "list")
    assert r.exit_code == 0, r.output
    assert "3 dead letter(s)" in r.output and "ValueError: bad 3" in r.output
    assert r.output.index("import_events") < r.output.index("bad 2")  # newest first

    r = run(redis_url, unique_name, "list", "--format", "json", "--task", "send_*", "--since", "1d")
    data = json.loads(r.output)
    assert [d["id"] for d in data] == [entries[0].id]
    assert data[0]["kwargs"]["when"] == {"__type__": "datetime", "__value__": "2025-01-31T12:00:00+00:00"}

    r = run(redis_url, unique_name, "list", "--format", "json", "--queue", f"{unique_name}b")
    assert [d["function"] for d in json.loads(r.output)] == ["import_events"]
    r = run(redis_url, unique_name, "list", "--format", "json", "--before", "1d")
    assert [d["id"] for d in json.loads(r.output)] == [entries[1].id]  # the 3-day-old one
    r = run(redis_url, unique_name, "list", "--task", "nothing")
    assert r.exit_code == 0 and "no dead letters match" in r.output
    r = run(redis_url, unique_name, "list", "--since", "yesterday")
    assert r.exit_code == 2 and "30m" in r.output


def test_show(redis_url, unique_name):
    e = seed(redis_url, unique_name)[2]
    r = run(redis_url, unique_name, "show", e.id)
    assert r.exit_code == 0, r.output
    assert "import_events" in r.output and "ValueError: bad 3" in r.output and "3 of 3" in r.output
    assert '"__type__": "decimal"' in r.output
    data = json.loads(run(redis_url, unique_name, "show", e.id, "--format", "json").output)
    assert data["key"] == e.key and data["requeue_marker"] is None
    r = run(redis_url, unique_name, "show", "nope")
    assert r.exit_code == 1 and "no dead letter with id 'nope'" in r.stderr


def test_requeue_by_id_enqueues_same_kwargs_under_new_key(redis_url, unique_name):
    e = seed(redis_url, unique_name)[0]
    r = run(redis_url, unique_name, "requeue", e.id, "--format", "json")
    assert r.exit_code == 0, r.output
    [done] = json.loads(r.output)["requeued"]
    assert done["id"] == e.id and done["new_key"] != e.key and done["enqueued"] is True

    async def check():
        q = make_queue(redis_url, e.queue)
        try:
            job = await q.job(done["new_key"])
            return job.function, job.kwargs, job.retries, job.retry_delay, job.timeout, job.status.value
        finally:
            await q.disconnect()

    assert asyncio.run(check()) == (
        "send_email",
        {"n": 1, "when": WHEN, "amount": Decimal("1.5")},
        3,
        2.0,
        30,
        "queued",
    )
    listing = json.loads(run(redis_url, unique_name, "list", "--format", "json").output)
    assert e.id not in [d["id"] for d in listing] and len(listing) == 2
    r = run(redis_url, unique_name, "requeue", e.id)
    assert r.exit_code == 1 and "no dead letter" in r.stderr


def test_bulk_requeue_asks_and_needs_a_selection(redis_url, unique_name):
    seed(redis_url, unique_name)
    r = run(redis_url, unique_name, "requeue")
    assert r.exit_code == 2 and "--all" in r.output
    r = run(redis_url, unique_name, "requeue", "--queue", f"{unique_name}a", input="n\n")
    assert "Requeue 2 dead letter(s)?" in r.output and "requeued" not in r.output
    r = run(redis_url, unique_name, "requeue", "--queue", f"{unique_name}a", "--yes")
    assert r.exit_code == 0 and r.output.count("requeued ") == 2
    assert len(json.loads(run(redis_url, unique_name, "list", "--format", "json").output)) == 1


def test_purge_confirms_filters_and_refuses_everything_by_default(redis_url, unique_name):
    entries = seed(redis_url, unique_name)
    r = run(redis_url, unique_name, "purge")
    assert r.exit_code == 2 and "refusing to purge everything" in r.output
    r = run(redis_url, unique_name, "purge", "--task", "import_events", input="n\n")
    assert "Purge 1 dead letter(s)?" in r.output and "nothing purged" in r.output
    r = run(redis_url, unique_name, "purge", "--task", "import_events", input="y\n")
    assert r.exit_code == 0 and "purged 1 dead letter(s)" in r.output
    r = run(redis_url, unique_name, "purge", entries[0].id, "--yes", "--format", "json")
    assert json.loads(r.output) == {"purged": 1, "missing": [], "confirmed": True}
    again = seed(redis_url, unique_name)  # three more; now two are 3 days old
    r = run(redis_url, unique_name, "purge", "--before", "2d", "--yes", "--format", "json")
    assert json.loads(r.output)["purged"] == 2
    left = run(redis_url, unique_name, "list").output
    assert entries[1].id not in left and again[1].id not in left and again[0].id in left
    r = run(redis_url, unique_name, "purge", "--all", "--yes")
    assert "purged 2 dead letter(s)" in r.output
    assert "no dead letters" in run(redis_url, unique_name, "list").output


def test_redis_down_is_one_line_exit_2_naming_the_url_and_fix(unique_name, monkeypatch):
    r = invoke(["dlq", "--redis-url", "redis://:secret@127.0.0.1:1/0", "list"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in lines[0] and "--redis-url" in lines[0]
    assert "secret" not in r.stderr and "Traceback" not in r.output
    # the env fallback chain: SAQ's Redis (SAQ_REDIS_URL, REDIS_URL), never the flag store's
    monkeypatch.setenv("SAQMIGRATE_REDIS_URL", "redis://127.0.0.1:4/0")
    monkeypatch.setenv("SAQ_REDIS_URL", "redis://127.0.0.1:2/0")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:3/0")
    r = invoke(["dlq", "purge", "--all", "--yes"])
    assert r.exit_code == 2 and "127.0.0.1:2" in r.stderr
    monkeypatch.delenv("SAQ_REDIS_URL")
    r = invoke(["dlq", "show", "x"])
    assert r.exit_code == 2 and "127.0.0.1:3" in r.stderr and "127.0.0.1:4" not in r.stderr
