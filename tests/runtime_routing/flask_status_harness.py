"""Drive the rewritten Flask fixture's own status endpoints with real Celery and SAQ workers.

    python flask_status_harness.py ROOT REDIS_URL NAMESPACE

Celery's broker and result backend, SAQ and the flag store share REDIS_URL (its own database).
Each task is dispatched through the app's views, then polled through ``/tasks/state/<id>`` (built on
``celery.result.AsyncResult(id)``) until ready: first with no flags (Celery), then with
``flask_app.tasks.*`` flipped to SAQ. Prints one JSON line.

The helpers (``saq_worker_thread``, ``poll``, ``flip``, ``both_backends``) are shared with the other
web-framework harnesses (fastapi_status_harness.py): a status endpoint is read through a function
returning ``(state, ready, value)``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any, Callable


def service_env(url: str, ns: str, **extra: str) -> None:
    """SAQ, the flag store and saqmigrate's runtime on ``url`` under namespace ``ns`` (no metrics, no DLQ)."""
    os.environ.update(
        REDIS_URL=url,
        SAQ_REDIS_URL=url,
        SAQMIGRATE_REDIS_URL=url,
        SAQMIGRATE_NAMESPACE=ns,
        SAQMIGRATE_METRICS="0",
        SAQMIGRATE_DLQ="0",
        **extra,
    )


def saq_worker_thread(settings: dict) -> Callable[[], None]:
    """A real SAQ worker from generated worker settings (no cron jobs) in a daemon thread; returns stop()."""
    box: dict = {}

    def run_thread() -> None:
        from saq import Worker

        async def run() -> None:
            worker = Worker(
                **{**settings, "cron_jobs": []}, timers={"schedule": 1, "sweep": 60, "abort": 1, "worker_info": 1}
            )
            worker.SIGNALS = []
            box["loop"], box["worker"] = asyncio.get_running_loop(), worker
            await worker.start()

        asyncio.run(run())

    threading.Thread(target=run_thread, daemon=True).start()

    def stop() -> None:
        if box.get("worker") is not None:
            box["loop"].call_soon_threadsafe(box["worker"].event.set)

    return stop


def poll(read: Callable[[str], tuple[str, bool, Any]], rid: str, tries: int = 400, interval: float = 0.05) -> dict:
    """The distinct states a status endpoint reports for ``rid`` until it is ready, and the final value."""
    states: list[str] = []
    for _ in range(tries):
        state, ready, value = read(rid)
        if not states or states[-1] != state:
            states.append(state)
        if ready:  # the endpoint reads state before the value: read the settled state once more
            state, _, value = read(rid)
            if states[-1] != state:
                states.append(state)
            return {"states": states, "value": value}
        time.sleep(interval)
    return {"states": states, "value": None}


def flip(url: str, ns: str, pattern: str, probe_task: str, probe_args: tuple = (1, 1)) -> None:
    """Flip ``pattern`` to SAQ and wait until this process's router decides so."""
    from saqmigrate.runtime.flags import FlagStore
    from saqmigrate.runtime.router import get_router

    FlagStore(url, ns).set_rule(pattern, "saq", reason="status endpoint test")
    deadline = time.monotonic() + 10
    while get_router().decide(probe_task, probe_args).backend != "saq" and time.monotonic() < deadline:
        time.sleep(0.1)


def both_backends(
    celery_app: Any, settings: dict, run_all: Callable[[], dict], url: str, ns: str, pattern: str, probe_task: str
) -> dict:
    """``run_all()`` with a real Celery worker (no flags), then again with ``pattern`` flipped to SAQ and a real
    SAQ worker from the generated ``settings`` running: ``{"celery": ..., "saq": ...}``."""
    from celery.contrib.testing.worker import start_worker

    stop = saq_worker_thread(settings)
    result: dict = {}
    try:
        with start_worker(
            celery_app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
        ):
            result["celery"] = run_all()
            flip(url, ns, pattern, probe_task)
            result["saq"] = run_all()
    finally:
        stop()
    return result


def main() -> None:
    root, url, ns = sys.argv[1:4]
    sys.path.insert(0, root)
    service_env(url, ns, FLASK_CELERY__broker_url=url, FLASK_CELERY__result_backend=url)
    import make_celery  # what `celery -A make_celery worker` imports: the Flask app, its Celery app, the routing

    from saqmigrate.runtime.router import get_router

    web, celery_app = make_celery.flask_app, make_celery.celery_app
    from flask_app.saq_worker.queue_celery import settings

    client = web.test_client()

    def read(rid: str) -> tuple[str, bool, Any]:
        body = client.get(f"/tasks/state/{rid}").get_json()
        return body["state"], body["ready"], body["value"]

    def run_all() -> dict:
        out = {}
        for label, path, form in (
            ("add", "/tasks/add", {"a": "2", "b": "3"}),
            ("add_fails", "/tasks/add", {"b": "3"}),
            ("greet", "/tasks/greet", {"name": "bob"}),
        ):
            rid = client.post(path, data=form).get_json()["result_id"]
            out[label] = {**poll(read, rid), "on_saq": get_router().saq_result(rid) is not None}
        return out

    result = both_backends(celery_app, settings, run_all, url, ns, "flask_app.tasks.*", "flask_app.tasks.add")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
