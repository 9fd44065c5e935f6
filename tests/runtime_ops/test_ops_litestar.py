"""The Litestar recipe, tested: litestar-saq + instrument() + metrics_route() + named().

Real Litestar app (TestClient runs its lifespan), litestar-saq's in-process worker, real
Redis. Skipped when litestar / litestar-saq are not installed (they are an optional extra).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest

litestar = pytest.importorskip("litestar")
litestar_saq = pytest.importorskip("litestar_saq")

from litestar import Litestar, get, post  # noqa: E402
from litestar.testing import TestClient  # noqa: E402
from litestar_saq import QueueConfig, SAQConfig, SAQPlugin, TaskQueues  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from saq import Job  # noqa: E402

from saqmigrate.runtime.dlq import DeadLetterQueue  # noqa: E402
from saqmigrate.runtime.litestar import instrument, metrics_route, named  # noqa: E402
from saqmigrate.runtime.metrics import SaqMetrics  # noqa: E402

from .conftest import dlq_prefix, make_store  # noqa: E402

RECEIVED: dict[str, dict] = {}


async def charge(ctx, *, order: uuid.UUID, amount: Decimal, at: datetime):
    RECEIVED[str(order)] = {"order": order, "amount": amount, "at": at}
    return str(amount)


async def explode(ctx, *, order: uuid.UUID):
    raise RuntimeError(f"payment provider down for {order}")


@post("/orders/{queue_name:str}/{kind:str}")
async def enqueue_order(task_queues: TaskQueues, queue_name: str, kind: str) -> dict:
    order = uuid.uuid4()
    if kind == "charge":
        job = Job(
            "app.tasks.charge",
            kwargs={
                "order": order,
                "amount": Decimal("19.99"),
                "at": datetime(2025, 1, 31, 9, 30, tzinfo=timezone.utc),
            },
        )
    else:
        job = Job("app.tasks.explode", kwargs={"order": order}, retries=2)
    await task_queues.get(queue_name).enqueue(job)
    return {"key": job.key, "order": str(order)}


@get("/jobs/{queue_name:str}/{key:str}")
async def job_status(task_queues: TaskQueues, queue_name: str, key: str) -> dict:
    job = await task_queues.get(queue_name).job(key)
    return {"status": job.status.value if job else None}


@pytest.mark.slow
@pytest.mark.usefixtures("cleanup")
def test_litestar_recipe_end_to_end(redis_url, unique_name):
    registry = CollectorRegistry()
    metrics = SaqMetrics(registry, refresh_interval=0.3)
    dead_letters = DeadLetterQueue(prefix=dlq_prefix(unique_name))  # uses the queue's own Redis
    metrics.dead_letters = dead_letters
    config = SAQConfig(
        queue_configs=[
            QueueConfig(
                dsn=redis_url,
                name=unique_name,
                concurrency=2,
                separate_process=False,
                tasks=[named("app.tasks.charge", charge), named("app.tasks.explode", explode)],
            )
        ],
        use_server_lifespan=False,
    )
    instrument(config, dead_letters=dead_letters, metrics=metrics)
    app = Litestar(route_handlers=[enqueue_order, job_status, metrics_route(metrics)], plugins=[SAQPlugin(config)])

    def wait(client, key, want):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = client.get(f"/jobs/{unique_name}/{key}").json()["status"]
            if status == want:
                return
            time.sleep(0.05)
        raise AssertionError(f"job {key} never reached {want} (last {status})")

    with TestClient(app) as client:
        ok = [client.post(f"/orders/{unique_name}/charge").json() for _ in range(3)]
        bad = client.post(f"/orders/{unique_name}/explode").json()
        for j in ok:
            wait(client, j["key"], "complete")
        wait(client, bad["key"], "failed")
        time.sleep(0.7)  # one gauge refresh
        text = client.get("/metrics").text

    # the Celery names were registered (litestar-saq alone would register "charge")
    for j in ok:
        got = RECEIVED[j["order"]]
        assert got == {
            "order": uuid.UUID(j["order"]),
            "amount": Decimal("19.99"),
            "at": datetime(2025, 1, 31, 9, 30, tzinfo=timezone.utc),
        }
        assert type(got["amount"]) is Decimal and type(got["order"]) is uuid.UUID

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    q = unique_name
    assert samples[("saq_jobs_total", (("function", "app.tasks.charge"), ("queue", q), ("status", "complete")))] == 3
    assert samples[("saq_jobs_total", (("function", "app.tasks.explode"), ("queue", q), ("status", "failed")))] == 1
    assert samples[("saq_job_retries_total", (("function", "app.tasks.explode"), ("queue", q)))] == 1
    assert samples[("saq_job_duration_seconds_count", (("function", "app.tasks.charge"), ("queue", q)))] == 3
    assert samples[("saq_dead_letter_jobs", (("queue", q),))] == 1
    assert samples[("saq_worker_concurrency", (("queue", q),))] == 2

    async def dlq_entries():
        store = make_store(redis_url, unique_name)
        try:
            return await store.list()
        finally:
            await store.close()

    [entry] = asyncio.run(dlq_entries())
    assert entry.function == "app.tasks.explode" and entry.attempts == 2
    assert entry.kwargs == {"order": uuid.UUID(bad["order"])}
    assert "payment provider down" in entry.exception


def test_named_keeps_behaviour_and_sets_the_registered_name():
    async def f(ctx, x):
        return x + 1

    def g(ctx, x):
        return x * 2

    nf, ng = named("app.tasks.f", f), named("app.tasks.g", g)
    assert nf.__qualname__ == "app.tasks.f" and ng.__qualname__ == "app.tasks.g"
    assert asyncio.run(nf({}, 1)) == 2 and ng({}, 2) == 4
    qc = QueueConfig(dsn="redis://localhost", name="x", tasks=[nf, ("app.tasks.g", g)])
    # litestar-saq keeps our wrapper's name, but drops the tuple's
    assert [t.__qualname__ for t in qc.tasks] == [
        "app.tasks.f",
        "test_named_keeps_behaviour_and_sets_the_registered_name.<locals>.g",
    ]


def test_instrument_refuses_built_queues():
    config = SAQConfig(queue_configs=[QueueConfig(dsn="redis://localhost", name="x")])
    config.get_queues()
    with pytest.raises(ValueError, match="before the queues exist"):
        instrument(config)
