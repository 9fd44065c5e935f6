"""SAQ worker settings for the queue 'celery'.

Start a worker: saq flask_app.saq_worker.queue_celery.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize

from __future__ import annotations

from saq import CronJob
from saqmigrate.runtime.worker import cron_function, worker_settings
from flask_app import tasks as _t0

# Registered under their Celery names: every dispatch and Celery-era name
# keeps working.
FUNCTIONS = [
    ("flask_app.tasks.add", _t0.add.saq),
    ("flask_app.tasks.greet", _t0.greet.saq),
    ("flask_app.tasks.process", _t0.process.saq),
]

# One CronJob per beat entry (each with its own unique key beat:<entry>); the cron
# strings are proven to fire at the same instants as Celery's schedule unless noted.
CRON_JOBS = [
    # add-every-minute (flask_app/__init__.py): timedelta(seconds=60)
    CronJob(
        cron_function(
            "add-every-minute",
            _t0.add.saq,
            {"a": 2, "b": 3},
            cron_tz="UTC",
            shared=False,
        ),
        cron="* * * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
    # greet-hourly (flask_app/__init__.py): crontab(minute=0)
    CronJob(
        cron_function(
            "greet-hourly", _t0.greet.saq, {"name": "team"}, cron_tz="UTC", shared=False
        ),
        cron="0 * * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
    # nightly-process (flask_app/__init__.py): crontab(minute=0, hour=1)
    CronJob(
        cron_function(
            "nightly-process",
            _t0.process.saq,
            {"total": 20},
            cron_tz="UTC",
            shared=False,
        ),
        cron="0 1 * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
]

settings = worker_settings(
    "celery",
    FUNCTIONS,
    CRON_JOBS,
    cron_tz="UTC",
)
