"""Drive the rewritten Flask fixture's own status endpoints with real Celery and SAQ workers.

    python flask_status_harness.py ROOT REDIS_URL NAMESPACE

Celery's broker and result backend, SAQ and the flag store share REDIS_URL (its own database).
Each task is dispatched through the app's views, then polled through ``/tasks/state/<id>`` (built on
``celery.result.AsyncResult(id)``) until ready: first with no flags (Celery), then with
``flask_app.tasks.*`` flipped to SAQ. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time


def main() -> None:
    root, url, ns = sys.argv[1:4]
    sys.path.insert(0, root)
    os.environ.update(FLASK_CELERY__broker_url=url, FLASK_CELERY__result_backend=url, REDIS_URL=url,
                      SAQ_REDIS_URL=url, SAQMIGRATE_REDIS_URL=url, SAQMIGRATE_NAMESPACE=ns, SAQMIGRATE_METRICS="0",
                      SAQMIGRATE_DLQ="0")
    import make_celery  # what `celery -A make_celery worker` imports: the Flask app, its Celery app, the routing
    from celery.contrib.testing.worker import start_worker

    from saqmigrate.runtime.flags import FlagStore
    from saqmigrate.runtime.router import get_router

    web, celery_app = make_celery.flask_app, make_celery.celery_app
    from flask_app.saq_worker.queue_celery import settings

    loop_box: dict = {}

    def saq_thread() -> None:
        from saq import Worker

        async def run() -> None:
            worker = Worker(**{**settings, "cron_jobs": []}, timers={"schedule": 1, "sweep": 60, "abort": 1,
                                                                     "worker_info": 1})
            worker.SIGNALS = []
            loop_box["loop"], loop_box["worker"] = asyncio.get_running_loop(), worker
            await worker.start()

        asyncio.run(run())

    threading.Thread(target=saq_thread, daemon=True).start()
    client = web.test_client()

    def poll(rid: str) -> dict:
        states = []
        for _ in range(200):
            body = client.get(f"/tasks/state/{rid}").get_json()
            if not states or states[-1] != body["state"]:
                states.append(body["state"])
            if body["ready"]:  # the view reads state before ready(): read the settled state once more
                body = client.get(f"/tasks/state/{rid}").get_json()
                if states[-1] != body["state"]:
                    states.append(body["state"])
                return {"states": states, "value": body["value"]}
            time.sleep(0.05)
        return {"states": states, "value": None}

    def run_all() -> dict:
        out = {}
        for label, path, form in (("add", "/tasks/add", {"a": "2", "b": "3"}),
                                  ("add_fails", "/tasks/add", {"b": "3"}),
                                  ("greet", "/tasks/greet", {"name": "bob"})):
            rid = client.post(path, data=form).get_json()["result_id"]
            out[label] = {**poll(rid), "on_saq": get_router().saq_result(rid) is not None}
        return out

    result: dict = {}
    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING",
                      shutdown_timeout=10):
        result["celery"] = run_all()
        FlagStore(url, ns).set_rule("flask_app.tasks.*", "saq", reason="flask status test")
        deadline = time.monotonic() + 10
        while get_router().decide("flask_app.tasks.add", (1, 1)).backend != "saq" and time.monotonic() < deadline:
            time.sleep(0.1)
        result["saq"] = run_all()
    worker = loop_box.get("worker")
    if worker is not None:
        loop_box["loop"].call_soon_threadsafe(worker.event.set)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
