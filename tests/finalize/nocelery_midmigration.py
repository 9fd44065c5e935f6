"""The finalized mid-migration fixture with Celery blocked: its views enqueue, a real SAQ worker from the
finalized settings runs the jobs; prints JSON {function: [results]}.

    python nocelery_midmigration.py ROOT
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
import time

from nocelery_harness import _NoCelery


def main() -> None:
    sys.meta_path.insert(0, _NoCelery())
    sys.path.insert(0, sys.argv[1])
    settings = dict(importlib.import_module("shop.saq_worker.queue_celery").settings)
    settings["cron_jobs"] = []
    settings.pop("startup", None)  # the IntervalJob bootstrap: no self-rescheduling job in this burst
    from shop import views

    results: dict = {}

    async def run() -> None:
        from saq import Worker

        queue = settings["queue"]
        await queue.connect()
        await queue.redis.flushdb()
        worker = Worker(**settings, timers={"schedule": 1, "sweep": 60, "abort": 1, "worker_info": 10})
        runner = asyncio.create_task(worker.start())
        thread = threading.Thread(
            target=lambda: (views.checkout(1, 9.5, "a@example.com"), views.resend(2, "b@example.com"))
        )
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = [j async for j in queue.iter_jobs()]
            done = [j for j in jobs if str(getattr(j.status, "value", j.status)) == "complete"]
            if len(done) >= 3:
                for j in done:
                    results.setdefault(j.function, []).append(j.result)
                break
            await asyncio.sleep(0.2)
        await worker.stop()
        runner.cancel()

    asyncio.run(run())
    print(
        json.dumps(
            {
                "celery_imported": any(m.split(".")[0] == "celery" for m in sys.modules),
                "results": {k: sorted(v, key=json.dumps) for k, v in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
