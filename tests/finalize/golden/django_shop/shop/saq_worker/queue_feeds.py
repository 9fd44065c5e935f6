"""SAQ worker settings for the queue 'feeds'.

Start a worker: saq shop.saq_worker.queue_feeds.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize

from __future__ import annotations

from saqmigrate.runtime.worker import setup_django, worker_settings

# a Django project: configure it before the task modules import models
setup_django("shop.settings")

from orders import tasks as _t0  # noqa: E402

# Registered under their Celery names: every dispatch and Celery-era name
# keeps working.
FUNCTIONS = [
    ("orders.tasks.refresh_feed", _t0.refresh_feed.saq),
]

settings = worker_settings(
    "feeds",
    FUNCTIONS,
    cron_tz="UTC",
)
