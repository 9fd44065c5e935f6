"""Metrics from a real worker, scraped over real HTTP."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from saq import Job

from saqmigrate.runtime.dlq import DeadLetterQueue
from saqmigrate.runtime.hooks import merge_hooks
from saqmigrate.runtime.metrics import SaqMetrics

from .conftest import make_queue, make_store, run_burst

pytestmark = pytest.mark.usefixtures("cleanup")

IN_USE: dict[str, list] = {}
REGISTRIES: dict[str, CollectorRegistry] = {}


async def work(ctx, *, fail: bool, tag: str):
    q = ctx["job"].queue.name
    IN_USE.setdefault(tag, []).append(REGISTRIES[tag].get_sample_value("saq_worker_concurrency_in_use", {"queue": q}))
    await asyncio.sleep(0.05)
    if fail:
        raise RuntimeError("planned failure")
    return "ok"


def scrape(port: int) -> dict[tuple, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.slow
def test_http_endpoint_shows_counts_and_durations_of_a_known_workload(redis_url, unique_name):
    n_ok, n_failed = 5, 3
    registry = CollectorRegistry()
    REGISTRIES[unique_name] = registry
    metrics = SaqMetrics(registry, refresh_interval=0.2)
    port = metrics.start_http_server(0, "127.0.0.1")
    assert port

    async def main():
        queue = make_queue(redis_url, unique_name)
        store = make_store(redis_url, unique_name)
        dlq = DeadLetterQueue(store)
        metrics.dead_letters = dlq
        try:
            for i in range(n_ok):
                await queue.enqueue(Job("work", kwargs={"fail": False, "tag": unique_name}))
            for i in range(n_failed):
                # 2 attempts each: one retry, then failed for good
                await queue.enqueue(Job("work", kwargs={"fail": True, "tag": unique_name}, retries=2))
            settings = merge_hooks({"concurrency": 2}, dlq.hooks(), metrics.hooks())
            await run_burst(queue, [("work", work)], dequeue_timeout=0.5, **settings)
            await metrics.refresh(queue)
        finally:
            await store.close()
            await queue.disconnect()

    try:
        asyncio.run(main())
        m = scrape(port)
    finally:
        metrics.stop_http_server()
    q = unique_name

    def v(name, **labels):
        return m.get((name, tuple(sorted(labels.items()))))

    assert v("saq_jobs_total", queue=q, function="work", status="complete") == n_ok
    assert v("saq_jobs_total", queue=q, function="work", status="failed") == n_failed
    assert v("saq_job_retries_total", queue=q, function="work") == n_failed
    attempts = n_ok + 2 * n_failed
    assert v("saq_job_duration_seconds_count", queue=q, function="work") == attempts
    total = v("saq_job_duration_seconds_sum", queue=q, function="work")
    assert 0.05 * attempts <= total < 0.05 * attempts + 5
    assert v("saq_job_duration_seconds_bucket", queue=q, function="work", le="0.025") == 0
    assert v("saq_job_duration_seconds_bucket", queue=q, function="work", le="+Inf") == attempts
    # queue wait: first attempts only (n_ok + n_failed jobs)
    assert v("saq_job_queue_wait_seconds_count", queue=q, function="work") == n_ok + n_failed
    assert v("saq_dead_letter_jobs", queue=q) == n_failed
    assert v("saq_queue_jobs", queue=q, state="queued") == 0
    assert v("saq_queue_jobs", queue=q, state="active") == 0
    assert v("saq_worker_concurrency", queue=q) == 2
    assert v("saq_worker_concurrency_in_use", queue=q) == 0
    seen = IN_USE[unique_name]
    assert len(seen) == attempts and min(seen) >= 1 and max(seen) <= 2


@pytest.mark.slow
def test_worker_startup_serves_metrics_on_the_configured_port_and_shutdown_stops_it(redis_url, unique_name):
    registry = CollectorRegistry()
    metrics = SaqMetrics(registry, port=0, addr="127.0.0.1", refresh_interval=0)
    ports = []

    async def scrape_job(ctx):
        ports.append(metrics.http_port)
        m = await asyncio.to_thread(scrape, metrics.http_port)
        return m[("saq_worker_concurrency_in_use", (("queue", ctx["job"].queue.name),))]

    async def main():
        queue = make_queue(redis_url, unique_name)
        try:
            job = await queue.enqueue(Job("scrape_job"))
            await run_burst(
                queue, [("scrape_job", scrape_job)], dequeue_timeout=0.3, **merge_hooks({}, metrics.hooks())
            )
            done = await queue.job(job.key)
            return done.status.value, done.result
        finally:
            await queue.disconnect()

    assert asyncio.run(main()) == ("complete", 1.0)  # scraped while the job ran
    assert ports and ports[0]
    assert metrics.http_server is None  # stopped by the shutdown hook
    with pytest.raises(OSError):
        scrape(ports[0])


def test_gauge_refresh_interval_env_port(monkeypatch):
    monkeypatch.setenv("SAQMIGRATE_METRICS_PORT", "9999")
    m = SaqMetrics(CollectorRegistry())
    assert m.port == 9999 and m.http_server is None  # started only by the worker's startup
    monkeypatch.delenv("SAQMIGRATE_METRICS_PORT")
    assert SaqMetrics(CollectorRegistry()).port is None
