"""Many dispatches from several threads with flips interleaved, through real Celery and SAQ workers.

The full 5,000 run takes ~20 s on 2 cores; scale it with
``SAQMIGRATE_ROUTING_N=1000`` when iterating.
"""

from __future__ import annotations

import collections
import os
import threading
import time

import pytest

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, set_router
from saqmigrate.runtime.router_metrics import RouterMetrics

from .conftest import SaqWorkerThread, make_celery_app, wait_for

pytestmark = pytest.mark.slow

N = int(os.environ.get("SAQMIGRATE_ROUTING_N", "5000"))
FLIPS = 50
THREADS = 4
TASK = "tests.routing.rec"
CYCLE = [("saq", None), ("celery", None), ("saq", 5000), ("saq", 2000), ("saq", 8000)]


def test_dispatches_with_flips_each_run_once_on_the_flagged_backend(rt):
    from celery.contrib.testing.worker import start_worker
    from kombu.asynchronous import set_event_loop

    # a fresh kombu event loop, as in a worker process of its own: before kombu 5.6 (Celery 5.4/5.5) a
    # closed worker's hub stays the process's loop, the next worker reuses it and its timer never runs
    # the new worker's countdowns/ETAs (retries, chord_unlock) (docs/operations.md, Supported versions)
    set_event_loop(None)
    from prometheus_client import CollectorRegistry

    exec_key = f"{rt.ns}:exec"
    app = make_celery_app(rt.url, rt.ns)

    @app.task(name=TASK)
    def rec(did, n):
        rt.redis.rpush(exec_key, f"celery:{did}")

    def saq_rec(ctx, *, did, n):
        rt.redis.rpush(exec_key, f"saq:{did}")

    registry = Registry.from_dicts(
        {
            TASK: {
                "saq_function": TASK,
                "queue": rt.ns,
                "params": ["did", "n"],
                "job": {"timeout": 0, "retries": 1, "ttl": 600},
            }
        }
    )
    metrics = RouterMetrics(CollectorRegistry())
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=1.0)
    router = Router(registry, flags, celery_app=app, saq_url=rt.url, metrics=metrics)
    set_router(router)
    rules_at = {0: None}  # version -> rule
    results = []
    res_lock = threading.Lock()
    counter = [0]
    done = threading.Event()

    def dispatcher(tid):
        for j in range(N // THREADS):
            did = f"{tid}-{j}"
            if j % 2:
                res = rec.delay(did, j)  # the Celery base task routes .delay()
            else:
                res = router.dispatch(TASK, did, j)
            with res_lock:
                results.append((did, res.id, res.saqmigrate_route))
                counter[0] += 1

    def flipper():
        for k in range(FLIPS):
            while counter[0] < (k + 1) * N // (FLIPS + 1) and not done.is_set():
                time.sleep(0.001)
            target, bp = CYCLE[k % len(CYCLE)]
            v = rt.store.set_rule(TASK, target, bp, reason=f"flip {k}")
            rules_at[v] = F.make_rule(target, bp)

    saq_worker = SaqWorkerThread(rt.url, rt.ns, [(TASK, saq_rec)], concurrency=30).start()
    try:
        with start_worker(
            app, pool="threads", concurrency=8, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ):
            flags.snapshot()
            t0 = time.monotonic()
            fl = threading.Thread(target=flipper)
            fl.start()
            ths = [threading.Thread(target=dispatcher, args=(i,)) for i in range(THREADS)]
            for t in ths:
                t.start()
            for t in ths:
                t.join()
            dispatch_s = time.monotonic() - t0
            done.set()
            fl.join()
            total = THREADS * (N // THREADS)
            assert wait_for(lambda: rt.redis.llen(exec_key) >= total, timeout=240, interval=0.2), (
                f"only {rt.redis.llen(exec_key)} of {total} executed"
            )
            time.sleep(0.5)  # anything extra (a duplicate) would land now
            run_s = time.monotonic() - t0
    finally:
        saq_worker.stop()
        flags.close()
        set_router(None)

    executed = collections.Counter(rt.redis.lrange(exec_key, 0, -1))
    assert len(results) == total
    by_backend = collections.Counter()
    versions = set()
    for did, rid, d in results:
        # exactly once, on the backend the router decided at dispatch time
        assert executed[f"{d.backend}:{did}"] == 1, (did, d)
        other = "celery" if d.backend == "saq" else "saq"
        assert executed[f"{other}:{did}"] == 0, (did, d)
        # and that decision is what the flags said at the version the router used
        rule = rules_at[d.version]
        snap = F.Snapshot.from_json({"version": d.version, "rules": {TASK: rule} if rule else {}}, "redis")
        assert F.evaluate(snap, TASK, rid)[0] == d.backend, (did, d, rule)
        by_backend[d.backend] += 1
        versions.add(d.version)
    assert sum(executed.values()) == total  # nothing extra, nothing lost
    assert len(rules_at) == FLIPS + 1
    assert len(versions) >= 10, versions  # flips did arrive mid-stream
    assert by_backend["saq"] > total * 0.1 and by_backend["celery"] > total * 0.1, by_backend
    counted = sum(
        s.value
        for m in metrics.registry.collect()
        if m.name == "saqmigrate_route_decisions"
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert counted == total
    print(
        f"\n{total} dispatches, {FLIPS} flips: dispatch {dispatch_s:.1f}s, all executed after {run_s:.1f}s, {dict(by_backend)}"
    )
