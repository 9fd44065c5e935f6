"""SAQ worker settings for the queue 'celery'.

Start a worker: saq saq_worker.queue_celery.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize

from __future__ import annotations

from saqmigrate.runtime.worker import worker_settings
from retries import tasks as _t0

# Registered under their Celery names: every dispatch and Celery-era name
# keeps working.
FUNCTIONS = [
    ("retries.tasks.always_retry", _t0.always_retry.saq),
    ("retries.tasks.autoretry_backoff", _t0.autoretry_backoff.saq),
    ("retries.tasks.not_listed_exception", _t0.not_listed_exception.saq),
    ("retries.tasks.request_info", _t0.request_info.saq),
    ("retries.tasks.succeed_on_third", _t0.succeed_on_third.saq),
    ("retries.tasks.too_slow", _t0.too_slow.saq),
]

settings = worker_settings(
    "celery",
    FUNCTIONS,
    cron_tz="UTC",
)
