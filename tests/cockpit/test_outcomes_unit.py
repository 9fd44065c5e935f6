"""Outcome recording: histogram bins, quantiles, the aggregate, and errors that never reach a task."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.metrics import OutcomeMetrics


def test_bins_cover_their_value_and_clamp():
    for seconds in (0.0000021, 0.001, 0.0123, 0.5, 1.0, 7.3, 600.0):
        lo, hi = O.bin_bounds(O.bin_of(seconds))
        assert lo <= seconds < hi * 1.0000001
    assert O.bin_of(0) == O.MIN_BIN and O.bin_of(-1) == O.MIN_BIN and O.bin_of(float("nan")) == O.MIN_BIN
    assert O.bin_of(10**9) == O.MAX_BIN


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_quantile_within_a_bin_of_the_truth(q):
    values = [0.001 * (1.01**i) for i in range(600)]  # 1 ms .. ~390 ms, log-uniform
    hist: dict[int, int] = {}
    for v in values:
        b = O.bin_of(v)
        hist[b] = hist.get(b, 0) + 1
    true = sorted(values)[math.ceil(q * len(values)) - 1]
    est = O.quantile(hist, q)
    assert abs(est / true - 1) < 0.1


def test_quantile_of_nothing_is_none():
    assert O.quantile({}, 0.95) is None
    assert O.Stats().failure_rate is None and O.Stats().duration_q(0.5) is None


def test_stats_from_stored_hashes_and_merge():
    s = O.Stats()
    s.add_hash({b"ok": b"7", b"fail": b"3", b"retry": b"2", b"dead": b"1", b"d4": b"10", b"w-3": b"2", b"junk": b"x"})
    assert (s.runs, s.successes, s.failures, s.retries, s.dead) == (10, 7, 3, 2, 1)
    assert s.failure_rate == pytest.approx(0.3)
    assert s.duration == {4: 10} and s.wait == {-3: 2}
    m = s.merge(s)
    assert m.runs == 20 and m.duration == {4: 20} and s.duration == {4: 10}
    assert m.to_json()["runs"] == 20


def test_record_aggregates_per_bucket_without_io():
    reg = CollectorRegistry()
    r = O.OutcomeRecorder(
        "redis://127.0.0.1:1/0", "x", bucket_seconds=60, flush_interval=0, metrics=OutcomeMetrics(reg)
    )
    r.record("t.a", "saq", O.SUCCESS, duration=0.01, wait=0.002, now=120.5)
    r.record("t.a", "saq", O.FAILURE, duration=0.01, dead=True, now=179.0)
    r.record("t.a", "saq", O.RETRY, now=180.0)
    assert r._pending[(120, "saq", "t.a")] == {"ok": 1, f"d{O.bin_of(0.01)}": 1, f"w{O.bin_of(0.002)}": 1}
    assert r._pending[(179, "saq", "t.a")] == {"fail": 1, "dead": 1, f"d{O.bin_of(0.01)}": 1}
    assert r._pending[(180, "saq", "t.a")] == {"retry": 1}
    assert reg.get_sample_value("saqmigrate_jobs_total", {"task": "t.a", "backend": "saq", "status": "failed"}) == 1
    assert reg.get_sample_value("saqmigrate_job_dead_letters_total", {"task": "t.a", "backend": "saq"}) == 1
    assert reg.get_sample_value("saqmigrate_job_retries_total", {"task": "t.a", "backend": "saq"}) == 1


def test_unreachable_redis_is_counted_and_swallowed():
    reg = CollectorRegistry()
    r = O.OutcomeRecorder(
        "redis://127.0.0.1:1/0", "x", flush_interval=0, metrics=OutcomeMetrics(reg), socket_timeout=0.2
    )
    r.record("t.a", "celery", O.SUCCESS, duration=0.1)
    assert r.flush() is False  # no exception
    assert r.errors == 1 and r.dropped == 1 and r._pending == {}
    assert reg.get_sample_value("saqmigrate_outcome_record_errors_total", {"op": "flush"}) == 1


def test_pending_memory_is_bounded():
    r = O.OutcomeRecorder("redis://127.0.0.1:1/0", "x", flush_interval=0, metrics=None, max_pending=3)
    for i in range(10):
        r.record(f"t.{i}", "saq", O.SUCCESS)
    assert len(r._pending) == 3 and r.dropped == 7


def test_record_never_raises_on_a_broken_metrics_object():
    class Broken:
        def observe(self, *a):
            raise RuntimeError("boom")

        def record_error(self, op):
            raise RuntimeError("boom again")

    r = O.OutcomeRecorder("redis://127.0.0.1:1/0", "x", flush_interval=0, metrics=Broken())
    r.record("t.a", "saq", O.SUCCESS)  # no exception
    assert r.errors == 1


def test_saq_task_name_prefers_the_routers_meta():
    class J:
        meta = {"saqmigrate": {"task": "proj.tasks.add"}}
        function = "proj.tasks.add_twin"

    assert O.saq_task_name(J()) == "proj.tasks.add"
    J.meta = {}
    assert O.saq_task_name(J()) == "proj.tasks.add_twin"


def test_flush_writes_buckets_of_the_namespaces_size_in_one_pipeline(ns):
    from saqmigrate.runtime.outcomes import OutcomeStore

    ns.redis.set(f"{ns.name}:out:bucket", 60)  # a writer before us chose 60 s
    r = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=5, flush_interval=0, metrics=None)
    for t in (1000.0, 1019.0, 1079.0, 1080.5):
        r.record("t.a", "celery", O.SUCCESS, duration=0.2, now=t)
    r.record("t.a", "celery", O.FAILURE, now=1081.0)
    assert r.flush() and r.bucket_seconds == 60
    assert ns.redis.hgetall(f"{ns.name}:out:960:celery:t.a")["ok"] == "2"
    assert ns.redis.hgetall(f"{ns.name}:out:1020:celery:t.a")["ok"] == "1"
    assert ns.redis.hgetall(f"{ns.name}:out:1080:celery:t.a") == {"ok": "1", "fail": "1", f"d{O.bin_of(0.2)}": "1"}
    assert 0 < ns.redis.ttl(f"{ns.name}:out:1080:celery:t.a") <= O.DEFAULT_RETENTION
    store = OutcomeStore(ns.url, ns.name)
    assert store.bucket_seconds == 60
    w = store.window(["t.a"], 1000, 1100, backends=["celery"])[("t.a", "celery")]
    assert (w.runs, w.successes, w.failures) == (5, 4, 1)
    assert [st.runs for _s, st in store.series(["t.a"], 1000, 1100, backends=["celery"])[("t.a", "celery")]] == [
        2,
        1,
        2,
    ]
