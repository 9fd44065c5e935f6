"""Attack 16 M1: Celery's queue wait is publish -> start (task_prerun), as SAQ's is queued -> started; measured
at task_postrun it included the run time (a real Celery worker, idle, a task that runs 1.2 s)."""

from __future__ import annotations

import time

from saqmigrate.runtime import outcomes as O

from .harness import celery_app, recorder

TASK = "wait.tasks.slow"


def test_celery_queue_wait_excludes_the_run_time(ns):
    from celery.contrib.testing.worker import start_worker

    rec = recorder(ns.url, ns.name)
    app = celery_app(ns.url, ns.name)

    @app.task(name=TASK)
    def slow():
        time.sleep(1.2)

    store = O.OutcomeStore(ns.url, ns.name, bucket_seconds=1)
    t0 = time.time() - 1
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"):
            time.sleep(0.5)  # the worker is idle and consuming: the tasks start at once
            slow.delay()
            slow.delay()
            end = time.monotonic() + 20
            while time.monotonic() < end and store.window([TASK], t0)[(TASK, "celery")].runs < 2:
                time.sleep(0.2)
            time.sleep(0.5)
    finally:
        rec.close()
        O.set_default_recorder(None)
    st = store.window([TASK], t0)[(TASK, "celery")]
    assert st.successes == 2 and sum(st.wait.values()) == 2, st
    assert st.duration_q(0.5) > 1.0, st
    assert st.wait_q(1.0) < 0.6, st  # before: ~1.2 s, the run time
