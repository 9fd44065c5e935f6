"""Drive the rewritten FastAPI fixture's own status endpoint with real Celery and SAQ workers.

    python fastapi_status_harness.py ROOT REDIS_URL NAMESPACE

The app is called through FastAPI's TestClient (httpx, the ASGI app in-process): ``POST /tasks`` returns
``{"task_id": ...}``, ``GET /tasks/{task_id}`` reports ``state``/``ready``/``result`` from
``AsyncResult(task_id)``. Every case runs first with no flags (a real Celery worker), then with
``fastapi_app.tasks.*`` flipped to SAQ (a real SAQ worker from the generated settings). Prints one JSON
line. The shared helpers are flask_status_harness.py's.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from flask_status_harness import both_backends, poll, service_env

# (label, task, args, countdown): a countdown keeps the task PENDING long enough to be seen on either backend
CASES = [
    ("add", "add", [2, 3], None),
    ("add_countdown", "add", [20, 22], 1.0),
    ("add_fails", "add", [1, "a"], 1.0),
    ("divide", "divide", [10, 4], 1.0),
    ("divide_by_zero", "divide", [1, 0], 1.0),
    ("word_count", "word_count", ["the quick brown fox"], 1.0),
]


def main() -> None:
    root, url, ns = sys.argv[1:4]
    sys.path.insert(0, root)
    service_env(url, ns, CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)
    from fastapi.testclient import TestClient

    from fastapi_app.main import app  # imports the Celery app module, where rewrite added the routing hook
    from fastapi_app.saq_worker.queue_fastapi import settings
    from fastapi_app.worker import celery_app

    from saqmigrate.runtime.router import get_router

    with TestClient(app) as client:

        def read(rid: str) -> tuple[str, bool, Any]:
            body = client.get(f"/tasks/{rid}").json()
            assert body["task_id"] == rid
            return body["state"], body["ready"], body["result"]

        def run_all() -> dict:
            out = {}
            for label, name, args, countdown in CASES:
                resp = client.post("/tasks", json={"name": name, "args": args, "countdown": countdown})
                assert resp.status_code == 201, resp.text
                rid = resp.json()["task_id"]
                out[label] = {**poll(read, rid), "on_saq": get_router().saq_result(rid) is not None}
            return out

        result = both_backends(celery_app, settings, run_all, url, ns, "fastapi_app.tasks.*", "fastapi_app.tasks.add")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
