"""Dispatch cost: the router (sync and async) to SAQ vs raw SAQ enqueue vs Celery send_task.

    python bench/bench_dispatch.py [--n 3000] [--block 250] [--redis-url URL] [--json]

Every method talks to the same Redis. Methods run in alternating blocks (raw, router, celery,
raw, ...) so drift from other load on the machine hits all of them alike; each call is timed
on its own (perf_counter) and p50/p99 are taken over all blocks. Throughput is calls per
second of a single caller, plus a 4-thread aggregate for the sync paths. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from saq.job import Job  # noqa: E402

from saqmigrate.runtime import flags as F  # noqa: E402
from saqmigrate.runtime.bridge import SyncBridge, make_queue  # noqa: E402
from saqmigrate.runtime.registry import Registry  # noqa: E402
from saqmigrate.runtime.router import Router  # noqa: E402

TASK = "bench.noop"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="calls per method")
    ap.add_argument("--block", type=int, default=250)
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from saqmigrate.services import ensure_redis

    svc = ensure_redis(a.redis_url)
    url = svc.url
    ns = f"bench{uuid.uuid4().hex[:8]}"
    store = F.FlagStore(url, ns)
    store.set_rule(TASK, "saq", reason="benchmark")
    registry = Registry.from_dicts(
        {TASK: {"saq_function": TASK, "queue": ns, "params": ["i"], "job": {"timeout": 0, "retries": 1, "ttl": 600}}}
    )

    from celery import Celery

    app = Celery("bench", broker=url, set_as_current=False)
    app.conf.update(task_default_queue=ns, broker_connection_retry_on_startup=True)

    flags = F.FlagClient(url, namespace=ns)
    router = Router(registry, flags, celery_app=app, saq_url=url, bridge=SyncBridge(mode="auto"))
    router_thread = Router(registry, flags, celery_app=app, saq_url=url, bridge=SyncBridge(mode="thread"))
    router_loop = Router(registry, flags, celery_app=app, saq_url=url, bridge=SyncBridge(mode="auto"))
    router_thread._direct = False  # force the event-loop bridges, to show what the direct path saves
    router_loop._direct = False
    assert router.decide(TASK, (1,)).backend == "saq"

    loop = asyncio.new_event_loop()
    raw_q = make_queue(url, ns)

    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "raw_async_enqueue",
            "router_async",
            "router_sync",
            "router_sync_loop",
            "router_sync_thread",
            "celery_send_task",
        )
    }

    async def async_block(kind: str, n: int, out: list) -> None:
        for i in range(n):
            t = time.perf_counter()
            if kind == "raw_async_enqueue":
                await raw_q.enqueue(Job(function=TASK, kwargs={"i": i}))
            else:
                await router.adispatch(TASK, i)
            out.append(time.perf_counter() - t)

    def sync_block(kind: str, n: int, out: list) -> None:
        for i in range(n):
            t = time.perf_counter()
            if kind == "router_sync":
                router.dispatch(TASK, i)
            elif kind == "router_sync_thread":
                router_thread.dispatch(TASK, i)
            elif kind == "router_sync_loop":
                router_loop.dispatch(TASK, i)
            else:
                app.send_task(TASK, (i,))
            out.append(time.perf_counter() - t)

    def run_block(kind: str, n: int, out: list) -> None:
        if kind in ("raw_async_enqueue", "router_async"):
            loop.run_until_complete(async_block(kind, n, out))
        else:
            sync_block(kind, n, out)

    for kind in samples:  # warm-up: connections, scripts loaded
        run_block(kind, 100, [])
    rounds = max(1, a.n // a.block)
    block_p50: dict[str, list[float]] = {k: [] for k in samples}
    for r in range(rounds):
        order = list(samples)
        order = order[r % len(order) :] + order[: r % len(order)]
        for kind in order:
            xs: list[float] = []
            run_block(kind, a.block, xs)
            samples[kind].extend(xs)
            block_p50[kind].append(pct(xs, 0.5))

    def threaded(kind: str, threads: int = 4, per: int = 500) -> float:
        def work():
            sync_block(kind, per, [])

        ts = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return threads * per / (time.perf_counter() - t0)

    results = {}
    for kind, xs in samples.items():
        results[kind] = {
            "n": len(xs),
            "p50_us": round(pct(xs, 0.5) * 1e6, 1),
            "p99_us": round(pct(xs, 0.99) * 1e6, 1),
            "mean_us": round(statistics.fmean(xs) * 1e6, 1),
            "calls_per_s": round(len(xs) / sum(xs)),
        }
    for kind in ("router_sync", "router_sync_loop", "router_sync_thread", "celery_send_task"):
        results[kind]["calls_per_s_4_threads"] = round(threaded(kind))
    raw50 = results["raw_async_enqueue"]["p50_us"]
    ratio = {k: round(v["p50_us"] / raw50, 2) for k, v in results.items()}
    # paired: the same round's raw block is the reference, so load drift cancels
    paired = {
        k: round(statistics.median(b / r for b, r in zip(block_p50[k], block_p50["raw_async_enqueue"])), 2)
        for k in samples
    }
    verdict = {
        "sync_router_p50_over_raw_async_p50": ratio["router_sync"],
        "paired_sync_router_over_raw": paired["router_sync"],
        "target_le_1_2x": paired["router_sync"] <= 1.2,
        "sync_router_below_celery_send_task_p50": results["router_sync"]["p50_us"]
        < results["celery_send_task"]["p50_us"],
    }
    report = {
        "machine": machine(),
        "redis": url.split("@")[-1],
        "results": results,
        "p50_ratio_to_raw": ratio,
        "paired_p50_ratio_to_raw": paired,
        "verdict": verdict,
    }

    # clean up
    async def cleanup():
        await raw_q.disconnect()

    loop.run_until_complete(cleanup())
    import redis

    c = redis.Redis.from_url(url)
    for pat in (f"saq:{ns}*", f"saq:job:{ns}:*", ns, f"_kombu*{ns}*"):
        keys = list(c.scan_iter(pat, count=1000))
        if keys:
            c.delete(*keys)
    store.delete_all()
    flags.close()
    svc.stop()

    if a.json:
        print(json.dumps(report, indent=2))
        return
    m = report["machine"]
    print(f"machine: {m['nproc']} CPU(s), {m['cpu']}, Python {m['python']}")
    print(f"{'method':<22}{'p50 us':>10}{'p99 us':>10}{'calls/s':>10}{'4 thr/s':>10}{'p50/raw':>9}{'paired':>8}")
    for kind, r in results.items():
        print(
            f"{kind:<22}{r['p50_us']:>10}{r['p99_us']:>10}{r['calls_per_s']:>10}"
            f"{r.get('calls_per_s_4_threads', ''):>10}{ratio[kind]:>9}{paired[kind]:>8}"
        )
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
