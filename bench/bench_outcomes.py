"""Overhead of the cockpit's outcome recording (runtime/outcomes.py): dispatch p50 and worker throughput.

    python bench/bench_outcomes.py [--dispatch 3000] [--jobs 3000] [--rounds 3] [--redis-url URL] [--json]

1. **Dispatch p50**: ``task.apply_async`` of a ``RoutedTask`` through the router to Celery (Redis
   broker), with the outcome signals connected (the ``before_task_publish`` handler stamps the publish
   time into the headers) and without. SAQ dispatches run no outcome code (the SAQ side records in
   the worker), so the Celery path is the one that can pay. Alternating blocks; p50 over all calls,
   and the median of per-round block ratios.
2. **Worker throughput, no-op tasks**: a real SAQ worker (concurrency 20) drains N pre-enqueued
   no-op jobs, with the outcome hooks and without; a real Celery worker (threads pool, 4) drains N
   pre-published no-op tasks, with the signals and without (rate from the first to the last
   completion, so start-up is not counted). Alternating rounds; the median rate of each.

Recording writes to the same Redis (flusher thread, 1 s). Everything is under a random namespace
and deleted at the end. Not a test: the target (docs/performance.md) is <= 5 % on each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_dispatch import machine, pct  # noqa: E402

from saqmigrate.runtime import outcomes as O  # noqa: E402
from saqmigrate.runtime.bridge import make_queue  # noqa: E402
from saqmigrate.runtime.registry import Registry  # noqa: E402
from saqmigrate.runtime.router import Router, set_router  # noqa: E402


def celery_app(url: str, queue: str):
    from celery import Celery

    from saqmigrate.runtime.celery_integration import RoutedTask, install_send_task_hook

    app = Celery("bench-outcomes", broker=url, task_cls=RoutedTask, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        result_backend=None,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=16,
    )
    install_send_task_hook(app)
    return app


def bench_dispatch(url: str, ns: str, n: int, block: int) -> dict:
    app = celery_app(url, f"{ns}-dispatch")

    @app.task(name="bench.outcomes.noop")
    def noop(i):
        return None

    registry = Registry.from_dicts({})  # not registered: every dispatch goes to Celery (the path with the stamp)
    router = Router(registry, None, celery_app=app, saq_url=url)
    set_router(router)
    samples: dict[str, list[float]] = {"off": [], "on": []}
    ratios = []
    for _ in range(50):
        noop.apply_async((0,))  # warm the connection pool
    rounds = max(1, n // block)
    for r in range(rounds):
        order = ("off", "on") if r % 2 == 0 else ("on", "off")
        p50s = {}
        for kind in order:
            if kind == "on":
                O.install_celery()
            else:
                O.uninstall_celery()
            xs = []
            for i in range(block):
                t0 = time.perf_counter()
                noop.apply_async((i,))
                xs.append(time.perf_counter() - t0)
            samples[kind] += xs
            p50s[kind] = statistics.median(xs)
        ratios.append(p50s["on"] / p50s["off"])
    O.uninstall_celery()
    set_router(None)
    import redis

    client = redis.Redis.from_url(url)
    client.delete(f"{ns}-dispatch")
    client.close()
    off, on = pct(samples["off"], 0.5), pct(samples["on"], 0.5)
    return {
        "p50_off_us": round(off * 1e6, 1),
        "p50_on_us": round(on * 1e6, 1),
        "p50_ratio": round(on / off, 4),
        "paired_ratio": round(statistics.median(ratios), 4),
        "calls": len(samples["on"]),
    }


async def _saq_round(url: str, queue_name: str, jobs: int, hooks: bool, rec: O.OutcomeRecorder) -> float:
    from saq import Job, Worker

    from saqmigrate.runtime.hooks import merge_hooks

    async def noop(ctx, *, i):
        return None

    q = make_queue(url, queue_name)
    for start in range(0, jobs, 500):
        await asyncio.gather(
            *(
                q.enqueue(Job(function="noop", kwargs={"i": i}, timeout=0, retries=1, ttl=-1))
                for i in range(start, min(jobs, start + 500))
            )
        )
    extra = merge_hooks({}, O.saq_hooks(rec, dead_letters=False)) if hooks else {}
    worker = Worker(
        q,
        functions=[("noop", noop)],
        concurrency=20,
        burst=True,
        dequeue_timeout=0.05,
        timers={"worker_info": 60, "schedule": 60, "sweep": 600, "abort": 60},
        **extra,
    )
    worker.SIGNALS = []
    t0, c0 = time.perf_counter(), time.process_time()
    await worker.start()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    await q.disconnect()
    return jobs / elapsed, cpu / jobs


def bench_saq_worker(url: str, ns: str, jobs: int, rounds: int) -> dict:
    rec = O.OutcomeRecorder(url, ns, flush_interval=1.0, metrics="default")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpus: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(rounds * 2):
        kind = ("off", "on")[(r + r // 2) % 2]  # off on on off off on ...
        rate, cpu = asyncio.run(_saq_round(url, f"{ns}-saq-{r}", jobs, kind == "on", rec))
        rates[kind].append(rate)
        cpus[kind].append(cpu)
    rec.close()
    return _summary(rates, cpus, "jobs", rec)


def _summary(rates: dict, cpus: dict, unit: str, rec: O.OutcomeRecorder) -> dict:
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    c_off, c_on = statistics.median(cpus["off"]), statistics.median(cpus["on"])
    return {
        f"{unit}_per_s_off": round(off),
        f"{unit}_per_s_on": round(on),
        "throughput_ratio": round(on / off, 4),
        "cpu_us_per_job_off": round(c_off * 1e6, 1),
        "cpu_us_per_job_on": round(c_on * 1e6, 1),
        "cpu_bound_throughput_ratio": round(c_off / c_on, 4),
        "rounds": {k: [round(x) for x in v] for k, v in rates.items()},
        "cpu_rounds_us": {k: [round(x * 1e6, 1) for x in v] for k, v in cpus.items()},
        "recorder_errors": rec.errors,
    }


def _noop_task(app, name: str, done: list, cpu_at: list):
    lock = threading.Lock()

    @app.task(name=name)
    def noop(i):
        with lock:
            done.append(time.perf_counter())
            cpu_at.append(time.process_time())

    return noop


def bench_celery_worker(url: str, ns: str, jobs: int, rounds: int) -> dict:
    from celery.contrib.testing.worker import start_worker

    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpus: dict[str, list[float]] = {"off": [], "on": []}
    rec = O.OutcomeRecorder(url, ns, flush_interval=1.0, metrics="default")
    O.set_default_recorder(rec)
    for r in range(rounds * 2):
        kind = ("off", "on")[(r + r // 2) % 2]
        queue = f"{ns}-celery-{r}"
        app = celery_app(url, queue)
        done: list[float] = []
        cpu_at: list[float] = []
        noop = _noop_task(app, f"bench.outcomes.celery_noop_{r}", done, cpu_at)

        O.uninstall_celery()
        for i in range(jobs):  # published without the stamp in both modes: only the worker side differs
            noop.apply_async((i,))
        if kind == "on":
            O.install_celery()
        with start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ):
            end = time.monotonic() + 300
            while len(done) < jobs and time.monotonic() < end:
                time.sleep(0.05)
        O.uninstall_celery()
        if len(done) < jobs:
            raise RuntimeError(f"celery round {r}: only {len(done)} of {jobs} ran")
        rates[kind].append((jobs - 1) / (done[-1] - done[0]))
        cpus[kind].append((cpu_at[-1] - cpu_at[0]) / (jobs - 1))
    rec.close()
    O.set_default_recorder(None)
    return _summary(rates, cpus, "tasks", rec)


def attributed_costs(url: str, ns: str, n: int = 20000) -> dict:
    """CPU the recording itself adds per job, timed around exactly that code (robust on a shared machine,
    where whole-worker A/B rates swing by tens of percent between identical rounds):

    * SAQ: the merged ``before_process`` + ``after_process`` hooks on a real ``saq.Job``;
    * Celery: ``task_prerun.send`` + ``task_postrun.send`` with the handlers connected minus without
      (Celery's signal dispatch included);
    * both: the flusher's CPU per outcome (a flush of a realistic second: 200 outcomes over 4 keys).
    """
    from celery import signals
    from saq import Job

    from saqmigrate.runtime.hooks import merge_hooks

    rec = O.OutcomeRecorder(url, ns, flush_interval=0, metrics="default")
    O.set_default_recorder(rec)
    hooks = merge_hooks({}, O.saq_hooks(rec, dead_letters=False))
    before, after = hooks["before_process"], hooks["after_process"]
    job = Job(
        function="noop",
        kwargs={"i": 1},
        attempts=1,
        queued=int(time.time() * 1000) - 3,
        started=int(time.time() * 1000),
    )
    from saq.job import Status

    job.status = Status.COMPLETE

    async def saq_loop() -> float:
        t = time.thread_time()
        for _ in range(n):
            ctx = {"job": job}
            await before(ctx)
            await after(ctx)
        return (time.thread_time() - t) / n

    saq_us = asyncio.run(saq_loop()) * 1e6
    rec.flush()

    class Req:
        retries, eta, headers = 0, None, None
        saqmigrate_sent = time.time()

    class FakeTask:  # what the signal handlers read of a Celery task (hashable: Celery caches by sender)
        name = "bench.outcomes.attributed"
        request = Req()

    task = FakeTask()

    def celery_loop() -> float:
        t = time.thread_time()
        for i in range(n):
            tid = f"t{i}"
            signals.task_prerun.send(sender=task, task_id=tid, task=task, args=(), kwargs={})
            signals.task_postrun.send(
                sender=task, task_id=tid, task=task, args=(), kwargs={}, retval=None, state="SUCCESS"
            )
        return (time.thread_time() - t) / n

    O.uninstall_celery()
    bare = celery_loop()
    O.install_celery()
    wired = celery_loop()
    O.uninstall_celery()
    celery_us = (wired - bare) * 1e6
    rec.flush()
    flush_cpu, outcomes = 0.0, 0
    for k in range(50):
        for i in range(200):
            rec.record(
                f"bench.t{i % 2}",
                ("celery", "saq")[i % 2],
                O.SUCCESS,
                duration=0.01 * (1 + i % 5),
                wait=0.001 * (1 + i % 3),
                now=1_000_000.0 + k,
            )
        outcomes += 200
        t = time.thread_time()
        rec.flush()
        flush_cpu += time.thread_time() - t
    O.set_default_recorder(None)
    return {
        "saq_hooks_us_per_job": round(saq_us, 2),
        "celery_signals_us_per_task": round(celery_us, 2),
        "flush_us_per_outcome": round(flush_cpu / outcomes * 1e6, 2),
        "recorder_errors": rec.errors,
    }


def bytes_per_task_day(url: str, ns: str) -> dict:
    """MEMORY USAGE of a realistic bucket (both outcomes, several duration/wait bins) x buckets a day."""
    import redis

    rec = O.OutcomeRecorder(url, ns, bucket_seconds=60, flush_interval=0, metrics=None)
    now = 1_000_000 * 60.0
    for i in range(600):  # 10 runs a second for a minute: ~6 duration bins, ~4 wait bins
        rec.record(
            "proj.tasks.typical_task_name",
            "saq",
            O.FAILURE if i % 50 == 0 else O.SUCCESS,
            duration=0.02 * (1 + (i % 7) / 3),
            wait=0.002 * (1 + (i % 5)),
            now=now + i / 10,
        )
    rec.flush()
    client = redis.Redis.from_url(url)
    key = f"{ns}:out:{int(now)}:saq:proj.tasks.typical_task_name"
    used = int(client.memory_usage(key, samples=0) or 0)
    fields = int(client.hlen(key))
    client.close()
    return {
        "bytes_per_bucket": used,
        "fields_per_bucket": fields,
        "buckets_per_day": 1440,
        "bytes_per_task_backend_day_busy": used * 1440,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dispatch", type=int, default=3000, help="dispatch calls per mode")
    ap.add_argument("--block", type=int, default=250)
    ap.add_argument("--jobs", type=int, default=3000, help="no-op jobs per worker round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per mode (worker benchmarks)")
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from saqmigrate.services import ensure_redis

    svc = ensure_redis(a.redis_url)
    url = svc.url
    ns = f"bench-outcomes-{uuid.uuid4().hex[:8]}"
    try:
        out = {
            "machine": machine(),
            "dispatch": bench_dispatch(url, ns, a.dispatch, a.block),
            "saq_worker": bench_saq_worker(url, ns, a.jobs, a.rounds),
            "celery_worker": bench_celery_worker(url, ns, max(500, a.jobs // 2), a.rounds),
            "memory": bytes_per_task_day(url, ns),
            "attributed": attributed_costs(url, ns),
        }
        at, sw, cw = out["attributed"], out["saq_worker"], out["celery_worker"]
        saq_add = at["saq_hooks_us_per_job"] + at["flush_us_per_outcome"]
        cel_add = at["celery_signals_us_per_task"] + at["flush_us_per_outcome"]
        at["saq_worker_overhead"] = round(saq_add / sw["cpu_us_per_job_off"], 4)
        at["celery_worker_overhead"] = round(cel_add / cw["cpu_us_per_job_off"], 4)
    finally:
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"*{ns}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        svc.stop()
    if a.json:
        print(json.dumps(out, indent=2))
        return
    d, s, c, m = out["dispatch"], out["saq_worker"], out["celery_worker"], out["memory"]
    print(f"machine: {out['machine']['nproc']} cpu, {out['machine']['cpu']}, Python {out['machine']['python']}")
    print(
        f"dispatch p50 (router -> Celery): off {d['p50_off_us']} us, on {d['p50_on_us']} us, "
        f"x{d['p50_ratio']} (paired x{d['paired_ratio']}, {d['calls']} calls per mode)"
    )
    print(
        f"SAQ worker, no-op jobs: off {s['jobs_per_s_off']}/s, on {s['jobs_per_s_on']}/s, x{s['throughput_ratio']} "
        f"{s['rounds']}; CPU per job {s['cpu_us_per_job_off']} -> {s['cpu_us_per_job_on']} us "
        f"(CPU-bound throughput x{s['cpu_bound_throughput_ratio']})"
    )
    print(
        f"Celery worker (threads 4), no-op tasks: off {c['tasks_per_s_off']}/s, on {c['tasks_per_s_on']}/s, "
        f"x{c['throughput_ratio']} {c['rounds']}; CPU per task {c['cpu_us_per_job_off']} -> "
        f"{c['cpu_us_per_job_on']} us (CPU-bound throughput x{c['cpu_bound_throughput_ratio']})"
    )
    at = out["attributed"]
    print(
        f"attributed CPU: SAQ hooks {at['saq_hooks_us_per_job']} us/job, Celery signals "
        f"{at['celery_signals_us_per_task']} us/task, flush {at['flush_us_per_outcome']} us/outcome -> "
        f"SAQ worker +{at['saq_worker_overhead'] * 100:.1f} %, Celery worker +{at['celery_worker_overhead'] * 100:.1f} % "
        "of the no-op CPU per job"
    )
    print(
        f"memory: {m['bytes_per_bucket']} B per busy 1-minute bucket ({m['fields_per_bucket']} fields) -> "
        f"{m['bytes_per_task_backend_day_busy'] / 1024:.0f} KiB per task and backend per busy day"
    )


if __name__ == "__main__":
    main()
