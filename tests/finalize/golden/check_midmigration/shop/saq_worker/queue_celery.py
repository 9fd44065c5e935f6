"""SAQ worker settings for the queue 'celery'.

Start a worker: saq shop.saq_worker.queue_celery.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize

from __future__ import annotations

from saq import CronJob
from saqmigrate.runtime.worker import IntervalJob, cron_function, worker_settings
from shop.orders import tasks as _t0
from shop.reports import tasks as _t1

# Registered under their Celery names: every dispatch and Celery-era name
# keeps working.
FUNCTIONS = [
    ("shop.orders.tasks.charge_card", _t0.charge_card.saq),
    ("shop.orders.tasks.send_receipt", _t0.send_receipt.saq),
    ("shop.reports.tasks.cleanup", _t1.cleanup.saq),
    ("shop.reports.tasks.nightly_report", _t1.nightly_report.saq),
    ("shop.reports.tasks.sync_stock", _t1.sync_stock.saq),
]

# One CronJob per beat entry (each with its own unique key beat:<entry>); the cron
# strings are proven to fire at the same instants as Celery's schedule unless noted.
CRON_JOBS = [
    # cleanup-every-5m (shop/celery.py): timedelta(seconds=300)
    CronJob(
        cron_function("cleanup-every-5m", _t1.cleanup.saq, cron_tz="UTC", shared=False),
        cron="*/5 * * * *",
        retries=1,
        timeout=3600,
        ttl=-1,
    ),
    # nightly-report (shop/celery.py): crontab(minute=0, hour=3)
    CronJob(
        cron_function(
            "nightly-report", _t1.nightly_report.saq, cron_tz="UTC", shared=False
        ),
        cron="0 3 * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
]

# Intervals no cron can express: self-rescheduling jobs (SM205 says how they differ).
INTERVAL_JOBS = [
    # sync-stock (shop/celery.py): timedelta(seconds=420)
    IntervalJob(
        "sync-stock",
        _t1.sync_stock.saq,
        420,
        retries=1,
        timeout=3600,
        ttl=86400,
        shared=False,
    ),
]

settings = worker_settings(
    "celery",
    FUNCTIONS,
    CRON_JOBS,
    interval_jobs=INTERVAL_JOBS,
    cron_tz="UTC",
)
