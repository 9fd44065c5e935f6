"""Attack 16 C1: a SAQ job whose worker died (SIGKILL mid-job, as an OOM kill or a segfault) is a final failure
of its task, as Celery's WorkerLostError is: the sweep of the next worker ends it, and the outcome hooks count
it (real Redis, a real SAQ worker process killed mid-job, a real SAQ worker that sweeps)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.bridge import make_queue

from .harness import SaqWorker, recorder

TASK = "crash.tasks.t"

DOOMED = textwrap.dedent("""
    import asyncio, sys
    from saq import Worker
    from saqmigrate.runtime.bridge import make_queue

    async def t(ctx):
        print("started", flush=True)
        await asyncio.sleep(60)

    async def main():
        q = make_queue(sys.argv[1], sys.argv[2])
        w = Worker(q, functions=[("crash.tasks.t", t)], dequeue_timeout=0.5,
                   timers={"worker_info": 1, "schedule": 1, "sweep": 1, "abort": 1})
        w.SIGNALS = []
        await w.start()

    asyncio.run(main())
""")


async def _enqueue(url, queue_name, n):
    q = make_queue(url, queue_name)
    try:
        return [await q.enqueue(TASK, timeout=1, retries=1, heartbeat=0) for _ in range(n)]
    finally:
        await q.disconnect()


async def _statuses(url, queue_name, keys):
    q = make_queue(url, queue_name)
    try:
        return [getattr((await q.job(k)).status, "value", None) for k in keys]
    finally:
        await q.disconnect()


def test_jobs_of_a_killed_saq_worker_are_counted_as_failures(ns, tmp_path):
    script = tmp_path / "doomed.py"
    script.write_text(DOOMED)
    proc = subprocess.Popen(
        [sys.executable, str(script), ns.url, ns.name],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SAQMIGRATE_OUTCOMES": "0"},
    )
    try:
        jobs = asyncio.run(_enqueue(ns.url, ns.name, 2))
        deadline = time.time() + 30
        started = 0
        while started < 2 and time.time() < deadline:
            if proc.stdout.readline().strip() == "started":
                started += 1
        assert started == 2, "the doomed worker did not start both jobs"
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-job: no after_process, no finish
        proc.wait(10)
    time.sleep(1.5)  # past the jobs' timeout: stuck
    rec = recorder(ns.url, ns.name)
    sweeper = SaqWorker(ns.url, ns.name, [(TASK, lambda ctx: None)], rec, sweep=1).start()
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            if asyncio.run(_statuses(ns.url, ns.name, [j.key for j in jobs])) == ["aborted", "aborted"]:
                break
            time.sleep(0.3)
        assert asyncio.run(_statuses(ns.url, ns.name, [j.key for j in jobs])) == ["aborted", "aborted"]
        time.sleep(0.6)  # the recorder's flush
    finally:
        sweeper.stop()
        rec.close()
        O.set_default_recorder(None)
    stats = O.OutcomeStore(ns.url, ns.name).window([TASK], time.time() - 300, time.time() + 5)
    saq = stats[(TASK, "saq")]
    # before: 0 runs (the jobs vanished from the comparison while Celery counted WorkerLostError)
    assert (saq.failures, saq.dead, saq.successes) == (2, 2, 0), saq
