"""Run a rewritten project's tasks both ways, in a fresh interpreter, and print JSON.

    python harness.py ROOT QUEUE_MODULE CASES_JSON

For each case ``{"task": name, "kwargs": {...}}``:
* Celery: the original task object, run eagerly (``task.apply(kwargs=...)``: Celery's own code
  path, retries included, countdowns ignored);
* SAQ: a job enqueued on a real Redis (``REDIS_URL``) and executed by a real SAQ ``Worker``
  built from the generated settings module, in burst mode.
Side effects: tasks may append lines to the file named by ``SAQMIGRATE_EFFECTS``; the harness
points it at a separate file per backend and reports the lines.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
import uuid


def _effects(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.rstrip("\n") for line in fh]
    except FileNotFoundError:
        return []


def main() -> None:
    root, queue_module, cases_json = sys.argv[1:4]
    sys.path.insert(0, root)
    cases = json.loads(cases_json)
    tmp = tempfile.mkdtemp()
    out = {"celery": [], "saq": []}

    # --- Celery, eagerly -----------------------------------------------------------
    for i, case in enumerate(cases):
        os.environ["SAQMIGRATE_EFFECTS"] = os.path.join(tmp, f"celery-{i}")
        module_name, _, attr = case["task_object"].rpartition(".")
        task = getattr(importlib.import_module(module_name), attr)
        res = task.apply(kwargs=case.get("kwargs", {}))
        state = res.state
        value = res.result if state == "SUCCESS" else type(res.result).__name__
        out["celery"].append(
            {
                "state": state,
                "value": value,
                "retries": res._cache.get("retries") if getattr(res, "_cache", None) else None,
                "effects": _effects(os.environ["SAQMIGRATE_EFFECTS"]),
            }
        )

    # --- SAQ, a real worker on the generated settings ----------------------------------
    os.environ["SAQMIGRATE_METRICS"] = "0"
    mod = importlib.import_module(queue_module)
    settings = dict(mod.settings)
    settings["cron_jobs"] = []  # cron is tested separately; a burst worker must not wait for it

    async def run() -> None:
        from saq import Job, Worker

        from saqmigrate.runtime.worker import make_queue

        # isolate from other tests on the same Redis: a queue of its own (SAQ derives its Redis keys
        # from the name when the queue is made, so renaming the generated one would share its keys)
        queue = make_queue(f"{settings['queue'].name}-{uuid.uuid4().hex[:8]}")
        jobs = []
        for i, case in enumerate(cases):
            os.environ["SAQMIGRATE_EFFECTS"] = os.path.join(tmp, f"saq-{i}")
            from saqmigrate.runtime.task import job_options

            job = Job(function=case["task"], kwargs=case.get("kwargs", {}), **job_options(case["task"]))
            await queue.enqueue(job)
            jobs.append((i, job))
            # a long-running worker (not burst): retries wait in Redis for their delay, then run again
            worker = Worker(
                **{**settings, "queue": queue}, timers={"schedule": 1, "sweep": 60, "abort": 1, "worker_info": 10}
            )
            runner = asyncio.create_task(worker.start())
            deleted = False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                try:
                    await job.refresh()
                except RuntimeError:  # ttl=-1 (ignore_result=True): SAQ deleted the finished job's record
                    deleted = True
                    break
                if job.status in ("complete", "failed", "aborted"):
                    break
            await worker.stop()
            runner.cancel()
            try:
                if deleted:
                    raise RuntimeError("deleted")
            except RuntimeError:  # ttl=-1 (ignore_result=True): SAQ deleted the finished job's record
                out["saq"].append(
                    {
                        "state": "deleted",
                        "value": None,
                        "attempts": None,
                        "effects": _effects(os.environ["SAQMIGRATE_EFFECTS"]),
                    }
                )
                continue
            status = job.status.value if hasattr(job.status, "value") else str(job.status)
            err = (job.error or "").strip().splitlines()[-1].split(":")[0].rsplit(".", 1)[-1] if job.error else None
            out["saq"].append(
                {
                    "state": status,
                    "value": job.result if status == "complete" else err,
                    "attempts": job.attempts,
                    "effects": _effects(os.environ["SAQMIGRATE_EFFECTS"]),
                    "run_ms": (job.completed - job.started) if job.completed and job.started else None,
                    "error": (job.error or "").strip().splitlines()[-1:] or None,
                }
            )
        await queue.disconnect()

    asyncio.run(run())
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
